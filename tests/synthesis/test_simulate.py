"""Simulated execution: spec-only functions run through a teacher, consistently, and never re-asked."""

from __future__ import annotations

import asyncio
import json

import pytest

from magnet.errors import SpecError
from magnet.llm.cache import RequestCache
from magnet.llm.client import Completion
from magnet.synthesis.offline import OfflineTeacher
from magnet.synthesis.simulate import Simulator
from magnet.tools.calls import FunctionCall
from magnet.tools.executor import Environment
from magnet.tools.spec import load_openai_tools, load_stabletoolbench

QUOTE = {
    "type": "function",
    "function": {
        "name": "get_quote",
        "description": "Quote a stock-free insurance premium.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "value": {"type": "number"}},
            "required": ["city", "value"],
        },
    },
    "response": {
        "type": "object",
        "properties": {"quote_id": {"type": "string"}, "city": {"type": "string"}, "premium": {"type": "number"}},
        "required": ["quote_id", "city", "premium"],
    },
}


class CountingTeacher(OfflineTeacher):
    """The offline backend, counting requests, answering badly the first ``bad`` times."""

    def __init__(self, bad: int = 0):
        super().__init__()
        self.requests = 0
        self.bad = bad

    async def complete(self, messages, tools=None, *, step="default", **params):
        self.requests += 1
        if self.bad:
            self.bad -= 1
            return Completion(text='{"quote_id": 7}')
        return await super().complete(messages, tools, step=step, **params)


def test_simulated_calls_execute_in_an_environment_and_repeat_exactly(tmp_path):
    specs = load_openai_tools([QUOTE])
    teacher = CountingTeacher()
    simulator = Simulator(teacher, specs, store=RequestCache(tmp_path / "sim.sqlite"))
    env = Environment.from_state([simulator.toolkit_class("Insurance")])
    calls = [
        FunctionCall("get_quote", {"city": "Lisbon", "value": 300000.0}),
        FunctionCall("get_quote", {"city": "Porto", "value": 1.0}),
    ]
    asyncio.run(simulator.prepare(calls + calls))
    assert teacher.requests == 2  # one request per distinct call
    first = env.execute(calls)
    assert all(result.ok for result in first)
    assert first[0].output["city"] == "Lisbon"  # arguments echoed into same-named fields
    assert set(first[0].output) == {"quote_id", "city", "premium"}
    assert env.execute(calls)[0].output == first[0].output

    again = CountingTeacher()
    fresh = Simulator(again, specs, store=RequestCache(tmp_path / "sim.sqlite"))
    asyncio.run(fresh.prepare(calls))
    assert again.requests == 0 and fresh.output(calls[0]) == first[0].output


def test_answers_that_break_the_schema_are_retried_then_become_error_results():
    specs = load_openai_tools([QUOTE])
    call = FunctionCall("get_quote", {"city": "Lisbon", "value": 1.0})
    recovered = Simulator(CountingTeacher(bad=1), specs)
    asyncio.run(recovered.prepare([call]))
    assert "quote_id" in recovered.output(call)
    failed = Simulator(CountingTeacher(bad=5), specs, max_attempts=2)
    asyncio.run(failed.prepare([call]))
    result = Environment([failed.toolkit_class()()]).execute_one(call)
    assert not result.ok and "simulation of get_quote failed" in result.error
    assert "output.quote_id: expected string" in result.error


def test_unprepared_calls_are_error_results_not_crashes():
    simulator = Simulator(OfflineTeacher(), load_openai_tools([QUOTE]))
    result = Environment([simulator.toolkit_class()()]).execute_one(
        FunctionCall("get_quote", {"city": "x", "value": 2.0})
    )
    assert "was not simulated" in result.error


def _write_tool(folder, category, name, body):
    path = folder / category / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(body))


def test_stabletoolbench_folders_load_as_specs(tmp_path):
    _write_tool(
        tmp_path,
        "Weather",
        "open_weather",
        {
            "tool_name": "Open Weather",
            "tool_description": "Weather data.",
            "api_list": [
                {
                    "name": "Current Weather",
                    "description": "Weather now.",
                    "method": "GET",
                    "required_parameters": [{"name": "q", "type": "STRING", "description": "City"}],
                    "optional_parameters": [
                        {"name": "units", "type": "STRING", "description": "", "default": "metric"}
                    ],
                }
            ],
        },
    )
    [spec] = load_stabletoolbench(tmp_path)
    assert spec.name == "current_weather_for_open_weather"
    assert spec.category == "Weather" and spec.tool_class == "Open Weather"
    assert spec.required == ("q",) and spec.properties["units"]["default"] == "metric"


def test_bad_stabletoolbench_files_are_all_reported(tmp_path):
    _write_tool(tmp_path, "Data", "a", {"tool_name": "A"})
    (tmp_path / "Data" / "b.json").write_text("{oops")
    _write_tool(tmp_path, "Data", "c", {"tool_name": "C", "api_list": [{"description": "no name"}]})
    with pytest.raises(SpecError) as caught:
        load_stabletoolbench(tmp_path)
    text = str(caught.value)
    assert "a.json: expected an object with an 'api_list' list" in text
    assert "b.json: not valid JSON" in text
    assert "c.json: api_list[0]: expected an object with a 'name'" in text


def test_a_stabletoolbench_response_schema_is_read_from_the_format_s_schema_field(tmp_path):
    listing = {"type": "object", "properties": {"city_id": {"type": "string"}}}
    apis = [
        {"name": "as object", "schema": listing},
        {"name": "as json text", "schema": json.dumps(listing)},
        {"name": "empty", "schema": ""},
        {"name": "empty object", "schema": {}},
        {"name": "a sample body", "schema": "{not json"},
        {"name": "a geojson body", "schema": {"type": "FeatureCollection", "features": []}},
        {"name": "unsound", "schema": {"type": "object", "properties": {"a": "string"}}},
        {"name": "magnet's own field", "response_schema": listing, "schema": ""},
    ]
    _write_tool(tmp_path, "Travel", "cities", {"tool_name": "cities", "api_list": apis})
    responses = {spec.name: spec.response for spec in load_stabletoolbench(tmp_path)}
    assert responses == {
        "as_object_for_cities": listing,
        "as_json_text_for_cities": listing,
        "empty_for_cities": None,
        "empty_object_for_cities": None,
        "a_sample_body_for_cities": None,
        "a_geojson_body_for_cities": None,  # a body whose "type" is no JSON type is no schema: loading goes on
        "unsound_for_cities": None,
        "magnet_s_own_field_for_cities": listing,
    }
