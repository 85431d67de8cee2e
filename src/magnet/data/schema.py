"""Dataset storage: the HF Features of SFT and preference rows, and datasets built from rows (validated first).

Arguments, tools and ``meta`` hold objects whose keys differ from row to row; Arrow would merge them into one struct
and hand back ``None`` for every key a row lacks, so they are stored with ``datasets.Json()`` features, which
round-trip exactly. The row records (``magnet.data.records``) and the row checks (``magnet.data.row_checks``) are
importable from here too, as they always were.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import datasets
from datasets import Features, Json, List, Value

from magnet.data.records import Message, PreferenceRow, SFTRow, ToolCall, TrajectoryMeta
from magnet.data.row_checks import (
    KINDS,
    MAX_REPORTED,
    ROLES,
    check_preference_rows,
    check_sft_rows,
    raise_problems,
    validate_preference_row,
    validate_sft_row,
)

__all__ = [
    "KINDS",
    "MAX_REPORTED",
    "MESSAGE_FEATURE",
    "PREFERENCE_FEATURES",
    "ROLES",
    "SFT_FEATURES",
    "TOOL_CALL_FEATURE",
    "Message",
    "PreferenceRow",
    "SFTRow",
    "ToolCall",
    "TrajectoryMeta",
    "check_preference_rows",
    "check_sft_rows",
    "preference_dataset",
    "preference_rows",
    "sft_dataset",
    "sft_rows",
    "stream_dataset",
    "validate_preference_row",
    "validate_sft_row",
]

TOOL_CALL_FEATURE = {
    "type": Value("string"),
    "id": Value("string"),
    "function": {"name": Value("string"), "arguments": Json()},
}
MESSAGE_FEATURE = {
    "role": Value("string"),
    "content": Value("string"),
    "tool_calls": List(TOOL_CALL_FEATURE),
    "tool_call_id": Value("string"),
    "name": Value("string"),
}

SFT_FEATURES = Features(
    {"id": Value("string"), "tools": List(Json()), "messages": List(MESSAGE_FEATURE), "meta": Json()}
)
PREFERENCE_FEATURES = Features(
    {
        "id": Value("string"),
        "tools": List(Json()),
        "prompt": List(MESSAGE_FEATURE),
        "chosen": List(MESSAGE_FEATURE),
        "rejected": List(MESSAGE_FEATURE),
        "meta": Json(),
    }
)


def _canonical(row: Mapping[str, Any]) -> dict[str, Any]:
    """A row as its features store it: messages get every key, and ``[]`` for no tool calls (datasets cannot save a
    split whose Json column holds only nulls)."""
    row = dict(row)
    for key in ("messages", "prompt", "chosen", "rejected"):
        if isinstance(row.get(key), list):
            row[key] = [
                {**{name: None for name in MESSAGE_FEATURE}, **message, "tool_calls": message.get("tool_calls") or []}
                if isinstance(message, Mapping)
                else message
                for message in row[key]
            ]
    return row


def _empty(features: Features) -> datasets.Dataset:
    """An empty dataset that still has every column (``from_list([])`` would have none)."""
    return datasets.Dataset.from_dict({name: [] for name in features}, features=features)


def _from_list(rows: list[dict[str, Any]], features: Features) -> datasets.Dataset:
    """A dataset of ``rows`` (every column present when there are none)."""
    if not rows:
        return _empty(features)
    return datasets.Dataset.from_list([_canonical(row) for row in rows], features=features)


def stream_dataset(
    rows: Iterable[Mapping[str, Any]], kind: str, cache_dir: str | Path, *, validate: bool = True
) -> datasets.Dataset:
    """A dataset of ``kind`` (``sft`` or ``preference``) written from ``rows`` as they come, through Arrow files
    under ``cache_dir``: the rows are never all in memory (``magnet synth`` builds datasets of any size this way).

    Rows are validated as they pass; bad rows are left out and one ``DatasetError`` lists them at the end, as
    ``sft_dataset`` does. ``cache_dir`` must be a folder of this build alone: datasets reuses a cache it finds.
    """
    features, check = {
        "sft": (SFT_FEATURES, validate_sft_row),
        "preference": (PREFERENCE_FEATURES, validate_preference_row),
    }[kind]
    problems: list[str] = []
    kept = 0

    def generate() -> Iterator[dict[str, Any]]:
        nonlocal kept
        for index, row in enumerate(rows):
            found = check(row, index) if validate else []
            if found:
                problems.extend(found)
                continue
            kept += 1
            yield _canonical(row)

    try:
        # A fingerprint of our own: datasets would otherwise pickle the generator (and ``rows``) to name its cache.
        fingerprint = uuid.uuid4().hex
        dataset = datasets.Dataset.from_generator(
            generate, features=features, cache_dir=str(cache_dir), fingerprint=fingerprint
        )
    except ValueError:  # datasets refuses a generator that yielded nothing
        if kept:
            raise
        dataset = _empty(features)
    raise_problems(problems)
    return dataset


def sft_dataset(rows: Iterable[SFTRow | Mapping[str, Any]], *, validate: bool = True) -> datasets.Dataset:
    """An HF Dataset of SFT rows with ``SFT_FEATURES`` (validated first unless ``validate=False``)."""
    dicts = [row.to_dict() if isinstance(row, SFTRow) else dict(row) for row in rows]
    if validate:
        check_sft_rows(dicts)
    return _from_list(dicts, SFT_FEATURES)


def preference_dataset(rows: Iterable[PreferenceRow | Mapping[str, Any]], *, validate: bool = True) -> datasets.Dataset:
    """An HF Dataset of preference rows with ``PREFERENCE_FEATURES`` (validated first)."""
    dicts = [row.to_dict() if isinstance(row, PreferenceRow) else dict(row) for row in rows]
    if validate:
        check_preference_rows(dicts)
    return _from_list(dicts, PREFERENCE_FEATURES)


def sft_rows(dataset: datasets.Dataset) -> list[SFTRow]:
    """The rows of an SFT dataset as records."""
    return [SFTRow.from_dict(row) for row in dataset]


def preference_rows(dataset: datasets.Dataset) -> list[PreferenceRow]:
    """The rows of a preference dataset as records."""
    return [PreferenceRow.from_dict(row) for row in dataset]
