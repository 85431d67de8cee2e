"""The offline backend's turn judge: a student's turn compared with the reference (the same calls, defaults
aside, and a summary that keeps the reference's facts), named by the paper's error types.

Kept apart from the other answerers because it reads a finished turn, not a prompt to act on.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from magnet.synthesis.steps import TurnJudgeInputs
from magnet.tools.call_matching import call_key, unmatched_calls
from magnet.tools.calls import FunctionCall
from magnet.tools.spec import FunctionSpec


def _normalised(calls: Sequence[FunctionCall], specs: Sequence[FunctionSpec]) -> list[str]:
    """Calls as canonical text, without arguments that only repeat a default, in no particular order."""
    by_name = {spec.name: spec for spec in specs}
    return sorted(call_key(call, by_name) for call in calls)


def answer_turn_judge(inputs: TurnJudgeInputs) -> tuple[str | None, str]:
    """``(error type or None, reason)``: compare with the reference, the same calls (defaults aside, in any
    order) and a summary keeping the reference's facts; extra calls beyond the reference's are ``other``."""
    reference = _normalised(inputs.reference_calls, inputs.specs)
    candidate = _normalised(inputs.candidate_calls, inputs.specs)
    if bool(reference) != bool(candidate):
        side = "calls a function where the reference does not" if candidate else "makes no call"
        return "missed_function_or_params", f"the assistant {side}."
    if reference != candidate:
        names = {call.name for call in inputs.candidate_calls}
        missing = [call for call in inputs.reference_calls if call.name not in names]
        if missing:
            return "nested_call_missing", f"{missing[0].name} is never called."
        wrong = _wrong_values(inputs)
        if not wrong:  # every reference call was made: the candidate makes more
            extra = unmatched_calls(inputs.candidate_calls, inputs.reference_calls, inputs.specs)
            return "other", f"the assistant also calls {extra[0].to_text() if extra else 'a function'}."
        if any(value_in(value, inputs.reference_outputs) for value in wrong):
            return "short_dependency", "a value from this turn's outputs is misused."
        if any(value_in(value, inputs.earlier_outputs) for value in wrong):
            return "long_dependency", "a value from an earlier turn is not used."
        return "missed_function_or_params", "the arguments differ from the reference."
    facts = re.findall(r"[A-Za-z]+-\d+|\d+(?:\.\d+)?", inputs.reference_text)
    lost = [fact for fact in facts if fact not in inputs.candidate_text]
    if lost:
        return "wrong_summary", f"the answer omits {lost[0]}."
    return None, ""


def _wrong_values(inputs: TurnJudgeInputs) -> list[Any]:
    """Reference argument values the candidate did not pass to the same function."""
    wrong = []
    for reference in inputs.reference_calls:
        same = [c for c in inputs.candidate_calls if c.name == reference.name]
        for key, value in reference.arguments.items():
            if not any(c.arguments.get(key) == value for c in same):
                wrong.append(value)
    return wrong


def value_in(value: Any, outputs: Sequence[str]) -> bool:
    """Whether ``value`` appears in any of the output texts (as JSON)."""
    needle = json.dumps(value) if not isinstance(value, str) else value
    return any(needle in output for output in outputs)
