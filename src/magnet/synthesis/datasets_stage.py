"""The last stage of ``magnet synth``: the positives and pairs on disk become the SFT and preference datasets.

The mixture (Table 1's shares, all rows, or counts per kind), the train/test split, the ShareGPT and OpenAI
exports, the statistics and plots, all streamed from the stage shards: records are read from disk as each pass needs
them, so memory does not grow with the run. Both datasets are staged and put in place together, so the folder
never holds an SFT dataset from one run beside pairs from another.
"""

from __future__ import annotations

import contextlib
import difflib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import datasets
from datasets.exceptions import DatasetGenerationError

from magnet.data.export import llamafactory_dataset_info, to_openai_finetune, to_sharegpt
from magnet.data.mixture import PAPER_PREFERENCE_COUNTS, PAPER_SFT_COUNTS, mix, shares_of, split_indices
from magnet.data.schema import stream_dataset
from magnet.data.stats import PAPER_TABLE_1, called_functions, dataset_stats, error_types, plot_distributions
from magnet.errors import MagnetError
from magnet.files import write_atomic, write_jsonl
from magnet.synthesis.config import DatasetSettings
from magnet.synthesis.pipeline import RecordRef, index_records
from magnet.synthesis.recovery import RECOVERY_KEY

Rows = Callable[..., Iterator[dict[str, Any]]]


def describe_positive(record: Mapping[str, Any]) -> dict[str, Any]:
    """A positive record's row id, kind (for the mixture) and episode (what its negative is made from)."""
    meta = record["row"]["meta"]
    return {
        "id": record["row"]["id"],
        "kind": meta.get("kind", "multi_turn"),
        "parent": meta.get("episode", ""),
        "functions": tuple(sorted(called_functions([record["row"]]))),
        "toolkits": tuple(meta.get("source_toolkits") or ()),
    }


def describe_pair(record: Mapping[str, Any]) -> dict[str, Any]:
    """A preference pair's id and kind (for the mixture)."""
    meta = record.get("meta") or {}
    return {
        "id": record["id"],
        "kind": meta.get("kind", "multi_turn"),
        "parent": meta.get("episode", ""),
        "functions": tuple(sorted(called_functions([record]))),
    }


def describe_recovery(record: Mapping[str, Any]) -> dict[str, Any]:
    """The recovery row a negatives record holds (kind ``recovery``), or kind ``""`` when it holds none."""
    row = record.get(RECOVERY_KEY)
    if row is None:
        return {"id": record["id"], "kind": ""}
    return {
        "id": row["id"],
        "kind": "recovery",
        "parent": (row.get("meta") or {}).get("episode", ""),
        "functions": tuple(sorted(called_functions([row]))),
    }


def _sft_row(record: Mapping[str, Any]) -> dict[str, Any]:
    """The SFT row of a positives record, or the recovery row of a negatives record."""
    return record["row"] if "row" in record else record[RECOVERY_KEY]


def _pair(record: Mapping[str, Any]) -> dict[str, Any]:
    """A negatives record without its recovery row: the preference row."""
    return {key: value for key, value in record.items() if key != RECOVERY_KEY}


def mixture_arguments(setting: Any, paper_counts: Mapping[str, int]) -> dict[str, Any]:
    """``mix``'s keyword arguments for a mixture setting: ``paper`` (the paper's shares), ``all`` or counts."""
    if setting == "paper":
        return {"shares": shares_of(paper_counts)}
    if setting == "all" or setting is None:
        return {}
    if isinstance(setting, Mapping):
        return {"counts": dict(setting)}
    raise MagnetError(f"a mixture is 'paper', 'all' or counts per kind, got {setting!r}")


@contextlib.contextmanager
def datasets_progress(enabled: bool) -> Iterator[None]:
    """datasets' progress bars on or off for a block, as they were afterwards."""
    before = datasets.is_progress_bar_enabled()
    if before and not enabled:
        datasets.disable_progress_bars()
    try:
        yield
    finally:
        if before and not enabled:
            datasets.enable_progress_bars()


