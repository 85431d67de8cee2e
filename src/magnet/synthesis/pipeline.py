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
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from magnet.errors import EndpointRefused, MagnetError
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
        path = shard_path(folder, int(shard), kind)
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


# ---------------------------------------------------------------------------------------------------------------
# Records by reference: what later stages sort, mix and look up, without holding the records
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordRef:
    """Where one record of a stage's shards lies (file and byte offset), a digest of its line, and what later
    stages order, mix and join by (``size``, ``kind``, ``parent``): a run of any size holds these, not the
    records, and loads each record when its item is processed."""

    id: str
    path: Path
    offset: int
    digest: str
    size: int = 0
    kind: str = ""
    parent: str = ""
    functions: tuple[str, ...] = ()
    toolkits: tuple[str, ...] = ()

    def load(self) -> dict[str, Any]:
        """The record itself, read from its shard."""
        with self.path.open("rb") as handle:
            handle.seek(self.offset)
            return json.loads(handle.readline())

    def to_dict(self) -> dict[str, Any]:
        """What identifies the record's content (the input digest of a stage that processes it)."""
        return {"id": self.id, "digest": self.digest}


Describe = Callable[[dict[str, Any]], Mapping[str, Any]]
"""From a record to the ``RecordRef`` fields besides its place: ``id`` and optionally ``size``, ``kind``, ``functions``,
``parent``."""


def index_shard(path: str | Path, describe: Describe) -> list[RecordRef]:
    """A reference to every record of one shard file, in file order (each line is parsed once, then dropped)."""
    path = Path(path)
    refs: list[RecordRef] = []
    offset = 0
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as error:
                    raise MagnetError(f"{path}: line {number}: not valid JSON ({error.msg})") from None
                digest = hashlib.sha256(line).hexdigest()[:16]
                refs.append(RecordRef(path=path, offset=offset, digest=digest, **describe(record)))
            offset += len(line)
    return refs


def shard_path(folder: str | Path, index: int, kind: str = "accepted") -> Path:
    """The file of one shard of a stage folder (``accepted`` or ``rejected``)."""
    return Path(folder) / f"{kind}-{index:05d}.jsonl"


def index_records(folder: str | Path, describe: Describe, kind: str = "accepted") -> list[RecordRef]:
    """References to every record of the shards the manifest lists, in shard order."""
    manifest = read_manifest(folder)
    if not manifest:
        raise MagnetError(f"{folder}: no {MANIFEST}; is this a stage output folder?")
    return [
        ref
        for shard in sorted(manifest.get("shards", {}), key=int)
        for ref in index_shard(shard_path(folder, int(shard), kind), describe)
    ]


