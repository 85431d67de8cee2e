"""The answer corpus: every realistic teacher answer is read by its step's parser to the content it was meant to
carry, and every answer without usable content is refused (entries marked ``known_gap`` are expected failures)."""

from __future__ import annotations

from pathlib import Path

import pytest

from magnet.synthesis.answer_corpus import (
    STEP_NAMES,
    CorpusEntry,
    CorpusError,
    Outcome,
    expectation_problems,
    load_corpus,
    score,
    summary,
)

CORPUS = Path(__file__).resolve().parents[1] / "fixtures" / "answers" / "corpus.jsonl"
# Written after the parsers were tuned on the corpus, by someone who had not read them (86% read as meant then).
HELD_OUT = CORPUS.with_name("heldout.jsonl")
ENTRIES = load_corpus(CORPUS)
HELD_OUT_ENTRIES = load_corpus(HELD_OUT)


def _param(entry: CorpusEntry):
    marks = [pytest.mark.xfail(strict=True, reason=entry.known_gap)] if entry.known_gap else []
    return pytest.param(entry, id=entry.id, marks=marks)


@pytest.mark.parametrize("entry", [_param(entry) for entry in [*ENTRIES, *HELD_OUT_ENTRIES]])
def test_entry_is_read_as_meant(entry: CorpusEntry):
    outcome = score(entry)
    assert outcome.ok, f"{entry.id} ({entry.form}), line {entry.line}: {outcome.detail}"


def test_corpus_is_large_and_covers_every_step():
    assert len(ENTRIES) >= 200
    steps = {entry.step for entry in ENTRIES}
    assert steps == set(STEP_NAMES)
    for step in STEP_NAMES:
        unusable = [entry for entry in ENTRIES if entry.step == step and entry.unusable]
        assert unusable, f"{step}: no answer without usable content"


def test_intended_content_is_valid_for_the_specs():
    problems = {entry.id: expectation_problems(entry) for entry in [*ENTRIES, *HELD_OUT_ENTRIES]}
    assert {key: value for key, value in problems.items() if value} == {}


def test_a_corrupt_line_is_named(tmp_path):
    lines = CORPUS.read_text(encoding="utf-8").splitlines()[:3]
    path = tmp_path / "corpus.jsonl"
    path.write_text("\n".join([*lines, '{"id": "broken", "step": ', *lines[:1]]) + "\n", encoding="utf-8")
    with pytest.raises(CorpusError, match=r"corpus\.jsonl, line 4: not JSON"):
        load_corpus(path)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"id": "x", "step": "guess", "form": "f", "inputs": {}, "answer": "", "expect": {}}', "unknown step"),
        (
            '{"id": "x", "step": "nested_judge", "form": "f", "inputs": {"first": "no_such", "second": "get_menu"}, '
            '"answer": "yes", "expect": {"yes": true}}',
            "not builtin functions",
        ),
        (
            '{"id": "x", "step": "turn_judge", "form": "f", "inputs": {}, "answer": "no", '
            '"expect": {"correct": false}}',
            "error_type",
        ),
        ("[1, 2]", "expected a JSON object"),
    ],
)
def test_a_malformed_entry_is_named(tmp_path, line, message):
    path = tmp_path / "corpus.jsonl"
    path.write_text("\n" + line + "\n", encoding="utf-8")
    with pytest.raises(CorpusError, match=rf"line 2\b.*{message}"):
        load_corpus(path)


def test_a_repeated_id_is_named(tmp_path):
    first = CORPUS.read_text(encoding="utf-8").splitlines()[0]
    path = tmp_path / "corpus.jsonl"
    path.write_text(f"{first}\n{first}\n", encoding="utf-8")
    with pytest.raises(CorpusError, match=r"line 2: id .* already used on line 1"):
        load_corpus(path)


def test_an_unusable_answer_that_is_accepted_fails():
    entry = CorpusEntry(
        id="probe",
        step="nested_judge",
        form="plain yes",
        inputs={"first": "search_restaurants", "second": "get_menu"},
        answer="yes\nThe id comes from the search.",
        expect={"unusable": True},
    )
    outcome = score(entry)
    assert not outcome.ok and "expected a refusal" in outcome.detail


def test_summary_counts_per_step_and_overall():
    outcomes = [
        Outcome("a", "nested_judge", "f", True, ""),
        Outcome("b", "nested_judge", "f", False, ""),
        Outcome("c", "label_category", "f", True, ""),
    ]
    report = summary(outcomes)
    assert list(report) == ["label_category", "nested_judge", "overall"]
    assert report["nested_judge"] == {"ok": 1, "total": 2, "share": 0.5}
    assert report["overall"]["ok"] == 2 and report["overall"]["total"] == 3
