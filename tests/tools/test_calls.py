"""Calls: BFCL text and OpenAI tool_calls parse into literal values only, and canonical text round-trips."""

from __future__ import annotations

import json
import keyword
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from magnet.errors import CallParseError
from magnet.tools.calls import FunctionCall, format_calls, parse_calls, parse_tool_calls, to_tool_calls


def test_parse_bfcl_text():
    calls = parse_calls("[cd(folder='document'), mv(source='a.pdf', destination='temp'), ls()]")
    assert calls == [
        FunctionCall("cd", {"folder": "document"}),
        FunctionCall("mv", {"source": "a.pdf", "destination": "temp"}),
        FunctionCall("ls", {}),
    ]


def test_literal_values_of_every_kind():
    [call] = parse_calls("f(a=-1, b=+2.5, c=[1, (2, 3)], d={'k': None, 'z': True}, e=\"x'y\", g=1e3)")
    assert call.arguments == {"a": -1, "b": 2.5, "c": [1, [2, 3]], "d": {"k": None, "z": True}, "e": "x'y", "g": 1000.0}


def test_wrappings_models_add_are_removed():
    expected = [FunctionCall("f", {"x": 1})]
    assert parse_calls("  f(x=1)  ") == expected
    assert parse_calls("```python\n[f(x=1)]\n```") == expected
    assert parse_calls("[]") == []
    assert parse_calls("[math.sqrt(x=4)]") == [FunctionCall("math.sqrt", {"x": 4})]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[f(x=__import__('os').system('ls'))]", "only literal values are allowed, got a function call"),
        ("[f(x=os.environ)]", "got an attribute access"),
        ("[f(x=secret)]", "got a variable name 'secret'"),
        ("[f(x=lambda: 1)]", "got a lambda"),
        ("[f(x=[i for i in range(3)])]", "got a comprehension"),
        ("[f(x=2**64)]", "got an operator expression"),
        ("[f(x={1, 2})]", "got a set"),
        ("[f(x=f'{y}')]", "got an f-string"),
        ("[f(x=b'raw')]", "bytes literals are not allowed"),
        ("[f(x=1e999)]", "inf is not a finite number"),
        ("[f(x={1: 'a'})]", "dict keys must be strings"),
        ("[f(**opts)]", "'**' unpacking is not allowed"),
        ("[f('report.pdf')]", "positional argument 'report.pdf'; write every argument as name=value"),
        ("[f(x=1, x=2)]", "argument 'x' given twice"),
        ("[f(x=1)(y=2)]", "the function must be a plain or dotted name"),
        ("[1 + 2]", "expected a call like f(a=1)"),
        ("[f(x=1]", "not a list of calls"),
        ("", "empty call text"),
        ("[f(x=-'a')]", "a sign applies only to a number"),
    ],
)
def test_anything_but_literals_is_refused(text, message):
    with pytest.raises(CallParseError, match=message.replace("(", r"\(").replace(")", r"\)").replace("*", r"\*")):
        parse_calls(text)


def test_positional_arguments_bind_when_the_signature_is_known():
    order = {"sort": ["file_name"], "f": ["a", "b"]}
    assert parse_calls("[sort('final_report.pdf')]", parameter_order=order) == [
        FunctionCall("sort", {"file_name": "final_report.pdf"})
    ]
    with pytest.raises(CallParseError, match="3 positional arguments, but f takes 2"):
        parse_calls("[f(1, 2, 3)]", parameter_order=order)


def test_openai_tool_calls_accept_dicts_json_strings_and_sdk_objects():
    class Function:
        name = "g"
        arguments = '{"y": [1, 2]}'

    class SDKToolCall:
        id = "call_1"
        function = Function()

    calls = parse_tool_calls(
        [
            {"type": "function", "id": "c0", "function": {"name": "f", "arguments": {"x": 1}}},
            SDKToolCall(),
            {"function": {"name": "h", "arguments": ""}},
        ]
    )
    assert calls == [FunctionCall("f", {"x": 1}), FunctionCall("g", {"y": [1, 2]}), FunctionCall("h", {})]


@pytest.mark.parametrize(
    ("tool_calls", "message"),
    [
        ([{"function": {"arguments": "{}"}}], r"tool_calls\[0\]: missing function name"),
        ([{"function": {"name": "f", "arguments": "{x: 1}"}}], r"tool_calls\[0\] \(f\): arguments are not valid JSON"),
        ([{"function": {"name": "f", "arguments": "[1]"}}], "arguments must be a JSON object, got list"),
    ],
)
def test_bad_tool_calls_name_the_index(tool_calls, message):
    with pytest.raises(CallParseError, match=message):
        parse_tool_calls(tool_calls)


def test_names_that_text_cannot_hold_are_refused_when_formatting():
    with pytest.raises(CallParseError, match="'class' cannot be written"):
        format_calls([FunctionCall("f", {"class": 1})])
    with pytest.raises(CallParseError, match="has no literal form"):
        format_calls([FunctionCall("f", {"x": float("nan")})])


def test_tool_calls_round_trip_with_ids_and_json_arguments():
    calls = [FunctionCall("f", {"x": 1}), FunctionCall("g", {"s": "é"})]
    as_dicts = to_tool_calls(calls, id_prefix="t")
    assert as_dicts[1] == {"type": "function", "id": "t_1", "function": {"name": "g", "arguments": {"s": "é"}}}
    as_json = to_tool_calls(calls, arguments_as_json=True)
    assert json.loads(as_json[0]["function"]["arguments"]) == {"x": 1}
    assert parse_tool_calls(as_dicts) == calls == parse_tool_calls(as_json)


# -- property: canonical text -> calls -> text is exact ----------------------------------------------------------

identifiers = st.text(alphabet=string.ascii_letters + "_", min_size=1, max_size=8).filter(
    lambda name: name.isidentifier() and not keyword.iskeyword(name)
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**12), max_value=10**12),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)),
    max_leaves=8,
)
calls_strategy = st.lists(
    st.builds(FunctionCall, identifiers, st.dictionaries(identifiers, values, max_size=4)), max_size=4
)


def _typed(value):
    """Values with their types, so that True and 1, or 1 and 1.0, never compare equal."""
    if isinstance(value, list):
        return ["list", [_typed(item) for item in value]]
    if isinstance(value, dict):
        return ["dict", [[key, _typed(item)] for key, item in value.items()]]
    return [type(value).__name__, repr(value)]


@settings(max_examples=300, deadline=None)
@given(calls_strategy)
def test_canonical_text_round_trips_exactly(calls):
    text = format_calls(calls)
    parsed = parse_calls(text)
    assert format_calls(parsed) == text
    assert [(c.name, _typed(dict(c.arguments))) for c in parsed] == [(c.name, _typed(dict(c.arguments))) for c in calls]


def test_runaway_model_output_is_a_parse_error_not_a_crash():
    with pytest.raises(CallParseError, match="nested too deeply"):
        parse_calls("f(a=" + "1+" * 5000 + "1)")
    with pytest.raises(CallParseError, match="over the 100,000 accepted"):
        parse_calls("[f(a='" + "x" * 100_001 + "')]")
