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
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from magnet.errors import CallParseError, MagnetError
from magnet.llm.client import Completion, read_answer
from magnet.tools.calls import FunctionCall, parse_calls
from magnet.tools.executor import argument_problems, type_problem
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
DETAIL_LIMIT = 240


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


@dataclass(frozen=True)
class Outcome:
    """Whether the parser read one entry to its intended content (or refused an unusable one), and what it did."""

    id: str
    step: str
    form: str
    ok: bool
    detail: str


# ---------------------------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------------------------------------------
# Scoring
# ---------------------------------------------------------------------------------------------------------------


def _specs(names: Iterable[str]) -> tuple[FunctionSpec, ...]:
    specs = builtin_specs()
    return tuple(specs[name] for name in names)


def step_inputs(entry: CorpusEntry) -> Any:
    """The inputs dataclass the entry's step parser takes, built from the builtin specs the entry names.

    The turn judge's parser reads only the verdict, so its inputs are a dummy turn.
    """
    from magnet.synthesis.steps import (
        DependencyInputs,
        LabelInputs,
        NestedInputs,
        SimulateInputs,
        TranslateInputs,
        TurnJudgeInputs,
    )

    inputs = entry.inputs
    if entry.step == "label_category":
        return LabelInputs(builtin_specs()[inputs["function"]])
    if entry.step == "dependency_judge":
        return DependencyInputs(builtin_specs()[inputs["target"]], _specs(inputs["candidates"]))
    if entry.step == "nested_judge":
        return NestedInputs(builtin_specs()[inputs["first"]], builtin_specs()[inputs["second"]])
    if entry.step in ("back_translate", "forth_translate"):
        return TranslateInputs(functions=_specs(inputs["functions"]))
    if entry.step == "turn_judge":
        return TurnJudgeInputs(
            query="(corpus entry)", reference_calls=(), reference_text="", candidate_calls=(), candidate_text=""
        )
    if entry.step == "simulate_output":
        (call,) = parse_calls(inputs["call"])
        return SimulateInputs(builtin_specs()[inputs["function"]], call)
    raise ValueError(f"{entry.step} has no step inputs (text_calls are read by read_answer)")


