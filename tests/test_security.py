"""Security properties, checked end to end: no API key in any artifact, no way to a toolkit method that is not
a declared function, and no ``eval``/``exec`` anywhere in Magnet's own code."""

from __future__ import annotations

import ast
import copy
import json
from pathlib import Path

import pytest

from magnet.cli import main
from magnet.testing.loopback import LoopbackServer, Reply
from magnet.tools.bfcl import bfcl_toolkits
from magnet.tools.builtin import BUILTIN_TOOLKITS
from magnet.tools.calls import FunctionCall
from magnet.tools.executor import Environment

SECRET = "sk-magnet-test-SECRET-0123456789abcdef"
SRC = Path(__file__).parents[1] / "src" / "magnet"


NO_SINGLE_TURN = ["--single", "0", "--parallel", "0", "--multiple", "0", "--irrelevance", "0"]


def _files_containing(folder: Path, needle: bytes) -> list[str]:
    return [str(path) for path in folder.rglob("*") if path.is_file() and needle in path.read_bytes()]


def _answer(body):
    """A model that answers every synthesis and evaluation request with something plausible but useless."""
    if body.get("tools"):
        return Reply(tool_calls=[{"name": body["tools"][0]["function"]["name"], "arguments": {}}])
    return Reply(content="Category: Finance\nTool class: Banking tool\n[ls()]")


@pytest.mark.slow
def test_no_api_key_in_any_artifact(tmp_path, monkeypatch, capsys):
    """Label, translate, synth and eval against an endpoint with a key in the environment: the key is in no
    file they write (outputs, caches, manifests, usage, results) and in nothing they print."""
    monkeypatch.setenv("MAGNET_TEST_KEY", SECRET)
    monkeypatch.chdir(tmp_path)
    with LoopbackServer(_answer) as server:
        teacher = ["--teacher", "openai", "--model", "loopback", "--base-url", server.base_url]
        teacher += ["--api-key-env", "MAGNET_TEST_KEY", "--max-retries", "0"]
        specs = tmp_path / "tools.json"
        assert main(["specs", "--out", str(specs), "--toolkits", "Bank"]) == 0
        assert (
            main(["label", "--specs", str(specs), "--out", "labelled.json", "--all", *teacher, "--cache", "c1.db"]) == 0
        )
        assert main(["graph", "build", "--out", "graph.json"]) == 0
        assert (
            main(["paths", "sample", "--graph", "graph.json", "--out", "paths.jsonl", "--n", "4", *NO_SINGLE_TURN]) == 0
        )
        main(["translate", "--graph", "graph.json", "--paths", "paths.jsonl", "--out", "episodes", *teacher,
              "--cache", "c2.db", "--max-attempts", "1", "--turn-attempts", "1"])  # fmt: skip
        settings = [
            "teacher.kind=openai",
            "teacher.model=loopback",
            f"teacher.base_url={server.base_url}",
            "teacher.api_key_env=MAGNET_TEST_KEY",
            "teacher.max_retries=0",
            "paths.walks_per_function=1",
            "paths.limit=4",
            "paths.single=4",
            "paths.parallel=0",
            "paths.multiple=0",
            "paths.irrelevance=0",
            "translate.max_attempts=1",
            "translate.turn_attempts=1",
        ]
        main(["synth", "--out", "synth", *[arg for item in settings for arg in ("--set", item)]])
        main(["eval", "bfcl", "--endpoint", server.base_url, "--served-model", "loopback", "--api-key-env",
              "MAGNET_TEST_KEY", "--categories", "simple,multi_turn_base", "--limit", "2", "--out", "eval",
              "--cache", "c3.db", "--no-progress"])  # fmt: skip
    printed = capsys.readouterr()
    written = [path for path in tmp_path.rglob("*") if path.is_file()]
    assert len(written) > 15, "the commands wrote too little for the check to mean anything"
    assert any(path.suffix == ".db" for path in written) and (tmp_path / "eval" / "results").is_dir()
    assert _files_containing(tmp_path, SECRET.encode()) == []
    assert SECRET not in printed.out and SECRET not in printed.err


def _non_function_attributes(toolkit) -> list[str]:
    declared = {spec.name for spec in toolkit.specs()}
    names = {name for name in dir(toolkit) if callable(getattr(toolkit, name, None))}
    if hasattr(toolkit, "instance"):  # BFCL toolkits delegate to BFCL's own instance
        names |= {name for name in dir(toolkit.instance) if callable(getattr(toolkit.instance, name, None))}
    return sorted(names - declared)


@pytest.mark.parametrize("klass", [*BUILTIN_TOOLKITS, *bfcl_toolkits()], ids=lambda k: k.toolkit_name())
def test_only_declared_functions_can_be_called(klass):
    """Every callable attribute of a toolkit that is not one of its declared functions (``_private`` helpers,
    ``load_state``, ``dispatch``, dunders, BFCL's ``_load_scenario``) is an unknown-function error result, and the
    state does not change."""
    toolkit = klass(None)
    environment = Environment([toolkit], check_types=False)
    before = copy.deepcopy(environment.state())
    hidden = _non_function_attributes(toolkit)
    assert any(name.startswith("_") for name in hidden) and "load_state" in hidden
    for name in hidden:
        result = environment.execute_one(FunctionCall(name, {"state": {}}))
        assert not result.ok and "unknown function" in result.error, name
    assert environment.state() == before
    assert json.dumps(environment.state())


def test_magnet_itself_never_calls_eval_exec_or_compile():
    """Model and teacher output is parsed with ``ast`` into literals; no module of Magnet evaluates code."""
    offenders = []
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            called = node.func.id if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) else None
            if called in ("eval", "exec", "compile", "__import__"):
                offenders.append(f"{path.relative_to(SRC)}:{node.lineno} {called}")
    assert offenders == []