def _stage_dataset(
    kind: str,
    refs: Sequence[RecordRef],
    rows: Rows,
    build: Path,
    out: Path,
    settings: DatasetSettings,
    seed: int,
    parts: Mapping[str, list[int]] | None = None,
) -> tuple[datasets.DatasetDict, Path, dict[str, list[int]]]:
    """The train/test parts of ``refs`` (``parts``, else the same split as ``datasets``' ``train_test_split``), each
    written from its rows as they are read (``stream_dataset``) and saved under ``build``; returns it, where it
    lies, and the indices of ``refs`` in each part."""
    parts = dict(parts) if parts is not None else split_indices(len(refs), settings.test_size, seed)
    staging = build / f"saved-{kind}"
    try:
        dataset = datasets.DatasetDict(
            {
                name: stream_dataset(rows([refs[index] for index in indices]), kind, build / kind / name)
                for name, indices in parts.items()
            }
        )
        dataset.save_to_disk(str(staging))
    except (OSError, DatasetGenerationError) as error:
        cause = error if isinstance(error, OSError) else error.__cause__ or error.__context__
        if not isinstance(cause, OSError):
            raise
        reason = cause.strerror or str(cause)
        source = Path(cause.filename) if isinstance(getattr(cause, "filename", None), str) else None
        if source is not None and source.is_relative_to(out) and not source.is_relative_to(build):
            raise MagnetError(f"{source}: cannot read ({reason}); rerun to redo the stage that wrote it") from None
        target = out / "datasets" / kind
        raise MagnetError(f"{target}: cannot write ({reason}); files written before are unchanged") from None
    return dataset, staging, parts


def _swap_in(staged: Mapping[str, Path], folder: Path) -> None:
    """Put every staged dataset in place together: the SFT and preference datasets on disk always come from the
    same run (a failed rename puts the previous one back)."""
    previous: dict[str, Path] = {}
    try:
        for name, staging in staged.items():
            target = folder / name
            if target.exists():
                previous[name] = target.replace(folder / f".{name}.{os.getpid()}.old")
            staging.replace(target)
    except OSError as error:
        for name, old in previous.items():
            if not (folder / name).exists():
                old.replace(folder / name)
        raise MagnetError(f"{folder}: cannot put the new datasets in place ({error.strerror or error})") from None
    for old in previous.values():
        shutil.rmtree(old, ignore_errors=True)


HELD_OUT_FILE = "held_out.json"
"""Under ``datasets/``: the episodes a model did not train on, by split (``test``: the SFT test split's episodes;
``holdout``: those of ``datasets.holdout_toolkits``), for ``magnet eval episodes``."""


