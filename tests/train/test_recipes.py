"""The recipes as users launch them: `accelerate launch` with 2 processes on CPU (gloo) and with the ZeRO-3
config, SFT then mDPO from its output; and a run killed after a checkpoint resumes to the same loss curve."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from magnet.data.mixture import split
from magnet.data.schema import preference_dataset, sft_dataset
from magnet.train.outputs import read_training_record

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
ACCELERATE = str(Path(sys.executable).parent / "accelerate")
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


@pytest.fixture(scope="module")
def data(tmp_path_factory, sft_rows, preference_rows):
    folder = tmp_path_factory.mktemp("recipe-data")
    split(sft_dataset(sft_rows), 2, seed=0).save_to_disk(str(folder / "sft"))
    split(preference_dataset(preference_rows), 2, seed=0).save_to_disk(str(folder / "preference"))
    return folder


def launch(recipe: str, config: str, accelerate_config: str | None, *overrides: str, timeout: int = 300):
    command = [sys.executable, str(ROOT / "recipes" / f"{recipe}.py")]
    if accelerate_config is not None:
        command = [
            ACCELERATE,
            "launch",
            "--config_file",
            str(ROOT / "recipes" / "accelerate" / accelerate_config),
            "--num_processes",
            "2",
            "--mixed_precision",
            "no",
            str(ROOT / "recipes" / f"{recipe}.py"),
        ]
    command += ["--config", str(ROOT / "recipes" / "tiny" / config), *overrides]
    done = subprocess.run(command, env=ENV, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr[-4000:]
    return done.stdout + done.stderr


def losses(output_dir: Path) -> list[float]:
    state = json.loads((output_dir / "trainer_state.json").read_text())
    return [entry["loss"] for entry in state["log_history"] if "loss" in entry]


@pytest.mark.parametrize("accelerate_config", ["ddp.yaml", "zero3.yaml"])
def test_sft_then_mdpo_on_two_processes(tmp_path, data, tiny_model_dir, accelerate_config):
    sft_out, mdpo_out = tmp_path / "sft", tmp_path / "mdpo"
    log = launch(
        "sft",
        "sft.yaml",
        accelerate_config,
        f"--model_name_or_path={tiny_model_dir}",
        f"--datasets={data / 'sft'}",
        f"--output_dir={sft_out}",
        "--max_steps=3",
        "--save_strategy=no",
    )
    kind = "DEEPSPEED" if accelerate_config == "zero3.yaml" else "MULTI_CPU"
    assert f"training on 2 process(es), DistributedType.{kind}" in log
    assert len(losses(sft_out)) == 3 and (sft_out / "model.safetensors").is_file()
    assert read_training_record(sft_out)["tool_format"] == "bfcl_prompt"
    assert (sft_out / "README.md").is_file()  # the model card
    # mDPO from the SFT model: LoRA (reference = adapter disabled) under DDP, full (reference copy) under ZeRO-3
    peft = "--use_peft=true" if accelerate_config == "ddp.yaml" else "--use_peft=false"
    log = launch(
        "mdpo",
        "mdpo.yaml",
        accelerate_config,
        f"--model_name_or_path={sft_out}",
        f"--datasets={data / 'preference'}",
        f"--output_dir={mdpo_out}",
        "--max_steps=2",
        "--save_strategy=no",
        peft,
    )
    assert f"training on 2 process(es), DistributedType.{kind}" in log
    state = json.loads((mdpo_out / "trainer_state.json").read_text())
    logged = [entry for entry in state["log_history"] if "loss" in entry]
    assert len(logged) == 2 and all("rewards/margins" in entry and "nll" in entry for entry in logged)
    saved = "adapter_model.safetensors" if peft.endswith("true") else "model.safetensors"
    assert (mdpo_out / saved).is_file()


def test_a_killed_run_resumes_to_the_same_loss_curve(tmp_path, data, tiny_model_dir):
    common = [
        f"--model_name_or_path={tiny_model_dir}",
        f"--datasets={data / 'sft'}",
        "--max_steps=6",
        "--save_steps=2",
        "--save_total_limit=5",
    ]
    whole = tmp_path / "whole"
    launch("sft", "sft.yaml", None, *common, f"--output_dir={whole}")

    cut = tmp_path / "cut"
    command = [sys.executable, str(ROOT / "recipes" / "sft.py"), "--config", str(ROOT / "recipes/tiny/sft.yaml")]
    process = subprocess.Popen(
        [*command, *common, f"--output_dir={cut}"],
        env=ENV,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 240
    while not (cut / "checkpoint-2" / "trainer_state.json").is_file():
        assert process.poll() is None and time.monotonic() < deadline, "the run ended before its first checkpoint"
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (cut / "trainer_state.json").is_file()  # it did not finish

    log = launch("sft", "sft.yaml", None, *common, f"--output_dir={cut}")
    assert "resuming from" in log
    # One machine, the same float32 computations: a resume reproduces the curve (here to the last bit); 1e-6
    # leaves room for one reordered sum, far below what a lost optimizer state, schedule or data position moves.
    assert losses(cut) == pytest.approx(losses(whole), rel=1e-6, abs=0)
    assert len(losses(cut)) == 6
