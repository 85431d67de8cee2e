"""The parsers of the yes/no judges: the nested judge's verdict with its reason, and the turn judge's verdict
with the paper's error type.

Kept together because both read a yes or no the same way (``_yes_no``), and apart from the other parsers.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from magnet.llm.client import Completion
from magnet.synthesis.answer_text import answer_body, labelled, leading_word, loose_values
from magnet.synthesis.parsers_common import AnswerError, answer_text

if TYPE_CHECKING:
    from magnet.synthesis.steps import NestedInputs, TurnJudgeInputs

ERROR_TYPES = (
    "nested_call_missing",
    "short_dependency",
    "long_dependency",
    "wrong_summary",
    "missed_function_or_params",
    "other",
)


@dataclass(frozen=True)
class Verdict:
    """A yes/no answer with the judge's reason."""

    yes: bool
    reason: str


@dataclass(frozen=True)
class TurnVerdict:
    """Whether the student's turn is right; if not, the paper's error type and a reason."""

    correct: bool
    error_type: str | None
    reason: str


def _yes_no(text: str) -> tuple[bool, str]:
    """``(yes, the rest)`` from an answer whose last ``Answer:``/``Verdict:`` label says yes or no, or that starts
    with a yes or no standing alone (after reasoning, emphasis), or says "the answer is yes", or is a JSON object
    with a ``verdict``. A label wins over a first word: "No problem! ... Answer: yes" is a yes."""
    body = answer_body(text)
    pattern = _label_line_pattern()
    labels = list(pattern.finditer(body))
    if labels:
        found = leading_word(labels[-1].group(1), ("yes", "no"))
        if found is not None:
            rest = f"{found[1]}\n{body[labels[-1].end() :]}".strip()
            return found[0] == "yes", rest
    found = leading_word(body, ("yes", "no"))
    if found is not None:
        return found[0] == "yes", found[1]
    stated = re.search(r"\b(?:answer|verdict) is\W{0,3}(yes|no)\b[\W]*", body, re.IGNORECASE)
    if stated:
        return stated.group(1).lower() == "yes", body[stated.end() :].strip()
    for value in loose_values(body):  # {"verdict": "no", "error_type": ..., "reason": ...}
        word = value.get("verdict", value.get("answer")) if isinstance(value, dict) else None
        if isinstance(word, str) and word.strip().lower() in ("yes", "no"):
            details = "\n".join(f"{key.replace('_', ' ')}: {item}" for key, item in value.items())
            return word.strip().lower() == "yes", details
    raise AnswerError("start the answer with 'yes' or 'no'")


def _label_line_pattern() -> re.Pattern[str]:
    """An ``Answer:``/``Verdict:`` label at the start of a line, Markdown allowed, and the rest of its line."""
    return re.compile(
        r"^[ \t>#*_-]*(?:final answer|answer|verdict|nested)[ \t]*[*_`]*[ \t]*:[*_`]*[ \t]*(.*)$",
        re.IGNORECASE | re.MULTILINE,
    )


def parse_verdict(completion: Completion, inputs: NestedInputs) -> Verdict:
    """``yes`` or ``no`` first (``Yes, because ...``, ``**No**``, ``Answer: yes``), the reason after it."""
    yes, rest = _yes_no(answer_text(completion))
    reason = labelled(("reason",), rest) or rest
    reason = re.sub(r"^(?:because|since|as)\b[\s,:]*", "", reason.strip(), flags=re.IGNORECASE)
    return Verdict(yes, " ".join(reason.split()))


def _error_type(value: str) -> str | None:
    """One of ``ERROR_TYPES`` from what a judge wrote after ``Error type:``: backticks, emphasis, spaces or
    hyphens for underscores, a number (its place in the prompt's list) before or instead of the name."""
    cleaned = value.strip(" *_`\"'“”.").lower()
    number = re.match(r"^\(?([1-9])[.):]?\s*", cleaned)
    words = re.sub(r"[\s-]+", "_", cleaned[number.end() :] if number else cleaned).strip("_`*")
    for name in ERROR_TYPES:
        if words.startswith(name) or words.replace("`", "").startswith(name):
            return name
    if number and not words and int(number.group(1)) <= len(ERROR_TYPES):
        return ERROR_TYPES[int(number.group(1)) - 1]
    close = difflib.get_close_matches(words.split(".")[0][:40], ERROR_TYPES, n=1, cutoff=0.85)  # a typo
    return close[0] if close else None


def parse_turn_verdict(completion: Completion, inputs: TurnJudgeInputs) -> TurnVerdict:
    """``yes``, or ``no`` with ``Error type:`` (one of ``ERROR_TYPES``) and ``Reason:``, on lines of their own or
    on one line (``No - Error type: long dependency``)."""
    yes, rest = _yes_no(answer_text(completion))
    if yes:
        return TurnVerdict(True, None, "")
    value = labelled(("error type",), rest)
    error_type = _error_type(value) if value else None
    if error_type is None:  # no label: a type named once in the reason, and not denied, is the answer
        named = {
            name
            for name in ERROR_TYPES
            if name != "other"  # a word of every reason: only a labelled "Error type: other" means it
            for match in re.finditer(name.replace("_", r"[ _-]"), rest, re.IGNORECASE)
            if not re.search(r"\b(?:not|n't|rather than|instead of|nor)\b[^.]{0,20}$", rest[: match.start()], re.I)
        }
        error_type = named.pop() if len(named) == 1 else None
    if error_type is None:
        raise AnswerError(f"after 'no', give 'Error type: <one of {', '.join(ERROR_TYPES)}>'")
    reason = labelled(("reason",), rest) or ""
    return TurnVerdict(False, error_type, reason)
