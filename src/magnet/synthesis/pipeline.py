"""Stage orchestration: sharded, resumable, with progress and an account of every item.

A stage reads items (paths, episodes, ...), processes each asynchronously (a teacher behind a semaphore), and
writes JSONL shards under its output folder: ``accepted-00000.jsonl`` and ``rejected-00000.jsonl`` per shard of
``shard_size`` inputs, plus ``manifest.json`` with the counts and the rejection reasons. A shard is written to a
temporary file and renamed, then recorded in the manifest (also written atomically), so a killed run leaves
complete shards only, and a rerun skips every shard the manifest lists and redoes the rest.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from magnet.errors import MagnetError
from magnet.files import write_atomic

logger = logging.getLogger(__name__)

MANIFEST = "manifest.json"


@dataclass(frozen=True)
class Outcome:
    """What processing one item gave: an accepted record, or a rejection with a reason to count by."""

    record: dict[str, Any] | None = None
    rejection: dict[str, Any] | None = None
    reason: str = ""


@dataclass
class StageReport:
    """Counts of a stage run (this run and the shards it found done)."""

    inputs: int = 0
    accepted: int = 0
    rejected: int = 0
    reasons: Counter = field(default_factory=Counter)
    shards_done: int = 0
    shards_skipped: int = 0
    complete: bool = False

    @property
    def acceptance(self) -> float:
        """Accepted over processed inputs."""
        done = self.accepted + self.rejected
        return self.accepted / done if done else 0.0


def _load(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise MagnetError(f"{path}: not valid JSON ({error}); remove it to redo the stage") from None


def read_manifest(folder: Path) -> dict[str, Any]:
    """The manifest of a stage folder, with the shards of every part's manifest merged in (empty when there is
    none yet). Parts (``--shard i/n``) each write ``manifest.part-i-of-n.json``."""
    folder = Path(folder)
    paths = [folder / MANIFEST, *sorted(folder.glob("manifest.part-*.json"))]
    merged: dict[str, Any] = {}
    for path in paths:
        if not path.exists():
            continue
        manifest = _load(path)
        if not merged:
            merged = {**manifest, "shards": dict(manifest.get("shards", {}))}
            continue
        for key in ("stage", "inputs", "inputs_digest", "shard_size", "config"):
            if manifest.get(key) != merged.get(key):
                raise MagnetError(
                    f"{path}: made by another run than {paths[0].name} ({key} differs); remove the stale manifest"
                )
        merged["shards"].update(manifest.get("shards", {}))
    return merged


def read_records(folder: str | Path, kind: str = "accepted") -> Iterator[dict[str, Any]]:
    """Every record of the shards the manifest lists (``accepted`` or ``rejected``), in shard order."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    if not manifest:
        raise MagnetError(f"{folder}: no {MANIFEST}; is this a stage output folder?")
    for shard in sorted(manifest.get("shards", {}), key=int):
        path = folder / f"{kind}-{int(shard):05d}.jsonl"
        with path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if line.strip():
                    try:
                        yield json.loads(line)
                    except json.JSONDecodeError as error:
                        raise MagnetError(f"{path}: line {number}: not valid JSON ({error.msg})") from None


def inputs_digest(items: Sequence[Any]) -> str:
    """A hash of the inputs' content (``to_dict()`` when they have it): a rerun on other inputs, even with the
    same ids, must not resume."""
    digest = hashlib.sha256()
    for item in items:
        content = item.to_dict() if hasattr(item, "to_dict") else item
        digest.update(json.dumps(content, sort_keys=True, default=str).encode())
    return digest.hexdigest()[:16]


