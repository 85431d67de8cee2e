"""Decoding model answers: the same calls as BFCL's own decoder on ordinary answers, and nothing of a hostile
answer ever evaluated."""

from __future__ import annotations

import ast
import asyncio
import builtins

import pytest

from magnet.errors import CallParseError
from magnet.eval import checkers
from magnet.eval.decode import UNKNOWN_FUNCTION, decode_prompting, execution_strings, to_ast_form
from magnet.eval.entries import single_turn_row
from magnet.eval.loop import run_multi_turn, run_single_turn
from magnet.llm.client import Completion
from magnet.tools.calls import FunctionCall, format_call

ORDINARY = [
    "[cd(folder='document')]",
    "[ls(a=True), mkdir(dir_name='temp')]",
    "```\n[f(x=1, y=[1, 2], z={'a': 'b', 'n': None})]\n```",
    "f(x=-3.5)",
    "[get_weather(city=Paris)]",
    "[f(date=datetime.now())]",
    "[math.factorial(number=5)]",
    '[f(s="it\'s", t=\'say "hi"\')]',
    "  [f(nested={'k': [1, {'deep': 'x'}]})]  \n",
    "[f(x=...)]",
]
UNDECODABLE = ["Sure, I can help.", "", "[]", "[f(x=1), 3]", "[f(x=1]"]


def _tuples_to_lists(value):
    if isinstance(value, tuple | list):
        return [_tuples_to_lists(item) for item in value]
    if isinstance(value, dict):
        return {key: _tuples_to_lists(item) for key, item in value.items()}
    return value


@pytest.mark.parametrize("text", ORDINARY)
def test_ordinary_answers_decode_as_bfcls_decoder_does(bfcl_utils, text):
    calls = decode_prompting(text)
    assert to_ast_form(calls) == _tuples_to_lists(bfcl_utils.default_decode_ast_prompting(text))
    assert [format_call(call) for call in calls] == bfcl_utils.default_decode_execute_prompting(text)


@pytest.mark.parametrize("text", UNDECODABLE)
def test_answers_bfcl_cannot_decode_are_no_calls_here_either(bfcl_utils, text):
    with pytest.raises(Exception):  # noqa: B017 - BFCL raises whatever ast raises
        bfcl_utils.default_decode_ast_prompting(text)
    with pytest.raises(CallParseError):
        decode_prompting(text)


def test_java_and_javascript_answers_go_through_bfcls_tree_sitter_parsers():
    assert to_ast_form(decode_prompting('[Foo.bar(x="a", y=new int[]{1, 2})]', "Java")) == [
        {"Foo.bar": {"x": "a", "y": "new int[]{1,2}"}}
    ]
    assert to_ast_form(decode_prompting("[f(x='a', n=3)]", "JavaScript")) == [{"f": {"x": "a", "n": "3"}}]
    with pytest.raises(CallParseError, match="not a Java call"):
        decode_prompting("[Foo.bar(x=]", "Java")


def test_execution_strings_bind_only_the_entrys_methods():
    calls = [
        FunctionCall("cd", {"folder": "x"}),
        FunctionCall("open", {"file": "/etc/passwd", "mode": "w"}),
        FunctionCall("GorillaFileSystem.cd", {"folder": "x"}),
        FunctionCall("_load_scenario", {"scenario": {}}),
    ]
    names = checkers.callable_names(("GorillaFileSystem",))
    assert execution_strings(calls, names) == ["cd(folder='x')"] + [f"{UNKNOWN_FUNCTION}()"] * 3


HOSTILE = [
    "[open(file='CANARY', mode='w')]",
    "[__import__('os').system('touch CANARY')]",
    "[cd(folder=__import__('os').system('touch CANARY'))]",
    "[cd(folder=(lambda: open('CANARY', 'w'))())]",
    "[ls(a=1+2)]",
    "[cd(folder=[x for x in open('CANARY', 'w')])]",
    "[exec(source=\"open('CANARY', 'w')\")]",
    "[eval(source=\"open('CANARY', 'w')\")]",
    "[GorillaFileSystem._load_scenario(scenario={}), _load_scenario(scenario={})]",
    "[mkdir(dir_name=\"x'); open('CANARY', 'w'); ('\")]",
    "[cd(folder='x')]; open('CANARY', 'w')",
    '[touch(file_name=f\'{open("CANARY", "w")}\')]',
    "[cd(**{'folder': open('CANARY', 'w')})]",
    "[" * 5000 + "]" * 5000,
]


class _Scripted:
    """A runner that answers each step with the next scripted text."""

    tool_format = "bfcl_prompt"
    name = "scripted"

    def __init__(self, texts):
        self.texts = list(texts)

    async def answer(self, request):
        return Completion(text=self.texts.pop(0) if self.texts else "Done.")


def test_hostile_answers_never_reach_eval(monkeypatch, tmp_path, multi_turn, single_turn):
    """Run every hostile answer through the whole multi-turn loop (execution and BFCL's checker, both of which
    ``eval``): every string BFCL evaluates is one literal call of one of the entry's methods, and nothing the
    answers ask for happens."""
    monkeypatch.chdir(tmp_path)
    evaluated: list[str] = []
    utils = checkers._import(checkers.UTILS_MODULE)

    def spy(source, *args):
        evaluated.append(source)
        return builtins.eval(source, *args) if args else builtins.eval(source, vars(utils))

    monkeypatch.setitem(vars(utils), "eval", spy)
    entry = next(e for e in multi_turn["multi_turn_base"] if "GorillaFileSystem" in e.involved_classes)
    for text in HOSTILE:
        record = asyncio.run(run_multi_turn(entry, _Scripted([text])))
        assert not record["valid"]
    assert not (tmp_path / "CANARY").exists()
    methods = checkers.callable_names(tuple(entry.involved_classes))
    assert evaluated, "the executor ran nothing: the test would prove nothing"
    for source in evaluated:
        call = ast.parse(source.split(".", 1)[-1] if source.startswith("magnet_") else source, mode="eval").body
        assert isinstance(call, ast.Call) and isinstance(call.func, ast.Name), source
        assert call.func.id in methods or call.func.id == UNKNOWN_FUNCTION, source
        assert not call.args
        for keyword in call.keywords:
            ast.literal_eval(keyword.value)

    # Single-turn scoring evaluates nothing at all.
    monkeypatch.setattr(builtins, "eval", lambda *a, **k: pytest.fail(f"eval called with {a!r}"))
    simple = single_turn("simple")[0]
    assert single_turn_row(simple)
    for text in HOSTILE:
        record = asyncio.run(run_single_turn(simple, _Scripted([text])))
        assert not record["valid"]
    assert not (tmp_path / "CANARY").exists()
