"""Function specs: loaders read every supported form, and every bad spec of a file is reported at once."""

from __future__ import annotations

import json
from typing import Literal, TypedDict

import pytest

from magnet.errors import SpecError
from magnet.tools.spec import (
    FunctionSpec,
    load_bfcl_func_docs,
    load_openai_tools,
    parse_docstring,
    save_specs,
    spec_from_callable,
)

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["c", "f"]}},
            "required": ["city"],
        },
    },
}


def test_openai_tools_load_from_list_and_file(tmp_path):
    bare = {"name": "ping", "description": "Ping.", "parameters": {"type": "object", "properties": {}}}
    specs = load_openai_tools([WEATHER, bare])
    assert [s.name for s in specs] == ["get_weather", "ping"]
    assert specs[0].required == ("city",)
    assert specs[0].to_tool() == WEATHER

    path = tmp_path / "tools.json"
    path.write_text(json.dumps({"tools": [WEATHER]}))
    assert load_openai_tools(path) == specs[:1]


def test_save_and_reload_keeps_magnet_fields(tmp_path):
    spec = FunctionSpec("f", "Do f.", {"type": "object", "properties": {}}, {"type": "object"}, "Misc", "F tool", "Kit")
    path = tmp_path / "specs.json"
    save_specs([spec], path)
    assert load_openai_tools(path) == [spec]
    assert FunctionSpec.from_dict(spec.to_dict()) == spec


def test_every_bad_spec_in_a_file_is_reported_at_once(tmp_path):
    bad = [
        WEATHER,
        {"type": "function", "function": {"name": "f g", "parameters": {"type": "object"}}},
        {
            "type": "function",
            "function": {
                "name": "h",
                "parameters": {"type": "object", "properties": {"x": {"type": "dict"}}, "required": ["y"]},
            },
        },
        {"type": "function", "function": {"name": "get_weather"}},
    ]
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad))
    with pytest.raises(SpecError) as caught:
        load_openai_tools(path)
    problems = caught.value.problems
    assert len(problems) == 4
    assert f"{path}: function 'f g' (#1): $.name:" in problems[0]
    assert "function 'h' (#2): $.parameters.properties.x.type: 'dict' is not a JSON Schema type" in problems[1]
    assert "did you mean 'object'?" in problems[1]
    assert "$.parameters.required: 'y' is required but not in properties" in problems[2]
    assert "function 'get_weather' (#3): $.name: duplicate of spec #0" in problems[3]


def test_invalid_json_names_line_and_column(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('[{"name": "f",,}]')
    with pytest.raises(SpecError, match=r"broken.json: line 1 column \d+: not valid JSON"):
        load_openai_tools(path)


def test_bfcl_docs_translate_python_type_names(tmp_path):
    doc = {
        "name": "set_navigation",
        "description": "Navigate.",
        "parameters": {
            "type": "dict",
            "properties": {
                "destination": {"type": "string"},
                "speed": {"type": "float"},
                "waypoints": {"type": "tuple", "items": {"type": "dict", "properties": {"lat": {"type": "float"}}}},
                "anything": {"type": "any"},
            },
            "required": ["destination"],
        },
        "response": {"type": "dict", "properties": {"status": {"type": "string"}}},
    }
    path = tmp_path / "docs.json"
    path.write_text(json.dumps(doc) + "\n\n")
    [spec] = load_bfcl_func_docs(path)
    properties = spec.properties
    assert spec.parameters["type"] == "object"
    assert properties["speed"] == {"type": "number"}
    assert properties["waypoints"]["type"] == "array"
    assert properties["waypoints"]["items"]["properties"]["lat"] == {"type": "number"}
    assert "type" not in properties["anything"]
    assert spec.response == {"type": "object", "properties": {"status": {"type": "string"}}}


def test_bfcl_docs_report_every_bad_line(tmp_path):
    good = json.dumps({"name": "ok", "description": "", "parameters": {"type": "dict", "properties": {}}})
    unknown_type = json.dumps(
        {"name": "weird", "parameters": {"type": "dict", "properties": {"x": {"type": "complex"}}}}
    )
    path = tmp_path / "docs.json"
    path.write_text("\n".join([good, "{not json", unknown_type]) + "\n")
    with pytest.raises(SpecError) as caught:
        load_bfcl_func_docs(path)
    problems = caught.value.problems
    assert any(p.startswith(f"{path}: line 2 column") for p in problems)
    assert any(
        "function 'weird' (#2): $.parameters.properties.x.type: unknown BFCL type 'complex'" in p for p in problems
    )


class Found(TypedDict):
    """A found place.

    Attributes:
        place_id: Identifier of the place.
        score: How well it matches.
    """

    place_id: str
    score: float


def find_place(
    query: str, kind: Literal["cafe", "park"] = "cafe", limit: int = 3, near: str | None = None
) -> list[Found]:
    """Find places matching a query.

    Args:
        query: What to look for.
        kind: The kind of place.
        limit: At most this many
            results are returned.
        near: A city to search around.

    Returns:
        Matching places, best first.
    """
    return []


def test_spec_from_callable_reads_hints_and_docstring():
    spec = spec_from_callable(find_place, category="Places", tool_class="Map tool")
    assert spec.description == "Find places matching a query."
    assert spec.required == ("query",)
    assert spec.properties["kind"] == {
        "type": "string",
        "enum": ["cafe", "park"],
        "description": "The kind of place.",
        "default": "cafe",
    }
    assert spec.properties["limit"]["description"] == "At most this many results are returned."
    assert spec.properties["near"] == {"type": "string", "description": "A city to search around."}
    assert spec.response["type"] == "array"
    assert spec.response["items"]["properties"]["place_id"] == {
        "type": "string",
        "description": "Identifier of the place.",
    }
    assert spec.response["description"] == "Matching places, best first."


def test_spec_from_callable_explicit_schema_wins():
    schema = {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}
    spec = spec_from_callable(find_place, name="lookup", parameters=schema)
    assert spec.name == "lookup" and spec.parameters == schema


def test_unsupported_annotation_names_the_parameter():
    def bad(x: complex) -> dict:
        """Bad."""

    with pytest.raises(SpecError, match=r"bad\.x: cannot express the annotation"):
        spec_from_callable(bad)


def test_docstring_parser_handles_missing_sections():
    parsed = parse_docstring("Just a summary\nover two lines.")
    assert parsed.summary == "Just a summary over two lines." and not parsed.params and parsed.returns == ""
