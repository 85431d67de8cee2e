"""Back-and-forth translation: paths become executable, replayable episodes; bad answers are retried or the
path rejected with a reason; Split turns look like BFCL's; a real HTTP teacher drives the same code path."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import random
import re
from collections import Counter

import pytest

from magnet.llm.cache import RequestCache
from magnet.llm.client import OpenAITeacher
from magnet.synthesis.episode import FUNCTIONS_ADDED_QUERY, Episode, read_episodes, replay
from magnet.synthesis.graph import FunctionGraph, SchemaJudge, build_graph
from magnet.synthesis.offline import OfflineTeacher
from magnet.synthesis.operations import reshape
from magnet.synthesis.paths import SignaturePath, sample_paths, sample_single_turn
from magnet.synthesis.translate import Rejection, TranslateConfig, Translator, build_registry
from magnet.testing.loopback import LoopbackServer, Reply
from magnet.tools.builtin import BUILTIN_TOOLKITS
from magnet.tools.toolkit import Toolkit, error

SPECS = [spec for klass in BUILTIN_TOOLKITS for spec in klass.specs()]


@pytest.fixture(scope="module")
def graph():
    return asyncio.run(build_graph(SPECS, SchemaJudge(), progress=False))


@pytest.fixture(scope="module")
def registry(graph):
    return build_registry(graph)


def _translate(translator, paths):
    async def run():
        return await asyncio.gather(*(translator.translate(path) for path in paths))

    return asyncio.run(run())


@pytest.fixture(scope="module")
def offline_results(graph, registry):
    walks = sample_paths(graph, seed=4, walks_per_function=2)
    rng = random.Random(4)
    paths = [path for walk in walks for path in reshape(walk, graph, rng)]
    paths += sample_single_turn(graph, single=20, parallel=20, multiple=20, irrelevance=20, seed=4)
    return paths, _translate(Translator(graph, registry, OfflineTeacher()), paths)


def test_accepted_episodes_replay_exactly_and_rejections_have_reasons(offline_results, registry):
    paths, results = offline_results
    episodes = [r for r in results if isinstance(r, Episode)]
    rejections = [r for r in results if isinstance(r, Rejection)]
    assert len(episodes) >= 0.3 * len(paths)
    for episode in episodes:
        assert replay(episode, registry) == []
        assert episode.teacher == "offline"
    assert all(r.reason and r.detail for r in rejections)
    kinds = Counter(e.kind for e in episodes)
    assert kinds["multi_turn"] and kinds["single_turn"] and kinds["irrelevance"] == 20


def test_translation_is_deterministic(graph, registry, offline_results):
    paths, results = offline_results
    again = _translate(Translator(graph, registry, OfflineTeacher()), paths[:40])
    assert [r.to_dict() for r in again] == [r.to_dict() for r in results[:40]]


def test_episodes_round_trip_through_json(offline_results):
    episodes = [r for r in offline_results[1] if isinstance(r, Episode)]
    lines = [json.dumps(e.to_dict()) for e in episodes]
    assert read_episodes(lines) == episodes


def test_later_turns_use_earlier_outputs(offline_results):
    episodes = [r for r in offline_results[1] if isinstance(r, Episode) and r.kind == "multi_turn"]
    chained = 0
    for episode in episodes:
        for earlier, later in zip(episode.turns, episode.turns[1:], strict=False):
            values = {json.dumps(v) for c in later.calls for v in c.arguments.values() if isinstance(v, str)}
            if any(value in output for output in earlier.outputs for value in values):
                chained += 1
    assert chained >= len(episodes)


def test_split_turns_look_like_bfcl(offline_results, graph):
    episodes = [r for r in offline_results[1] if isinstance(r, Episode)]
    miss_func = [e for e in episodes if any(t.label == "miss_func" for t in e.turns)]
    miss_param = [e for e in episodes if any(t.label == "miss_param" for t in e.turns)]
    assert miss_func and miss_param
    for episode in miss_func:
        [(added_at, names)] = episode.missing_functions.items()
        asking = episode.turns[int(added_at) - 1]
        follow_up = episode.turns[int(added_at)]
        assert asking.label == "miss_func" and not asking.calls and set(asking.missing) == set(names)
        assert follow_up.query == FUNCTIONS_ADDED_QUERY and {c.name for c in follow_up.calls} >= set(names)
        earlier = {c.name for t in episode.turns[: int(added_at)] for c in t.calls}
        assert not earlier & set(names)  # absent from the tools until added
    for episode in miss_param:
        index = next(i for i, t in enumerate(episode.turns) if t.label == "miss_param")
        asking, supplying = episode.turns[index], episode.turns[index + 1]
        [parameter] = asking.missing
        assert not asking.calls and supplying.calls
        value = next(c.arguments[parameter] for c in supplying.calls if parameter in c.arguments)
        stated = f"{parameter.replace('_', ' ')} {json.dumps(value)}"
        assert stated not in asking.query and stated in supplying.query


def test_single_turn_variants_and_irrelevance(offline_results, graph):
    episodes = [r for r in offline_results[1] if isinstance(r, Episode)]
    parallel = [e for e in episodes if e.variant == "parallel"]
    assert parallel and all(
        len(e.turns[0].calls) >= 2 and len({c.name for c in e.turns[0].calls}) == 1 for e in parallel
    )
    multiple = [e for e in episodes if e.variant == "multiple"]
    assert multiple and all(len({c.name for c in e.turns[0].calls}) == 2 for e in multiple)
    for episode in (e for e in episodes if e.kind == "irrelevance"):
        [turn] = episode.turns
        asked = {graph.spec(name).toolkit for name in turn.functions}
        assert not turn.calls and not asked & set(episode.toolkits)


class ClosedBank(Toolkit):
    """A toolkit whose only function always fails (the bank is closed)."""

    category, tool_class = "Finance", "Banking tool"

    def withdraw(self, account_id: str) -> dict:
        """Take money out.

        Args:
            account_id: The account.
        """
        return error(f"the bank is closed; {account_id} cannot be used today")


def test_a_path_whose_calls_always_fail_is_rejected_with_the_reason():
    graph = FunctionGraph.from_edges(ClosedBank.specs(), [])
    translator = Translator(
        graph, {"ClosedBank": ClosedBank}, OfflineTeacher(), TranslateConfig(max_attempts=2, turn_attempts=2)
    )
    [result] = _translate(translator, [SignaturePath((("withdraw",),))])
    assert isinstance(result, Rejection) and result.reason == "forth_translate:no_usable_answer"
    assert "failed when executed: the bank is closed" in result.detail


def _model_like(request: dict) -> Reply:
    """A scripted model: writes a plain query, and calls whose values it copies from the prompt by parameter
    name (the last occurrence: the latest output), or invents. Every fifth answer is garbage."""
    prompt = request["messages"][1]["content"]
    turns = sum(1 for m in request["messages"] if m["role"] == "assistant")
    digest = sum(map(ord, prompt)) + turns
    if digest % 5 == 0:
        return Reply(content="Sorry, I am not sure what you mean.")
    if "User message:" not in prompt:
        return Reply(content="Could you take care of the next step for me, please?")
    candidates = prompt.split("Candidate functions:\n", 1)[1].split("\n\nUser message:", 1)[0].splitlines()
    calls = []
    for line in candidates:
        spec = json.loads(line)
        arguments = {}
        for name in spec["parameters"].get("required", []):
            found = re.findall(rf'"{name}": ("[^"]*"|-?\d+(?:\.\d+)?)', prompt)
            kind = spec["parameters"]["properties"][name].get("type")
            invented = "2026-03-05T10:00" if name == "start" else "2026-03-05" if "date" in name else "Team sync"
            arguments[name] = json.loads(found[-1]) if found else (invented if kind == "string" else 1)
        calls.append(f"{spec['name']}(" + ", ".join(f"{k}={v!r}" for k, v in arguments.items()) + ")")
    return Reply(content="Thought: straightforward.\nAnswer: " + ", ".join(calls))


def test_the_same_pipeline_runs_through_the_openai_client(graph, registry, tmp_path):
    paths = [
        SignaturePath((("create_event",), ("set_reminder",), ("get_event",))),
        SignaturePath((("list_events",), ("add_attendee",))),
        SignaturePath((("search_products",), ("check_inventory",))),
    ]
    with LoopbackServer(_model_like) as server:
        teacher = OpenAITeacher("scripted", base_url=server.base_url, cache=RequestCache(tmp_path / "c.sqlite"))
        results = _translate(Translator(graph, registry, teacher), paths)
        sent = server.requests
        again = _translate(
            Translator(
                graph,
                registry,
                OpenAITeacher("scripted", base_url=server.base_url, cache=RequestCache(tmp_path / "c.sqlite")),
            ),
            paths,
        )
        assert server.requests == sent  # a rerun is answered by the cache
        retried = [
            body
            for body in server.received
            if any("Your answer could not be used" in str(m.get("content")) for m in body["messages"])
        ]
        assert retried  # garbage answers were shown back to the model
    episodes = [r for r in results if isinstance(r, Episode)]
    assert episodes, [r.detail for r in results]
    assert [r.to_dict() for r in again] == [r.to_dict() for r in results]
    for episode in episodes:
        assert episode.teacher == "openai:scripted" and episode.request_keys
        assert replay(episode, registry) == []
    usage = teacher.usage.total()
    assert usage.requests == sent and usage.answered == sent
    first = next(e for e in episodes if e.turns[0].calls[0].name == "create_event")
    reminder = first.turns[1].calls[0]
    assert reminder.arguments["event_id"] in first.turns[0].outputs[0]  # the next turn used the output


class BrokenState(ClosedBank):
    """A toolkit whose seeded state has a key its default state lacks: loading it fails."""

    @classmethod
    def random_state(cls, rng):
        return {"vault": {}}


def test_a_toolkit_that_cannot_load_its_state_rejects_the_path_not_the_run():
    graph = FunctionGraph.from_edges(BrokenState.specs(), [])
    specs = [spec for spec in BrokenState.specs()]
    assert specs[0].toolkit == "BrokenState"
    [result] = _translate(
        Translator(graph, {"BrokenState": BrokenState}, OfflineTeacher()), [SignaturePath((("withdraw",),))]
    )
    assert isinstance(result, Rejection) and result.reason == "error:ToolkitError"
    assert "unknown state key(s) ['vault']" in result.detail


# -- Insert: nested values stay implicit ----------------------------------------------------------------------------

NESTED_SAME_TURN = SignaturePath((("create_event", "set_reminder"),), ("insert:create_event>set_reminder",))
NESTED_LATER = SignaturePath(
    (("create_event",), ("list_events",), ("set_reminder",)), ("insert_later:create_event>set_reminder@1",)
)


def test_a_nested_call_takes_its_value_from_the_output_and_the_query_never_states_it(graph, registry):
    """The paper's nested call: the user asks to create an event and be reminded of it; the id of the new event is
    in no query, and the reference's reminder takes it from create_event's output, a round later."""
    asked = []

    class Recording(OfflineTeacher):
        async def complete(self, messages, tools=None, **params):
            asked.append((params.get("step"), messages))
            return await super().complete(messages, tools, **params)

    for path in (NESTED_SAME_TURN, NESTED_LATER):
        asked.clear()
        episode = _translate(Translator(graph, registry, Recording()), [path])[0]
        assert isinstance(episode, Episode), episode
        created = json.loads(episode.turns[0].outputs[0])["event_id"]
        reminder = next(call for turn in episode.turns for call in turn.calls if call.name == "set_reminder")
        assert reminder.arguments["event_id"] == created
        assert not any(created in turn.query for turn in episode.turns)
        assert [n for turn in episode.turns for n in turn.nested] == ["create_event>set_reminder:implicit"]
        rules = [m[0]["content"] for step, m in asked if step == "back_translate" and "Do NOT state" in m[0]["content"]]
        assert rules and "event_id of set_reminder" in rules[-1]
        rounds = [m[1]["content"].split("[Outputs of this round]")[1] for step, m in asked if step == "forth_translate"]
        if path is NESTED_SAME_TURN:  # a second forth-translation round, shown create_event's output
            assert len(rounds) == 2 and created in rounds[1] and "(none)" in rounds[0]


def test_a_query_that_states_the_nested_value_is_retried_then_rejected(graph, registry):
    """A user simulator that ignores the rule and names the new event's id outright: the turn starts over, and the
    path is rejected as ``explicit_nested_value`` when every attempt does so."""
    from magnet.synthesis.offline_translation import ranked_values
    from magnet.synthesis.prompt_reading import read_translate

    class Explicit(OfflineTeacher):
        async def complete(self, messages, tools=None, **params):
            completion = await super().complete(messages, tools, **params)
            if params.get("step") != "back_translate" or "most recent event id" not in completion.text:
                return completion
            inputs = read_translate("back_translate", messages[0]["content"], messages[1]["content"], 0)
            outputs = [json.loads(o) for turn in reversed(inputs.history) for o in reversed(turn.outputs)]
            value = ranked_values(outputs, "event_id", {"type": "string"})[0]
            text = re.sub(r"the (\w+ )?most recent event id you found", f'event id "{value}"', completion.text)
            return dataclasses.replace(completion, text=text)

    result = _translate(Translator(graph, registry, Explicit()), [NESTED_LATER])[0]
    assert isinstance(result, Rejection) and result.reason == "explicit_nested_value", result
    assert "set_reminder's event_id=" in result.detail