def _brief(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= DETAIL_LIMIT else text[:DETAIL_LIMIT] + "..."


def same_json(left: Any, right: Any) -> bool:
    """Equality of JSON values that, unlike ``==``, tells ``true`` from ``1`` (a number from a boolean); lists and
    tuples are the same array, ``1`` and ``1.0`` the same number."""
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left == right
    if isinstance(left, int | float) and isinstance(right, int | float):
        return left == right
    if isinstance(left, list | tuple) and isinstance(right, list | tuple):
        return len(left) == len(right) and all(same_json(a, b) for a, b in zip(left, right, strict=True))
    if isinstance(left, Mapping) and isinstance(right, Mapping):
        return left.keys() == right.keys() and all(same_json(left[key], right[key]) for key in left)
    return type(left) is type(right) and left == right


def _same_calls(got: Sequence[FunctionCall], expected: Sequence[FunctionCall]) -> bool:
    """Same calls in the same order, arguments compared as JSON values (their order does not matter)."""
    return len(got) == len(expected) and all(
        a.name == b.name and same_json(dict(a.arguments), dict(b.arguments)) for a, b in zip(got, expected, strict=True)
    )


def _calls_text(calls: Sequence[FunctionCall]) -> str:
    try:
        return "[" + ", ".join(call.to_text() for call in calls) + "]"
    except CallParseError:
        return _brief([call.to_dict() for call in calls])


def _related_and_dropped(result: Any) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The dependency parser's related and dropped names: from an object with ``related`` (or ``names``) and
    ``dropped``, or from a plain sequence of names (an older parser, which drops nothing)."""
    for attribute in ("related", "names"):
        if hasattr(result, attribute):
            return tuple(getattr(result, attribute)), tuple(getattr(result, "dropped", ()))
    return tuple(result), ()


def _compare(entry: CorpusEntry, result: Any) -> tuple[bool, str]:
    """Whether a parser's result is the entry's intended content, and what was read (for a report)."""
    expect = entry.expect
    step = entry.step
    if step == "label_category":
        got = (result.category, " ".join(result.tool_class.split()))
        want = (expect["category"], " ".join(expect["tool_class"].split()))
        return got == want, f"read category {got[0]!r}, tool class {got[1]!r}; expected {want[0]!r}, {want[1]!r}"
    if step == "dependency_judge":
        related, dropped = _related_and_dropped(result)
        want_related, want_dropped = tuple(expect["related"]), tuple(expect.get("dropped", ()))
        ok = related == want_related and dropped == want_dropped
        return ok, f"read related {list(related)}, dropped {list(dropped)}; expected {list(want_related)}, " + str(
            list(want_dropped)
        )
    if step == "nested_judge":
        return result.yes is expect["yes"], f"read {'yes' if result.yes else 'no'}; expected " + (
            "yes" if expect["yes"] else "no"
        )
    if step == "back_translate":
        return result == expect["query"], f"read {_brief(result)}; expected {_brief(expect['query'])}"
    if step == "forth_translate":
        if expect.get("finish"):
            return result is None, "read FINISH" if result is None else f"read {_calls_text(result)}; expected FINISH"
        if result is None:
            return False, f"read FINISH; expected {expect['calls']}"
        want = parse_calls(expect["calls"])
        return _same_calls(tuple(result), want), f"read {_calls_text(result)}; expected {expect['calls']}"
    if step == "turn_judge":
        got_type = None if result.correct else result.error_type
        ok = result.correct is expect["correct"] and got_type == expect.get("error_type")
        read = "yes" if result.correct else f"no ({result.error_type})"
        wanted = "yes" if expect["correct"] else f"no ({expect['error_type']})"
        return ok, f"read {read}; expected {wanted}"
    if step == "simulate_output":
        return same_json(result, expect["value"]), f"read {_brief(result)}; expected {_brief(expect['value'])}"
    raise ValueError(f"no comparison for step {step!r}")


def _score_text_calls(entry: CorpusEntry) -> Outcome:
    """A text-mode teacher's answer: the calls ``read_answer`` decodes, against the intended ones (or none)."""
    tools = [spec.to_tool() for spec in _specs(entry.inputs["functions"])]
    try:
        read = read_answer(Completion(text=entry.answer), tools, text_mode=True)
    except Exception as error:  # a decoder bug an odd answer runs into is a finding, not a crash of the report
        return Outcome(entry.id, entry.step, entry.form, False, f"read_answer raised {type(error).__name__}: {error}")
    calls = tuple(read.tool_calls)
    if entry.unusable:
        if calls:
            return Outcome(entry.id, entry.step, entry.form, False, f"decoded {_calls_text(calls)}; expected no calls")
        return Outcome(entry.id, entry.step, entry.form, True, "no calls decoded, as expected")
    want = parse_calls(entry.expect["calls"])
    ok = _same_calls(calls, want)
    detail = f"decoded {_calls_text(calls) if calls else 'no calls'}; expected {entry.expect['calls']}"
    return Outcome(entry.id, entry.step, entry.form, ok, detail)


def score(entry: CorpusEntry) -> Outcome:
    """Run the entry's step parser on its answer and say whether it read the intended content.

    For an unusable answer, ok means the parser refused it with ``AnswerError`` (for ``text_calls``: that no
    call was decoded). Any other exception from a parser is a parser bug and scores as a failure with its type
    in the detail.
    """
    if entry.step == "text_calls":
        return _score_text_calls(entry)
    from magnet.synthesis.steps import STEPS, AnswerError

    parser = STEPS[entry.step].parse
    try:
        result = parser(Completion(text=entry.answer), step_inputs(entry))
    except AnswerError as error:
        if entry.unusable:
            return Outcome(entry.id, entry.step, entry.form, True, f"refused, as expected: {_brief(str(error))}")
        return Outcome(entry.id, entry.step, entry.form, False, f"refused: {str(error)[:DETAIL_LIMIT]}")
    except Exception as error:  # a parser bug is a finding, not a crash of the whole report
        return Outcome(entry.id, entry.step, entry.form, False, f"parser raised {type(error).__name__}: {error}")
    if entry.unusable:
        return Outcome(entry.id, entry.step, entry.form, False, f"accepted {_brief(result)}; expected a refusal")
    try:
        ok, detail = _compare(entry, result)
    except Exception as error:  # a result of an unexpected shape is a finding too
        return Outcome(
            entry.id, entry.step, entry.form, False, f"result {_brief(result)} not comparable ({type(error).__name__})"
        )
    return Outcome(entry.id, entry.step, entry.form, ok, detail)


def summary(outcomes: Iterable[Outcome]) -> dict[str, dict[str, float | int]]:
    """``{step: {"ok", "total", "share"}}`` for each step present (in ``STEP_NAMES`` order), then ``"overall"``."""
    counts: dict[str, list[int]] = {}
    for outcome in outcomes:
        tally = counts.setdefault(outcome.step, [0, 0])
        tally[0] += outcome.ok
        tally[1] += 1
    ordered = [step for step in STEP_NAMES if step in counts] + sorted(set(counts) - set(STEP_NAMES))
    report: dict[str, dict[str, float | int]] = {}
    for step in ordered:
        ok, total = counts[step]
        report[step] = {"ok": ok, "total": total, "share": ok / total}
    ok = sum(tally[0] for tally in counts.values())
    total = sum(tally[1] for tally in counts.values())
    report["overall"] = {"ok": ok, "total": total, "share": ok / total if total else 0.0}
    return report


# ---------------------------------------------------------------------------------------------------------------
# Checking the corpus itself
# ---------------------------------------------------------------------------------------------------------------


def _schema_problem(value: Any, schema: Mapping[str, Any], where: str) -> str | None:
    """``type_problem`` plus required keys at every level (a corpus value must fit its schema fully)."""
    problem = type_problem(value, schema, where)
    if problem:
        return problem
    if isinstance(value, dict):
        missing = [key for key in schema.get("required", ()) if key not in value]
        if missing:
            return f"{where} lacks required {missing}"
        for key, item in value.items():
            child = schema.get("properties", {}).get(key)
            if isinstance(child, Mapping):
                problem = _schema_problem(item, child, f"{where}.{key}")
                if problem:
                    return problem
    if isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        for index, item in enumerate(value):
            problem = _schema_problem(item, schema["items"], f"{where}[{index}]")
            if problem:
                return problem
    if isinstance(value, float) and not math.isfinite(value):
        return f"{where}: {value} is not a finite number"
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
    from magnet.synthesis.parsers import CATEGORIES, ERROR_TYPES

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
