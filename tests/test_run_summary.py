"""One table for a run: read from the files the pipeline writes, whatever part of the run exists."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from magnet.errors import MagnetError
from magnet.run_summary import summarize_run


def _write(path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))


@pytest.fixture
def run(tmp_path):
    folder = tmp_path / "run"
    _write(
        folder / "synth" / "report.json",
        {
            "stages": {
                "translate": {"inputs": 120, "accepted": 80, "rejected": 40},
                "positives": {"inputs": 80, "accepted": 78, "rejected": 2},
                "negatives": {"inputs": 78, "accepted": 70, "rejected": 8},
            },
            "sft": {"rows": 78, "kinds": {"multi_turn": 30, "single_turn": 48}},
            "preference": {"rows": 70, "kinds": {"multi_turn": 30, "single_turn": 40}},
            "usage": {"total": {"requests": 0}},
            "plots": [str(folder / "synth" / "sft_distributions.png")],
        },
    )
    state = {"log_history": [{"loss": 6.5, "step": 1}, {"loss": 5.25, "step": 12}, {"train_loss": 5.9, "step": 12}]}
    _write(folder / "sft" / "trainer_state.json", state)
    dpo = {"log_history": [{"loss": 0.69, "step": 1}, {"loss": 0.61, "step": 12, "rewards/accuracies": 0.75}]}
    _write(folder / "mdpo" / "trainer_state.json", dpo)
    for name, accuracy in (("mdpo", 25.0), ("base", 0.0), ("reference", 100.0)):
        _write(
            folder / "eval" / name / "summary.json",
            {"limit": 2, "table2": {"overall": None}, "categories": {"simple": {"accuracy": accuracy, "count": 2}}},
        )
    return folder


def test_the_table_has_counts_losses_and_scores_in_pipeline_order(run):
    summary = summarize_run(run)
    values = {(row.step, row.figure): row.value for row in summary.rows}
    assert values[("synth", "signature paths -> episodes (rejected)")] == "120 -> 80 (40)"
    assert values[("synth", "negative trajectories (rejected)")] == "70 (8)"
    assert values[("datasets", "SFT rows")] == "78 (multi_turn 30, single_turn 48)"
    assert values[("sft", "loss, first -> last logged step")] == "6.5000 -> 5.2500 (steps 1-12)"
    assert values[("mdpo", "reward accuracy / margin, last step")] == "0.75 / 0.0000"
    steps = [row.step for row in summary.rows]
    assert steps.index("sft") < steps.index("mdpo") < steps.index("BFCL reference") < steps.index("BFCL base")
    assert steps.index("BFCL base") < steps.index("BFCL mdpo")
    assert values[("BFCL mdpo", "accuracy (%), first 2 per category")] == "simple 25.00"
    assert not any("teacher requests" in row.figure for row in summary.rows)  # the offline backend sends none
    assert run / "synth" / "report.md" in summary.files


def test_the_command_prints_and_writes_the_table(run):
    done = subprocess.run([sys.executable, "-m", "magnet.cli", "summary", str(run)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "| sft | loss, first -> last logged step | 6.5000 -> 5.2500 (steps 1-12) |" in done.stdout
    assert (run / "summary.md").read_text() in done.stdout


def test_an_empty_or_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(MagnetError, match="nothing to summarize"):
        summarize_run(tmp_path)
    with pytest.raises(MagnetError, match="no such run folder"):
        summarize_run(tmp_path / "missing")
    (tmp_path / "sft").mkdir()
    (tmp_path / "sft" / "trainer_state.json").write_text("{cut")
    with pytest.raises(MagnetError, match=r"sft/trainer_state.json: cannot read"):
        summarize_run(tmp_path)


def test_any_folder_magnet_wrote_is_summarized_on_its_own(run):
    """A synth --out, a training output, an eval --out: each is a run folder of its own (the tour's layout)."""
    synth = summarize_run(run / "synth")
    assert [row.step for row in synth.rows][:3] == ["synth", "synth", "synth"]
    (trained,) = summarize_run(run / "sft").rows
    assert (trained.step, trained.value) == ("sft", "6.5000 -> 5.2500 (steps 1-12)")
    (scored,) = summarize_run(run / "eval" / "base").rows
    assert scored.step == "BFCL base"
    assert [row.step for row in summarize_run(run / "eval").rows] == ["BFCL reference", "BFCL base", "BFCL mdpo"]


def test_checkpoints_are_left_out_and_two_synth_runs_are_told_apart(run):
    _write(run / "sft" / "checkpoint-4" / "trainer_state.json", {"log_history": [{"loss": 9.0, "step": 4}]})
    _write(run / "synth-b" / "report.json", {"stages": {"translate": {"inputs": 1, "accepted": 1, "rejected": 0}}})
    steps = [row.step for row in summarize_run(run).rows]
    assert "checkpoint-4" not in steps and steps.count("sft") == 1
    assert "synth synth" in steps and "synth synth-b" in steps


def test_the_command_leaves_an_evaluations_own_summary_alone(run):
    eval_folder = run / "eval" / "base"
    (eval_folder / "summary.md").write_text("BFCL's Table 2")
    done = subprocess.run(
        [sys.executable, "-m", "magnet.cli", "summary", str(eval_folder)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert (eval_folder / "summary.md").read_text() == "BFCL's Table 2"
    assert "| BFCL base |" in (eval_folder / "run_summary.md").read_text()


def test_files_of_the_same_name_from_other_tools_are_passed_over(run):
    _write(run / "notes" / "report.json", ["not", "magnet's"])
    _write(run / "other" / "summary.json", {"score": 1})
    steps = [row.step for row in summarize_run(run).rows]
    assert "synth notes" not in steps and "BFCL other" not in steps and steps.count("synth") == 3
