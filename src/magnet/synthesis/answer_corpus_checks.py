"""Checking the answer corpus itself: whether an entry's intended content is sound (valid calls for their specs,
a known category, related names among the candidates, a simulated output that fits its schema).

Kept apart from scoring because it judges the corpus, not the parsers: a wrong expectation would otherwise score
a right parser as wrong.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from magnet.errors import CallParseError
from magnet.synthesis.answer_corpus_entries import CorpusEntry, builtin_specs
from magnet.tools.calls import parse_calls
from magnet.tools.executor import argument_problems
from magnet.tools.schema_check import output_problem


def _schema_problem(value: Any, schema: Mapping[str, Any], where: str) -> str | None:
    """A corpus value must fit its schema fully (required keys at every level) and hold finite numbers only."""
    return output_problem(value, schema, where, required_everywhere=True) or _finite_problem(value, where)


def _finite_problem(value: Any, where: str) -> str | None:
    """Where ``value`` holds a NaN or an infinity (JSON has neither), or None."""
    if isinstance(value, float) and not math.isfinite(value):
        return f"{where}: {value} is not a finite number"
    if isinstance(value, dict | list):
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in items:
            problem = _finite_problem(item, f"{where}.{key}" if isinstance(value, dict) else f"{where}[{key}]")
            if problem:
                return problem
    return None


def _call_problems(text: str, offered: Sequence[str]) -> list[str]:
    """Why expected call text is not a valid use of the offered functions (the corpus must expect valid calls)."""
    try:
        calls = parse_calls(text)
    except CallParseError as error:
        return [f"expected calls do not parse: {error}"]
    if not calls:
        return ["expected calls are empty; use an unusable or finish expectation instead"]
    specs = builtin_specs()
    problems = []
    for call in calls:
        if call.name not in offered:
            problems.append(f"{call.name} is not among the entry's functions {list(offered)}")
            continue
        problems += [f"{call.name}: {problem}" for problem in argument_problems(call, specs[call.name])]
    return problems


def expectation_problems(entry: CorpusEntry) -> list[str]:
    """What is wrong with an entry's intended content (not with the parser): calls that are not valid for their
    specs, an unknown category, related names that are not candidates, a simulated output that does not fit
    its response schema. An empty list for a sound entry."""
    from magnet.synthesis.parsers_labels import CATEGORIES
    from magnet.synthesis.parsers_verdicts import ERROR_TYPES

    expect, inputs = entry.expect, entry.inputs
    if entry.unusable:
        return []
    problems: list[str] = []
    if entry.step == "label_category":
        if expect["category"] not in (*CATEGORIES, "misc"):
            problems.append(f"{expect['category']!r} is not a category (exact spelling) or misc")
        if not isinstance(expect["tool_class"], str) or not expect["tool_class"].strip():
            problems.append("the tool class must be a non-empty string")
    elif entry.step == "dependency_judge":
        related, dropped = expect["related"], expect.get("dropped", [])
        if not isinstance(related, list) or not isinstance(dropped, list):
            problems.append("related and dropped must be lists")
        else:
            outside = [name for name in related if name not in inputs["candidates"]]
            if outside:
                problems.append(f"related {outside} are not candidates")
            if inputs["target"] in related or inputs["target"] in dropped:
                problems.append("the target is never related nor dropped")
            if len(set(related)) != len(related):
                problems.append("related names repeat")
            inside = [name for name in dropped if name in inputs["candidates"]]
            if inside:
                problems.append(f"dropped {inside} are candidates")
    elif entry.step == "nested_judge":
        if not isinstance(expect["yes"], bool):
            problems.append('"yes" must be true or false')
    elif entry.step == "back_translate":
        query = expect["query"]
        if not isinstance(query, str) or not query.strip() or query != query.strip():
            problems.append("the query must be non-empty text without surrounding space")
    elif entry.step in ("forth_translate", "text_calls"):
        if "calls" in expect:
            problems += _call_problems(expect["calls"], inputs["functions"])
    elif entry.step == "turn_judge":
        if not isinstance(expect["correct"], bool):
            problems.append('"correct" must be true or false')
        if expect["correct"] is False and expect.get("error_type") not in ERROR_TYPES:
            problems.append(f"error_type must be one of {list(ERROR_TYPES)}")
    elif entry.step == "simulate_output":
        spec = builtin_specs()[inputs["function"]]
        problems += _call_problems(inputs["call"], [spec.name])
        problem = _schema_problem(expect["value"], spec.response or {"type": "object"}, "value")
        if problem:
            problems.append(f"the expected output does not fit {spec.name}'s response schema: {problem}")
    return problems
