"""LLM steps: prompts render from their templates, parsers accept good answers and explain bad ones, and a
bad answer is shown back to the model before the step gives up."""

from __future__ import annotations

import asyncio

import pytest

from magnet.errors import StepError
from magnet.llm.client import Completion
from magnet.synthesis.steps import (
    BACK_TRANSLATE,
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

    async def complete(self, messages, tools=None, *, step="default", context=None, **params):
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
    assert _parse(DEPENDENCY, '```json\n{"create_event": ["set_reminder"]}\n```', inputs) == ("set_reminder",)
    with pytest.raises(AnswerError, match=r"\['book_table'\] are not among the candidates"):
        _parse(DEPENDENCY, '{"create_event": ["book_table"]}', inputs)
    with pytest.raises(AnswerError, match="not a JSON object"):
        _parse(DEPENDENCY, "set_reminder", inputs)


def test_verdict_and_turn_verdict_parsers():
    nested = NestedInputs(SPECS["create_event"], SPECS["set_reminder"])
    assert _parse(NESTED, "Yes\nthe id flows", nested).yes
    with pytest.raises(AnswerError, match="exactly 'yes' or 'no'"):
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
