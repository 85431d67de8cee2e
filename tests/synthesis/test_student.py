"""The student speaks the format it was trained in: BFCL's prompt in, calls as text out, read by the evaluation's
decoder, so its wrong calls become the misleading hint and the rejected side of a pair."""

from __future__ import annotations

import ast
import asyncio
import json

import pytest

from magnet.data.render import BFCL_SYSTEM_PROMPT_WITHOUT_FUNC_DOC
from magnet.errors import MagnetError
from magnet.llm.client import OpenAITeacher
from magnet.synthesis.distill import distill
from magnet.synthesis.episode import Episode
from magnet.synthesis.graph import SchemaJudge, build_graph
from magnet.synthesis.negatives import student_negative
from magnet.synthesis.offline import OfflineTeacher
from magnet.synthesis.paths import sample_single_turn
from magnet.synthesis.student import FormattedStudent, student_tool_format
from magnet.synthesis.translate import Translator, build_registry
from magnet.testing.loopback import LoopbackServer, Reply
from magnet.tools.builtin import BUILTIN_TOOLKITS
from magnet.tools.calls import FunctionCall, format_calls

LISTED = "Here is a list of functions in JSON format that you can invoke.\n"
HINT_RULES = "After each user message you may find a [Hint]"


def bfcl_student(request) -> Reply:
    """A model trained in BFCL's prompting mode, reading only what such a model reads: the functions listed in
    the system prompt (BFCL lists them as a Python literal) and the conversation. It follows a [Hint] when it
    sees one; without one it calls the first listed function with made-up values (a wrong call); after a tool
    output it answers in text."""
    messages = request["messages"]
    assert "tools" not in request
    if messages[-1]["role"] == "tool":
        return Reply(content="Done.")
    last = messages[-1]["content"]
    if "[Hint]: " in last:
        return Reply(content=last.split("[Hint]: ", 1)[1].strip())
    system = messages[0]["content"]
    functions = ast.literal_eval(system.split(LISTED, 1)[1].strip())
    first = functions[0]
    made_up = {name: "unknown" for name in first["parameters"].get("required", [])}
    return Reply(content=format_calls([FunctionCall(first["name"], made_up)]))


@pytest.fixture(scope="module")
def single_turn():
    specs = [spec for klass in BUILTIN_TOOLKITS for spec in klass.specs()]
    graph = asyncio.run(build_graph(specs, SchemaJudge(), progress=False))
    registry = build_registry(graph)
    paths = sample_single_turn(graph, single=6, parallel=0, multiple=0, irrelevance=0, seed=4)

    async def run():
        translator = Translator(graph, registry, OfflineTeacher())
        episodes = [
            e for e in await asyncio.gather(*(translator.translate(p) for p in paths)) if isinstance(e, Episode)
        ]
        return episodes, await asyncio.gather(*(distill(e, registry, OfflineTeacher()) for e in episodes))

    episodes, positives = asyncio.run(run())
    return registry, [(e, p) for e, p in zip(episodes, positives, strict=True) if p.row is not None]


