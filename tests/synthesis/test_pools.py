"""Pools end to end: plain OpenAI tools files run through the simulator, irrelevance rows never offer the function
their query asks for, and ``magnet translate`` executes a pool's own toolkit classes as ``magnet synth`` does."""

from __future__ import annotations

import asyncio
import json
import textwrap

import datasets

from magnet.cli import main
from magnet.data.schema import check_sft_rows
from magnet.synthesis.config import load_config
from magnet.synthesis.distill import distill
from magnet.synthesis.episode import Episode
from magnet.synthesis.graph import SchemaJudge, build_graph
from magnet.synthesis.offline import OfflineTeacher
from magnet.synthesis.paths import sample_single_turn
from magnet.synthesis.pipeline import read_records
from magnet.synthesis.synth import run_synth
from magnet.synthesis.translate import Rejection, Translator, registry_and_simulator, toolkit_of
from magnet.tools.builtin import BUILTIN_TOOLKITS
from magnet.tools.spec import load_openai_tools


def _tool(name: str, description: str, parameters: dict, **extra) -> dict:
    required = list(parameters)
    schema = {"type": "object", "properties": parameters, "required": required}
    return {"type": "function", "function": {"name": name, "description": description, "parameters": schema}, **extra}


STRING, NUMBER = {"type": "string"}, {"type": "number"}

# The plain OpenAI format: no toolkit, tool_class, category or response.
PLAIN_TOOLS = [
    _tool("get_weather", "Get the current weather for a city.", {"city": STRING}),
    _tool("convert_currency", "Convert money between currencies.", {"amount": NUMBER, "to_currency": STRING}),
    _tool("search_recipes", "Search cooking recipes by ingredient.", {"ingredient": STRING}),
    _tool("translate_text", "Translate a text into a language.", {"text": STRING, "language": STRING}),
]

# A spec-only pool whose functions have categories but no toolkit: several categories share no toolkit name.
CATEGORISED_TOOLS = [
    _tool("get_weather", "Get the current weather for a city.", {"city": STRING}, category="Weather"),
    _tool("get_forecast", "Forecast a city's weather.", {"city": STRING, "days": NUMBER}, category="Weather"),
    _tool("convert_currency", "Convert money.", {"amount": NUMBER, "to_currency": STRING}, category="Finance"),
    _tool("get_stock_price", "The latest price of a ticker.", {"symbol": STRING}, category="Finance"),
    _tool("search_recipes", "Search recipes by ingredient.", {"ingredient": STRING}, category="Food"),
    _tool("find_restaurant", "Find a restaurant in a city.", {"city": STRING}, category="Food"),
    _tool("translate_text", "Translate a text.", {"text": STRING, "language": STRING}, category="Translation"),
    _tool("detect_language", "Detect the language of a text.", {"text": STRING}, category="Translation"),
]


def _graph(specs):
    return asyncio.run(build_graph(specs, SchemaJudge(), teacher=OfflineTeacher(), progress=False))


def _translate(translator: Translator, paths) -> list[Episode | Rejection]:
    async def run():
        return await asyncio.gather(*(translator.translate(path) for path in paths))

    return asyncio.run(run())


def test_a_plain_openai_tools_file_is_simulated_not_rejected():
    graph = _graph(load_openai_tools(PLAIN_TOOLS))
    teacher = OfflineTeacher()
    registry, simulator = registry_and_simulator(graph, (), teacher)
    assert simulator is not None and set(simulator.specs) == {spec["function"]["name"] for spec in PLAIN_TOOLS}
    # The offline teacher labels each function from its name and description (what the labelling prompt shows),
    # so each gets its own simulated toolkit, and irrelevance rows can offer a toolkit of another category.
    labels = {spec.name: spec.category for spec in graph.specs}
    assert labels == {
        "get_weather": "Weather",
        "convert_currency": "Finance",
        "search_recipes": "Food",
        "translate_text": "Translation",
    }
    assert set(registry) == {toolkit_of(spec) for spec in graph.specs} == {f"{c}/{c} tool" for c in labels.values()}
    paths = sample_single_turn(graph, single=8, parallel=4, irrelevance=4, seed=3)
    results = _translate(Translator(graph, registry, teacher, simulator=simulator), paths)
    episodes = [result for result in results if isinstance(result, Episode)]
    assert [result for result in results if isinstance(result, Rejection)] == []
    assert [episode.kind for episode in episodes].count("single_turn") == 12
    assert all(
        call_output for e in episodes if e.kind == "single_turn" for turn in e.turns for call_output in turn.outputs
    )
    for episode in episodes:
        if episode.kind == "irrelevance":
            asked = graph.spec(episode.turns[0].functions[0]).category
            assert episode.toolkits[0].split("/")[0] != asked


def test_synth_on_a_plain_openai_tools_file_makes_episodes_positives_and_sft(tmp_path):
    tools = tmp_path / "tools.json"
    tools.write_text(json.dumps(PLAIN_TOOLS))
    out = tmp_path / "run"
    overrides = ["paths.single=12", "paths.parallel=4", "paths.multiple=0", "paths.irrelevance=4"]
    overrides.append("translate.shard_size=10")
    report = run_synth(load_config(None, [*overrides, f"pool={tools}", f"out={out}"]), progress=False)
    episodes = list(read_records(out / "episodes"))
    positives = list(read_records(out / "positives"))
    assert len(episodes) >= 12 and len(positives) >= 12, report
    sft = [row for split in datasets.load_from_disk(str(out / "datasets" / "sft")).values() for row in split]
    check_sft_rows(sft)
    assert {row["meta"]["source_toolkits"][0] for row in sft} <= {
        f"{c}/{c} tool" for c in ("Weather", "Finance", "Food", "Translation")
    }
    assert {row["meta"]["kind"] for row in sft} == {"single_turn", "irrelevance"}
    assert (out / "simulated.sqlite").exists()


