"""Positive trajectories: hints guide the teacher but never reach the stored row, and the filters catch what a
teacher gets wrong."""

from __future__ import annotations

import asyncio
import dataclasses
import random

import pytest

from magnet.data.schema import Message, validate_preference_row, validate_sft_row
from magnet.llm.client import Completion
from magnet.synthesis.distill import (
    Hint,
    distill,
    hint_system_prompt,
    plain_system_prompt,
    problems,
    reference_hints,
    reference_state,
)
from magnet.synthesis.episode import Episode
from magnet.synthesis.graph import SchemaJudge, build_graph
from magnet.synthesis.negatives import perturb_negative, perturbations, preference_pair
from magnet.synthesis.offline import OfflineTeacher
from magnet.synthesis.operations import reshape
from magnet.synthesis.paths import sample_paths, sample_single_turn
from magnet.synthesis.translate import Translator, build_registry
from magnet.tools.builtin import BUILTIN_TOOLKITS
from magnet.tools.calls import FunctionCall, parse_calls


@pytest.fixture(scope="module")
def setup():
    specs = [spec for klass in BUILTIN_TOOLKITS for spec in klass.specs()]
    graph = asyncio.run(build_graph(specs, SchemaJudge(), progress=False))
    registry = build_registry(graph)
    walks = sample_paths(graph, seed=9, limit=40)
    rng = random.Random(9)
    paths = [p for w in walks for p in reshape(w, graph, rng)]
    paths += sample_single_turn(graph, single=10, parallel=10, multiple=10, irrelevance=10, seed=9)

    async def run():
        translator = Translator(graph, registry, OfflineTeacher())
        return await asyncio.gather(*(translator.translate(path) for path in paths))

    episodes = [r for r in asyncio.run(run()) if isinstance(r, Episode)]
    return registry, episodes


def _distill_all(setup, teacher=None):
    registry, episodes = setup

    async def run():
        return await asyncio.gather(*(distill(e, registry, teacher or OfflineTeacher()) for e in episodes))

    return asyncio.run(run())


def test_positive_rows_are_valid_and_hint_free(setup):
    results = _distill_all(setup)
    rows = [r.row for r in results if r.row is not None]
    assert len(rows) == len(setup[1]) > 30
    for index, row in enumerate(rows):
        data = row.to_dict()
        assert validate_sft_row(data, index) == []
        assert not any("[Hint]" in (m["content"] or "") for m in data["messages"])
        assert data["messages"][0]["role"] == "user" and data["meta"]["teacher"] == "offline"


def test_split_turns_ask_or_decline_and_functions_are_added_later(setup):
    episodes = setup[1]
    results = {r.row.id: r.row for r in _distill_all(setup) if r.row is not None}
    checked = 0
    for episode in episodes:
        for index, turn in enumerate(episode.turns):
            if turn.label not in ("miss_func", "miss_param", "irrelevance"):
                continue
            row = results[episode.id]
            users = [i for i, m in enumerate(row.messages) if m.role == "user"]
            end = users[index + 1] if index + 1 < len(users) else len(row.messages)
            replies = row.messages[users[index] + 1 : end]
            assert [m.role for m in replies] == ["assistant"] and not replies[0].tool_calls
            checked += 1
        if episode.missing_functions:
            row = results[episode.id]
            names = {tool["function"]["name"] for tool in row.tools}
            [(turn, added)] = row.meta.missing["functions"].items()
            assert not names & set(added)
            assert [t["function"]["name"] for t in row.meta.missing["tools"][turn]] == added
    assert checked


class WrongCaller(OfflineTeacher):
    """Follows hints, but swaps the first argument value of every call: the state drifts from the reference."""

    async def complete(self, messages, tools=None, *, step="default", **params):
        completion = await super().complete(messages, tools, step=step, **params)
        if completion.tool_calls:
            call = completion.tool_calls[0]
            if call.arguments:
                key = next(iter(call.arguments))
                bent = type(call)(call.name, {**call.arguments, key: "bogus-0000"})
                return Completion(tool_calls=(bent,), finish_reason="tool_calls", model="wrong")
        return completion