async def run_stage(
    stage: str,
    items: Sequence[Any],
    process: Callable[[Any], Awaitable[Outcome]],
    out_dir: str | Path,
    *,
    shard_size: int = 100,
    max_concurrency: int = 16,
    config: dict[str, Any] | None = None,
    progress: bool = True,
    part: tuple[int, int] | None = None,
) -> StageReport:
    """Process ``items`` shard by shard into ``out_dir``; skip shards already done; return the counts.

    ``part=(i, n)`` processes only the shards whose index is ``i`` modulo ``n`` (one machine of ``n``, sharing the
    folder); it keeps its own manifest, and every part, and a later run without ``part``, sees the shards the
    others finished.

    ``config`` and a digest of the inputs are recorded in the manifest; rerunning into a folder made with another
    config or other inputs is an error (mixing two runs' shards would be silent corruption).
    """
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    digest = inputs_digest(items)
    if part is not None and not (0 <= part[0] < part[1]):
        raise MagnetError(f"--shard {part[0]}/{part[1]}: the part must be in 0..{part[1] - 1}")
    own = folder / (MANIFEST if part is None else f"manifest.part-{part[0]}-of-{part[1]}.json")
    merged = read_manifest(folder)
    manifest = (_load(own) if own.exists() else {}) or {
        "stage": stage,
        "inputs": len(items),
        "inputs_digest": digest,
        "shard_size": shard_size,
        "config": config or {},
        "shards": {},
    }
    for key, expected in (
        ("stage", stage),
        ("inputs", len(items)),
        ("inputs_digest", digest),
        ("shard_size", shard_size),
        ("config", config or {}),
    ):
        if merged and merged.get(key) != expected:
            raise MagnetError(
                f"{folder}: made by another run ({key} {merged.get(key)!r}, now {expected!r}); "
                "use a new --out folder or remove this one"
            )
        if manifest.get(key) != expected:
            raise MagnetError(
                f"{folder}: made by another run ({key} {manifest.get(key)!r}, now {expected!r}); "
                "use a new --out folder or remove this one"
            )
    report = StageReport(inputs=len(items))
    semaphore = asyncio.Semaphore(max_concurrency)
    shards = [items[start : start + shard_size] for start in range(0, len(items), shard_size)]
    bar = tqdm(total=len(items), desc=stage, unit="item", disable=not progress)

    async def one(item: Any) -> Outcome:
        """One item's outcome (its concurrency slot is taken by the feeder below and released by ``run_item``)."""
        try:
            outcome = await process(item)
        except Exception as error:  # a bug or a bad item fails this item, counted and logged, not the run
            logger.exception("%s: item %s failed", stage, getattr(item, "id", "?"))
            outcome = Outcome(
                rejection={"item": getattr(item, "id", None), "error": f"{type(error).__name__}: {error}"},
                reason=f"error:{type(error).__name__}",
            )
        bar.update()
        return outcome

    def write_shard(index: int, outcomes: list[Outcome]) -> None:
        accepted = [o.record for o in outcomes if o.record is not None]
        rejected = [o for o in outcomes if o.record is None]
        reasons = Counter(o.reason or "unknown" for o in rejected)
        write_atomic(
            folder / f"accepted-{index:05d}.jsonl",
            "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in accepted),
        )
        write_atomic(
            folder / f"rejected-{index:05d}.jsonl",
            "".join(json.dumps(o.rejection or {}, ensure_ascii=False) + "\n" for o in rejected),
        )
        manifest["shards"][str(index)] = {
            "accepted": len(accepted),
            "rejected": len(rejected),
            "reasons": dict(reasons),
        }
        write_atomic(own, json.dumps(manifest, indent=1) + "\n")
        report.shards_done += 1
        report.accepted += len(accepted)
        report.rejected += len(rejected)
        report.reasons.update(reasons)

    todo: list[tuple[int, list[Any]]] = []
    for index, shard in enumerate(shards):
        done = manifest["shards"].get(str(index)) or merged.get("shards", {}).get(str(index))
        if part is not None and index % part[1] != part[0] and done is None:
            bar.update(len(shard))
            continue  # another machine's shard
        if done is not None:
            report.shards_skipped += 1
            report.accepted += done["accepted"]
            report.rejected += done["rejected"]
            report.reasons.update(done["reasons"])
            bar.update(len(shard))
            continue
        todo.append((index, shard))

    # Items of every remaining shard stream through one semaphore (no barrier at shard ends, so a slow item never
    # idles the other slots); a shard is written the moment its last item finishes, so a kill loses only the
    # shards in flight, and only the outcomes of unfinished shards are held in memory.
    pending: dict[int, list[Outcome | None]] = {}
    remaining: dict[int, int] = {}

    async def run_item(index: int, position: int, item: Any) -> None:
        try:
            pending[index][position] = await one(item)
        except BaseException as error:  # an interruption (one() keeps ordinary errors): the feeder stops the stage
            failures.append(error)
            raise
        finally:
            semaphore.release()
        remaining[index] -= 1
        if remaining[index] == 0:
            try:
                write_shard(index, [outcome for outcome in pending.pop(index) if outcome is not None])
            except Exception as error:  # a shard that cannot be written (disk full) stops the stage
                failures.append(error)

    failures: list[Exception] = []
    tasks: set[asyncio.Task] = set()
    try:
        for index, shard in todo:
            pending[index] = [None] * len(shard)
            remaining[index] = len(shard)
            for position, item in enumerate(shard):
                await semaphore.acquire()
                if failures:
                    raise failures[0]
                task = asyncio.ensure_future(run_item(index, position, item))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.gather(*tasks)
        if failures:
            raise failures[0]
    except BaseException:
        for task in tasks:
            task.cancel()
        raise
    finally:
        bar.close()
    finished = set(read_manifest(folder).get("shards", {})) | set(manifest["shards"])
    report.complete = len(finished) == len(shards)
    manifest["complete"] = report.complete
    manifest["totals"] = {
        "accepted": report.accepted,
        "rejected": report.rejected,
        "reasons": dict(report.reasons.most_common()),
    }
    write_atomic(own, json.dumps(manifest, indent=1) + "\n")
    return report
