"""Step parsers: a teacher's answer to one step's prompt, read into the step's typed result.

Each parser takes the ``Completion`` and the step's inputs and returns the result, or raises ``AnswerError``
saying what is missing, which ``run_step`` shows to the model on the retry. They accept the ways strong open
models format answers (reasoning blocks, preambles, Markdown labels, fences, quotes, closing remarks, JSON or
Python literals; the shared parts are in ``magnet.synthesis.answer_text``) and refuse only answers that carry no
usable content. Where it matters they stay strict: a call is read with the literal-only call parser, a category
must be on the list, a simulated output must fit the response schema.

The parsers live in one module per family of steps (``parsers_labels``, ``parsers_dependencies``,
``parsers_verdicts``, ``parsers_translation``, ``parsers_simulation``) around what they share
(``parsers_common``); this module gathers them under one name.
"""

from __future__ import annotations

from magnet.synthesis.parsers_common import AnswerError, answer_text
from magnet.synthesis.parsers_dependencies import PLACEHOLDERS, Related, parse_dependencies
from magnet.synthesis.parsers_labels import CATEGORIES, KNOWN_CATEGORIES, MAX_TOOL_CLASS, Label, parse_label
from magnet.synthesis.parsers_simulation import MAX_JSON_DEPTH, json_problem, parse_simulated
from magnet.synthesis.parsers_translation import (
    MAX_PARALLEL_PER_FUNCTION,
    QUERY_LABELS,
    calls_in_text,
    parse_forth,
    parse_query,
)
from magnet.synthesis.parsers_verdicts import ERROR_TYPES, TurnVerdict, Verdict, parse_turn_verdict, parse_verdict

__all__ = [
    "CATEGORIES",
    "ERROR_TYPES",
    "KNOWN_CATEGORIES",
    "MAX_JSON_DEPTH",
    "MAX_PARALLEL_PER_FUNCTION",
    "MAX_TOOL_CLASS",
    "PLACEHOLDERS",
    "QUERY_LABELS",
    "AnswerError",
    "Label",
    "Related",
    "TurnVerdict",
    "Verdict",
    "answer_text",
    "calls_in_text",
    "json_problem",
    "parse_dependencies",
    "parse_forth",
    "parse_label",
    "parse_query",
    "parse_simulated",
    "parse_turn_verdict",
    "parse_verdict",
]
