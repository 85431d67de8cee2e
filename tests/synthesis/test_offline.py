"""The offline backend reads the rendered prompts (never the step's inputs), answers every step in the forms real
models write, deterministically, and its answers are usable: queries translate into calls that execute, chained
on earlier outputs. Every answer style reads back to the same content."""

from __future__ import annotations

import asyncio
import json

import pytest

from magnet.errors import StepError, TeacherError
from magnet.synthesis.answer_styles import STYLES
from magnet.synthesis.distill import Hint, hint_system_prompt
from magnet.synthesis.offline import OfflineTeacher, plan_turn
from magnet.synthesis.steps import (
    BACK_TRANSLATE,
    DEPENDENCY,
    FORTH_TRANSLATE,
    LABEL,
    NESTED,
    SIMULATE,
    TURN_JUDGE,
    DependencyInputs,
    LabelInputs,
    NestedInputs,
    SimulateInputs,
    TranslateInputs,
    TurnJudgeInputs,
    TurnRecord,
    run_step,
)
from magnet.tools.builtin import BUILTIN_TOOLKITS
from magnet.tools.calls import FunctionCall, parse_calls
from magnet.tools.executor import Environment

SPECS = {spec.name: spec for klass in BUILTIN_TOOLKITS for spec in klass.specs()}


def _run(step, inputs, teacher=None):
    """Ask the offline teacher; translation sends the turn's seed as the request's sampling seed, as the
    translator does."""
    seed = {"seed": inputs.seed} if isinstance(inputs, TranslateInputs) else {}
    return asyncio.run(run_step(teacher or OfflineTeacher(), step, inputs, **seed)).value


def test_labels_and_judges_follow_the_schema():
    assert _run(LABEL, LabelInputs(SPECS["get_current_weather"])).category == "Weather"
    related = _run(DEPENDENCY, DependencyInputs(SPECS["create_event"], (SPECS["set_reminder"], SPECS["get_recipe"])))
    assert related.names == ("set_reminder",) and related.dropped == ()
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
    assert "the latest event id you got" in query_2  # referred to indirectly, never named
    [reminder] = _run(FORTH_TRANSLATE, TranslateInputs(second.functions, history=history, query=query_2, seed=3))
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
    full = _run(BACK_TRANSLATE, base)
    [call] = _run(FORTH_TRANSLATE, TranslateInputs(base.functions, query=full, seed=1))
    start, title = json.dumps(call.arguments["start"]), json.dumps(call.arguments["title"])
    withheld = _run(BACK_TRANSLATE, TranslateInputs(**{**vars(base), "split": "miss_param"}))
    supplied = _run(BACK_TRANSLATE, TranslateInputs(**{**vars(base), "split": "supply_param"}))
    assert start in full and start not in withheld and start in supplied
    assert title in withheld and "title" not in supplied
    # The reference turn reads both messages, as the translator sends them.
    both = TranslateInputs(base.functions, query=f"{withheld}\n{supplied}", seed=1)
    assert _run(FORTH_TRANSLATE, both) == (call,)


def test_parallel_variant_asks_for_several_argument_sets():
    env = Environment.from_state(BUILTIN_TOOLKITS)
    inputs = TranslateInputs((SPECS["get_current_weather"],), state=env.state(), seed=2, variant="parallel")
    query = _run(BACK_TRANSLATE, inputs)
    calls = _run(FORTH_TRANSLATE, TranslateInputs(inputs.functions, query=query, seed=2))
    assert 2 <= len(calls) <= 3 and len({json.dumps(c.arguments) for c in calls}) == len(calls)
    assert "for each of" in query


def _rollout_messages(query, hint, made=(), outputs=()):
    """What a hinted rollout shows the assistant: the system prompt, the query with its hint, then the calls made
    so far (as tool calls) and their outputs (as tool messages)."""
    messages = [{"role": "system", "content": hint_system_prompt()}, {"role": "user", "content": f"{query}\n\n{hint}"}]
    for index, (call, output) in enumerate(zip(made, outputs, strict=True)):
        messages.append({"role": "assistant", "content": None, "tool_calls": [call.to_tool_call(f"c{index}")]})
        messages.append({"role": "tool", "tool_call_id": f"c{index}", "name": call.name, "content": output})
    return messages


TOOLS = [SPECS["get_event"].to_tool(), SPECS["set_reminder"].to_tool(), SPECS["create_event"].to_tool()]


