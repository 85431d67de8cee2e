"""The function graph: candidates, the schema and LLM judges, save/load, stats and pictures."""

from __future__ import annotations

import asyncio
import json
import logging
import re

import pytest

from magnet.errors import MagnetError, TeacherError
from magnet.llm.cache import RequestCache
from magnet.llm.client import Completion, OpenAITeacher
from magnet.synthesis.graph import (
    FALLBACK_CATEGORY,
    UNLABELLED_CLASS,
    FunctionGraph,
    GraphConfig,
    LLMJudge,
    SchemaJudge,
    build_graph,
    label_missing,
    sample_candidates,
)
from magnet.synthesis.offline import OfflineTeacher
from magnet.synthesis.steps import CATEGORIES
from magnet.testing.loopback import LoopbackServer, Reply
from magnet.tools.builtin import BUILTIN_TOOLKITS
from magnet.tools.spec import FunctionSpec

SPECS = [spec for klass in BUILTIN_TOOLKITS for spec in klass.specs()]


@pytest.fixture(scope="module")
def builtin_graph() -> FunctionGraph:
    return asyncio.run(build_graph(SPECS, SchemaJudge(), progress=False))


def test_candidates_share_category_and_class_or_fall_back_to_category():
    specs = [FunctionSpec(f"a{i}", "", category="Food", tool_class="Recipe tool") for i in range(8)]
    specs += [FunctionSpec("lonely", "", category="Food", tool_class="Rare tool")]
    candidates = sample_candidates(specs, GraphConfig(candidates=5, min_class_size=3))
    assert len(candidates["a0"]) == 5 and "a0" not in candidates["a0"] and "lonely" not in candidates["a0"]
    assert len(candidates["lonely"]) == 5 and all(name.startswith("a") for name in candidates["lonely"])
    assert candidates == sample_candidates(specs, GraphConfig(candidates=5, min_class_size=3))


def test_schema_judge_finds_real_chains_with_reasons(builtin_graph):
    edge = builtin_graph.edge("create_event", "set_reminder")
    assert edge.judge == "schema" and edge.score == 1.0 and edge.nested
    assert "create_event returns event_id (string), set_reminder takes required event_id" in edge.reason
    assert "search_contacts" not in builtin_graph.successors("create_event")
    stats = builtin_graph.stats()
    assert stats.nodes == len(SPECS) and stats.with_out_edge >= 0.9 * stats.nodes
    assert sum(count for degree, count in stats.out_degree.items()) == stats.nodes


def test_generic_names_need_agreeing_descriptions():
    task = FunctionSpec(
        "create_task",
        "",
        {
            "type": "object",
            "properties": {"title": {"type": "string", "description": "Title of the task."}},
            "required": ["title"],
        },
        response={"type": "object", "properties": {"title": {"type": "string", "description": "Task title."}}},
    )
    job = FunctionSpec(
        "update_title",
        "",
        {
            "type": "object",
            "properties": {
                "title": {"type": "string", "description": "New job title of the employee, e.g. 'Engineer'."}
            },
            "required": ["title"],
        },
    )
    note = FunctionSpec(
        "create_note",
        "",
        {
            "type": "object",
            "properties": {"title": {"type": "string", "description": "Title of the note for the task."}},
            "required": ["title"],
        },
    )
    edges = asyncio.run(SchemaJudge().related(task, [job, note]))
    assert [edge.target for edge in edges] == ["create_note"]


def test_graph_saves_and_loads_exactly(builtin_graph, tmp_path):
    path = tmp_path / "graph.json"
    builtin_graph.save(path)
    loaded = FunctionGraph.load(path)
    assert loaded.edges() == builtin_graph.edges() and loaded.specs == builtin_graph.specs
    assert loaded.stats() == builtin_graph.stats()


def test_bad_graph_files_are_named(tmp_path):
    path = tmp_path / "graph.json"
    path.write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(MagnetError, match="not a Magnet function graph"):
        FunctionGraph.load(path)
    path.write_text("{")
    with pytest.raises(MagnetError, match=r"graph\.json: cannot read the function graph"):
        FunctionGraph.load(path)


def test_pictures_are_pngs(builtin_graph, tmp_path):
    whole = builtin_graph.draw(tmp_path / "graph.png")
    focus = builtin_graph.draw(tmp_path / "focus.png", focus="place_order")
    for picture in (whole, focus):
        assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(MagnetError, match="'nope' is not in the graph"):
        builtin_graph.draw(tmp_path / "x.png", focus="nope")


def test_llm_judge_through_the_offline_backend_matches_the_schema_relation():
    subset = [spec for spec in SPECS if spec.toolkit == "Calendar"]
    graph = asyncio.run(build_graph(subset, LLMJudge(OfflineTeacher()), progress=False))
    assert "set_reminder" in graph.successors("create_event")
    assert graph.edge("create_event", "set_reminder").nested


