"""Bad input, table-driven: every case gets one line that names the file, row, function or field at fault (an
input with several problems gets one such line per problem), and no traceback from inside a library. Entry
points are the ones users hit: the ``magnet`` command, the dataset checks the trainers run, and the teacher
client."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from magnet.cli import main
from magnet.data.schema import check_preference_rows, check_sft_rows
from magnet.errors import CallParseError, MagnetError
from magnet.llm.client import OpenAITeacher
from magnet.testing.loopback import LoopbackServer, Reply
from magnet.tools.calls import parse_calls, parse_tool_calls


def _cli(argv: list[str], capsys) -> str:
    code = main(argv)
    captured = capsys.readouterr()
    assert code == 2, (argv, captured.out[-300:], captured.err[-300:])
    return captured.err


def _api(function: Callable[[], object]) -> str:
    try:
        function()
    except MagnetError as error:
        return f"{type(error).__name__}: {error}"
    raise AssertionError("no error raised")


def _tools_file(tmp_path: Path, content: object) -> str:
    path = tmp_path / "tools.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return str(path)


def _tool(**function) -> dict:
    base = {"name": "get_weather", "description": "Weather.", "parameters": {"type": "object", "properties": {}}}
    return {"type": "function", "function": {**base, **function}}


def _label(tmp_path, capsys, content) -> str:
    return _cli(["label", "--specs", _tools_file(tmp_path, content), "--out", str(tmp_path / "o.json")], capsys)


def _synth_config(tmp_path, capsys, text: str, *extra: str) -> str:
    config = tmp_path / "synth.yaml"
    config.write_text(text)
    return _cli(["synth", "--config", str(config), "--out", str(tmp_path / "out"), *extra], capsys)


def _row(**changes) -> dict:
    row = {
        "id": "r0",
        "messages": [
            {"role": "user", "content": "Weather in Paris?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"type": "function", "id": "c1", "function": {"name": "get_weather", "arguments": {"city": "P"}}}
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "name": "get_weather", "content": "sunny"},
            {"role": "assistant", "content": "It is sunny."},
        ],
        "tools": [_tool(parameters={"type": "object", "properties": {"city": {"type": "string"}}})],
        "meta": {"kind": "multi_turn"},
    }
    row.update(changes)
    return row


def _message(row: dict, index: int, **changes) -> dict:
    row["messages"][index] = {**row["messages"][index], **changes}
    return row


def _teacher_error(reply_or_faults) -> str:
    faults = reply_or_faults if isinstance(reply_or_faults, dict) else {}
    replies = [reply_or_faults] if isinstance(reply_or_faults, Reply) else None
    with LoopbackServer(replies, faults=faults) as server:
        teacher = OpenAITeacher("loopback", base_url=server.base_url, max_retries=1, backoff_initial=0.01)
        return _api(lambda: asyncio.run(teacher.complete([{"role": "user", "content": "hi"}], step="translate")))


CASES: list[tuple[str, Callable, str]] = [
    # tool specs (magnet label --specs FILE)
    ("spec file missing", lambda t, c: _cli(["label", "--specs", str(t / "no.json"), "--out", "o"], c), "no.json"),
    ("spec file not JSON", lambda t, c: _label(t, c, "{not json"), "tools.json"),
    ("spec file not a list", lambda t, c: _label(t, c, {"name": "x"}), "expected a JSON list of tools"),
    ("spec without a name", lambda t, c: _label(t, c, [_tool(name=None)]), "<unnamed> (#0): $.name: missing"),
    ("spec with a bad name", lambda t, c: _label(t, c, [_tool(name="get weather")]), "'get weather'"),
    (
        "spec with an unknown type",
        lambda t, c: _label(t, c, [_tool(parameters={"type": "object", "properties": {"a": {"type": "strng"}}})]),
        "properties.a.type",
    ),
    (
        "spec requiring a missing parameter",
        lambda t, c: _label(t, c, [_tool(parameters={"type": "object", "properties": {}, "required": ["city"]})]),
        "'city' is required but not in properties",
    ),
    (
        "spec parameters not an object",
        lambda t, c: _label(t, c, [_tool(parameters=[1])]),
        "function 'get_weather' (#0): $.parameters: expected a JSON Schema object",
    ),
    (
        "two specs with one name",
        lambda t, c: _label(t, c, [_tool(), _tool()]),
        "function 'get_weather' (#1): $.name: duplicate of spec #0",
    ),
    # configs (magnet synth --config / --set)
    ("config with an unknown key", lambda t, c: _synth_config(t, c, "paths:\n  walks: 3\n"), "['walks']"),
    ("config with a wrong type", lambda t, c: _synth_config(t, c, "paths:\n  single: many\n"), "paths.single"),
    ("config section not a mapping", lambda t, c: _synth_config(t, c, "teacher: [1, 2]\n"), "synth.yaml.teacher"),
    ("config not YAML", lambda t, c: _synth_config(t, c, "paths: [\n"), "synth.yaml"),
    ("--set without a value", lambda t, c: _synth_config(t, c, "seed: 0\n", "--set", "paths.single"), "key=value"),
    (
        "recipe file missing",
        lambda t, c: _cli(["estimate-memory", "--recipe", str(t / "none.yaml")], c),
        "none.yaml",
    ),
    (
        "training dataset missing",
        lambda t, c: _api(lambda: _load_datasets(t / "no_such_dataset")),
        "no_such_dataset",
    ),
    # dataset rows (what the trainers check before tokenizing)
    (
        "row message without a role",
        lambda t, c: _api(lambda: check_sft_rows([_message(_row(), 0, role=None)])),
        "messages[0].role",
    ),
    (
        "row with an unknown role",
        lambda t, c: _api(lambda: check_sft_rows([_message(_row(), 0, role="robot")])),
        "messages[0].role",
    ),
    (
        "tool message answering no call",
        lambda t, c: _api(lambda: check_sft_rows([_message(_row(), 2, tool_call_id="c9")])),
        "messages[2]",
    ),
    (
        "call arguments not an object",
        lambda t, c: _api(
            lambda: check_sft_rows(
                [
                    _message(
                        _row(),
                        1,
                        tool_calls=[
                            {"type": "function", "id": "c1", "function": {"name": "get_weather", "arguments": [1]}}
                        ],
                    )
                ]
            )
        ),
        "messages[1].tool_calls[0]",
    ),
    (
        "tools not a list",
        lambda t, c: _api(lambda: check_sft_rows([_row(tools={"a": 1})])),
        "row 0.tools: expected a list",
    ),
    (
        "messages not a list",
        lambda t, c: _api(lambda: check_sft_rows([_row(messages="hi")])),
        "row 0.messages: expected a list",
    ),
    (
        "call of a function not in tools",
        lambda t, c: _api(
            lambda: check_sft_rows(
                [
                    _message(
                        _row(),
                        1,
                        tool_calls=[{"type": "function", "id": "c1", "function": {"name": "nope", "arguments": {}}}],
                    )
                ]
            )
        ),
        "'nope'",
    ),
    (
        "preference row without rejected",
        lambda t, c: _api(
            lambda: check_preference_rows(
                [{**_row(), "chosen": _row()["messages"][1:], "prompt": _row()["messages"][:1]}]
            )
        ),
        "row 0.rejected: expected a non-empty list",
    ),
    # call strings (magnet call)
    ("call with a variable", lambda t, c: _cli(["call", "[get_event(event_id=x)]"], c), "argument 'event_id'"),
    ("call with broken syntax", lambda t, c: _cli(["call", "[get_event(event_id='a')"], c), "not a list of calls"),
    ("call with positional argument", lambda t, c: _cli(["call", "[nope('a')]"], c), "call #0 (nope)"),
    ("call with ** unpacking", lambda t, c: _cli(["call", "[get_event(**{'event_id': 'a'})]"], c), "'**' unpacking"),
    (
        "call nested too deep",
        lambda t, c: _cli(["call", "[f(a=" + "[" * 3000 + "]" * 3000 + ")]"], c),
        "too many nested",
    ),
    ("empty call text", lambda t, c: _cli(["call", "   "], c), "empty call text"),
    ("call of an unknown toolkit", lambda t, c: _cli(["call", "--toolkits", "Nope", "[f()]"], c), "['Nope']"),
    # teacher answers
    ("teacher answer not JSON", lambda t, c: _teacher_error({"malformed_json": 1.0}), "malformed_response"),
    ("teacher tool call cut short", lambda t, c: _teacher_error({"truncated_tool_call": 1.0}), "malformed_tool_call"),
    (
        "tool call arguments not JSON",
        lambda t, c: _api(lambda: parse_tool_calls([{"function": {"name": "f", "arguments": "{bad"}}])),
        "tool_calls[0] (f): arguments are not valid JSON",
    ),
    # evaluation
    (
        "unknown BFCL category",
        lambda t, c: _cli(["eval", "bfcl", "--runner", "silent", "--categories", "nope", "--out", str(t)], c),
        "'nope'",
    ),
]


def _load_datasets(path: Path):
    from magnet.train.config import ScriptArguments
    from magnet.train.loading import load_datasets

    return load_datasets(ScriptArguments(datasets=[str(path)]), ["messages"], seed=0)


@pytest.mark.parametrize(("name", "make_error", "names"), CASES, ids=[case[0] for case in CASES])
def test_bad_input_gets_one_line_naming_the_place(tmp_path, capsys, name, make_error, names):
    message = make_error(tmp_path, capsys).strip()
    assert names in message, message
    assert "Traceback" not in message and 'File "' not in message
    first, *others = message.splitlines()
    # one line; or, when one input has several problems, a header and one indented line per problem
    assert not others or (first.endswith(":") and all(line.startswith("  ") for line in others)), message


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet=st.sampled_from(list("[](){}=,.'\"_ab1-+*/ :\\\nlambdaimport_os")), max_size=80))
def test_call_parser_fuzz_returns_calls_or_call_parse_error_and_never_evaluates(monkeypatch_eval, text):
    try:
        calls = parse_calls(text)
    except CallParseError:
        return
    for call in calls:
        assert isinstance(call.name, str)
        json.dumps(call.arguments)  # literal values only


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60))
def test_call_parser_fuzz_on_any_text(monkeypatch_eval, text):
    for lenient in (False, True):
        with contextlib.suppress(CallParseError):
            parse_calls(text, lenient=lenient)


@pytest.fixture(scope="module")
def monkeypatch_eval():
    """``eval``, ``exec`` and ``compile`` fail the test if the call parser's module ever calls them (module
    globals shadow the builtins there; Hypothesis itself needs the real ones)."""
    from magnet.tools import calls

    def refuse(*args, **kwargs):
        raise AssertionError(f"evaluated: {args[:1]!r}")

    names = ("eval", "exec", "compile")
    for name in names:
        vars(calls)[name] = refuse
    try:
        yield
    finally:
        for name in names:
            vars(calls).pop(name, None)