def held_out_episodes(positives: Sequence[RecordRef], toolkits: Sequence[str]) -> set[str]:
    """The episodes of the positives that use any of ``toolkits`` (an unknown toolkit name is an error)."""
    if not toolkits:
        return set()
    known = sorted({name for ref in positives for name in ref.toolkits})
    unknown = [name for name in toolkits if name not in known]
    if unknown:
        close = difflib.get_close_matches(unknown[0], known, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise MagnetError(
            f"datasets.holdout_toolkits: {unknown} are no toolkits of this run's episodes{hint}; toolkits: {known}; "
            "a rerun with the name mended redoes the datasets only"
        )
    return {ref.parent for ref in positives if set(ref.toolkits) & set(toolkits)}


def build_datasets(out: Path, settings: DatasetSettings, seed: int, *, with_pairs: bool) -> dict[str, Any]:
    """Write ``out/datasets`` (sft, preference, exports) and the plots from ``out/positives`` and, ``with_pairs``,
    ``out/negatives``; returns the mixture, statistics and plots part of the run report."""
    positives = index_records(out / "positives", describe_positive)
    pairs = index_records(out / "negatives", describe_pair) if with_pairs else []
    recoveries = [ref for ref in index_records(out / "negatives", describe_recovery) if ref.kind] if with_pairs else []
    held_out = held_out_episodes(positives, settings.holdout_toolkits)
    if held_out:  # toolkits left out of training: their episodes are in no dataset
        positives, pairs, recoveries = (
            [ref for ref in refs if ref.parent not in held_out] for refs in (positives, pairs, recoveries)
        )
    kind, functions = (lambda ref: ref.kind), (lambda ref: ref.functions)
    sft_mixture = mixture_arguments(settings.sft_mixture, PAPER_SFT_COUNTS)
    sft_refs, sft_mix = mix(positives, kind, **sft_mixture, seed=seed, cover=functions)
    # Recovery rows (negatives.recovery) are no kind of the paper's mixture: all of them join the SFT rows.
    sft_refs = sft_refs + recoveries
    preference_mixture = mixture_arguments(settings.preference_mixture, PAPER_PREFERENCE_COUNTS)
    pref_refs, pref_mix = mix(pairs, kind, **preference_mixture, seed=seed, cover=functions)

    def sft_rows(refs: Sequence[RecordRef] = sft_refs) -> Iterator[dict[str, Any]]:
        return (_sft_row(ref.load()) for ref in refs)

    def pref_rows(refs: Sequence[RecordRef] = pref_refs) -> Iterator[dict[str, Any]]:
        return (_pair(ref.load()) for ref in refs)

    folder = out / "datasets"
    folder.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".build-", dir=folder) as build_dir:
        build = Path(build_dir)
        sft, sft_staged, sft_parts = _stage_dataset("sft", sft_refs, sft_rows, build, out, settings, seed)
        pref_parts: dict[str, list[int]] = {}
        staged = {"sft": sft_staged}
        if pref_refs:
            # The pairs of the SFT test split's episodes are the preference test split: no episode is trained on
            # in one dataset and held out in the other (``magnet eval episodes --split test`` relies on it).
            tested = {sft_refs[index].parent for index in sft_parts.get("test", [])}
            in_test = [index for index, ref in enumerate(pref_refs) if ref.parent in tested]
            pref_parts = {
                "train": [index for index, ref in enumerate(pref_refs) if ref.parent not in tested],
                **({"test": in_test} if in_test else {}),
            }
            preference, staged["preference"], pref_parts = _stage_dataset(
                "preference", pref_refs, pref_rows, build, out, settings, seed, pref_parts
            )
        _swap_in(staged, folder)
        if not pref_refs:  # no pairs this run (negatives none): a previous run's pairs must not stay beside
            shutil.rmtree(folder / "preference", ignore_errors=True)
        if settings.push_to_hub:
            sft.push_to_hub(settings.push_to_hub, config_name="sft")
            if pref_refs:
                preference.push_to_hub(settings.push_to_hub, config_name="preference")
    # An episode is held out only if nothing trained on it: not its SFT row, not a recovery row of it, not its pair.
    trained = {sft_refs[index].parent for index in sft_parts.get("train", [])}
    trained |= {pref_refs[index].parent for index in pref_parts.get("train", [])}
    splits = {
        "test": sorted({sft_refs[index].parent for index in sft_parts.get("test", [])} - trained),
        "holdout": sorted(held_out),
        "holdout_toolkits": sorted(settings.holdout_toolkits),
    }
    write_atomic(folder / HELD_OUT_FILE, json.dumps(splits, indent=1) + "\n")
    report: dict[str, Any] = {"stages": {}, "mixture": {"sft": sft_mix.to_dict(), "preference": pref_mix.to_dict()}}
    report["held_out"] = {"test_episodes": len(splits["test"]), "holdout_episodes": len(held_out)}
    if pref_refs:
        report["preference_error_types"] = error_types(pref_rows())
    if settings.exports:
        write_jsonl((to_sharegpt(row) for row in sft_rows()), folder / "sft_sharegpt.jsonl")
        write_atomic(
            folder / "dataset_info.json",
            json.dumps(llamafactory_dataset_info("sft_sharegpt.jsonl"), indent=1) + "\n",
        )
        write_jsonl((to_openai_finetune(row) for row in sft_rows()), folder / "sft_openai.jsonl")
    report["sft"] = dataset_stats(sft_rows())
    report["functions_called"] = sorted({name for ref in sft_refs for name in ref.functions})  # indexed already
    report["preference"] = dataset_stats(pref_rows())
    report["plots"] = [
        str(plot_distributions(sft_rows(), out / "sft_distributions.png", "SFT rows", PAPER_TABLE_1["sft"]))
    ]
    if pref_refs:
        report["plots"].append(
            str(
                plot_distributions(
                    pref_rows(),
                    out / "preference_distributions.png",
                    "preference pairs (chosen)",
                    PAPER_TABLE_1["preference"],
                )
            )
        )
    return report
