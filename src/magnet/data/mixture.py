"""The dataset mixture: how many multi-turn, single-turn and irrelevance rows go in, and the train/test split.

The paper's Table 1: SFT 20,000 single-turn / 7,800 multi-turn / 6,200 irrelevance; mDPO 1,556 / 2,250 / 750.
``mix`` keeps rows per kind by explicit counts, by shares (the largest mixture with those proportions that the
available rows allow), or all of them; the choice of rows within a kind is seeded.
"""

from __future__ import annotations

import logging
import math
import random
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import datasets
import numpy as np

from magnet.errors import MagnetError

logger = logging.getLogger(__name__)

T = TypeVar("T")

PAPER_SFT_COUNTS = {"single_turn": 20000, "multi_turn": 7800, "irrelevance": 6200}
PAPER_PREFERENCE_COUNTS = {"single_turn": 1556, "multi_turn": 2250, "irrelevance": 750}


def shares_of(counts: Mapping[str, int]) -> dict[str, float]:
    """Counts as shares of their total."""
    total = sum(counts.values())
    return {kind: count / total for kind, count in counts.items()}


@dataclass(frozen=True)
class MixtureReport:
    """What was available and what was kept, per kind."""

    available: dict[str, int]
    kept: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        """Plain dict with shares."""
        total = sum(self.kept.values()) or 1
        return {
            "available": self.available,
            "kept": self.kept,
            "shares": {kind: round(count / total, 3) for kind, count in self.kept.items()},
        }


def mix(
    rows: Sequence[T],
    kind_of: Callable[[T], str],
    *,
    counts: Mapping[str, int] | None = None,
    shares: Mapping[str, float] | None = None,
    seed: int = 0,
    cover: Callable[[T], Iterable[str]] | None = None,
) -> tuple[list[T], MixtureReport]:
    """Select rows per kind: ``counts`` (capped at what exists), else ``shares`` (the largest total whose
    per-kind counts all exist), else everything. Kinds not named get no rows when counts or shares are given.

    With ``cover`` (the functions a row calls), a kind cut down to its count keeps first the rows that call a
    function no kept row calls yet, then the others in the same seeded order: every function of the pool keeps a
    row when the counts allow it."""
    by_kind: dict[str, list[T]] = {}
    for row in rows:
        by_kind.setdefault(kind_of(row), []).append(row)
    available = {kind: len(items) for kind, items in by_kind.items()}
    if counts is None and shares is not None:
        if not any(share > 0 for share in shares.values()):
            raise MagnetError("mixture shares are all zero")
        positive = {kind: share for kind, share in shares.items() if share > 0 and available.get(kind)}
        absent = sorted(kind for kind, share in shares.items() if share > 0 and not available.get(kind))
        if absent:  # a kind with no rows at all would make every other kind's count zero
            logger.warning("mixture: no %s rows; keeping the shares of the other kinds", absent)
        if not positive:
            return [], MixtureReport(dict(sorted(available.items())), {})
        total = sum(positive.values())
        limit = min(available.get(kind, 0) / (share / total) for kind, share in positive.items())
        counts = {kind: int(limit * share / total) for kind, share in positive.items()}
    if counts is None:
        counts = available
    rng = random.Random(f"{seed}:mixture")
    kept: list[T] = []
    kept_counts: dict[str, int] = {}
    covered: set[str] = set()
    for kind in sorted(counts):
        pool = list(by_kind.get(kind, []))
        rng.shuffle(pool)
        if cover is not None:
            first, rest = [], []
            for row in pool:
                new = set(cover(row)) - covered
                (first if new else rest).append(row)
                covered |= new
            pool = first + rest
        chosen = pool[: max(0, int(counts[kind]))]
        if cover is not None:
            covered = {name for row in kept + chosen for name in cover(row)}
        kept.extend(chosen)
        kept_counts[kind] = len(chosen)
    rng.shuffle(kept)
    return kept, MixtureReport(dict(sorted(available.items())), kept_counts)


def split_indices(size: int, test_size: float | int, seed: int = 0) -> dict[str, list[int]]:
    """Row indices of ``train`` and ``test`` (no test part when ``test_size`` is 0 or there are fewer than 10 rows).

    The same parts as ``datasets.Dataset.train_test_split(test_size=..., seed=...)`` (a float rounds the test part
    up; numpy's default generator permutes), computed without the rows, so a dataset of any size can be split
    while it is written.
    """
    if not test_size or size < 10:
        return {"train": list(range(size))}
    n_test = math.ceil(test_size * size) if isinstance(test_size, float) else int(test_size)
    if not 0 < n_test < size:
        raise MagnetError(f"test_size {test_size} leaves no train or no test rows out of {size}")
    permutation = np.random.default_rng(seed).permutation(size).tolist()
    return {"train": permutation[n_test:], "test": permutation[:n_test]}


def split(dataset: datasets.Dataset, test_size: float | int, seed: int = 0) -> datasets.DatasetDict:
    """A ``DatasetDict`` with ``train`` and ``test`` (no test split when ``test_size`` is 0 or the data is tiny)."""
    parts = split_indices(len(dataset), test_size, seed)
    if len(parts) == 1:
        return datasets.DatasetDict({"train": dataset})
    # Rebuild each part from its rows: datasets 5.2 cannot save an indices mapping (nor its flattened copy) over
    # Json columns, e.g. a test part whose messages happen to have no tool calls at all.
    return datasets.DatasetDict(
        {
            name: datasets.Dataset.from_list([dataset[index] for index in indices], features=dataset.features)
            for name, indices in parts.items()
        }
    )


def kinds(rows: Sequence[Mapping[str, Any]]) -> Counter:
    """Rows per ``meta.kind``."""
    return Counter((row.get("meta") or {}).get("kind", "multi_turn") for row in rows)
