"""Scoring the answer corpus: run an entry's step parser (or, for text-mode calls, ``read_answer``) on its answer,
compare what it read with the intended content, and sum the outcomes per step.

Kept apart from loading and from the checks of the corpus itself: this is the part that exercises the parsers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from magnet.errors import CallParseError
from magnet.llm.client import Completion, read_answer
from magnet.synthesis.answer_corpus_entries import STEP_NAMES, CorpusEntry, builtin_specs
from magnet.tools.calls import FunctionCall, parse_calls
from magnet.tools.spec import FunctionSpec

DETAIL_LIMIT = 240


@dataclass(frozen=True)
class Outcome:
    """Whether the parser read one entry to its intended content (or refused an unusable one), and what it did."""

    id: str
    step: str
    form: str
    ok: bool
    detail: str


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