def test_a_bfcl_prompt_student_gives_pairs_whose_rejected_side_holds_its_own_calls(single_turn):
    registry, kept = single_turn
    with LoopbackServer(bfcl_student) as server:
        student = FormattedStudent(OpenAITeacher("student", base_url=server.base_url), "bfcl_prompt")

        async def run():
            try:
                return await asyncio.gather(
                    *(
                        student_negative(e, p.rollout, p.row, registry, student, OfflineTeacher(), samples=2)
                        for e, p in kept
                    )
                )
            finally:
                await student.aclose()

        pairs = asyncio.run(run())
        requests = server.received
    assert requests and all("tools" not in body for body in requests)
    systems = [body["messages"][0]["content"] for body in requests]
    assert all(system.startswith(BFCL_SYSTEM_PROMPT_WITHOUT_FUNC_DOC) for system in systems)
    hinted = [any("[Hint]" in m["content"] for m in body["messages"][1:]) for body in requests]
    sampled = [s for s, with_hint in zip(systems, hinted, strict=True) if not with_hint]
    assert sampled and not any(HINT_RULES in s for s in sampled)  # hint-free samples: no hint instructions
    assert all(HINT_RULES in s for s, with_hint in zip(systems, hinted, strict=True) if with_hint)
    made = [p for p in pairs if p is not None]
    assert len(made) == len(kept) > 0
    for pair, (episode, _) in zip(made, kept, strict=True):
        assert pair.meta["source"] == "student"
        rejected_calls = [
            FunctionCall(c["function"]["name"], c["function"]["arguments"])
            for m in pair.rejected
            if m.role == "assistant"
            for c in (tc.to_dict() for tc in m.tool_calls or ())
        ]
        assert rejected_calls and all(set(call.arguments.values()) <= {"unknown"} for call in rejected_calls)
        assert rejected_calls != list(episode.turns[0].calls)


def test_a_native_student_keeps_tools_and_drops_empty_system_messages():
    seen = []

    def respond(request):
        seen.append(request)
        return (
            Reply(tool_calls=[{"name": "get_weather", "arguments": {"city": "Paris"}}])
            if request.get("tools")
            else "OK"
        )

    tool = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}
    with LoopbackServer(respond) as server:
        student = FormattedStudent(OpenAITeacher("student", base_url=server.base_url, tool_calls="native"), "native")
        answer = asyncio.run(
            student.complete([{"role": "system", "content": ""}, {"role": "user", "content": "Paris?"}], [tool])
        )
    assert answer.tool_calls == (FunctionCall("get_weather", {"city": "Paris"}),)
    assert [m["role"] for m in seen[-1]["messages"]] == ["user"] and seen[-1]["tools"] == [tool]


def test_the_student_format_comes_from_magnet_json(tmp_path):
    assert student_tool_format(str(tmp_path)) == ("bfcl_prompt", "default (no magnet.json found for the student)")
    (tmp_path / "magnet.json").write_text(json.dumps({"tool_format": "native"}))
    assert student_tool_format(str(tmp_path)) == ("native", f"{tmp_path / 'magnet.json'}")
    assert student_tool_format(str(tmp_path), "bfcl_prompt")[0] == "bfcl_prompt"
    assert student_tool_format("a-served-name")[0] == "bfcl_prompt"
    with pytest.raises(MagnetError, match="student_tool_format"):
        student_tool_format(None, "json")
    (tmp_path / "magnet.json").write_text("{not json")
    with pytest.raises(MagnetError, match=r"magnet\.json: not a readable training record"):
        student_tool_format(str(tmp_path))


def test_a_student_that_answers_nothing_costs_pairs_not_the_run(tmp_path):
    """A real student (SmolLM2 after a few SFT steps) answered with empty text: the pair cannot be a dataset row
    (an assistant message needs content or calls), so it is rejected with its reason and the datasets are written."""
    from magnet.synthesis.config import load_config
    from magnet.synthesis.synth import run_synth

    with LoopbackServer([""]) as server:
        settings = [
            "paths.walks_per_function=1",
            "paths.limit=0",
            "paths.single=4",
            "paths.parallel=0",
            "paths.multiple=0",
            "paths.irrelevance=0",
            "negatives.source=student",
            "negatives.samples=1",
            "negatives.student.kind=openai",
            "negatives.student.model=student",
            f"negatives.student.base_url={server.base_url}",
            "datasets.sft_mixture=all",
            f"out={tmp_path}",
        ]
        report = run_synth(load_config(None, settings), progress=False)
    negatives = report["stages"]["negatives"]
    assert negatives["inputs"] == negatives["rejected"] > 0
    assert set(negatives["reasons"]) <= {"invalid_pair", "no_negative"} and "invalid_pair" in negatives["reasons"]
    assert report["sft"]["rows"] > 0 and (tmp_path / "datasets" / "sft").is_dir()
