"""``magnet eval bfcl``: the command users run, its output and its errors."""

from __future__ import annotations

import argparse
import json
import shutil

import pytest

from magnet.cli import build_parser, main
from magnet.eval.settings import EvalSettings, runner_from_settings
from magnet.settings import settings_from_args


def test_eval_bfcl_reference_prints_table2(tmp_path, capsys):
    out = tmp_path / "eval"
    code = main(["eval", "bfcl", "--runner", "reference", "--categories", "multi_turn_base,simple", "--limit", "3",
                 "--out", str(out), "--no-progress"])  # fmt: skip
    printed = capsys.readouterr().out
    assert code == 0
    assert "| reference | N/A | N/A | N/A | N/A | 100.00 |" in printed
    assert json.loads((out / "summary.json").read_text())["categories"]["simple"] == {"accuracy": 100.0, "count": 3}
    assert len((out / "results" / "multi_turn_base.jsonl").read_text().splitlines()) == 3


def test_eval_bfcl_ids_evaluates_only_those_entries(tmp_path, capsys):
    out = tmp_path / "eval"
    code = main(["eval", "bfcl", "--runner", "reference", "--categories", "multi_turn_base,simple",
                 "--ids", "simple_7,multi_turn_base_1", "--out", str(out), "--no-progress"])  # fmt: skip
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["ids"] == ["multi_turn_base_1", "simple_7"]
    assert {name: score["count"] for name, score in summary["categories"].items()} == {
        "multi_turn_base": 1,
        "simple": 1,
    }
    assert [json.loads(line)["id"] for line in (out / "results" / "simple.jsonl").read_text().splitlines()] == [
        "simple_7"
    ]
    assert "Only the entries multi_turn_base_1, simple_7 were evaluated." in (out / "summary.md").read_text()
    # with --limit, the ids actually evaluated are recorded; a mistyped id costs nothing, even with --overwrite
    argv = ["eval", "bfcl", "--runner", "reference", "--categories", "simple", "--out", str(out), "--no-progress"]
    assert main([*argv, "--ids", "simple_3,simple_7", "--limit", "1", "--overwrite"]) == 0
    assert json.loads((out / "summary.json").read_text())["ids"] == ["simple_3"]
    assert main([*argv, "--ids", "simple_3,simpel_7", "--overwrite"]) == 2
    assert "ids: no entry simpel_7" in capsys.readouterr().err
    assert (out / "results" / "simple.jsonl").read_text().count("simple_3") == 1


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--runner", "reference", "--model", "x"], "exactly one of --model PATH, --endpoint URL or --runner"),
        (["--runner", "silent", "--categories", "simpel"], "unknown BFCL category 'simpel'"),
        (["--model", "/no/such/model"], "--model /no/such/model: no such model folder"),
        (["--model", "."], "--model .: not a model folder (no config.json, no weights, no tokenizer); give the"),
        (["--endpoint", "http://127.0.0.1:9/v1"], "--endpoint needs --served-model"),
        (["--runner", "silent", "--limit", "0"], "limit must be at least 1"),
        (
            ["--runner", "silent", "--categories", "simple", "--ids", "simple_7,irrelevance_2"],
            "ids: no entry irrelevance_2 in the categories simple",
        ),
    ],
)
def test_eval_bfcl_bad_arguments_are_one_line_errors(tmp_path, capsys, argv, message):
    assert main(["eval", "bfcl", *argv, "--out", str(tmp_path), "--no-progress"]) == 2
    assert message in capsys.readouterr().err


def test_model_runner_uses_the_tool_format_the_model_was_trained_with(tmp_path, tiny_model_dir):
    model = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model)
    (model / "magnet.json").write_text(json.dumps({"stage": "mdpo", "tool_format": "native"}))
    parse = build_parser().parse_args
    args = parse(["eval", "bfcl", "--model", str(model)])
    assert runner_from_settings(settings_from_args(EvalSettings, args)).tool_format == "native"
    args = parse(["eval", "bfcl", "--model", str(model), "--tool-format", "bfcl_prompt"])
    assert runner_from_settings(settings_from_args(EvalSettings, args)).tool_format == "bfcl_prompt"
    assert isinstance(args, argparse.Namespace)
