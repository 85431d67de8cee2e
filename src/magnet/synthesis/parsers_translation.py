"""The parsers of translation: back-translation's user message (labels, preambles, quotes and the model's own
notes taken off; a refusal or a named function refused) and forth-translation's calls (in any of the forms models
write them, checked against the candidate functions).

Kept apart from the judges' parsers because these read free text and calls, not verdicts.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from magnet.errors import CallParseError
from magnet.llm.answers import decode_text_calls, scan_calls, strip_reasoning
from magnet.llm.answers import json_calls as json_calls_of
from magnet.llm.client import Completion
from magnet.synthesis.answer_text import answer_body, labelled, loose_values, strip_label
from magnet.synthesis.parsers_common import AnswerError, answer_text
from magnet.tools.calls import FunctionCall

if TYPE_CHECKING:
    from magnet.synthesis.steps import TranslateInputs

MAX_PARALLEL_PER_FUNCTION = 3
QUERY_LABELS = ("user message", "user's message", "user", "message", "query", "next user message", "request")
_NOTE = re.compile(
    r"\s*(?:[*_]*\(\s*(?:note|nb|n\.b\.)\s*[:.-](.*?)\)[*_]*|\n\s*[*_]*(?:note|nb)[*_]*\s*:(.*))\s*\Z", re.I | re.S
)
# A note is the model's about the message ("the ids come from earlier outputs"), not the user's ("in Celsius").
_ABOUT_THE_MESSAGE = re.compile(
    r"\b(?:message|function|functions|parameter|assistant|user|round|output|outputs|indirectly|earlier|previous|"
    r"request|refers?|referr\w*|motivat\w*|api)\b",
    re.I,
)
# A model that refused to play the user (not a user who says sorry), or wrote the assistant's reply as well.
_REFUSAL = re.compile(
    r"^(?:(?:I'?m|I am)?\s*sorry,?\s*(?:but\s+)?I\s+(?:can(?:no|')t|can not|won't|will not|am unable|'m unable)"
    r"|I\s+(?:can(?:no|')t|won't|will not)\s+(?:help|assist|write|do|comply|provide|create|generate)|As an AI)\b",
    re.I,
)
_REPLY = re.compile(r"\n\s*[*_]*(?:assistant|AI)[*_]*\s*:.*\Z", re.I | re.S)
_QUOTES = (('"', '"'), ("“", "”"), ("'", "'"), ("‘", "’"))
# A first paragraph that introduces the message ("Here is the user's next message:", "**User's next message:**").
_PREAMBLE = re.compile(r"\b(?:message|user|here(?:'s| is)|query|request)\b[^\n]*:[*_ ]*\Z", re.I)


def _unquoted(text: str) -> str:
    for _ in range(3):
        text = text.strip()
        pair = next((p for p in _QUOTES if len(text) > 1 and text.startswith(p[0]) and text.endswith(p[1])), None)
        if pair is None:
            return text
        text = text[len(pair[0]) : -len(pair[1])]
    return text.strip()


def _leaked(name: str, text: str) -> bool:
    """Whether a query names a function: an identifier-like name (``get_balance``, ``Bank.transfer``) anywhere,
    a plain-word name only when written as code (``transfer()``, `` `transfer` ``), since "transfer" is English."""
    escaped = re.escape(name)
    if not re.fullmatch(r"[a-z]+", name):
        return re.search(rf"(?<![\w.]){escaped}(?![\w])", text) is not None
    return re.search(rf"`{escaped}`|(?<![\w.]){escaped}\(", text, re.IGNORECASE) is not None


def parse_query(completion: Completion, inputs: TranslateInputs) -> str:
    """The user's message, without a label (``User:``, ``**User message:**``), a preamble line ending in ``:``,
    wrapping quotes or a trailing ``(Note: ...)``; non-empty, and naming none of the round's functions."""
    text = answer_body(answer_text(completion))
    text = strip_label(QUERY_LABELS, text)
    text = re.split(r"\n[ \t]*(?:-{3,}|\*{3,}|_{3,})[ \t]*(?:\n|\Z)", text)[0]  # a footer below a rule
    paragraphs = [part for part in re.split(r"\n\s*\n", text) if part.strip()]
    if len(paragraphs) > 1 and _PREAMBLE.search(paragraphs[0].strip()):
        text = strip_label(QUERY_LABELS, "\n\n".join(paragraphs[1:]))
        paragraphs = paragraphs[1:]
    if len(paragraphs) > 1 and _unquoted(paragraphs[0]) != paragraphs[0].strip():
        text = paragraphs[0]  # the message quoted whole, then the model explaining it
    lines = text.strip().split("\n")
    if all(line.startswith(">") for line in lines):  # the message as a block quote
        text = "\n".join(line[1:].strip() for line in lines)
    text = _unquoted(_REPLY.sub("", text))
    note = _NOTE.search(text)
    if note and _ABOUT_THE_MESSAGE.search(note.group(1) or note.group(2) or ""):
        text = text[: note.start()]
    text = _unquoted(text)
    if not text:
        raise AnswerError("the message is empty")
    if _REFUSAL.match(text):
        raise AnswerError("that is a refusal, not the user's message; write what the user says")
    named = [spec.name for spec in inputs.functions if _leaked(spec.name, text)]
    if named:
        raise AnswerError(f"the message names the function(s) {named}; describe the request without them")
    return text


