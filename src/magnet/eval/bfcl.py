"""``evaluate_bfcl``: run a runner over BFCL categories, resumably, and write the scores.

Layout of the output folder::

    run.json                 the runner, its tool format and the BFCL version (a rerun must match them)
    results/<category>.jsonl one line per finished entry: raw answers, decoded calls, results, verdict
    summary.md, summary.json the paper's Table 2 columns and every category's accuracy

Entries are run concurrently (``concurrency``; a local model batches them, an endpoint overlaps them), and each
finished entry is appended to its category's file at once. A rerun skips the entries already there, so a killed
evaluation loses at most the entries in flight; a line cut short by a kill is dropped and that entry is run
again. An entry whose model request fails for good (the endpoint is down) is not written, so a rerun retries it.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from magnet.errors import EndpointRefused, MagnetError, TeacherError
from magnet.eval.entries import (
    MULTI_TURN,
    load_single_turn_entries,
    multi_turn_entries,
    resolve_categories,
)
from magnet.eval.fingerprint import describe
from magnet.eval.loop import run_multi_turn, run_single_turn
from magnet.eval.runners import Runner, runner_fingerprint
from magnet.eval.summary import Score, category_scores, summary_json, summary_markdown
from magnet.files import write_atomic, write_jsonl
from magnet.run_async import run_sync
from magnet.tools.bfcl import resolve_version

logger = logging.getLogger(__name__)


@dataclass
class EvaluationResult:
    """What one ``evaluate_bfcl`` call measured and where it wrote it."""

    out_dir: Path
    scores: dict[str, Score]
    summary: dict[str, Any]
    failed: dict[str, str] = field(default_factory=dict)

    @property
    def markdown(self) -> str:
        return (self.out_dir / "summary.md").read_text()


def read_results(path: Path) -> list[dict[str, Any]]:
    """The complete records of a results file; a last line cut short by a kill is dropped (and the file rewritten
    without it), a damaged line elsewhere is an error naming it."""
    if not path.is_file():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    records = []
    for number, line in enumerate(lines, start=1):
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            if number == len(lines):
                logger.warning("%s: dropping a last line cut short (line %d); that entry runs again", path, number)
                write_jsonl(records, path)
                break
            raise MagnetError(f"{path}: line {number} is not a JSON record; remove it or the file") from None
    return records


def check_run(out_dir: Path, identity: dict[str, Any], overwrite: bool) -> None:
    """Make ``out_dir`` this evaluation's folder: a new one, or one that holds results of this very evaluation
    (``identity``: runner, tool format, BFCL version and the fingerprint of what is evaluated). A folder holding
    another evaluation is refused in one line; ``overwrite`` empties it first, and only if it holds a Magnet
    evaluation (a ``run.json``): never a folder of something else."""
    path = out_dir / "run.json"
    if path.is_file():
        try:
            previous = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as error:
            raise MagnetError(f"{path}: cannot be read ({error}); remove it, or use another --out") from None
        if previous != identity and not overwrite:
            raise MagnetError(
                f"{out_dir}: holds an evaluation of {describe(previous)}, not of {describe(identity)}; use another "
                "--out, or --overwrite to start again"
            )
        if overwrite:
            for stale in [*(out_dir / "results").glob("*.jsonl"), out_dir / "summary.json", out_dir / "summary.md"]:
                stale.unlink(missing_ok=True)
    elif overwrite and out_dir.is_dir() and any(out_dir.iterdir()):
        raise MagnetError(
            f"{out_dir}: not a Magnet evaluation (no run.json), and --overwrite deletes only those; use another --out"
        )
    (out_dir / "results").mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps(identity, indent=2) + "\n")


def failed_record(entry: Any, error: BaseException, **fields: Any) -> dict[str, Any]:
    """The results line of an entry whose answer could not be decoded, formatted, executed or scored: wrong, with
    the reason (``fields`` add to it, e.g. the category of an episode)."""
    return {
        "id": entry.id,
        "category": getattr(entry, "category", ""),
        "valid": False,
        "error_type": "answer_failed",
        "error": f"{type(error).__name__}: {str(error)[:500]}",
        **fields,
    }


async def score_all(
    items: Sequence[Any],
    score: Callable[[Any], Awaitable[dict[str, Any]]],
    path: Path,
    *,
    concurrency: int,
    failed: dict[str, str],
    progress: bool,
    desc: str,
    on_error: Callable[[Any, BaseException], dict[str, Any]] = failed_record,
) -> None:
    """Score the items not yet in ``path`` (``score`` gives an item's results line), ``concurrency`` at once, each
    line appended as soon as it is done (a killed run loses only the items in flight). A failed model request
    leaves the item out (``failed``; a rerun asks again); any other failure scores it wrong (``on_error``): no model
    answer may stop an evaluation."""
    done = {record["id"] for record in read_results(path)}
    todo = [item for item in items if item.id not in done]
    semaphore = asyncio.Semaphore(concurrency)
    bar = tqdm(total=len(items), initial=len(items) - len(todo), desc=desc, disable=not progress, unit="entry")

    async def one(item: Any) -> None:
        async with semaphore:
            try:
                record = await score(item)
            except TeacherError as error:
                failed[item.id] = str(error)
                logger.warning("%s: the model request failed (%s); it runs again on a rerun", item.id, error)
                return
            except EndpointRefused:  # the endpoint refuses every request (a wrong model name): stop, with the fix
                raise
            except Exception as error:  # no model answer may stop an evaluation: the item is scored wrong, with why
                logger.warning("%s: scoring the answer failed; it counts as wrong", item.id, exc_info=error)
                record = on_error(item, error)
        with path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        bar.update(1)

    try:
        await asyncio.gather(*(one(item) for item in todo))
    finally:
        bar.close()


async def evaluate_bfcl_async(
    runner: Runner,
    out_dir: str | Path,
    *,
    categories: Sequence[str] = ("all",),
    limit: int | None = None,
    ids: Collection[str] = (),
    version: str | None = None,
    concurrency: int = 8,
    overwrite: bool = False,
    progress: bool = True,
) -> EvaluationResult:
    """Evaluate ``runner`` on BFCL (see the module docstring); async form of ``evaluate_bfcl``."""
    if limit is not None and limit < 1:
        raise MagnetError(f"limit must be at least 1, got {limit}")
    if concurrency < 1:
        raise MagnetError(f"concurrency must be at least 1, got {concurrency}")
    version = resolve_version(version)
    names = resolve_categories(categories)
    wanted = {ids} if isinstance(ids, str) else set(ids)  # one id given as a string is one id, not its letters
    chosen = {}
    for category in names:
        if category in MULTI_TURN:
            entries = multi_turn_entries(category, version=version)
        else:
            entries = load_single_turn_entries(category, version=version)
        chosen[category] = [entry for entry in entries if entry.id in wanted] if wanted else entries
    unknown = sorted(wanted - {entry.id for entries in chosen.values() for entry in entries})
    if unknown:  # before the folder is touched: a mistyped id never costs a previous evaluation (--overwrite)
        raise MagnetError(f"ids: no entry {', '.join(unknown)} in the categories {', '.join(names)} (BFCL {version})")
    chosen = {category: entries[:limit] if limit else entries for category, entries in chosen.items()}
    out_dir = Path(out_dir)
    identity = {
        "runner": runner.name,
        "tool_format": runner.tool_format,
        "bfcl": version,
        "fingerprint": runner_fingerprint(runner),
    }
    check_run(out_dir, identity, overwrite)
    failed: dict[str, str] = {}
    selected: dict[str, set[str]] = {}
    for category, entries in chosen.items():
        selected[category] = {entry.id for entry in entries}
        path = out_dir / "results" / f"{category}.jsonl"
        run = run_multi_turn if category in MULTI_TURN else run_single_turn
        await score_all(
            entries,
            lambda entry, run=run: run(entry, runner),
            path,
            concurrency=concurrency,
            failed=failed,
            progress=progress,
            desc=category,
        )
    records = [
        record
        for category in names
        for record in read_results(out_dir / "results" / f"{category}.jsonl")
        if record["id"] in selected[category]
    ]
    scores = category_scores(records)
    evaluated = sorted(set().union(*selected.values())) if wanted else []  # after limit: the ids actually run
    summary = summary_json(runner.name, scores, limit=limit, ids=evaluated)
    summary["tool_format"] = runner.tool_format
    summary["bfcl"] = version
    summary["failed_requests"] = failed
    write_atomic(out_dir / "summary.json", json.dumps(summary, indent=2) + "\n")
    write_atomic(out_dir / "summary.md", summary_markdown(runner.name, scores, limit=limit, ids=evaluated))
    return EvaluationResult(out_dir, scores, summary, failed)


def evaluate_bfcl(runner: Runner, out_dir: str | Path, **options: Any) -> EvaluationResult:
    """Evaluate ``runner`` on BFCL categories and write results and the Table 2 summary under ``out_dir``.

    Options: ``categories`` (names or collections, default ``("all",)``), ``limit`` (first N entries per
    category), ``ids`` (only these entries, as BFCL's ``--run-ids``), ``version`` (``v3`` by default when
    installed), ``concurrency``, ``overwrite``, ``progress``.
    """
    return run_sync(evaluate_bfcl_async(runner, out_dir, **options))