def test_llm_judge_through_an_endpoint_is_cached(tmp_path):
    subset = [spec for spec in SPECS if spec.toolkit == "Calendar"]

    def answer(request):
        prompt = request["messages"][-1]["content"]
        if "Target function:" in prompt:
            target = json.loads(prompt.split("Target function:\n", 1)[1].split("\n", 1)[0])["name"]
            return Reply(content=json.dumps({target: ["set_reminder"] if target == "create_event" else []}))
        return Reply(content="yes\nthe event id comes from the new event")

    with LoopbackServer(answer) as server:

        def teacher():
            return OpenAITeacher("judge", base_url=server.base_url, cache=RequestCache(tmp_path / "cache.sqlite"))

        graph = asyncio.run(build_graph(subset, LLMJudge(teacher()), progress=False))
        sent = server.requests
        again = asyncio.run(build_graph(subset, LLMJudge(teacher()), progress=False))
        assert server.requests == sent  # every judgement came from the cache
    assert [(e.source, e.target) for e in graph.edges()] == [("create_event", "set_reminder")]
    edge = graph.edge("create_event", "set_reminder")
    assert edge.judge == "llm:openai:judge" and edge.nested and "comes from the new event" in edge.nested_reason
    assert again.edges() == graph.edges()


def test_unlabelled_functions_are_labelled_first_or_refused():
    bare = [
        FunctionSpec(spec.name, spec.description, spec.parameters, spec.response, toolkit=spec.toolkit)
        for spec in SPECS
        if spec.toolkit == "WeatherPlaces"
    ]
    with pytest.raises(MagnetError, match="have no category/tool class"):
        asyncio.run(build_graph(bare, SchemaJudge(), progress=False))
    graph = asyncio.run(build_graph(bare, SchemaJudge(), teacher=OfflineTeacher(), progress=False))
    # The offline teacher reads the labelling prompt (name, description), not the toolkit's metadata.
    labels = {spec.name: (spec.category, spec.tool_class) for spec in graph.specs}
    assert labels["get_forecast"] == ("Weather", "Weather tool")
    assert labels["get_distance"][0] == "Mapping" and labels["find_places_nearby"][0] == "Location"
    assert all(category in CATEGORIES or category == "misc" for category, _ in labels.values())


CALENDAR = {spec.name for spec in SPECS if spec.toolkit == "Calendar"}


class Stubborn:
    """A teacher that labels the Calendar functions and answers anything else with garbage (or fails outright)."""

    name = "stubborn"

    def __init__(self, fail: bool = False):
        self.fail = fail
        self.asked: list[str] = []

    async def complete(self, messages, tools=None, *, step="default", **params):
        name = re.search(r"^Function: (\S+)$", messages[1]["content"], re.MULTILINE).group(1)  # what the prompt says
        self.asked.append(name)
        if name in CALENDAR:
            return Completion(text="Category: Events\nTool class: Calendar tool")
        if self.fail:
            raise TeacherError("the endpoint timed out", cause="timeout")
        return Completion(text='{"category": ["¯\\_(ツ)_/¯"]}')


@pytest.mark.parametrize("fail", [False, True], ids=["garbage", "teacher-error"])
def test_functions_the_teacher_cannot_label_get_fallback_labels(fail, caplog):
    bare = [
        FunctionSpec(spec.name, spec.description, spec.parameters, spec.response, toolkit=spec.toolkit)
        for spec in SPECS
        if spec.toolkit in ("Calendar", "WeatherPlaces")
    ]
    half = FunctionSpec("half_labelled", "", category="Weather", toolkit="WeatherPlaces")
    done = FunctionSpec("already_labelled", "", category="Food", tool_class="Recipe tool")
    teacher = Stubborn(fail)
    with caplog.at_level(logging.WARNING, logger="magnet.synthesis.graph"):
        labelled = asyncio.run(label_missing([*bare, half, done], teacher))
    labels = {spec.name: (spec.category, spec.tool_class) for spec in labelled}
    weather = sorted(spec.name for spec in bare if spec.toolkit == "WeatherPlaces")
    assert [spec.name for spec in labelled] == [spec.name for spec in [*bare, half, done]]
    assert all(labels[spec.name] == ("Events", "Calendar tool") for spec in bare if spec.toolkit == "Calendar")
    assert all(labels[name] == (FALLBACK_CATEGORY, UNLABELLED_CLASS) for name in weather)
    assert labels["half_labelled"] == ("Weather", UNLABELLED_CLASS)  # what it had is kept
    assert labels["already_labelled"] == ("Food", "Recipe tool") and "already_labelled" not in teacher.asked
    if not fail:  # garbage is shown back and retried before giving up; a teacher error is not retried here
        assert teacher.asked.count(weather[0]) == 3
    warned = [record.getMessage() for record in caplog.records]
    assert all(any(repr(name) in message for message in warned) for name in [*weather, "half_labelled"])
    assert f"{len(weather) + 1} of {len(bare) + 2} functions could not be labelled" in warned[-1]

    graph = asyncio.run(build_graph([*bare, half, done], SchemaJudge(), teacher=Stubborn(fail), progress=False))
    assert graph.stats().unlabelled == sorted([*weather, "half_labelled"])
    assert "set_reminder" in graph.successors("create_event")  # the labelled part is judged as usual
