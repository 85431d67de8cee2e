"""The answer corpus's entries: the record of one teacher answer and its intended content, the keys each step's
entry has, and the loader that checks every line of a JSONL corpus and names the line that is wrong.

Kept apart from the scoring (which runs the parsers) and the checks of intended content, so that a corpus can be
read and validated without either.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from magnet.errors import CallParseError, MagnetError
from magnet.tools.calls import parse_calls
from magnet.tools.spec import FunctionSpec

# The steps in the order reports list them; ``text_calls`` is a teacher answering in text mode (``read_answer``).
STEP_NAMES = (
    "label_category",
    "dependency_judge",
    "nested_judge",
    "back_translate",
    "forth_translate",
    "turn_judge",
    "simulate_output",
    "text_calls",
)
INPUT_KEYS: dict[str, tuple[str, ...]] = {
    "label_category": ("function",),
    "dependency_judge": ("target", "candidates"),
    "nested_judge": ("first", "second"),
    "back_translate": ("functions",),
    "forth_translate": ("functions",),
    "turn_judge": (),
    "simulate_output": ("function", "call"),
    "text_calls": ("functions",),
}
# Keys an ``expect`` may have per step (besides ``{"unusable": true}``); the first group is required.
EXPECT_KEYS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "label_category": (("category", "tool_class"), ()),
    "dependency_judge": (("related",), ("dropped",)),
    "nested_judge": (("yes",), ()),
    "back_translate": (("query",), ()),
    "forth_translate": ((), ("calls", "finish")),
    "turn_judge": (("correct",), ("error_type",)),
    "simulate_output": (("value",), ()),
    "text_calls": (("calls",), ()),
}
ENTRY_KEYS = ("id", "step", "form", "inputs", "answer", "expect")
OPTIONAL_ENTRY_KEYS = ("known_gap",)


class CorpusError(MagnetError):
    """A corpus file that cannot be read: the message names the file and the line."""


@dataclass(frozen=True)
class CorpusEntry:
    """One teacher answer to one step's prompt, with the content it was meant to carry.

    ``line`` is where the entry sits in its file (1-based), so that a report can point at it.
    """

    id: str
    step: str
    form: str
    inputs: Mapping[str, Any]
    answer: str
    expect: Mapping[str, Any]
    known_gap: str | None = None
    line: int = 0

    @property
    def unusable(self) -> bool:
        """Whether the answer carries no usable content (the parser must refuse it)."""
        return self.expect.get("unusable") is True


@cache
def builtin_specs() -> dict[str, FunctionSpec]:
    """The builtin toolkits' functions by name: the functions the corpus's inputs name."""
    from magnet.tools.builtin import BUILTIN_TOOLKITS

    return {spec.name: spec for toolkit in BUILTIN_TOOLKITS for spec in toolkit.specs()}


def _structure_problem(data: Any) -> str | None:
    """Why one decoded line is not a corpus entry (keys, types, step, function names), or None."""
    if not isinstance(data, dict):
        return f"expected a JSON object, got {type(data).__name__}"
    missing = [key for key in ENTRY_KEYS if key not in data]
    if missing:
        return f"missing key(s) {missing}"
    unknown = [key for key in data if key not in (*ENTRY_KEYS, *OPTIONAL_ENTRY_KEYS)]
    if unknown:
        return f"unknown key(s) {unknown}; an entry has {list(ENTRY_KEYS)} and optionally {list(OPTIONAL_ENTRY_KEYS)}"
    for key in ("id", "step", "form", "answer"):
        if not isinstance(data[key], str):
            return f"{key!r} must be a string"
    if not data["id"]:
        return "'id' is empty"
    if "known_gap" in data and not (isinstance(data["known_gap"], str) and data["known_gap"].strip()):
        return "'known_gap' must be a non-empty string (the reason)"
    step = data["step"]
    if step not in STEP_NAMES:
        return f"unknown step {step!r}; one of {list(STEP_NAMES)}"
    inputs, expect = data["inputs"], data["expect"]
    if not isinstance(inputs, dict) or not isinstance(expect, dict):
        return "'inputs' and 'expect' must be JSON objects"
    wanted = INPUT_KEYS[step]
    if sorted(inputs) != sorted(wanted):
        return f"{step} inputs must have exactly the keys {list(wanted)}, got {sorted(inputs)}"
    names = _input_names(step, inputs)
    if names is None:
        return f"{step} inputs: function names must be strings (lists of strings for 'functions' and 'candidates')"
    specs = builtin_specs()
    unknown_names = [name for name in names if name not in specs]
    if unknown_names:
        return f"{unknown_names} are not builtin functions"
    if step == "simulate_output":
        problem = _simulated_call_problem(inputs)
        if problem:
            return problem
    return _expect_problem(step, expect)


def _simulated_call_problem(inputs: Mapping[str, Any]) -> str | None:
    """Why a simulate_output entry's call is not one call of its function in BFCL text, or None."""
    text = inputs["call"]
    if not isinstance(text, str):
        return "simulate_output inputs: 'call' must be call text like f(a=1)"
    try:
        calls = parse_calls(text)
    except CallParseError as error:
        return f"simulate_output inputs: the call does not parse ({error})"
    if len(calls) != 1 or calls[0].name != inputs["function"]:
        return f"simulate_output inputs: 'call' must be one call of {inputs['function']}"
    return None