def _irrelevance_rows(specs, registry, simulator, count: int):
    graph = _graph(specs)
    paths = sample_single_turn(graph, irrelevance=count, seed=11)
    teacher = OfflineTeacher()
    results = _translate(Translator(graph, registry(graph), teacher, simulator=simulator), paths)
    asked = {path.id: set(path.turns[0]) for path in paths}
    episodes = [result for result in results if isinstance(result, Episode)]

    async def run():
        return await asyncio.gather(*(distill(e, registry(graph), teacher, simulator=simulator) for e in episodes))

    rows = [(asked[e.path["id"]], d.row) for e, d in zip(episodes, asyncio.run(run()), strict=True) if d.row]
    return rows, len(paths)


def _offered(row) -> set[str]:
    added = [tool for tools in row.meta.missing.get("tools", {}).values() for tool in tools]
    return {tool["function"]["name"] for tool in [*row.tools, *added]}


def test_irrelevance_rows_of_the_builtin_pool_never_offer_the_asked_function():
    specs = [spec for klass in BUILTIN_TOOLKITS for spec in klass.specs()]
    executable = lambda graph: registry_and_simulator(graph, BUILTIN_TOOLKITS, OfflineTeacher())[0]  # noqa: E731
    rows, sampled = _irrelevance_rows(specs, executable, None, 150)
    assert len(rows) >= 0.9 * sampled
    for asked, row in rows:
        assert row.meta.kind == "irrelevance" and asked and not asked & _offered(row), (asked, row.meta)


def test_irrelevance_rows_of_a_spec_only_pool_never_offer_the_asked_function():
    specs = load_openai_tools(CATEGORISED_TOOLS)
    graph = _graph(specs)
    registry, simulator = registry_and_simulator(graph, (), OfflineTeacher())
    rows, sampled = _irrelevance_rows(specs, lambda _: registry, simulator, 60)
    assert len(rows) >= 0.9 * sampled
    for asked, row in rows:
        assert row.meta.kind == "irrelevance" and asked and not asked & _offered(row), (asked, row.meta)
        assert row.tools  # the functions of another category are offered


TRIP_MODULE = '''
"""A user's own toolkit, importable as package.module:Class."""

from typing import Any, TypedDict

from magnet.tools.toolkit import Toolkit, error


class Booking(TypedDict):
    """A trip booking.

    Attributes:
        booking_id: The booking.
        city: Where the trip goes.
        note: Who wrote the record.
    """

    booking_id: str
    city: str
    note: str


class TripDesk(Toolkit):
    """Trips booked and looked up."""

    category = "Travel"
    tool_class = "Trip booking tool"
    description = "Book trips and read bookings."

    @classmethod
    def default_state(cls) -> dict[str, Any]:
        return {"bookings": {}}

    def book_trip(self, city: str, nights: int) -> Booking:
        """Book a trip to a city.

        Args:
            city: The destination city.
            nights: How many nights to stay.
        """
        booking_id = f"trip-{len(self.data['bookings']) + 1}"
        self.data["bookings"][booking_id] = city
        return {"booking_id": booking_id, "city": city, "note": "written by TripDesk"}

    def get_booking(self, booking_id: str) -> Booking:
        """Read a booking.

        Args:
            booking_id: The booking to read.
        """
        if booking_id not in self.data["bookings"]:
            return error(f"no booking {booking_id!r}")
        return {"booking_id": booking_id, "city": self.data["bookings"][booking_id], "note": "written by TripDesk"}
'''


NO_OTHER_SINGLE_TURN = ["--parallel", "0", "--multiple", "0", "--irrelevance", "0"]
"""Only the single-turn paths a test asks for (the others default to the paper's mixture)."""


def test_cli_translate_executes_a_package_toolkit_not_the_simulator(tmp_path, monkeypatch, capsys):
    (tmp_path / "magnet_test_trips.py").write_text(textwrap.dedent(TRIP_MODULE))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    pool = "magnet_test_trips:TripDesk"
    assert main(["graph", "build", "--pool", pool, "--out", "graph.json"]) == 0
    assert (
        main(
            ["paths", "sample", "--graph", "graph.json", "--out", "paths.jsonl", "--single", "4", *NO_OTHER_SINGLE_TURN]
        )
        == 0
    )
    common = ["translate", "--graph", "graph.json", "--paths", "paths.jsonl", "--simulation-store", "sim.sqlite"]

    def outputs(folder: str) -> list[dict]:
        records = [Episode.from_dict(record) for record in read_records(tmp_path / folder)]
        assert records and all(episode.toolkits == ("TripDesk",) for episode in records)
        return [json.loads(out) for episode in records for turn in episode.turns for out in turn.outputs]

    capsys.readouterr()
    assert main([*common, "--pool", pool, "--out", "real"]) == 0
    assert "simulates" not in capsys.readouterr().out
    assert all(output.get("note") == "written by TripDesk" for output in outputs("real"))
    assert not (tmp_path / "sim.sqlite").exists()  # nothing was simulated

    # Without --pool the pool magnet synth records beside its graph is the default.
    (tmp_path / "graph.json.settings.json").write_text(json.dumps({"pool": pool}))
    assert main([*common, "--out", "recorded"]) == 0
    assert outputs("recorded") == outputs("real")

    # A pool without the class: its functions are simulated, and the command says so.
    assert main([*common, "--pool", "builtin", "--out", "simulated"]) == 0
    assert "['TripDesk'] have no executable class in pool 'builtin'" in capsys.readouterr().out
    assert not any(output.get("note") == "written by TripDesk" for output in outputs("simulated"))
