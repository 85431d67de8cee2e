"""LLM steps: prompts render from their templates, parsers accept good answers and explain bad ones, and a
bad answer is shown back to the model before the step gives up."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest

from magnet.errors import StepError, TeacherError
from magnet.llm.client import Completion
from magnet.synthesis.parsers import ERROR_TYPES, Related
from magnet.synthesis.steps import (
    BACK_TRANSLATE,
    CATEGORIES,
    DEPENDENCY,
    FORTH_TRANSLATE,
    LABEL,
    NESTED,
    SIMULATE,
    STEPS,
    TURN_JUDGE,
    AnswerError,
    DependencyInputs,
    LabelInputs,
    NestedInputs,
    SimulateInputs,
    Step,
    TranslateInputs,
    TurnJudgeInputs,
    TurnRecord,
    run_step,
)
from magnet.tools.builtin import BUILTIN_TOOLKITS
from magnet.tools.calls import FunctionCall

SPECS = {spec.name: spec for klass in BUILTIN_TOOLKITS for spec in klass.specs()}


class Scripted:
    """A teacher that answers with a script and records what it was asked."""

    name = "scripted"

    def __init__(self, *answers: str):
        self.answers = list(answers)
        self.asked: list[list[dict]] = []

    async def complete(self, messages, tools=None, *, step="default", **params):
        self.asked.append(list(messages))
        return Completion(text=self.answers.pop(0))


def _parse(step, text, inputs):
    return step.parse(Completion(text=text), inputs)


def test_every_step_renders_its_template():
    translate = TranslateInputs(
        (SPECS["create_event"],),
        history=(
            TurnRecord("hi", (FunctionCall("get_event", {"event_id": "evt-0001"}),), ('{"event_id": "evt-0001"}',)),
        ),
        query="Book it",
    )
    inputs = {
        "label_category": LabelInputs(SPECS["create_event"]),
        "dependency_judge": DependencyInputs(SPECS["create_event"], (SPECS["set_reminder"],)),
        "nested_judge": NestedInputs(SPECS["create_event"], SPECS["set_reminder"]),
        "back_translate": translate,
        "forth_translate": translate,
        "turn_judge": TurnJudgeInputs("q", (), "", (), ""),
        "simulate_output": SimulateInputs(SPECS["get_event"], FunctionCall("get_event", {"event_id": "e"})),
    }
    for name, step in STEPS.items():
        system, user = step.messages(inputs[name])
        assert system["role"] == "system" and user["role"] == "user"
        assert "$" not in user["content"].replace("$ ", ""), f"{name}: unfilled placeholder"
    assert "get_event(event_id='evt-0001') -> " in FORTH_TRANSLATE.messages(translate)[1]["content"]


def test_label_parser():
    inputs = LabelInputs(SPECS["create_event"])
    assert _parse(LABEL, "Category: Events\nTool class: Calendar tool", inputs).category == "Events"
    assert _parse(LABEL, "category: misc\ntool class: x", inputs).category == "misc"
    with pytest.raises(AnswerError, match="'Gardening' is not in the category list"):
        _parse(LABEL, "Category: Gardening\nTool class: x", inputs)


def test_dependency_parser_accepts_only_candidates():
    inputs = DependencyInputs(SPECS["create_event"], (SPECS["set_reminder"], SPECS["add_attendee"]))
    assert _parse(DEPENDENCY, '```json\n{"create_event": ["set_reminder"]}\n```', inputs).names == ("set_reminder",)
    # A name that is not a candidate is dropped and counted, the rest kept; the target itself is just left out.
    related = _parse(DEPENDENCY, '{"create_event": ["book_table", "set_reminder", "create_event"]}', inputs)
    assert (related.names, related.dropped) == (("set_reminder",), ("book_table",))
    with pytest.raises(AnswerError, match="not a JSON object"):
        _parse(DEPENDENCY, "set_reminder", inputs)


def test_verdict_and_turn_verdict_parsers():
    nested = NestedInputs(SPECS["create_event"], SPECS["set_reminder"])
    assert _parse(NESTED, "Yes\nthe id flows", nested).yes
    with pytest.raises(AnswerError, match="start the answer with 'yes' or 'no'"):
        _parse(NESTED, "maybe", nested)
    judge = TurnJudgeInputs("q", (), "", (), "")
    verdict = _parse(TURN_JUDGE, "no\nError type: long dependency\nReason: ignores the id", judge)
    assert (verdict.correct, verdict.error_type, verdict.reason) == (False, "long_dependency", "ignores the id")
    with pytest.raises(AnswerError, match="Error type"):
        _parse(TURN_JUDGE, "no\nit is wrong", judge)


def test_forth_parser_checks_names_arguments_and_parallel_limit():
    inputs = TranslateInputs((SPECS["set_reminder"],))
    calls = _parse(FORTH_TRANSLATE, 'Thought: t\nAnswer: set_reminder(event_id="evt-1", minutes_before=5)', inputs)
    assert calls == (FunctionCall("set_reminder", {"event_id": "evt-1", "minutes_before": 5}),)
    assert _parse(FORTH_TRANSLATE, "Thought: none\nAnswer: FINISH", inputs) is None
    with pytest.raises(AnswerError, match="create_event is not a candidate"):
        _parse(FORTH_TRANSLATE, "Answer: create_event(title='x', start='y')", inputs)
    with pytest.raises(AnswerError, match=r"lacks required \['event_id'\]"):
        _parse(FORTH_TRANSLATE, "Answer: set_reminder(minutes_before=5)", inputs)
    with pytest.raises(AnswerError, match="called 4 times; at most 3"):
        _parse(FORTH_TRANSLATE, "Answer: " + ", ".join(["set_reminder(event_id='e')"] * 4), inputs)
    with pytest.raises(AnswerError, match="only literal values"):
        _parse(FORTH_TRANSLATE, "Answer: set_reminder(event_id=open('x'))", inputs)


def test_query_parser_refuses_function_names():
    inputs = TranslateInputs((SPECS["set_reminder"],))
    assert _parse(BACK_TRANSLATE, '"Remind me 10 minutes before."', inputs) == "Remind me 10 minutes before."
    with pytest.raises(AnswerError, match=r"names the function\(s\) \['set_reminder'\]"):
        _parse(BACK_TRANSLATE, "Please call set_reminder.", inputs)


def test_simulated_output_must_fit_the_response_schema():
    inputs = SimulateInputs(SPECS["get_event"], FunctionCall("get_event", {"event_id": "e"}))
    good = (
        '{"event_id": "e", "title": "t", "start": "2026-01-01T10:00", "end": "2026-01-01T11:00", '
        '"location": "", "attendees": []}'
    )
    assert _parse(SIMULATE, good, inputs)["event_id"] == "e"
    with pytest.raises(AnswerError, match=r"output\.attendees: expected array"):
        _parse(SIMULATE, good.replace("[]", '"none"'), inputs)
    with pytest.raises(AnswerError, match=r"lacks required \['attendees'\]"):
        _parse(SIMULATE, good.replace(', "attendees": []', ""), inputs)


def test_a_bad_answer_is_shown_back_then_the_step_succeeds():
    teacher = Scripted("Category: Gardening\nTool class: x", "Category: Events\nTool class: Calendar tool")
    result = asyncio.run(run_step(teacher, LABEL, LabelInputs(SPECS["create_event"])))
    assert result.value.category == "Events" and result.attempts == 2
    retry = teacher.asked[1]
    assert retry[-2] == {"role": "assistant", "content": "Category: Gardening\nTool class: x"}
    assert "'Gardening' is not in the category list" in retry[-1]["content"]


def test_the_step_gives_up_after_bounded_attempts():
    teacher = Scripted("nonsense", "nonsense", "nonsense")
    with pytest.raises(StepError, match="label_category: no usable answer after 3 attempts"):
        asyncio.run(run_step(teacher, LABEL, LabelInputs(SPECS["create_event"])))


# ---------------------------------------------------------------------------------------------------------------
# Odd answers: a parse, or an AnswerError that says what to write; never anything else
# ---------------------------------------------------------------------------------------------------------------

DEPENDENCY_INPUTS = DependencyInputs(SPECS["create_event"], (SPECS["set_reminder"], SPECS["add_attendee"]))
ODD_TEXTS = [
    "",
    "   \n ",
    "null",
    "42",
    "-1.5e3",
    "true",
    '"set_reminder"',
    "[]",
    "[[1, 2], [3]]",
    '[{"name": "set_reminder"}]',
    '{"create_event": [{"name": "set_reminder", "reason": "needs the id"}]}',
    '{"create_event": [["set_reminder"]]}',
    '{"create_event": [{"a": 1}, null, 3]}',
    '{"create_event": {"set_reminder": true}}',
    "[" * 5000 + "]" * 5000,
    '{"a": ' * 3000 + "1" + "}" * 3000,
    "9" * 5000,
    "NaN",
    "[1e999]",
    "\udcff\udcfe",
    "Category: Events\udcff\nTool class: x",
    'Answer: set_reminder(event_id="\udcff")',
    "Answer: " + "[" * 3000,
    "Answer: set_reminder(event_id=1\x00)",
    "yes",
    "no\nError type: " + "x" * 5000,
    "Category:\nTool class: x",
    "```\n```",
]


def _check_label(value, inputs):
    assert value.category in {*CATEGORIES, "misc"} and value.tool_class


def _check_dependencies(value, inputs):
    names = value.names
    assert set(names) <= {spec.name for spec in inputs.candidates} and len(set(names)) == len(names)
    assert not set(value.dropped) & {spec.name for spec in inputs.candidates}


def _check_verdict(value, inputs):
    assert isinstance(value.yes, bool) and isinstance(value.reason, str)


def _check_query(value, inputs):
    assert value.strip() and all(spec.name not in value for spec in inputs.functions)


def _check_calls(value, inputs):
    names = {spec.name for spec in inputs.functions}
    assert value is None or (value and all(call.name in names for call in value))


def _check_turn_verdict(value, inputs):
    assert value.correct or value.error_type in ERROR_TYPES


def _check_simulated(value, inputs):
    assert isinstance(value, dict) and set(inputs.function.response["required"]) <= set(value)
    json.dumps(value, ensure_ascii=False).encode("utf-8")  # what a dataset will write


ODD_CASES = {
    "label_category": (LabelInputs(SPECS["create_event"]), _check_label),
    "dependency_judge": (DEPENDENCY_INPUTS, _check_dependencies),
    "nested_judge": (NestedInputs(SPECS["create_event"], SPECS["set_reminder"]), _check_verdict),
    "back_translate": (TranslateInputs((SPECS["set_reminder"],)), _check_query),
    "forth_translate": (TranslateInputs((SPECS["set_reminder"],)), _check_calls),
    "turn_judge": (TurnJudgeInputs("q", (), "", (), ""), _check_turn_verdict),
    "simulate_output": (
        SimulateInputs(SPECS["get_event"], FunctionCall("get_event", {"event_id": "e"})),
        _check_simulated,
    ),
}


@pytest.mark.parametrize("name", sorted(ODD_CASES))
def test_every_parser_turns_odd_answers_into_a_parse_or_an_answer_error(name):
    inputs, check = ODD_CASES[name]
    for text in [*ODD_TEXTS, None]:
        try:
            value = STEPS[name].parse(Completion(text=text), inputs)
        except AnswerError as error:
            assert str(error), f"{name}: an empty reason for {text!r:.40}"
        else:
            check(value, inputs)


def test_dependency_parser_reads_the_shapes_models_write():
    shapes = [
        '{"create_event": ["set_reminder"]}',
        '{"create_event": [{"name": "set_reminder", "reason": "needs the event id"}]}',
        '["set_reminder"]',
        '```json\n[{"name": "set_reminder"}]\n```',
        '[{"name": "set_reminder", "related": true}, {"name": "add_attendee", "related": false}]',
        'The related ones [as asked]: {"create_event": ["set_reminder", "set_reminder"]} - done {}',
        '[{"function": "set_reminder"}]',
        '{"related": ["set_reminder"]}',
        '{"create_event": {"set_reminder": true}}',
        '{"create_event": {"set_reminder": "takes the event id"}}',
        "{'create_event': ['set_reminder',],}",
        '[{"function": "create_event", "dependencies": ["set_reminder"]}]',
        '{"create_event": ["set_reminder"]} (the others take nothing from {event_id}).',
    ]
    for text in shapes:
        assert _parse(DEPENDENCY, text, DEPENDENCY_INPUTS).names == ("set_reminder",), text
    assert _parse(DEPENDENCY, '{"create_event": []}', DEPENDENCY_INPUTS).names == ()
    assert _parse(DEPENDENCY, '{"create_event": ["none"]}', DEPENDENCY_INPUTS) == Related((), ())


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('{"create_event": [["set_reminder"]]}', r"\['set_reminder'\] is neither a name nor an object"),
        ('{"create_event": [1, null]}', "1 is neither a name"),
        ('[{"reason": "set_reminder"}]', 'is neither a name nor an object with a "name"'),
        ('[{"name": "set_reminder", "related": "maybe"}]', '"related" must be true or false'),
        ('{"create_event": "set_reminder"}', "is a JSON string, not a list"),
        ('{"create_event": 7}', "is a JSON number, not a list"),
        ('{"others": ["set_reminder"]}', "the object has no key 'create_event'"),
        ("null", "got a JSON null"),
        ("42", "got a JSON number"),
        ("[" * 5000 + "]" * 5000, "nested too deeply"),
        ("9" * 5000, "not a usable JSON object"),
        ("NaN", "NaN is not allowed"),
        ("", "not a JSON object"),
        ('Of the candidates ["set_reminder", "add_attendee"], none takes its input.', "not a JSON object"),
    ],
)
def test_dependency_parser_refuses_other_shapes_saying_what_to_write(text, problem):
    with pytest.raises(AnswerError, match=problem) as caught:
        _parse(DEPENDENCY, text, DEPENDENCY_INPUTS)
    assert 'answer {"create_event": ["candidate_name", ...]}' in str(caught.value)


def test_label_parser_reads_markdown_and_refuses_what_cannot_be_a_label():
    inputs = LabelInputs(SPECS["create_event"])
    label = _parse(LABEL, "**Category:** Events\n**Tool class:** `Calendar tool`.", inputs)
    assert (label.category, label.tool_class) == ("Events", "Calendar tool")
    label = _parse(LABEL, "Category:\nHealth and Fitness\nTool class:\nWorkout tracker", inputs)
    assert (label.category, label.tool_class) == ("Health_and_Fitness", "Workout tracker")
    with pytest.raises(AnswerError, match="give a short name"):
        _parse(LABEL, "Category: Events\nTool class: " + "very " * 50 + "long", inputs)
    with pytest.raises(AnswerError, match="lone surrogate"):
        _parse(LABEL, "Category: Events\nTool class: Calendar \udcff", inputs)


def test_simulated_output_refuses_values_a_dataset_could_not_store():
    inputs = SimulateInputs(SPECS["get_event"], FunctionCall("get_event", {"event_id": "e"}))
    cases = {
        '{"event_id": NaN}': "NaN is not allowed",
        '{"event_id": 1e999}': "inf is not a finite number",
        '{"event_id": "\\ud800"}': "lone surrogate",
        '{"event_id": ' + "[" * 100 + "]" * 100 + "}": "nested more than 64 levels deep",
        "[" * 5000 + "]" * 5000: "nested too deeply",
    }
    for text, problem in cases.items():
        with pytest.raises(AnswerError, match=problem):
            _parse(SIMULATE, text, inputs)


def _broken_parse(completion, inputs):
    if completion.text == "good":
        return "parsed"
    return {}[completion.text]  # a parser bug: KeyError on anything else


BROKEN = Step("broken", _broken_parse, template="label_category")


def test_a_parser_bug_costs_a_retry_and_the_model_sees_the_problem(caplog):
    teacher = Scripted("odd", "good")
    with caplog.at_level(logging.WARNING, logger="magnet.synthesis.steps"):
        result = asyncio.run(run_step(teacher, BROKEN, LabelInputs(SPECS["create_event"])))
    assert (result.value, result.attempts) == ("parsed", 2)
    assert teacher.asked[1][-2] == {"role": "assistant", "content": "odd"}
    assert "Your answer could not be used" in teacher.asked[1][-1]["content"]
    assert "KeyError" in teacher.asked[1][-1]["content"]
    assert any("broken: the parser failed on attempt 1 (KeyError" in record.message for record in caplog.records)


def test_a_parser_raising_type_error_ends_in_step_error_after_max_attempts():
    def parse(completion, inputs):
        return {[completion.text]}  # TypeError: unhashable type: 'list'

    teacher = Scripted("a", "b", "c", "d")
    step = Step("unhashable", parse, template="label_category")
    with pytest.raises(StepError, match=r"unhashable: no usable answer after 3 attempts .*TypeError") as caught:
        asyncio.run(run_step(teacher, step, LabelInputs(SPECS["create_event"]), max_attempts=3))
    assert caught.value.attempts == 3 and len(teacher.asked) == 3
    assert [message["content"] for message in teacher.asked[2] if message["role"] == "assistant"] == ["a", "b"]
    assert all("TypeError" in asked[-1]["content"] for asked in teacher.asked[1:])


def test_validate_failures_and_teacher_failures_are_not_swallowed():
    async def validate(value):
        raise RuntimeError("a bug of the caller")

    with pytest.raises(RuntimeError, match="a bug of the caller"):
        asyncio.run(run_step(Scripted("good"), BROKEN, LabelInputs(SPECS["create_event"]), validate=validate))

    def parse(completion, inputs):
        raise TeacherError("gone", cause="timeout")

    with pytest.raises(TeacherError, match="gone"):
        asyncio.run(
            run_step(Scripted("x"), Step("t", parse, template="label_category"), LabelInputs(SPECS["create_event"]))
        )


def test_the_turn_judge_sees_definitions_history_and_both_sides_outputs_and_may_answer_other():
    """What the paper's judge needs to classify: the error types defined, the conversation so far, the reference's
    and the assistant's calls with their outputs. An error outside the five is ``other``, not a lost sample."""
    history = (
        TurnRecord("Find my dentist visit.", (FunctionCall("get_event", {"event_id": "evt-7"}),), ('{"a": 1}',)),
    )
    inputs = TurnJudgeInputs(
        query="Remind me of it.",
        reference_calls=(FunctionCall("set_reminder", {"event_id": "evt-7"}),),
        reference_text="Reminder rem-3 set.",
        candidate_calls=(FunctionCall("set_reminder", {"event_id": "evt-9"}),),
        candidate_text="Done.",
        reference_outputs=('{"reminder_id": "rem-3"}',),
        candidate_outputs=('{"error": "no event evt-9"}',),
        history=history,
    )
    system, user = (message["content"] for message in TURN_JUDGE.messages(inputs))
    for index, name in enumerate(ERROR_TYPES, start=1):
        assert f"{index}. {name}: " in system
    assert "Round 0: user: Find my dentist visit." in user and "get_event(event_id='evt-7') -> {\"a\": 1}" in user
    assert "rem-3" in user and "no event evt-9" in user
    verdict = _parse(TURN_JUDGE, "no\nError type: other\nReason: it calls twice", inputs)
    assert (verdict.correct, verdict.error_type) == (False, "other")
    assert _parse(TURN_JUDGE, "no\nError type: 6\nReason: x", inputs).error_type == "other"
    # "other" as a word of a reason names no type: the labelled type is required
    with pytest.raises(AnswerError, match="Error type"):
        _parse(TURN_JUDGE, "no\nthe other call is wrong", inputs)


def test_judges_run_greedy_whatever_the_teachers_temperature():
    """A judge's verdict must not depend on a sampling draw: its requests carry temperature 0, which overrides
    the teacher's default; translation keeps the teacher's temperature."""

    class Recording(Scripted):
        def __init__(self, *answers):
            super().__init__(*answers)
            self.params = []

        async def complete(self, messages, tools=None, *, step="default", **params):
            self.params.append(params)
            return await super().complete(messages, tools, step=step, **params)

    teacher = Recording("yes", "no\nError type: wrong_summary\nReason: r", "Please find it.")
    nested = NestedInputs(SPECS["create_event"], SPECS["set_reminder"])
    asyncio.run(run_step(teacher, NESTED, nested, temperature=0.9))
    asyncio.run(run_step(teacher, TURN_JUDGE, TurnJudgeInputs("q", (), "", (), ""), temperature=0.9))
    asyncio.run(run_step(teacher, BACK_TRANSLATE, TranslateInputs((SPECS["get_event"],)), temperature=0.9))
    assert [params.get("temperature") for params in teacher.params] == [0.0, 0.0, 0.9]
    assert all(step.params == {"temperature": 0.0} for step in (LABEL, DEPENDENCY, NESTED, TURN_JUDGE))