class Grumbler(OfflineTeacher):
    """Follows hints, but ends every turn saying the request does not match."""

    async def complete(self, messages, tools=None, *, step="default", **params):
        completion = await super().complete(messages, tools, step=step, **params)
        if not completion.tool_calls:
            return Completion(text="Bad request: this does not match anything.", model="grumbler")
        return completion


def test_filters_reject_wrong_trajectories_with_reasons(setup):
    wrong = [r for r in _distill_all(setup, WrongCaller()) if r.row is None]
    reasons = {reason.split(":")[0] for r in wrong for reason in r.reasons}
    assert wrong and {"unhandled_tool_error", "state_mismatch"} <= reasons
    grumbling = [r for r in _distill_all(setup, Grumbler()) if r.row is None]
    assert len(grumbling) == len(setup[1])
    assert all(any(reason.startswith("failure_message") for reason in r.reasons) for r in grumbling)


def test_the_system_prompt_explains_every_hint_line_the_rollout_sends():
    """The teacher learns what a hint means from its system prompt: each split hint is spelt there as it is sent,
    and a call hint is BFCL's call list, which reads back to the same calls."""
    prompt = hint_system_prompt()
    for hint in (Hint(missing="function"), Hint(missing="params")):
        assert hint.text() in prompt
    calls = (FunctionCall("get_event", {"event_id": "evt-1"}), FunctionCall("set_reminder", {"event_id": "evt-1"}))
    line = Hint(calls).text()
    assert line.startswith("[Hint]: ") and "[Hint]" in prompt
    assert tuple(parse_calls(line.removeprefix("[Hint]: "))) == calls


def test_every_perturbation_gives_a_valid_pair(setup):
    registry, episodes = setup
    teacher = OfflineTeacher()
    seen_types = set()

    async def run():
        for episode in episodes:
            positive = await distill(episode, registry, teacher)
            for item in perturbations(episode, positive.rollout, random.Random(0)):
                seen_types.add(item.error_type)
            pair = await perturb_negative(episode, positive.rollout, positive.row, registry, teacher)
            if pair is None:
                continue
            data = pair.to_dict()
            assert validate_preference_row(data) == [], validate_preference_row(data)
            assert pair.prompt[-1].role in ("user", "tool")
            assert list(pair.prompt) + list(pair.chosen) == list(positive.row.messages)
            assert pair.meta["error_types"][0] in seen_types

    asyncio.run(run())
    assert seen_types >= {"nested_call_missing", "long_dependency", "wrong_summary", "missed_function_or_params"}


def test_preference_pair_of_identical_conversations_is_none():
    messages = (Message("user", "hi"), Message("assistant", "hello"))
    assert preference_pair("x", (), messages, messages, {}) is None


def test_reference_hints_follow_labels(setup):
    episode = next(e for e in setup[1] if any(t.label == "miss_param" for t in e.turns))
    hints = reference_hints(episode)
    assert len(hints) == len(episode.turns)
    for turn, hint in zip(episode.turns, hints, strict=True):
        if turn.label == "miss_param":
            assert (hint.missing, hint.calls) == ("params", ())
        elif turn.label in ("miss_func", "irrelevance"):
            assert (hint.missing, hint.calls) == ("function", ())
        else:
            assert (hint.missing, hint.calls) == ("", turn.calls)


@pytest.mark.slow
def test_student_negatives_with_a_local_model(setup, tiny_model_dir):
    from magnet.llm.local import HFTeacher
    from magnet.synthesis.negatives import student_negative

    registry, episodes = setup
    episode = next(e for e in episodes if e.kind == "single_turn")
    positive = asyncio.run(distill(episode, registry, OfflineTeacher()))
    student = HFTeacher(tiny_model_dir, max_new_tokens=8)
    pair = asyncio.run(
        student_negative(episode, positive.rollout, positive.row, registry, student, OfflineTeacher(), samples=2)
    )
    assert pair is not None and pair.meta["source"] == "student" and pair.meta["teacher"].startswith("hf:")
    assert validate_preference_row(pair.to_dict()) == []
    assert student.usage.step("student_sample").answered >= 1