def _input_names(step: str, inputs: Mapping[str, Any]) -> list[str] | None:
    """The function names an entry's inputs mention, or None where one is not a string."""
    names: list[Any] = []
    for key in INPUT_KEYS[step]:
        if key == "call":
            continue
        value = inputs[key]
        if key in ("functions", "candidates"):
            if not isinstance(value, list):
                return None
            names += value
        else:
            names.append(value)
    return names if all(isinstance(name, str) for name in names) else None


def _expect_problem(step: str, expect: Mapping[str, Any]) -> str | None:
    """Why ``expect`` does not have the shape ``step`` needs, or None."""
    if "unusable" in expect:
        return None if expect == {"unusable": True} else 'an unusable answer\'s expect is exactly {"unusable": true}'
    required, optional = EXPECT_KEYS[step]
    missing = [key for key in required if key not in expect]
    unknown = [key for key in expect if key not in (*required, *optional)]
    if missing or unknown:
        return f"{step} expect: missing {missing}, unknown {unknown} (keys: {[*required, *optional]})"
    if step == "forth_translate" and ("calls" in expect) == ("finish" in expect):
        return 'forth_translate expect has either "calls" or {"finish": true}'
    if step == "forth_translate" and "finish" in expect and expect["finish"] is not True:
        return 'forth_translate expect: "finish" must be true'
    if step == "turn_judge" and (expect["correct"] is False) != ("error_type" in expect):
        return 'turn_judge expect: "error_type" goes with "correct": false, and only with it'
    return None


def load_corpus(path: str | Path) -> list[CorpusEntry]:
    """The entries of a JSONL corpus, in file order; blank lines are skipped.

    A line that is not a well-formed entry (bad JSON, a missing key, an unknown step or function, a repeated id)
    raises ``CorpusError`` naming the file and the line, so that a hand-edited corpus is fixed where it broke
    rather than misscored.
    """
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as error:
        raise CorpusError(f"{path}: cannot read the corpus ({error.strerror or error})") from None
    entries: list[CorpusEntry] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as error:
            raise CorpusError(f"{path}, line {number}: not JSON ({error.msg} at column {error.colno})") from None
        problem = _structure_problem(data)
        if problem:
            where = f" (entry {data['id']!r})" if isinstance(data, dict) and isinstance(data.get("id"), str) else ""
            raise CorpusError(f"{path}, line {number}{where}: {problem}")
        if data["id"] in seen:
            raise CorpusError(f"{path}, line {number}: id {data['id']!r} is already used on line {seen[data['id']]}")
        seen[data["id"]] = number
        entries.append(
            CorpusEntry(
                id=data["id"],
                step=data["step"],
                form=data["form"],
                inputs=data["inputs"],
                answer=data["answer"],
                expect=data["expect"],
                known_gap=data.get("known_gap"),
                line=number,
            )
        )
    return entries
