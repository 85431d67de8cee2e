"""A corpus of realistic teacher answers to the synthesis steps, and a scorer of how well the parsers read them.

The step parsers (``magnet.synthesis.steps``) are the only thing between a teacher's free text and the dataset.
Unit tests show they accept the format the prompt asks for; they do not show how much of what strong open models
actually write (Markdown labels, fences, preambles, reasoning blocks, Python literals, closing remarks) is read
to what the model meant. The corpus (``tests/fixtures/answers/corpus.jsonl``) holds such answers, written by
hand, each with the content it was meant to carry; ``score`` runs the step's parser on one and says whether it
read that content, or, for an answer with no usable content, whether it refused it (a refused answer is asked
again; a misread one silently becomes bad training data, which is the worse failure).

Each line of the corpus is one JSON object::

    {"id": "forth-017", "step": "forth_translate", "form": "**Answer:** label",
     "inputs": {"functions": ["get_forecast"]}, "answer": "...", "expect": {"calls": "[get_forecast(city='Oslo')]"}}

``inputs`` name builtin functions (``magnet.tools.builtin``); ``expect`` depends on the step (see
``EXPECT_KEYS``), or is ``{"unusable": true}``. An optional ``known_gap`` says why the parsers do not read an
entry yet (the test of that entry is then an expected failure).

The corpus's entries and their loading are in ``magnet.synthesis.answer_corpus_entries``, the scoring in
``answer_corpus_scoring`` and the checks of the corpus itself in ``answer_corpus_checks``; this module gathers
them under one name.
"""

from __future__ import annotations

from magnet.synthesis.answer_corpus_checks import expectation_problems
from magnet.synthesis.answer_corpus_entries import (
    ENTRY_KEYS,
    EXPECT_KEYS,
    INPUT_KEYS,
    OPTIONAL_ENTRY_KEYS,
    STEP_NAMES,
    CorpusEntry,
    CorpusError,
    builtin_specs,
    load_corpus,
)
from magnet.synthesis.answer_corpus_scoring import DETAIL_LIMIT, Outcome, same_json, score, step_inputs, summary

__all__ = [
    "DETAIL_LIMIT",
    "ENTRY_KEYS",
    "EXPECT_KEYS",
    "INPUT_KEYS",
    "OPTIONAL_ENTRY_KEYS",
    "STEP_NAMES",
    "CorpusEntry",
    "CorpusError",
    "Outcome",
    "builtin_specs",
    "expectation_problems",
    "load_corpus",
    "same_json",
    "score",
    "step_inputs",
    "summary",
]