def test_a_turn_that_skips_a_hinted_call_is_rejected_even_when_the_state_matches(setup):
    """A read-only call changes no state: a teacher that answers in text without making it must not pass the
    state check (a real model did exactly that: SmolLM2 summarised a search it never ran)."""
    registry, episodes = setup

    class AnswersWithoutCalling:
        name = "lazy"

        async def complete(self, messages, tools=None, *, step="default", **params):
            return Completion(text="Here is what you asked for.")

    reading = next(
        e
        for e in episodes
        if e.kind == "single_turn"
        and e.turns[0].calls
        and e.turns[0].label == ""
        and any(name.startswith(("get_", "list_", "search_", "find_")) for name in (c.name for c in e.turns[0].calls))
    )
    result = asyncio.run(distill(reading, registry, AnswersWithoutCalling()))
    assert result.row is None and result.reason == "hinted_call_missing"
    assert all(reason.startswith("hinted_call_missing") for reason in result.reasons)


def test_a_refused_request_stops_the_stage_instead_of_rejecting_the_episode(setup):
    """vLLM without a tool parser refuses every rollout: rejecting episodes one by one would end in an empty SFT
    set, so the refusal propagates (and the stage runner lets it stop the run)."""
    from magnet.errors import EndpointRefused
    from magnet.llm.client import OpenAITeacher
    from magnet.testing.loopback import LoopbackServer

    registry, episodes = setup
    with LoopbackServer(tool_parser=False) as server:
        teacher = OpenAITeacher("vllm", base_url=server.base_url, tool_calls="native")
        with pytest.raises(EndpointRefused, match="--enable-auto-tool-choice"):
            asyncio.run(distill(episodes[0], registry, teacher))


def test_an_empty_final_answer_is_rejected_not_written(setup):
    registry, episodes = setup

    class SaysNothing:
        name = "mute"

        async def complete(self, messages, tools=None, *, step="default", **params):
            return Completion(text="")

    irrelevant = next(e for e in episodes if all(not t.calls for t in e.turns))
    result = asyncio.run(distill(irrelevant, registry, SaysNothing()))
    assert result.row is None and any(r.startswith(("empty_answer", "split_turn_silent")) for r in result.reasons)


def test_the_filter_wants_every_hinted_call_with_its_arguments_in_any_order(setup):
    """A read-only call made with another value leaves the state as the reference's: the filter still rejects the
    trajectory, naming the call. The same calls in another order pass; so does a repeated default."""
    registry, episodes = setup
    episode = next(e for e in episodes if e.kind == "multi_turn" and any(len(t.calls) >= 2 for t in e.turns))
    result = asyncio.run(distill(episode, registry, OfflineTeacher()))
    assert result.row is not None
    index = next(i for i, t in enumerate(result.rollout.turns) if len(t.calls) >= 2)
    turn = result.rollout.turns[index]
    expected = reference_state(episode, registry)

    def with_calls(calls):
        turns = list(result.rollout.turns)
        turns[index] = dataclasses.replace(turn, calls=tuple(calls))
        return dataclasses.replace(result.rollout, turns=tuple(turns))

    assert problems(episode, with_calls(reversed(turn.calls)), expected) == []
    first = turn.calls[0]
    changed = FunctionCall(first.name, {**first.arguments, "unexpected": "other value"})
    found = problems(episode, with_calls([changed, *turn.calls[1:]]), expected)
    assert found == [f"hinted_call_missing: turn {index} never called {first.to_text()}"]


def test_a_turn_of_many_calls_is_not_cut_short_by_max_steps(setup):
    """``max_steps`` counts responses beyond one per reference call: a turn of more calls than ``max_steps``,
    made one per response, still finishes."""
    registry, episodes = setup
    episode = next(e for e in episodes if e.kind == "multi_turn" and any(len(t.calls) >= 2 for t in e.turns))
    result = asyncio.run(distill(episode, registry, OneCallPerResponse(), max_steps=1))
    assert result.row is not None, result.reasons


class OneCallPerResponse(OfflineTeacher):
    """The offline assistant, answering at most one call per response (as models told so used to)."""

    async def complete(self, messages, tools=None, **params):
        completion = await super().complete(messages, tools, **params)
        if len(completion.tool_calls) > 1:
            return dataclasses.replace(completion, tool_calls=completion.tool_calls[:1])
        return completion


