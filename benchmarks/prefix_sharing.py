"""mDPO step time with prefix sharing over without (``MDPOConfig.prefix_sharing``), on multi-turn pairs of the offline
synthesis at the recipes' max_length (8,172): the same random Qwen2 (hidden 256, 4 layers), the same pairs (a seeded
sample of them), a reference forward in every step; the median step time of each and their ratio (issue 23's
target: at most 0.75), and the share of the unshared rows' tokens that are prompt, since the gain follows it.

Two batchings: two pairs a step, as training draws them (the unshared layout pads its four rows to the longest, and
a padding mask takes SDPA off its causal kernel), and one pair a step (two rows, little padding): the second
isolates what forwarding the prompt once gives.

``--device cuda --hidden 1024 --layers 8`` measures the same on a GPU in bf16; ``--attention flash_attention_2``
there with the recipes' attention (the two pieces as one varlen call, ``magnet_fa2``).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch
from trainer_overhead import _arguments, _pairs, _step_times
from transformers import AutoModelForCausalLM, AutoTokenizer

from magnet.data.schema import preference_dataset
from magnet.testing import build_tiny_model
from magnet.train.config import MDPOConfig
from magnet.train.mdpo import MultiTurnDPOTrainer

MAX_LENGTH = 8172  # the recipes'


def prefix_share(trainer: MultiTurnDPOTrainer, count: int) -> tuple[float, int, int]:
    """The share of the unshared rows' tokens that are prompt, and the tokens of both layouts, on ``count`` rows."""
    rows = [trainer.train_dataset[i] for i in range(count)]
    prompt = sum(2 * len(row["prompt_ids"]) for row in rows)
    unshared = sum(2 * len(row["prompt_ids"]) + len(row["chosen_ids"]) + len(row["rejected_ids"]) for row in rows)
    return prompt / unshared, unshared, unshared - prompt // 2 + count


def _ratio(reference, dataset, tokenizer, folder: Path, arguments: dict) -> tuple[float, float, int]:
    times = {}
    for sharing in (False, True):
        times[sharing] = _step_times(
            MultiTurnDPOTrainer,
            MDPOConfig,
            reference,
            reference,
            dataset,
            tokenizer,
            folder / str(sharing),
            {**arguments, "prefix_sharing": sharing},
        )
    return statistics.median(times[False]), statistics.median(times[True]), len(times[True])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--pairs", type=int, default=10)
    parser.add_argument("--attention", choices=("sdpa", "flash_attention_2", "flash_attention_3"), default="sdpa")
    options = parser.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        model_dir = build_tiny_model(folder / "model", hidden_size=options.hidden, layers=options.layers)
        tokenizer = AutoTokenizer.from_pretrained(model_dir)
        reference = AutoModelForCausalLM.from_pretrained(
            model_dir,
            dtype=torch.float32 if options.attention == "sdpa" else torch.bfloat16,  # FlashAttention takes no fp32
            attn_implementation=options.attention,
        )
        _, multi = _pairs(folder)
        pairs = random.Random(0).sample(multi, min(len(multi), options.pairs))
        dataset = preference_dataset(pairs, validate=False)
        probe = MultiTurnDPOTrainer(
            reference,
            args=MDPOConfig(
                output_dir=str(folder / "probe"), **{**_arguments(options.device, 1, 1), "max_length": MAX_LENGTH}
            ),
            train_dataset=dataset,
            processing_class=tokenizer,
        )
        share, unshared, shared = prefix_share(probe, len(pairs))
        where = f"{torch.cuda.get_device_name()}, bf16" if options.device == "cuda" else "CPU, fp32"
        where += f", {options.attention}"
        print(
            f"model: Qwen2 hidden {options.hidden}, {options.layers} layers; {len(pairs)} of the {len(multi)} "
            f"multi-turn pairs, max_length {MAX_LENGTH}, reference forward included; {where}"
        )
        print(
            f"tokens forwarded: unshared {unshared:,}, shared {shared:,} ({shared / unshared:.3f}); prompt share of "
            f"the unshared rows {share:.1%}"
        )
        print("pairs a step  two rows per pair (s)  one packed row per pair (s)  steps timed  shared / unshared")
        for batch in (2, 1):
            arguments = {**_arguments(options.device, batch, len(pairs) // batch), "max_length": MAX_LENGTH}
            plain, packed, steps = _ratio(reference, dataset, tokenizer, folder / str(batch), arguments)
            print(f"{batch:12d}  {plain:21.3f}  {packed:27.3f}  {steps:11d}  {packed / plain:17.3f}")
        print("(target: shared / unshared <= 0.75)")


if __name__ == "__main__":
    main()
