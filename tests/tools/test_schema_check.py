"""JSON-Schema checks: values read the keywords Magnet relies on with Python's types, schemas are checked for what
Magnet reads, and every problem names its place."""

from __future__ import annotations

import pytest

from magnet.tools.schema_check import JSON_TYPES, output_problem, type_problem, validate_schema

STOPS = {
    "type": "object",
    "properties": {
        "stops": {"type": "array", "items": {"type": "object", "properties": {"city": {"type": "string"}}}},
        "mode": {"type": "string", "enum": ["car", "train"]},
    },
}


@pytest.mark.parametrize(
    ("value", "schema"),
    [
        (3, {"type": "number"}),  # an int is a number
        ((1, 2), {"type": "array", "items": {"type": "integer"}}),  # a tuple is an array
        ("x", {"type": "any"}),  # a type name Magnet does not know constrains nothing
        ({"stops": [{"city": "Oslo", "extra": 1}]}, STOPS),  # properties the schema does not name are not checked
        ({"a": 1}, {"type": "object", "required": ["b"], "additionalProperties": False}),  # nor are these keywords
        (5, {"type": "integer", "minimum": 10}),
    ],
)
def test_values_that_fit(value, schema):
    assert type_problem(value, schema, "argument 'x'") is None


@pytest.mark.parametrize(
    ("value", "schema", "problem"),
    [
        (True, {"type": "integer"}, "argument 'x': expected integer, got bool True"),
        (True, {"type": "number"}, "argument 'x': expected number, got bool True"),
        (1.0, {"type": "integer"}, "argument 'x': expected integer, got float 1.0"),
        ("5", {"type": ["integer", "null"]}, "argument 'x': expected integer or null, got str '5'"),
        ("x" * 100, {"type": "integer"}, f"argument 'x': expected integer, got str '{'x' * 59}"),
        ("bus", {"type": "string", "enum": ["car", "train"]}, "argument 'x': 'bus' is not one of ['car', 'train']"),
        (
            {"stops": [{"city": "Oslo"}, {"city": 3}]},
            STOPS,
            "argument 'x'.stops[1].city: expected string, got int 3",
        ),
    ],
)
def test_values_that_do_not_fit_name_the_place(value, schema, problem):
    assert type_problem(value, schema, "argument 'x'") == problem


def test_the_first_problem_in_the_value_is_the_one_reported():
    # A node's type before its enum, whatever order the schema lists them in; children in the value's order.
    assert type_problem(5, {"enum": ["a"], "type": "string"}, "v") == "v: expected string, got int 5"
    value = {"mode": "bus", "stops": [1]}
    assert type_problem(value, STOPS, "v") == "v.mode: 'bus' is not one of ['car', 'train']"
    assert type_problem(dict(reversed(value.items())), STOPS, "v") == "v.stops[0]: expected object, got int 1"


def test_a_valid_schema_has_no_problems():
    assert validate_schema(STOPS, "$.parameters") == []
    assert validate_schema({"anyOf": [{"type": "string"}], "$ref": "#/x", "type": None}, "$") == []


def test_every_problem_of_a_schema_in_the_order_of_its_nodes():
    schema = {
        "type": "object",
        "properties": {"x": {"type": "dict"}, "y": [1], "z": {"items": {"type": ["int", 5]}}},
        "required": ["q"],
        "enum": [],
    }
    use = f"use one of {JSON_TYPES}"
    assert validate_schema(schema, "$.parameters") == [
        f"$.parameters.properties.x.type: 'dict' is not a JSON Schema type (did you mean 'object'?); {use}",
        "$.parameters.properties.y: expected a JSON Schema object, got list [1]",
        f"$.parameters.properties.z.items.type: 'int' is not a JSON Schema type (did you mean 'integer'?); {use}",
        f"$.parameters.properties.z.items.type: 5 is not a JSON Schema type; {use}",
        "$.parameters.required: 'q' is required but not in properties",
        "$.parameters.enum: expected a non-empty list, got []",
    ]


def test_a_malformed_required_list_is_one_problem():
    assert validate_schema({"properties": 3, "required": ["a", 1, 2]}, "$") == [
        "$.properties: expected an object, got int",
        "$.required: expected a list of parameter names, got ['a', 1, 2]",
    ]


NESTED = {
    "type": "object",
    "required": ["forecast"],
    "properties": {
        "forecast": {
            "type": "array",
            "items": {"type": "object", "required": ["day", "temp"], "properties": {"day": {"type": "string"}}},
        }
    },
}


@pytest.mark.parametrize(
    ("value", "top", "everywhere"),
    [
        ({"forecast": [{"day": "mon", "temp": 3}]}, None, None),
        ({}, "output lacks required ['forecast']", "output lacks required ['forecast']"),
        ({"forecast": [{"day": "mon", "temp": 3}, {"day": "tue"}]}, None, "output.forecast[1] lacks required ['temp']"),
        ({"forecast": [{"day": 1}]}, "output.forecast[0].day: expected string, got int 1", None),
    ],
)
def test_required_keys_at_the_top_or_everywhere_agree_with_jsonschema(value, top, everywhere):
    from jsonschema import Draft202012Validator

    assert output_problem(value, NESTED, "output") == top
    if everywhere is None and top is not None:
        everywhere = top
    assert output_problem(value, NESTED, "output", required_everywhere=True) == everywhere
    # jsonschema's own validator reads every keyword of this schema: it agrees on whether the value fits fully
    assert Draft202012Validator(NESTED).is_valid(value) == (everywhere is None)
