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
    monkeypatch.setenv("RANK", rank)
    assert run_recipe("recipes/sft.py", (ScriptArguments,), _refuse) == 2
    err = capsys.readouterr().err
    assert err == ("recipes/sft.py: runs/missing: no such dataset folder\n" if printed else "")


def test_a_finished_run_returns_zero(monkeypatch):
    seen = []
    monkeypatch.setattr(sys, "argv", ["recipes/sft.py", "--tool_format", "native"])
    assert run_recipe("recipes/sft.py", (ScriptArguments,), seen.append) == 0
    assert seen[0].tool_format == "native"
