"""MultiTurnDPOTrainer against TRL's DPOTrainer: the cost of Magnet's multi-turn loss and collator per step, and
the speed of both trainers' preprocessing.

One optimizer step of each trainer on the same random Qwen2 (hidden 256, 4 layers: big enough that compute,
not Python, dominates on CPU) and the same batch of single-turn pairs about 1,024 tokens long (a reference model
forward included); the median step time of each and their ratio (target: ours at most 1.10x TRL's). Then both
trainers' dataset preparation (tokenization) on the same multi-turn preference rows from ``magnet synth``:
tokens/s. Prints figures and ratios; never part of the tests' pass/fail.

``--device cuda --hidden 1024 --layers 8 --batch 4`` measures the same on a GPU in bf16 (what a user's machine
runs); the defaults are what ``make bench`` runs on CPU.
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
from trl import DPOConfig, DPOTrainer

from magnet.data.schema import preference_dataset
from magnet.synthesis.config import load_config
from magnet.synthesis.synth import run_synth
from magnet.testing import build_tiny_model
from magnet.train.config import MDPOConfig
from magnet.train.mdpo import MultiTurnDPOTrainer

STEPS = 5
BATCH = 2
TARGET_TOKENS = 1024
CPU = dict(
    use_cpu=True,
    bf16=False,
    activation_checkpointing=False,
    report_to="none",
    save_strategy="no",
    logging_steps=1,
    seed=0,
    max_length=None,
    per_device_train_batch_size=BATCH,
    max_steps=STEPS,
    learning_rate=1e-6,
    beta=0.1,
    disable_tqdm=True,
)


class StepTimer(TrainerCallback):
    """Wall time of every optimizer step."""

    def __init__(self):
        self.times: list[float] = []
        self._started = 0.0

    def on_step_begin(self, args, state, control, **kwargs):
        self._started = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        self.times.append(time.perf_counter() - self._started)


def _pairs(folder: Path) -> tuple[list[dict], list[dict]]:
    """Single-turn pairs padded to about TARGET_TOKENS, and multi-turn pairs, from a small offline synthesis."""
    settings = ["paths.walks_per_function=1", "paths.limit=60", "paths.single=40", "datasets.preference_mixture=all"]
    run_synth(load_config(None, [*settings, f"out={folder / 'synth'}"]), progress=False)
    import datasets

    rows = [
        row for split in datasets.load_from_disk(str(folder / "synth/datasets/preference")).values() for row in split
    ]
    multi = [row for row in rows if row["meta"]["kind"] == "multi_turn"]
    single = []
    for row in rows:
        chosen, rejected = row["chosen"][:1], row["rejected"][:1]
        if chosen[0]["role"] == rejected[0]["role"] == "assistant" and chosen != rejected:
            single.append({**row, "chosen": chosen, "rejected": rejected})
    return single, multi


def _pad(pairs: list[dict], tokenizer) -> list[dict]:
    filler = " Please keep every detail of the request in mind while answering."
    padded = []
    for pair in pairs:
        prompt = copy.deepcopy(pair["prompt"])
        per_filler = len(tokenizer(filler, add_special_tokens=False)["input_ids"])
        repeat = max(0, (TARGET_TOKENS - _length(tokenizer, prompt + pair["chosen"], pair["tools"])) // per_filler)
        prompt[-1]["content"] += filler * repeat
        padded.append({**pair, "prompt": prompt})
    return padded


def _length(tokenizer, messages, tools) -> int:
    text = tokenizer.apply_chat_template(messages, tools=tools, tokenize=False)
    return len(tokenizer(text, add_special_tokens=False)["input_ids"])


def _arguments(device: str, batch: int, steps: int) -> dict:
    """The trainers' shared arguments: fp32 on CPU, bf16 on a GPU."""
    on_gpu = {"use_cpu": False, "bf16": True} if device == "cuda" else {}
    return {**CPU, **on_gpu, "per_device_train_batch_size": batch, "max_steps": steps}


