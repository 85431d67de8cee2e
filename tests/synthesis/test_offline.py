"""The offline backend answers every step in the step's own format, deterministically, and its answers are
usable: queries translate into calls that execute, chained on earlier outputs."""

from __future__ import annotations

import asyncio
import json

import pytest

from magnet.errors import TeacherError
from magnet.synthesis.offline import OfflineTeacher, plan_turn
from magnet.synthesis.steps import (
    BACK_TRANSLATE,
    DEPENDENCY,
    FORTH_TRANSLATE,
    LABEL,
    NESTED,
    TURN_JUDGE,
    DependencyInputs,
    HintedTurnInputs,
    LabelInputs,
    NestedInputs,
    TranslateInputs,
    TurnJudgeInputs,
    TurnRecord,
    run_step,
)
from magnet.tools.builtin import BUILTIN_TOOLKITS
from magnet.tools.calls import FunctionCall
from magnet.tools.executor import Environment

SPECS = {spec.name: spec for klass in BUILTIN_TOOLKITS for spec in klass.specs()}


def _run(step, inputs):
    return asyncio.run(run_step(OfflineTeacher(), step, inputs)).value


def test_labels_and_judges_follow_the_schema():
    assert _run(LABEL, LabelInputs(SPECS["get_current_weather"])).category == "Weather"
    related = _run(DEPENDENCY, DependencyInputs(SPECS["create_event"], (SPECS["set_reminder"], SPECS["get_recipe"])))
    assert related == ("set_reminder",)
    assert _run(NESTED, NestedInputs(SPECS["create_event"], SPECS["set_reminder"])).yes
    assert not _run(NESTED, NestedInputs(SPECS["set_reminder"], SPECS["get_recipe"])).yes


def test_translated_turns_execute_and_chain_on_earlier_outputs():
    env = Environment.from_state(BUILTIN_TOOLKITS)
    first = TranslateInputs((SPECS["create_event"],), state=env.state(), seed=3)
    query = _run(BACK_TRANSLATE, first)
    calls = _run(FORTH_TRANSLATE, TranslateInputs(first.functions, state=first.state, seed=3, query=query))
    [result] = env.execute(calls)
    assert result.ok, result.error
    history = (TurnRecord(query, calls, (result.content,)),)
    second = TranslateInputs((SPECS["set_reminder"],), history=history, state=env.state(), seed=3)
    query_2 = _run(BACK_TRANSLATE, second)
    assert "the event id from your last answer" in query_2  # referred to indirectly, never named
    [reminder] = _run(FORTH_TRANSLATE, second)
    assert reminder.arguments["event_id"] == result.output["event_id"]
    assert env.execute_one(reminder).ok


def test_translation_is_deterministic_and_seeded():
    env = Environment.from_state(BUILTIN_TOOLKITS)
    inputs = TranslateInputs((SPECS["add_attendee"],), state=env.state(), seed=5)
    assert plan_turn(inputs) == plan_turn(inputs)
    seeds = {
        json.dumps(plan_turn(TranslateInputs(inputs.functions, state=inputs.state, seed=s))[0][0].arguments)
        for s in range(20)
    }
    assert len(seeds) > 1


def test_miss_param_leaves_a_value_out_and_the_next_turn_supplies_it():
    env = Environment.from_state(BUILTIN_TOOLKITS)
    base = TranslateInputs((SPECS["create_event"],), state=env.state(), seed=1, missing=("start",))
    [(call, _)] = plan_turn(base)
    start = json.dumps(call.arguments["start"])
    full = _run(BACK_TRANSLATE, base)
    withheld = _run(BACK_TRANSLATE, TranslateInputs(**{**vars(base), "split": "miss_param"}))
    supplied = _run(BACK_TRANSLATE, TranslateInputs(**{**vars(base), "split": "supply_param"}))
    assert start in full and start not in withheld and start in supplied
    assert json.dumps(call.arguments["title"]) in withheld and "title" not in supplied