@pytest.mark.parametrize("tool_calls", ["native", "text"])
def test_hinted_rollout_waits_for_the_output_a_nested_call_needs(tool_calls):
    """The second hinted call takes a value the query never states: the assistant makes it only after the first
    call's output has shown that value, in a response of its own."""
    teacher = OfflineTeacher(tool_calls=tool_calls, style="markdown")
    hinted = (
        FunctionCall("get_event", {"event_id": "evt-0001"}),
        FunctionCall("set_reminder", {"event_id": "evt-0001"}),
    )
    hint = Hint(hinted).text()
    first = asyncio.run(teacher.complete(_rollout_messages("Check my dentist visit.", hint), TOOLS, step="a"))
    assert first.tool_calls == hinted[:1]
    output = '{"event_id": "evt-0001", "title": "Dentist"}'
    second = asyncio.run(
        teacher.complete(_rollout_messages("Check my dentist visit.", hint, hinted[:1], (output,)), TOOLS, step="a")
    )
    assert second.tool_calls == hinted[1:]
    done = asyncio.run(
        teacher.complete(
            _rollout_messages("Check my dentist visit.", hint, hinted, (output, '{"reminder_id": "rem-0002"}')),
            TOOLS,
            step="a",
        )
    )
    assert not done.tool_calls and "rem-0002" in done.text


@pytest.mark.parametrize("tool_calls", ["native", "text"])
def test_hinted_rollout_makes_independent_calls_in_one_response(tool_calls):
    """Calls whose values the query states are independent: one response holds them all (BFCL scores a parallel
    question's first response only)."""
    teacher = OfflineTeacher(tool_calls=tool_calls)
    hinted = (
        FunctionCall("get_current_weather", {"city": "Lisbon"}),
        FunctionCall("get_current_weather", {"city": "Porto"}),
    )
    tools = [SPECS["get_current_weather"].to_tool()]
    query = "What is the weather in Lisbon and in Porto?"
    first = asyncio.run(teacher.complete(_rollout_messages(query, Hint(hinted).text()), tools, step="a"))
    made = first.tool_calls or tuple(parse_calls(first.text.strip().strip("`").strip()))
    assert made == hinted