class ShardChannel:
    """Hands the finished shards of one stage to the next while both run (the pipelined stages of ``magnet
    synth``): the producer ``put``s each shard index as it is written (or found done), then ``close``s; the
    consumer iterates the indices until the producer is done."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[int | None] = asyncio.Queue()

    def put(self, index: int) -> None:
        """A shard of the producer is complete on disk."""
        self._queue.put_nowait(index)

    def close(self) -> None:
        """The producer will put no more shards."""
        self._queue.put_nowait(None)

    async def __aiter__(self) -> AsyncIterator[int]:
        while (index := await self._queue.get()) is not None:
            yield index


# ---------------------------------------------------------------------------------------------------------------
# Running a stage
# ---------------------------------------------------------------------------------------------------------------


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
    on_shard: Callable[[int], None] | None = None,
    position: int | None = None,
    identity: Mapping[str, Any] | None = None,
) -> StageReport:
    """Process ``items`` shard by shard into ``out_dir``; skip shards already done; return the counts.

    ``part=(i, n)`` processes only the shards whose index is ``i`` modulo ``n`` (one machine of ``n``, sharing the
    folder); it keeps its own manifest, and every part, and a later run without ``part``, sees the shards the
    others finished. ``on_shard(index)`` is called once for every shard that is complete on disk (found done, or
    just written): a following stage can start on it at once (``ShardChannel``).

    ``config`` and a digest of the inputs are recorded in the manifest; rerunning into a folder made with another
    config or other inputs is an error (mixing two runs' shards would be silent corruption). A caller that needs
    that identity before the stage runs (to chain a stage on it) passes it as ``identity`` (``stage_identity`` of
    the same arguments), so the inputs are hashed once.
    """
    shards = [items[start : start + shard_size] for start in range(0, len(items), shard_size)]

    async def source() -> AsyncIterator[tuple[int, Sequence[Any]]]:
        for index, shard in enumerate(shards):
            yield index, shard

    return await _run_shards(
        dict(identity) if identity is not None else stage_identity(stage, items, shard_size, config),
        source(),
        len(shards),
        process,
        Path(out_dir),
        max_concurrency=max_concurrency,
        progress=progress,
        part=part,
        on_shard=on_shard,
        total=len(items),
        position=position,
    )


async def run_chained_stage(
    identity: Mapping[str, Any],
    shard_count: int,
    shards: AsyncIterator[tuple[int, Sequence[Any]]],
    process: Callable[[Any], Awaitable[Outcome]],
    out_dir: str | Path,
    *,
    max_concurrency: int = 16,
    progress: bool = True,
    part: tuple[int, int] | None = None,
    on_shard: Callable[[int], None] | None = None,
    position: int | None = None,
) -> StageReport:
    """A stage whose shard ``i`` is made of the records of shard ``i`` of an upstream stage, started as each
    upstream shard is finished (``shards`` yields ``(index, items)`` as they come, e.g. from a ``ShardChannel``),
    so the two stages overlap instead of the second waiting for the last item of the first.

    ``identity`` (``chained_identity``) ties the folder to the upstream run, and each shard is tied to a digest of
    its items: a shard made from other upstream records is an error, not a silent mix.
    """
    return await _run_shards(
        dict(identity),
        shards,
        shard_count,
        process,
        Path(out_dir),
        max_concurrency=max_concurrency,
        progress=progress,
        part=part,
        on_shard=on_shard,
        total=None,
        position=position,
    )


def stage_identity(stage: str, items: Sequence[Any], shard_size: int, config: dict[str, Any] | None) -> dict:
    """What ties a stage folder to one run: the stage, its inputs (count and digest), shard size and config."""
    return {
        "stage": stage,
        "inputs": len(items),
        "inputs_digest": inputs_digest(items),
        "shard_size": shard_size,
        "config": config or {},
    }


def chained_identity(stage: str, upstream: Mapping[str, Any], config: dict[str, Any] | None) -> dict:
    """The identity of a stage whose inputs are the shards of ``upstream`` (an identity too): its inputs are
    whatever that run of the upstream stage produced."""
    return {
        "stage": stage,
        "inputs": f"shards of {upstream['stage']}",
        "inputs_digest": inputs_digest([{key: upstream[key] for key in IDENTITY}]),
        "shard_size": upstream["shard_size"],
        "config": config or {},
    }


IDENTITY = ("stage", "inputs", "inputs_digest", "shard_size", "config")
"""The manifest keys that tie a stage folder to one run."""


def _own_manifest(folder: Path, part: tuple[int, int] | None) -> Path:
    return folder / (MANIFEST if part is None else f"manifest.part-{part[0]}-of-{part[1]}.json")


def check_stage_folder(folder: str | Path, identity: Mapping[str, Any], part: tuple[int, int] | None = None) -> None:
    """Refuse a stage folder made by another run (its manifests name other inputs or settings); a missing folder is
    fine. Reads only: a run checks every stage's folder before it writes anything, so a refused run changes
    nothing."""
    folder = Path(folder)
    own = _own_manifest(folder, part)
    found_manifests = [read_manifest(folder), _load(own) if own.exists() else {}]
    for key in IDENTITY:
        for found in found_manifests:
            if found and found.get(key) != identity[key]:
                raise MagnetError(
                    f"{folder}: made by another run ({key} {found.get(key)!r}, now {identity[key]!r}); "
                    "use a new --out folder or remove this one"
                )


async def _run_shards(
    identity: dict[str, Any],
    shards: AsyncIterator[tuple[int, Sequence[Any]]],
    shard_count: int,
    process: Callable[[Any], Awaitable[Outcome]],
    folder: Path,
    *,
    max_concurrency: int,
    progress: bool,
    part: tuple[int, int] | None,
    on_shard: Callable[[int], None] | None,
    total: int | None,
    position: int | None,
) -> StageReport:
    stage = identity["stage"]
    folder.mkdir(parents=True, exist_ok=True)
    if part is not None and not (0 <= part[0] < part[1]):
        raise MagnetError(f"--shard {part[0]}/{part[1]}: the part must be in 0..{part[1] - 1}")
    own = _own_manifest(folder, part)
    check_stage_folder(folder, identity, part)
    merged = read_manifest(folder)
    manifest = (_load(own) if own.exists() else {}) or {**identity, "shards": {}}
    report = StageReport(inputs=total or 0)
    semaphore = asyncio.Semaphore(max_concurrency)
    bar = tqdm(total=total, desc=stage, unit="item", disable=not progress, position=position)

    async def one(item: Any) -> Outcome:
        """One item's outcome (its concurrency slot is taken by the feeder below and released by ``run_item``)."""
        try:
            outcome = await process(item)
        except EndpointRefused:  # no item can succeed against this endpoint: the run stops
            raise
        except Exception as error:  # a bug or a bad item fails this item, counted and logged, not the run
            logger.exception("%s: item %s failed", stage, getattr(item, "id", "?"))
            outcome = Outcome(
                rejection={"item": getattr(item, "id", None), "error": f"{type(error).__name__}: {error}"},
                reason=f"error:{type(error).__name__}",
            )
        bar.update()
        return outcome

    def write_shard(index: int, outcomes: list[Outcome], digest: str) -> None:
        accepted = [o.record for o in outcomes if o.record is not None]
        rejected = [o for o in outcomes if o.record is None]
        reasons = Counter(o.reason or "unknown" for o in rejected)
        write_atomic(shard_path(folder, index), "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in accepted))
        write_atomic(
            shard_path(folder, index, "rejected"),
            "".join(json.dumps(o.rejection or {}, ensure_ascii=False) + "\n" for o in rejected),
        )
        manifest["shards"][str(index)] = {
            "accepted": len(accepted),
            "rejected": len(rejected),
            "reasons": dict(reasons),
            "inputs_digest": digest,
        }
        write_atomic(own, json.dumps(manifest, indent=1) + "\n")
        report.shards_done += 1
        report.accepted += len(accepted)
        report.rejected += len(rejected)
        report.reasons.update(reasons)
        if on_shard is not None:
            on_shard(index)

    # Items of every remaining shard stream through one semaphore (no barrier at shard ends, so a slow item never
    # idles the other slots); a shard is written the moment its last item finishes, so a kill loses only the
    # shards in flight, and only the outcomes of unfinished shards are held in memory.
    pending: dict[int, list[Outcome | None]] = {}
    remaining: dict[int, int] = {}
    digests: dict[int, str] = {}
    failures: list[BaseException] = []
    tasks: set[asyncio.Task] = set()

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
                write_shard(index, [o for o in pending.pop(index) if o is not None], digests.pop(index))
            except Exception as error:  # a shard that cannot be written (disk full) stops the stage
                failures.append(error)

    try:
        async for index, shard in shards:
            if total is None:
                report.inputs += len(shard)
                bar.total = report.inputs
                bar.refresh()
            digest = inputs_digest(shard)
            done = manifest["shards"].get(str(index)) or merged.get("shards", {}).get(str(index))
            if done is not None:
                if done.get("inputs_digest", digest) != digest:
                    raise MagnetError(
                        f"{shard_path(folder, index)}: made from other inputs than this run's shard {index}; "
                        "use a new --out folder or remove this one"
                    )
                report.shards_skipped += 1
                report.accepted += done["accepted"]
                report.rejected += done["rejected"]
                report.reasons.update(done["reasons"])
                bar.update(len(shard))
                if on_shard is not None:
                    on_shard(index)
                continue
            if part is not None and index % part[1] != part[0]:
                bar.update(len(shard))
                continue  # another machine's shard
            digests[index] = digest
            if not shard:
                write_shard(index, [], digest)
                continue
            pending[index] = [None] * len(shard)
            remaining[index] = len(shard)
            for position_in_shard, item in enumerate(shard):
                await semaphore.acquire()
                if failures:
                    raise failures[0]
                task = asyncio.ensure_future(run_item(index, position_in_shard, item))
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
    report.complete = len(finished) == shard_count
    manifest["complete"] = report.complete
    manifest["totals"] = {
        "accepted": report.accepted,
        "rejected": report.rejected,
        "reasons": dict(report.reasons.most_common()),
    }
    write_atomic(own, json.dumps(manifest, indent=1) + "\n")
    return report