def test_without_positive_hints_the_teacher_sees_the_queries_alone(setup):
    """The ablation 'SFT without positive-hint distillation': no [Hint] and no hint instructions reach the teacher;
    the same filters keep what reproduces the reference."""
    registry, episodes = setup
    seen = []

    class Recording(OfflineTeacher):
        async def complete(self, messages, tools=None, **params):
            seen.extend(str(m.get("content") or "") for m in messages)
            return await super().complete(messages, tools, **params)

    episode = next(e for e in episodes if e.kind == "multi_turn")
    result = asyncio.run(distill(episode, registry, Recording(), hints=False))
    assert seen and not any("[Hint]" in text for text in seen)
    assert plain_system_prompt() in seen and hint_system_prompt() not in seen
    assert result.row is not None, result.reasons  # the offline teacher reads the queries as a model would


def test_sampled_negatives_are_the_students_own_unjudged_samples(setup):
    """The ablation 'mDPO without negative-hint distillation': the first hint-free student sample that differs
    from the positive is the rejected side, no judge and no misleading hint involved."""
    from magnet.synthesis.negatives import sampled_negative

    registry, episodes = setup
    episode = next(e for e in episodes if e.kind == "multi_turn")
    positive = asyncio.run(distill(episode, registry, OfflineTeacher()))

    asked = []

    class Terse(OfflineTeacher):
        """A student that answers every turn with the same short text."""

        async def complete(self, messages, tools=None, **params):
            asked.append((params.get("step"), str(messages[0].get("content") or "")))
            completion = await super().complete(messages, tools, **params)
            return completion if completion.tool_calls else dataclasses.replace(completion, text="Done, as asked.")

    pair = asyncio.run(sampled_negative(episode, positive.rollout, positive.row, registry, Terse(), samples=3))
    assert pair is not None and pair.meta["source"] == "sampled" and pair.meta["sample"] == 0
    assert pair.meta["error_types"] == [] and any(m.content == "Done, as asked." for m in pair.rejected)
    assert {step for step, _ in asked} == {"student_sample"}  # no judge, no second rollout with hints
    assert not any("[Hint]" in text for _, text in asked)
    assert validate_preference_row(pair.to_dict()) == []


def test_recovery_rows_show_a_wrong_call_its_output_then_the_right_calls(setup):
    """Beyond the paper (its limitation 3): the assistant makes a wrong call, reads its real output, then makes the
    reference calls. The correction the teacher got is in no stored message; the state is the reference's."""
    from magnet.synthesis.distill import CORRECTION_NOTE
    from magnet.synthesis.recovery import recovery_row
    from magnet.tools.call_matching import unmatched_calls

    registry, episodes = setup
    seen = []

    class Recording(OfflineTeacher):
        async def complete(self, messages, tools=None, **params):
            seen.extend(str(m.get("content") or "") for m in messages)
            return await super().complete(messages, tools, **params)

    rows = []
    for episode in episodes:
        positive = asyncio.run(distill(episode, registry, OfflineTeacher()))
        row = asyncio.run(recovery_row(episode, positive.rollout, registry, Recording()))
        if row is not None:
            rows.append((episode, row))
    assert len(rows) >= 5
    assert any(text.startswith(CORRECTION_NOTE) for text in seen)
    for episode, row in rows:
        data = row.to_dict()
        assert validate_sft_row(data) == [] and data["meta"]["kind"] == "recovery" and row.id.endswith("-rec")
        assert not any(
            CORRECTION_NOTE in (m["content"] or "") or "[Hint]" in (m["content"] or "") for m in data["messages"]
        )
        turn = data["meta"]["recovery_turn"]
        users = [i for i, m in enumerate(data["messages"]) if m["role"] == "user"]
        end = users[turn + 1] if turn + 1 < len(users) else len(data["messages"])
        responses = [
            [FunctionCall(c["function"]["name"], c["function"]["arguments"]) for c in m["tool_calls"]]
            for m in data["messages"][users[turn] : end]
            if m["role"] == "assistant" and m["tool_calls"]
        ]
        made = [call for calls in responses for call in calls]
        reference = episode.turns[turn].calls
        assert not unmatched_calls(reference, made)  # every reference call, in the end
        detour = next(i for i, calls in enumerate(responses) if unmatched_calls(calls, reference))
        after = [call for calls in responses[detour + 1 :] for call in calls]
        assert after and not unmatched_calls(after, reference)  # after the wrong call: only right ones
