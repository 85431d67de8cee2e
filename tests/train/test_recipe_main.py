"""The recipes' body: a bad input is one line on stderr, printed by the first process of a launch only."""

from __future__ import annotations

import sys

import pytest

from magnet.errors import MagnetError
from magnet.train.config import ScriptArguments
from magnet.train.recipe_main import run_recipe


def _refuse(script_args: ScriptArguments) -> None:
    raise MagnetError(f"{script_args.datasets[0]}: no such dataset folder")


@pytest.mark.parametrize(("rank", "printed"), [("0", True), ("1", False)])
def test_a_refused_run_prints_its_cause_once(monkeypatch, capsys, rank, printed):
    monkeypatch.setattr(sys, "argv", ["recipes/sft.py", "--datasets", "runs/missing"])
    monkeypatch.setenv("LOCAL_RANK", rank)
    assert run_recipe("recipes/sft.py", (ScriptArguments,), _refuse) == 2
    err = capsys.readouterr().err
    assert err == ("recipes/sft.py: runs/missing: no such dataset folder\n" if printed else "")


def test_a_finished_run_returns_zero(monkeypatch):
    seen = []
    monkeypatch.setattr(sys, "argv", ["recipes/sft.py", "--tool_format", "native"])
    assert run_recipe("recipes/sft.py", (ScriptArguments,), seen.append) == 0
    assert seen[0].tool_format == "native"


def test_the_launcher_reads_the_cause_from_its_error_file(monkeypatch, tmp_path):
    """torch elastic (under accelerate launch) reads a failed process's error file into its failure report."""
    from torch.distributed.elastic.multiprocessing.errors import ProcessFailure

    error_file = tmp_path / "error.json"
    monkeypatch.setattr(sys, "argv", ["recipes/sft.py", "--datasets", "runs/missing"])
    monkeypatch.setenv("TORCHELASTIC_ERROR_FILE", str(error_file))
    assert run_recipe("recipes/sft.py", (ScriptArguments,), _refuse) == 2
    failure = ProcessFailure(local_rank=0, pid=1, exitcode=2, error_file=str(error_file))
    assert failure.message == "recipes/sft.py: runs/missing: no such dataset folder"


def test_a_model_folder_that_is_not_there_is_one_line_before_loading(tmp_path):
    from magnet.train.loading import local_model_problem

    assert local_model_problem("runs/demo/base") == "runs/demo/base: no such model folder"
    assert local_model_problem(str(tmp_path)).startswith(f"{tmp_path}: not a model folder (no config.json")
    assert local_model_problem("Qwen/Qwen2.5-Coder-14B-Instruct") is None  # a hub id: the hub's to answer