def calls_in_text(text: str, specs: Mapping[str, Any]) -> list[FunctionCall]:
    """The calls written in ``text``, in order: a JSON call object or list of them, or Python-style calls of the
    functions in ``specs`` that begin its lines (``scan_calls``: in a list, one per line, in backticks, followed
    by a period or a remark; positional arguments bound in the order of the function's parameters). A call of one
    of them that the literal-only call parser refuses is a ``CallParseError``."""
    body = answer_body(text)
    json_first = body.startswith("{") or body.startswith("[{")
    named = re.search(r"[\"']name[\"']\s*:", text) is not None  # no call object without a "name" key
    json_calls = (
        next((calls for value in loose_values(text) if (calls := json_calls_of(value))), None) if named else None
    )
    if json_first and json_calls:
        return json_calls
    order = {name: list(spec.properties) for name, spec in specs.items()}
    calls, _rest = scan_calls(text, set(specs), parameter_order=order)
    if calls:
        return calls
    if json_calls:
        return json_calls
    # Calls of functions that are not candidates: found so that the answer can be told which they are.
    return [call for call in _loose_calls(text) if call.name not in specs]


def _loose_calls(text: str) -> list[FunctionCall]:
    try:
        return decode_text_calls(text)[0]
    except CallParseError:
        return []


def _first_block(text: str) -> str:
    """``text`` up to its first blank line outside a code fence."""
    lines, fenced = [], False
    for line in text.split("\n"):
        if line.strip().startswith("```"):
            fenced = not fenced
        elif not line.strip() and not fenced and lines:
            break
        lines.append(line)
    return "\n".join(lines)


def parse_forth(completion: Completion, inputs: TranslateInputs) -> tuple[FunctionCall, ...] | None:
    """The calls after the (last) ``Answer:`` label, ``f(a=1), g(b=2)`` in any of the forms models write them
    (``None`` for ``FINISH``); they must be calls of the candidate functions with their required parameters."""
    text = strip_reasoning(answer_text(completion))
    answer = labelled(("answer", "final answer", "calls", "function calls"), text, rest=True)
    unlabelled = answer is None
    # The label's block only: a remark a blank line below ("get_forecast(...) could follow") is no call.
    answer = answer_body(text) if answer is None else _first_block(answer)
    if re.match(r"^[\s*_`\"'\[]*FINISH\b", answer) or answer.strip(" *_`'\".").lower() == "finish":
        return None
    names = {spec.name: spec for spec in inputs.functions}
    try:
        calls = calls_in_text(answer, names)
    except CallParseError as error:
        raise AnswerError(str(error)) from None
    if not calls and unlabelled:
        raise AnswerError("end with a line 'Answer: f(a=\"x\"), g(...)' (or 'Answer: FINISH')")
    if not calls:
        raise AnswerError("no calls in the answer; write 'Answer: FINISH' if none can be made")
    problems = [f"{call.name} is not a candidate function" for call in calls if call.name not in names]
    for name in names:
        count = sum(call.name == name for call in calls)
        if count > MAX_PARALLEL_PER_FUNCTION:
            problems.append(f"{name} is called {count} times; at most {MAX_PARALLEL_PER_FUNCTION}")
    for call in calls:
        spec = names.get(call.name)
        if spec is None:
            continue
        missing = [p for p in spec.required if p not in call.arguments]
        unknown = [p for p in call.arguments if p not in spec.properties]
        if missing:
            problems.append(f"{call.name} lacks required {missing}")
        if unknown:
            problems.append(f"{call.name} has no parameter(s) {unknown}")
    if problems:
        raise AnswerError("; ".join(problems))
    return tuple(calls)