def test_a_split_hint_asks_for_what_the_query_leaves_out():
    sentence = SPECS["create_event"].description.rstrip(".")
    query = f'Please {sentence[0].lower()}{sentence[1:]} (title "Dentist").'
    ask = asyncio.run(OfflineTeacher().complete(_rollout_messages(query, Hint(missing="params").text()), TOOLS))
    assert not ask.tool_calls and "start" in ask.text and "title" not in ask.text
    decline = asyncio.run(OfflineTeacher().complete(_rollout_messages(query, Hint(missing="function").text()), TOOLS))
    assert not decline.tool_calls and "cannot" in decline.text


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
        (
            [FunctionCall("g", {"b": "id-7"}), FunctionCall("f", {"a": 1})],
            [FunctionCall("f", {"a": 1}), FunctionCall("g", {"b": "id-7"})],
            (),
            (),
            None,
        ),
        (
            [FunctionCall("f", {"a": 1})],
            [FunctionCall("f", {"a": 1}), FunctionCall("f", {"a": 2})],
            (),
            (),
            "other",
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


def test_a_request_it_cannot_read_is_a_clear_error():
    teacher = OfflineTeacher()
    with pytest.raises(TeacherError, match="system prompt of a known step"):
        asyncio.run(teacher.complete([{"role": "user", "content": "write a poem"}], step="poem"))
    assert teacher.usage.steps["poem"].failures["unreadable_prompt"] == 1


def test_a_prompt_that_stops_carrying_what_the_step_needs_fails_the_step():
    """The offline backend knows only what the prompt says: drop the functions' section from the prompt and it
    cannot answer; drop a value from the query and the call it writes lacks it, and the parser refuses it."""
    env = Environment.from_state(BUILTIN_TOOLKITS)
    inputs = TranslateInputs((SPECS["create_event"],), state=env.state(), seed=3)

    class Forgetful(OfflineTeacher):
        async def _request(self, messages, tools, params, step):
            user = messages[-1]["content"]
            cut = [{**messages[0]}, {"role": "user", "content": user.split("Candidate functions:")[0]}]
            return await super()._request(cut, tools, params, step)

    with pytest.raises(TeacherError, match="forth_translate: the prompt does not carry the section 'Candidate"):
        _run(FORTH_TRANSLATE, TranslateInputs(inputs.functions, query="Please create an event.", seed=3), Forgetful())
    query = _run(BACK_TRANSLATE, inputs)
    [call] = _run(FORTH_TRANSLATE, TranslateInputs(inputs.functions, query=query, seed=3))
    title = json.dumps(call.arguments["title"])
    vague = query.replace(f"title {title}, ", "").replace(f", title {title}", "").replace(f"title {title}", "")
    assert vague != query
    with pytest.raises(StepError, match="create_event lacks required \\['title'\\]"):
        _run(FORTH_TRANSLATE, TranslateInputs(inputs.functions, query=vague, seed=3))


def _every_step(env):
    """One input of each step, on the builtin toolkits."""
    first = TranslateInputs((SPECS["create_event"], SPECS["add_attendee"]), state=env.state(), seed=4)
    return [
        (LABEL, LabelInputs(SPECS["get_forecast"])),
        (DEPENDENCY, DependencyInputs(SPECS["create_event"], (SPECS["set_reminder"], SPECS["get_recipe"]))),
        (DEPENDENCY, DependencyInputs(SPECS["get_recipe"], (SPECS["set_reminder"],))),
        (NESTED, NestedInputs(SPECS["create_event"], SPECS["set_reminder"])),
        (NESTED, NestedInputs(SPECS["set_reminder"], SPECS["get_recipe"])),
        (BACK_TRANSLATE, first),
        (
            BACK_TRANSLATE,
            TranslateInputs(first.functions, state=first.state, seed=4, split="miss_param", missing=("start",)),
        ),
        (TURN_JUDGE, TurnJudgeInputs("q", (FunctionCall("f", {"a": 1}),), "", (), "")),
        (
            TURN_JUDGE,
            TurnJudgeInputs("q", (FunctionCall("f", {"a": 1}),), "ok 7", (FunctionCall("f", {"a": 1}),), "ok 7"),
        ),
        (SIMULATE, SimulateInputs(SPECS["get_forecast"], FunctionCall("get_forecast", {"city": "Lisbon", "days": 2}))),
    ]


@pytest.mark.parametrize("style", [style for style in STYLES if style != "clean"])
def test_every_style_reads_back_to_the_content_of_clean(style):
    env = Environment.from_state(BUILTIN_TOOLKITS)
    clean, styled = OfflineTeacher(), OfflineTeacher(style=style)
    for step, inputs in _every_step(env):
        assert _run(step, inputs, styled) == _run(step, inputs, clean), (style, step.name)
    query = _run(BACK_TRANSLATE, _every_step(env)[5][1], clean)
    forth = TranslateInputs((SPECS["create_event"], SPECS["add_attendee"]), query=query, seed=4)
    assert _run(FORTH_TRANSLATE, forth, styled) == _run(FORTH_TRANSLATE, forth, clean)


def test_a_style_writes_what_models_write():
    """The styles are not the clean format in disguise: the raw answers carry the forms the parsers must survive."""
    env = Environment.from_state(BUILTIN_TOOLKITS)
    inputs = TranslateInputs((SPECS["create_event"],), state=env.state(), seed=3)
    raw = {}
    for style in ("chatty", "markdown", "think", "json"):
        teacher = OfflineTeacher(style=style)
        query = asyncio.run(teacher.complete(BACK_TRANSLATE.messages(inputs), seed=3)).text
        forth = TranslateInputs(inputs.functions, query=_run(BACK_TRANSLATE, inputs), seed=3)
        raw[style] = (query, asyncio.run(teacher._request(FORTH_TRANSLATE.messages(forth), None, {}, "f")).text)
    assert (
        raw["chatty"][0].startswith(("User:", "Here's the user's next message"))
        and "answer:" in raw["chatty"][1].lower()
    )
    assert "**" in raw["markdown"][0] and ("**Answer:**" in raw["markdown"][1] or "`" in raw["markdown"][1])
    assert raw["think"][1].startswith("<think>") and raw["think"][1].count("Answer:") == 2
    assert raw["json"][0].startswith("“") and '"arguments":' in raw["json"][1]


def test_mixed_draws_a_style_per_request_deterministically():
    env = Environment.from_state(BUILTIN_TOOLKITS)
    teacher = OfflineTeacher(style="mixed")
    texts = {
        asyncio.run(teacher._request(LABEL.messages(LabelInputs(spec)), None, {}, "label")).text
        for spec in list(SPECS.values())[:40]
    }
    assert any(text.startswith("<think>") for text in texts) and any("**Category:**" in text for text in texts)
    again = OfflineTeacher(style="mixed")
    inputs = TranslateInputs((SPECS["create_event"],), state=env.state(), seed=3)
    assert asyncio.run(teacher.complete(BACK_TRANSLATE.messages(inputs), seed=3)) == asyncio.run(
        again.complete(BACK_TRANSLATE.messages(inputs), seed=3)
    )


def test_the_offline_backend_reads_functions_from_bfcls_prompting_mode_system_prompt():
    """A student trained in BFCL's prompting format is shown the functions as BFCL lists them (a Python literal,
    with BFCL's hint appended to each description): the offline backend, standing in for that student, reads
    them back as they were."""
    from magnet.data.render import bfcl_system_prompt
    from magnet.synthesis.prompt_reading import read_functions

    tools = [SPECS["create_event"].to_tool(), SPECS["set_reminder"].to_tool()]
    specs = read_functions("rollout", bfcl_system_prompt(tools))
    assert [(s.name, s.description) for s in specs] == [
        (SPECS[n].name, SPECS[n].description) for n in ("create_event", "set_reminder")
    ]
    assert set(specs[0].properties) == set(SPECS["create_event"].properties)
