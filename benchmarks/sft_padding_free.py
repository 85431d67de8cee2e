"""SFT tokens per second, padded batches against padding-free ones (``padding_free: true``), on the offline
synthesis's SFT rows: the same random Qwen2 (hidden 256, 4 layers), the same rows, four rows a step; the trained
and the forwarded tokens per second of each and their ratio.

A padded batch forwards every row at the longest row's length; a padding-free batch is the rows end to end with
their boundaries: FlashAttention-2's varlen kernel on a GPU, and with ``sdpa`` Magnet's attention, each row on
SDPA's causal kernel (``magnet.train.attention``). ``--device cuda --hidden 1024 --layers 8 --attention
flash_attention_2`` measures the recipes' path on a GPU.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch
from trainer_overhead import StepTimer
from trl import ModelConfig

from magnet.synthesis.config import load_config
from magnet.synthesis.synth import run_synth
from magnet.testing import build_tiny_model
from magnet.train.config import MagnetSFTConfig, ScriptArguments
from magnet.train.sft import build_sft_trainer

MAX_LENGTH = 8172  # the recipes'


def _tokens_per_second(folder: Path, model_dir: Path, options, padding_free: bool) -> tuple[float, float, float]:
    """Median step time, and trained and forwarded (padding included) tokens per second over the timed steps."""
    timer = StepTimer()
    on_gpu = {"use_cpu": False, "bf16": True} if options.device == "cuda" else {"use_cpu": True, "bf16": False}
    args = MagnetSFTConfig(
        output_dir=str(folder / f"sft-{padding_free}"),
        **on_gpu,
        activation_checkpointing=False,
        report_to="none",
        save_strategy="no",
        logging_steps=1,
        seed=0,
        max_length=MAX_LENGTH,
        per_device_train_batch_size=options.batch,
        max_steps=options.steps,
        learning_rate=1e-6,
        padding_free=padding_free,
        disable_tqdm=True,
        dataset_num_proc=None,
    )
    trainer = build_sft_trainer(
        ScriptArguments(datasets=[str(folder / "synth/datasets/sft")], tool_format="bfcl_prompt"),
        args,
        ModelConfig(
            model_name_or_path=str(model_dir),
            dtype="bfloat16" if options.device == "cuda" else "float32",
            attn_implementation=options.attention,
        ),
    )
    trainer.add_callback(timer)
    batches = list(trainer.get_train_dataloader())[: options.steps]
    trained = [int((batch["labels"][:, 1:] != -100).sum()) for batch in batches]
    forwarded = [int(batch["input_ids"].numel()) for batch in batches]
    trainer.train()
    times = timer.times[1:]  # the first step warms up allocators and kernels
    seconds = sum(times)
    return statistics.median(times), sum(trained[1:]) / seconds, sum(forwarded[1:]) / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--attention", default="sdpa")
    options = parser.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        model_dir = build_tiny_model(folder / "model", hidden_size=options.hidden, layers=options.layers)
        settings = ["paths.walks_per_function=1", "paths.limit=60", f"out={folder / 'synth'}"]
        run_synth(load_config(None, settings), progress=False)
        results = {free: _tokens_per_second(folder, model_dir, options, free) for free in (False, True)}
        where = f"{torch.cuda.get_device_name()}, bf16" if options.device == "cuda" else "CPU, fp32"
        print(
            f"model: Qwen2 hidden {options.hidden}, {options.layers} layers; {options.batch} SFT rows a step "
            f"(bfcl_prompt, max_length {MAX_LENGTH}); {where}, {options.attention}"
        )
        print("batches        median step (s)  trained tokens/s  forwarded tokens/s")
        for free, label in ((False, "padded"), (True, "padding-free")):
            step, trained, forwarded = results[free]
            print(f"{label:<13}  {step:15.3f}  {trained:16,.0f}  {forwarded:18,.0f}")
        print(f"trained tokens/s, padding-free / padded: {results[True][1] / results[False][1]:.2f}")


if __name__ == "__main__":
    main()
