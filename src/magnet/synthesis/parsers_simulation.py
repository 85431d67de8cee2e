"""The parser of simulated execution: one JSON value that fits the function's response schema, with finite
numbers, valid Unicode and bounded nesting.

Kept apart from the other parsers because it alone checks a value against a schema.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from magnet.llm.client import Completion
from magnet.synthesis.answer_text import answer_body, loose_json, loose_values
from magnet.synthesis.parsers_common import AnswerError, answer_text
from magnet.tools.schema_check import output_problem

if TYPE_CHECKING:
    from magnet.synthesis.steps import SimulateInputs

# A simulated output nested deeper than this is a model stuck in a loop, not a response.
MAX_JSON_DEPTH = 64


def json_problem(value: Any, where: str = "output") -> str | None:
    """Why a parsed JSON value cannot be kept: nested deeper than ``MAX_JSON_DEPTH``, a non-finite number, or a
    string that is not valid Unicode. Walked without recursion, since the value may be deep."""
    stack = [(value, where, 0)]
    while stack:
        item, path, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            return f"{where} is nested more than {MAX_JSON_DEPTH} levels deep"
        if isinstance(item, float) and not math.isfinite(item):
            return f"{path}: {item} is not a finite number"
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return f"{path}: a string with an invalid character (a lone surrogate)"
        elif isinstance(item, dict):
            for key, child in item.items():
                stack.append((key, f"{path} (a key)", depth + 1))
                stack.append((child, f"{path}.{key}", depth + 1))
        elif isinstance(item, list):
            stack.extend((child, f"{path}[{index}]", depth + 1) for index, child in enumerate(item))
    return None


def parse_simulated(completion: Completion, inputs: SimulateInputs) -> Any:
    """One JSON value (or Python literal) that fits the function's response schema (any JSON object when it has
    none), with finite numbers, valid Unicode and at most ``MAX_JSON_DEPTH`` levels of nesting; prose or a note
    around it is ignored."""
    text = answer_text(completion)
    schema = inputs.function.response or {"type": "object"}
    try:
        values = [loose_json(answer_body(text))]
    except ValueError as error:
        values = loose_values(text)
        if not values:
            raise AnswerError(str(error)) from None
    problems = []
    for value in values:
        problem = json_problem(value) or output_problem(value, schema, "output")
        if problem is None:
            return value
        problems.append(problem)
    first = problems[0]
    raise AnswerError(first if "nested" in first or "finite" in first else f"does not fit the response schema: {first}")