def test_parallel_variant_asks_for_several_argument_sets():
    env = Environment.from_state(BUILTIN_TOOLKITS)
    inputs = TranslateInputs((SPECS["get_current_weather"],), state=env.state(), seed=2, variant="parallel")
    calls = _run(FORTH_TRANSLATE, inputs)
    assert 2 <= len(calls) <= 3 and len({json.dumps(c.arguments) for c in calls}) == len(calls)
    assert "for each of" in _run(BACK_TRANSLATE, inputs)


def test_hinted_rollout_follows_hints_one_call_at_a_time():
    teacher = OfflineTeacher()
    pending = (FunctionCall("get_event", {"event_id": "evt-0001"}), FunctionCall("set_reminder", {"event_id": "x"}))
    first = asyncio.run(teacher.complete([], step="assistant", context=HintedTurnInputs("q", pending)))
    assert first.tool_calls == pending[:1]
    done = asyncio.run(
        teacher.complete(
            [], step="assistant", context=HintedTurnInputs("q", (), ('{"event_id": "evt-0001", "title": "Dentist"}',))
        )
    )
    assert not done.tool_calls and "evt-0001" in done.text and "Dentist" in done.text
    ask = asyncio.run(
        teacher.complete(
            [], step="assistant", context=HintedTurnInputs("q", pending, split="miss_param", missing=("event_id",))
        )
    )
    assert not ask.tool_calls and "event id" in ask.text


@pytest.mark.parametrize(
    ("reference", "candidate", "reference_outputs", "earlier", "expected"),
    [
        ([FunctionCall("f", {"a": 1})], [FunctionCall("f", {"a": 1})], (), (), None),
        ([FunctionCall("f", {"a": 1})], [], (), (), "missed_function_or_params"),
        (
            [FunctionCall("f", {"a": 1}), FunctionCall("g", {"b": "id-7"})],
            [FunctionCall("f", {"a": 1})],
            (),
            (),
            "nested_call_missing",
        ),
        (
            [FunctionCall("g", {"b": "id-7"})],
            [FunctionCall("g", {"b": "id-9"})],
            ('{"b": "id-7"}',),
            (),
            "short_dependency",
        ),
        (
            [FunctionCall("g", {"b": "id-7"})],
            [FunctionCall("g", {"b": "id-9"})],
            (),
            ('{"id": "id-7"}',),
            "long_dependency",
        ),
    ],
)
def test_turn_judge_compares_with_the_reference(reference, candidate, reference_outputs, earlier, expected):
    verdict = _run(
        TURN_JUDGE,
        TurnJudgeInputs(
            "q",
            tuple(reference),
            "",
            tuple(candidate),
            "",
            reference_outputs=reference_outputs,
            earlier_outputs=earlier,
        ),
    )
    assert verdict.correct == (expected is None)
    assert verdict.error_type == expected


def test_turn_judge_catches_a_summary_that_drops_facts_and_ignores_defaults():
    spec = SPECS["set_reminder"]
    reference = (FunctionCall("set_reminder", {"event_id": "evt-1"}),)
    candidate = (FunctionCall("set_reminder", {"event_id": "evt-1", "minutes_before": 15}),)  # 15 is the default
    ok = _run(
        TURN_JUDGE,
        TurnJudgeInputs("q", reference, "Reminder rem-0001 set.", candidate, "Reminder rem-0001 set.", specs=(spec,)),
    )
    assert ok.correct
    wrong = _run(
        TURN_JUDGE, TurnJudgeInputs("q", reference, "Reminder rem-0001 set.", candidate, "Done.", specs=(spec,))
    )
    assert wrong.error_type == "wrong_summary"


def test_unknown_steps_are_a_clear_error():
    teacher = OfflineTeacher()
    with pytest.raises(TeacherError, match="the offline backend has no answer for step 'poem'"):
        asyncio.run(teacher.complete([{"role": "user", "content": "write a poem"}], step="poem"))
    assert teacher.usage.steps["poem"].failures["no_offline_answer"] == 1
