"""How much of a synthesized dataset BFCL's test set already holds (the paper's Appendix C): the share of rows whose
function signature path (the functions called, turn by turn) is exactly one of BFCL's test paths, and the share of
the rows' user-query word 2-grams that BFCL's queries also contain (the paper reports 0.3% and 5.3%).

A training pool without BFCL's classes matches no path by construction; the check matters when a pool was allowed
BFCL's classes (``allow_bfcl``), and as evidence for a model card either way.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from magnet.data.stats import call_name, conversation
from magnet.errors import MagnetError
from magnet.eval.entries import (
    MULTI_TURN,
    RELEVANCE_ONLY,
    SINGLE_TURN,
    expected_single_turn,
    expected_turn_calls,
    load_single_turn_entries,
    multi_turn_entries,
)

SignaturePath = tuple[tuple[str, ...], ...]
WORD = re.compile(r"[a-z0-9]+")


def row_signature_path(row: Mapping[str, Any]) -> SignaturePath:
    """The functions a row's assistant calls, grouped by user turn (a turn without calls is an empty group);
    for a preference pair, its chosen side."""
    turns: list[list[str]] = []
    for message in conversation(row):
        if message["role"] == "user":
            turns.append([])
        elif message["role"] == "assistant" and turns:
            turns[-1] += [call_name(call) for call in message.get("tool_calls") or []]
    return tuple(tuple(turn) for turn in turns)


def bigrams(text: str) -> set[tuple[str, str]]:
    """The word 2-grams of a text (lowercased letters and digits)."""
    words = WORD.findall(text.lower())
    return set(itertools.pairwise(words))


def _user_texts(messages: Iterable[Any]) -> Iterable[str]:
    for message in messages:
        if isinstance(message, list):  # BFCL's turns: a list of messages each
            yield from _user_texts(message)
        elif isinstance(message, Mapping) and message.get("role") == "user" and isinstance(message.get("content"), str):
            yield message["content"]


@dataclass(frozen=True)
class BFCLReference:
    """BFCL's test signature paths and the 2-grams of its user queries."""

    paths: frozenset[SignaturePath]
    bigrams: frozenset[tuple[str, str]]
    entries: int


def bfcl_reference(version: str | None = None) -> BFCLReference:
    """The signature paths (ground truth calls, turn by turn) and query 2-grams of every BFCL test entry with an
    answer: the multi-turn categories and the single-turn ones but relevance."""
    paths: set[SignaturePath] = set()
    grams: set[tuple[str, str]] = set()
    entries = 0
    for category in MULTI_TURN:
        for entry in multi_turn_entries(category, version=version):
            entries += 1
            turns = range(len(entry.ground_truth))
            paths.add(tuple(tuple(call.name for call in expected_turn_calls(entry, turn)) for turn in turns))
            for text in _user_texts(entry.question):
                grams |= bigrams(text)
    for category in SINGLE_TURN:
        for entry in load_single_turn_entries(category, version=version):
            entries += 1
            for text in _user_texts(entry.messages):
                grams |= bigrams(text)
            if category not in RELEVANCE_ONLY:
                calls, _source = expected_single_turn(entry)
                paths.add((tuple(call.name for call in calls),))
    return BFCLReference(frozenset(paths), frozenset(grams), entries)


@dataclass(frozen=True)
class ContaminationReport:
    """How much of a dataset BFCL holds: rows whose signature path is a BFCL test path, and shared query 2-grams."""

    rows: int
    matching_paths: int
    query_bigrams: int
    shared_bigrams: int
    examples: tuple[SignaturePath, ...] = ()

    @property
    def path_share(self) -> float:
        return self.matching_paths / self.rows if self.rows else 0.0

    @property
    def bigram_share(self) -> float:
        return self.shared_bigrams / self.query_bigrams if self.query_bigrams else 0.0

    def to_dict(self) -> dict[str, Any]:
        """The figures (and up to five matching paths) as JSON."""
        return {
            "rows": self.rows,
            "matching_paths": self.matching_paths,
            "path_share": round(self.path_share, 4),
            "query_bigrams": self.query_bigrams,
            "shared_bigrams": self.shared_bigrams,
            "bigram_share": round(self.bigram_share, 4),
            "examples": [[list(turn) for turn in path] for path in self.examples],
        }

    def markdown(self) -> str:
        """Two lines beside the paper's figures."""
        return (
            f"| check against BFCL | ours | the paper (Appendix C) |\n| --- | --- | --- |\n"
            f"| signature paths equal to a BFCL test path | {self.path_share:.1%} ({self.matching_paths} of "
            f"{self.rows} rows) | 0.3% |\n"
            f"| user-query 2-grams also in BFCL's queries | {self.bigram_share:.1%} ({self.shared_bigrams} of "
            f"{self.query_bigrams}) | 5.3% |\n"
        )


def contamination(rows: Iterable[Mapping[str, Any]], reference: BFCLReference) -> ContaminationReport:
    """The contamination of ``rows`` (SFT rows or preference pairs) against ``reference`` (``bfcl_reference``)."""
    count = 0
    matches: list[SignaturePath] = []
    grams: set[tuple[str, str]] = set()
    for row in rows:
        count += 1
        path = row_signature_path(row)
        if path and any(path) and path in reference.paths:
            matches.append(path)
        for text in _user_texts(conversation(row)):
            grams |= bigrams(text)
    if not count:
        raise MagnetError("no rows to check")
    return ContaminationReport(
        count, len(matches), len(grams), len(grams & reference.bigrams), tuple(dict.fromkeys(matches))[:5]
    )


def synth_contamination(out: Path, version: str | None = None) -> dict[str, Any]:
    """The contamination of a ``magnet synth`` run's SFT dataset (every split) against BFCL, for its report
    (``Synth``'s ``report_checks`` when the pool was allowed BFCL's classes): ``{"contamination": {...}}`` with
    the figures and their Markdown."""
    import datasets

    folder = Path(out) / "datasets" / "sft"
    loaded = datasets.load_from_disk(str(folder))
    splits = loaded.values() if isinstance(loaded, datasets.DatasetDict) else [loaded]
    rows = (row for split in splits for row in split)
    report = contamination(rows, bfcl_reference(version))
    return {"contamination": {**report.to_dict(), "markdown": report.markdown()}}