def _step_times(
    trainer_class, args_class, model, reference, dataset, tokenizer, folder: Path, arguments
) -> list[float]:
    timer = StepTimer()
    trainer = trainer_class(
        copy.deepcopy(model),
        ref_model=copy.deepcopy(reference),
        args=args_class(output_dir=str(folder), **arguments),
        train_dataset=dataset,
        processing_class=tokenizer,
        callbacks=[timer],
    )
    trainer.train()
    return timer.times[1:]  # the first step warms up allocators and kernels


def _preprocessing(trainer_class, args_class, model, dataset, tokenizer, folder: Path, arguments) -> tuple[float, int]:
    trainer = trainer_class(
        model, args=args_class(output_dir=str(folder), **arguments), train_dataset=dataset.select(range(2)),
        processing_class=tokenizer,
    )  # fmt: skip
    started = time.perf_counter()
    prepared = trainer._prepare_dataset(dataset, tokenizer, trainer.args, "train")
    seconds = time.perf_counter() - started
    tokens = sum(len(row["prompt_ids"]) + len(row["chosen_ids"]) + len(row["rejected_ids"]) for row in prepared)
    return seconds, tokens


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--batch", type=int, default=BATCH)
    parser.add_argument("--steps", type=int, default=STEPS)
    options = parser.parse_args()
    arguments = _arguments(options.device, options.batch, options.steps)
    torch.set_num_threads(os.cpu_count() or 1)
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        model_dir = build_tiny_model(folder / "model", hidden_size=options.hidden, layers=options.layers)
        tokenizer = AutoTokenizer.from_pretrained(model_dir)
        reference = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
        policy = copy.deepcopy(reference)
        single, multi = _pairs(folder)
        pairs = _pad(single[: options.batch], tokenizer) * options.steps
        dataset = preference_dataset(pairs, validate=False)
        lengths = [_length(tokenizer, p["prompt"] + p["chosen"], p["tools"]) for p in pairs[: options.batch]]
        parameters = sum(p.numel() for p in policy.parameters())
        where = (
            f"{torch.cuda.get_device_name()}, bf16"
            if options.device == "cuda"
            else f"CPU, fp32, {torch.get_num_threads()} threads"
        )
        print(
            f"model: Qwen2 hidden {options.hidden}, {options.layers} layers, {parameters / 1e6:.1f}M parameters; "
            f"batch {options.batch} single-turn pairs of {min(lengths)}-{max(lengths)} tokens (chosen side), "
            f"reference model forward included; {where}"
        )
        steps = (policy, reference, dataset, tokenizer)
        theirs = _step_times(DPOTrainer, DPOConfig, *steps, folder / "trl", arguments)
        ours = _step_times(MultiTurnDPOTrainer, MDPOConfig, *steps, folder / "ours", arguments)
        trl_median, our_median = statistics.median(theirs), statistics.median(ours)
        print("trainer              median step (s)  steps timed")
        print(f"trl.DPOTrainer       {trl_median:15.3f}  {len(theirs)}")
        print(f"MultiTurnDPOTrainer  {our_median:15.3f}  {len(ours)}")
        print(f"ratio ours / TRL: {our_median / trl_median:.3f} (target <= 1.10)")

        multi_dataset = preference_dataset(multi, validate=False)
        print(f"\npreprocessing {len(multi)} multi-turn preference rows (tokenize prompt, chosen and rejected):")
        print("trainer              seconds  tokens     tokens/s")
        for label, trainer_class, args_class in (
            ("trl.DPOTrainer", DPOTrainer, DPOConfig),
            ("MultiTurnDPOTrainer", MultiTurnDPOTrainer, MDPOConfig),
        ):
            seconds, tokens = _preprocessing(
                trainer_class, args_class, policy, multi_dataset, tokenizer, folder / "p", arguments
            )
            print(f"{label:<20} {seconds:7.2f}  {tokens:9,}  {tokens / seconds:11,.0f}")
        print("(TRL's tokens are its own tokenization of the same conversations; ours add per-token turn numbers "
              "and the assistant mask of every turn)")  # fmt: skip


if __name__ == "__main__":
    main()
