"""mDPO step time with prefix sharing over without (``MDPOConfig.prefix_sharing``), on multi-turn pairs of the offline
synthesis: the same random Qwen2 (hidden 256, 4 layers), the same pairs, a reference forward in every step; the
median step time of each and their ratio (issue 23's target: at most 0.75), and the share of the unshared rows'
tokens that are prompt, since the gain follows it.

``--device cuda --hidden 1024 --layers 8 --batch 4`` measures the same on a GPU in bf16.
"""

from __future__ import annotations

import argparse
import os
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


def prefix_share(trainer: MultiTurnDPOTrainer, count: int) -> tuple[float, int, int]:
    """The share of the unshared rows' tokens that are prompt, and the tokens of both layouts, on ``count`` rows."""
    rows = [trainer.train_dataset[i] for i in range(count)]
    prompt = sum(2 * len(row["prompt_ids"]) for row in rows)
    unshared = sum(2 * len(row["prompt_ids"]) + len(row["chosen_ids"]) + len(row["rejected_ids"]) for row in rows)
    return prompt / unshared, unshared, unshared - prompt // 2 + count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--steps", type=int, default=5)
    options = parser.parse_args()
    arguments = {**_arguments(options.device, options.batch, options.steps), "max_length": 4096}
    torch.set_num_threads(os.cpu_count() or 1)
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        model_dir = build_tiny_model(folder / "model", hidden_size=options.hidden, layers=options.layers)
        tokenizer = AutoTokenizer.from_pretrained(model_dir)
        reference = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32, attn_implementation="sdpa")
        _, multi = _pairs(folder)
        pairs = sorted(multi, key=lambda p: len(str(p)), reverse=True)[: options.batch * options.steps]
        dataset = preference_dataset(pairs, validate=False)
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
        probe = MultiTurnDPOTrainer(
            reference,
            args=MDPOConfig(output_dir=str(folder / "probe"), **arguments),
            train_dataset=dataset,
            processing_class=tokenizer,
        )
        share, unshared, shared = prefix_share(probe, len(pairs))
        where = f"{torch.cuda.get_device_name()}, bf16" if options.device == "cuda" else "CPU, fp32, sdpa"
        print(
            f"model: Qwen2 hidden {options.hidden}, {options.layers} layers; {len(pairs)} multi-turn pairs, batch "
            f"{options.batch}, max_length 4096, reference forward included; {where}"
        )
        print(
            f"tokens forwarded: unshared {unshared:,}, shared {shared:,}; prompt share of the unshared rows {share:.1%}"
        )
        plain, packed = statistics.median(times[False]), statistics.median(times[True])
        print("layout                  median step (s)  steps timed")
        print(f"two rows per pair       {plain:15.3f}  {len(times[False])}")
        print(f"one packed row per pair {packed:15.3f}  {len(times[True])}")
        print(f"ratio shared / unshared: {packed / plain:.3f} (target <= 0.75)")


if __name__ == "__main__":
    main()
