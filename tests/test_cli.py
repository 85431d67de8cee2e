"""The ``magnet`` command: pool statistics, spec export and call execution, with clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from magnet.cli import main
from magnet.tools.spec import load_openai_tools


def test_pool_prints_counts(capsys):
    assert main(["pool"]) == 0
    out = capsys.readouterr().out
    assert "builtin training pool" in out and "Calendar" in out and "chaining pairs" in out


def test_pool_json(capsys):
    assert main(["pool", "--json", "--toolkits", "Calendar"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["toolkits"] == 1 and stats["functions"] >= 9


def test_specs_export_reloads(tmp_path, capsys):
    out = tmp_path / "tools.json"
    assert main(["specs", "--out", str(out), "--toolkits", "Calendar"]) == 0
    specs = load_openai_tools(out)
    assert specs[0].toolkit == "Calendar" and specs[0].response is not None


def test_call_runs_calls_and_reports_errors(capsys):
    code = main(
        [
            "call",
            "--toolkits",
            "Calendar",
            "[create_event(title='Sync', start='2026-03-05T10:00'), get_event(event_id='evt-0404')]",
        ]
    )
    out = capsys.readouterr().out
    assert code == 1
    assert "ok  create_event(title='Sync', start='2026-03-05T10:00')" in out
    assert "ERR get_event(event_id='evt-0404')" in out and "no event with id 'evt-0404'" in out


def test_bad_input_is_a_message_not_a_traceback(capsys):
    assert main(["call", "[get_event(event_id=__import__('os'))]"]) == 2
    assert "only literal values are allowed" in capsys.readouterr().err
    assert main(["pool", "--toolkits", "Nope"]) == 2
    assert "unknown toolkit(s) ['Nope']" in capsys.readouterr().err


def test_label_with_an_openai_endpoint_caches_and_reports(tmp_path, capsys):
    from magnet.testing.loopback import LoopbackServer, Reply

    specs = tmp_path / "tools.json"
    assert main(["specs", "--out", str(specs), "--toolkits", "Bank"]) == 0
    reply = Reply(content="Category: Finance\nTool class: Banking tool")
    with LoopbackServer([reply]) as server:
        options = [
            "--teacher",
            "openai",
            "--model",
            "loopback",
            "--base-url",
            server.base_url,
            "--cache",
            str(tmp_path / "cache.sqlite"),
        ]
        out = tmp_path / "labelled.json"
        assert main(["label", "--specs", str(specs), "--out", str(out), "--all", *options]) == 0
        first = server.requests
        assert main(["label", "--specs", str(specs), "--out", str(out), "--all", *options]) == 0
        assert server.requests == first  # the rerun is answered by the cache
    labelled = load_openai_tools(out)
    assert {(s.category, s.tool_class) for s in labelled} == {("Finance", "Banking tool")}
    usage = json.loads((tmp_path / "labelled.json.usage.json").read_text())
    assert usage["steps"]["label_category"]["cache_hits"] == len(labelled)
    capsys.readouterr()
    assert main(["cache", "stats", str(tmp_path / "cache.sqlite")]) == 0
    assert f"label_category  {len(labelled)}" in capsys.readouterr().out


def test_teacher_options_are_checked(tmp_path, capsys):
    assert main(["label", "--specs", "x.json", "--out", str(tmp_path / "o.json"), "--teacher", "openai"]) == 2
    assert "--teacher openai needs --model" in capsys.readouterr().err
    assert main(["label", "--out", str(tmp_path / "o.json")]) == 2
    assert "give exactly one of --specs" in capsys.readouterr().err


def test_graph_and_paths_commands(tmp_path, capsys):
    graph = tmp_path / "graph.json"
    assert main(["graph", "build", "--out", str(graph)]) == 0
    out = capsys.readouterr().out
    assert "functions: 121" in out and "with an out-edge" in out
    assert main(["graph", "stats", str(graph), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["nodes"] == 121
    assert main(["graph", "draw", str(graph), "--out", str(tmp_path / "g.png"), "--focus", "create_event"]) == 0
    assert (tmp_path / "g.png").read_bytes()[:4] == b"\x89PNG"
    paths = tmp_path / "paths.jsonl"
    assert main(["paths", "sample", "--graph", str(graph), "--out", str(paths), "--n", "20", "--seed", "1"]) == 0
    out = capsys.readouterr().out
    assert "20 walks -> 20 plain + 20 split paths" in out and "turns/path" in out
    rows = [json.loads(line) for line in paths.read_text().splitlines()]
    assert [row["variant"] for row in rows[:2]] == ["plain", "split"] and rows[1]["plain"] == rows[0]["id"]
    first = paths.read_text()
    assert main(["paths", "sample", "--graph", str(graph), "--out", str(paths), "--n", "20", "--seed", "1"]) == 0
    assert paths.read_text() == first  # same graph and seed: byte-identical paths


def test_bfcl_pool_needs_an_explicit_opt_in_for_training_graphs(tmp_path, capsys):
    assert main(["graph", "build", "--pool", "bfcl", "--out", str(tmp_path / "g.json")]) == 2
    assert "are the evaluation pool" in capsys.readouterr().err


def test_translate_and_show(tmp_path, capsys):
    graph, paths, out = tmp_path / "graph.json", tmp_path / "paths.jsonl", tmp_path / "episodes"
    assert main(["graph", "build", "--out", str(graph)]) == 0
    assert (
        main(
            [
                "paths",
                "sample",
                "--graph",
                str(graph),
                "--out",
                str(paths),
                "--n",
                "15",
                "--single",
                "5",
                "--irrelevance",
                "3",
                "--parallel",
                "0",
                "--multiple",
                "0",
            ]
        )
        == 0
    )
    capsys.readouterr()
    common = [
        "translate",
        "--graph",
        str(graph),
        "--paths",
        str(paths),
        "--out",
        str(out),
        "--shard-size",
        "10",
        "--simulation-store",
        str(tmp_path / "sim.sqlite"),
    ]
    assert main(common) == 0
    text = capsys.readouterr().out
    assert "translated 38 paths:" in text and "acceptance" in text
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["complete"] and sum(manifest["totals"]["reasons"].values()) == manifest["totals"]["rejected"]
    assert main(common) == 0
    assert "shards written 0, already done 4" in capsys.readouterr().out
    assert main(["show", str(out), "--n", "2"]) == 0
    assert "## episode" in capsys.readouterr().out


def test_stats_of_a_jsonl_file(tmp_path, capsys):
    rows = [
        {
            "messages": [
                {"role": "user", "content": "x"},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [{"type": "function", "id": "c", "function": {"name": "f", "arguments": {}}}],
                },
                {"role": "tool", "content": "{}", "tool_call_id": "c"},
                {"role": "assistant", "content": "ok"},
            ],
            "meta": {"kind": "single_turn"},
        }
    ]
    path = tmp_path / "rows.jsonl"
    path.write_text("\n".join(json.dumps(row) for row in rows) + "\n")
    assert main(["stats", str(path), "--plot", str(tmp_path / "p.png")]) == 0
    out = capsys.readouterr().out
    assert "| calls per single-turn row | 1 | 1.8 |" in out and (tmp_path / "p.png").exists()


def test_synth_checks_its_shard_option(tmp_path, capsys):
    assert main(["synth", "--shard", "first", "--out", str(tmp_path / "s")]) == 2
    assert "--shard 'first': expected i/n" in capsys.readouterr().err


def test_a_reader_that_leaves_early_stops_the_command_quietly():
    import subprocess
    import sys

    process = subprocess.Popen(
        [sys.executable, "-m", "magnet.cli", "config-reference"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        bufsize=0,
    )
    process.stdout.read(10)  # `magnet config-reference | head -c 10`
    process.stdout.close()
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=60) in (0, 141)  # 0 when it had written everything before the reader left
    assert "Traceback" not in stderr and "Broken pipe" not in stderr


def test_a_refusing_endpoint_stops_synth_and_eval_with_one_line(tmp_path, capsys):
    """An endpoint that does not serve the model named: the run stops at the first refusal with what was refused
    and the fix, instead of rejecting every item one by one and writing empty datasets."""
    from magnet.testing.loopback import LoopbackServer, _Response

    class UnknownModel(LoopbackServer):
        def _respond(self, body, fault):
            self._count("bad_request")
            message = {"error": {"message": f"The model `{body['model']}` does not exist.", "code": 404}}
            return _Response(404, json.dumps(message).encode())

    settings = ["paths.limit=4", "paths.walks_per_function=1", "teacher.kind=openai", "teacher.model=qwen"]
    settings += ["paths.single=0", "paths.parallel=0", "paths.multiple=0", "paths.irrelevance=0"]
    with UnknownModel() as server:
        settings.append(f"teacher.base_url={server.base_url}")
        code = main(["synth", "--out", str(tmp_path / "synth"), "--no-progress"] + [f"--set={s}" for s in settings])
        err = capsys.readouterr().err.strip()
        assert code == 2 and "\n" not in err and "Traceback" not in err
        assert "HTTP 404" in err and "does not exist" in err and "does not serve 'qwen'" in err
        assert server.requests < 10  # stopped at the first refusals, not after one per item
        assert not (tmp_path / "synth" / "datasets").exists()
        code = main(
            ["eval", "bfcl", "--endpoint", server.base_url, "--served-model", "qwen", "--categories", "simple",
             "--limit", "1", "--out", str(tmp_path / "eval"), "--no-progress"]
        )  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err and "does not serve 'qwen'" in err


@pytest.mark.slow
def test_the_stage_commands_give_what_synth_gives(tmp_path, capsys):
    """``graph build``, ``paths sample`` and ``translate`` read a synth config and run the library code ``magnet
    synth`` runs: the same graph, the same paths and the same episodes."""
    from magnet.synthesis.pipeline import read_records

    config = tmp_path / "synth.yaml"
    config.write_text(
        "seed: 3\npaths: {walks_per_function: 1, limit: 6, single: 4, irrelevance: 2}\n"
        "translate: {shard_size: 5}\nnegatives: {source: none}\n"
    )
    synth = tmp_path / "synth"
    assert main(["synth", "--config", str(config), "--out", str(synth), "--no-progress"]) == 0
    graph, paths, episodes = tmp_path / "graph.json", tmp_path / "paths.jsonl", tmp_path / "episodes"
    assert main(["graph", "build", "--config", str(config), "--out", str(graph)]) == 0
    assert json.loads(graph.read_text()) == json.loads((synth / "graph.json").read_text())
    assert main(["paths", "sample", "--config", str(config), "--graph", str(graph), "--out", str(paths)]) == 0
    ids = [json.loads(line)["id"] for line in paths.read_text().splitlines()]
    assert ids == [json.loads(line)["id"] for line in (synth / "paths.jsonl").read_text().splitlines()]
    stage = ["--graph", str(graph), "--paths", str(paths), "--out", str(episodes)]
    stage += ["--simulation-store", str(tmp_path / "sim.sqlite"), "--cache", str(tmp_path / "cache.sqlite")]
    assert main(["translate", "--config", str(config), *stage]) == 0
    by_id = lambda folder: {record["id"]: record for record in read_records(folder)}  # noqa: E731
    translated = by_id(episodes)
    assert len(translated) == json.loads((synth / "report.json").read_text())["stages"]["translate"]["accepted"] > 0
    assert translated == by_id(synth / "episodes")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--set", "paths.singel=5"], "--set paths: unknown setting(s) ['singel'] (did you mean 'single'?)"),
        (
            ["--set", "teacher.kind=ofline"],
            "--set teacher.kind: expected one of ['offline', 'openai', 'hf'], got 'ofline'",
        ),
        (["--teacher.kind", "openai"], "--teacher openai needs --model"),
        (["--pool", "builtin,Travel"], "pool entry 'Travel': no such file or folder; a pool entry is builtin, bfcl,"),
        (["--pool", "builtin,no_such_tools:Trip"], "cannot import no_such_tools"),
    ],
)
def test_a_synth_mistake_is_one_line_and_writes_nothing(tmp_path, capsys, argv, message):
    out = tmp_path / "run"
    demo = Path(__file__).resolve().parents[1] / "recipes" / "synth" / "demo.yaml"
    assert main(["synth", "--config", str(demo), "--out", str(out), "--no-progress", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err
    assert not out.exists()


def test_graph_build_names_the_isolated_functions(tmp_path, capsys):
    greeter = tmp_path / "greeter.py"
    greeter.write_text(
        "from magnet.tools.toolkit import Toolkit\n\n\nclass Greeter(Toolkit):\n"
        "    def greet(self, name: str) -> dict:\n"
        '        """Greet someone.\n\n        Args:\n            name: Who to greet.\n        """\n'
        '        return {"greeting": name}\n'
    )
    assert main(["graph", "build", "--pool", f"builtin,{greeter}:Greeter", "--out", str(tmp_path / "g.json")]) == 0
    out = capsys.readouterr().out
    assert "isolated (no edge: no walk reaches them, single-turn rows only): greet" in out


def _subcommand_paths(parser, prefix=()):
    import argparse

    yield prefix
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _subcommand_paths(sub, (*prefix, name))


def test_every_command_s_help_renders(capsys):
    # A help text with a bare % ("60% of the paths") made argparse's formatting raise on `magnet synth --help`.
    from magnet.cli import build_parser

    commands = list(_subcommand_paths(build_parser()))
    assert ("synth",) in commands and ("paths", "sample") in commands
    for command in commands:
        with pytest.raises(SystemExit) as exit_:
            main([*command, "--help"])
        assert exit_.value.code == 0, command
        assert "usage:" in capsys.readouterr().out
