"""What both recipes load before training: the datasets (with mixture weights), the tokenizer, the model's
loading arguments, and the checkpoint to resume from.

Kept apart from the trainers so that ``recipes/sft.py`` and ``recipes/mdpo.py`` read top to bottom, as
alignment-handbook's scripts do, and so that a notebook can call the same pieces.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import datasets
import torch
from transformers import AutoTokenizer
from trl import ModelConfig

from magnet.errors import DatasetError, MagnetError
from magnet.train.config import ScriptArguments

logger = logging.getLogger(__name__)

SFT_REQUIRED = ("messages",)
PREFERENCE_REQUIRED = ("prompt", "chosen", "rejected")
FLASH_ATTENTION = (
    "flash_attention_2",
    "flash_attention_3",
    "kernels-community/flash-attn",
    "kernels-community/vllm-flash-attn3",
)


def _load_one(name: str, split: str, required: bool) -> datasets.Dataset | None:
    """One dataset's split from a ``save_to_disk`` folder or the hub (None when an optional split is absent)."""
    name = str(Path(name).expanduser()) if name.startswith("~") else name
    if not Path(name).exists() and (name.startswith((".", "/")) or name.count("/") > 1):
        raise MagnetError(
            f"dataset {name}: no such folder (a save_to_disk folder such as runs/synth/datasets/sft, or a hub id)"
        )
    try:
        loaded = datasets.load_from_disk(name) if Path(name).exists() else datasets.load_dataset(name)
    except FileNotFoundError as error:
        raise MagnetError(f"dataset {name!r}: {error}") from None
    except Exception as error:  # the hub, offline mode, a corrupt folder: say which dataset
        raise MagnetError(f"dataset {name!r} could not be loaded: {type(error).__name__}: {error}") from None
    if isinstance(loaded, datasets.Dataset):
        return loaded if split == "train" else None
    if split in loaded:
        return loaded[split]
    if required:
        raise MagnetError(f"dataset {name!r} has no split {split!r} (it has {sorted(loaded)})")
    return None


def load_datasets(
    script_args: ScriptArguments, required_columns: Sequence[str], seed: int
) -> tuple[datasets.Dataset, datasets.Dataset | None]:
    """The train split (each dataset cut to its weight's share, then all concatenated) and the eval split, if any.

    Each dataset must have ``required_columns``; the error names the dataset and the missing column."""
    if not script_args.datasets:
        raise MagnetError("no datasets to train on: set `datasets:` in the recipe or pass --datasets PATH")
    weights = script_args.dataset_weights or [1.0] * len(script_args.datasets)
    trains, evals = [], []
    for name, weight in zip(script_args.datasets, weights, strict=True):
        train = _load_one(name, script_args.train_split, required=True)
        missing = [column for column in required_columns if column not in train.column_names]
        if missing:
            raise DatasetError(
                f"dataset {name!r}: missing column(s) {missing}; it has {train.column_names} "
                f"(expected {list(required_columns)})"
            )
        if weight < 1.0:
            train = train.shuffle(seed=seed).select(range(round(weight * len(train))))
        trains.append(train.flatten_indices())
        evaluation = _load_one(name, script_args.eval_split, required=False)
        if evaluation is not None:
            evals.append(evaluation)
        logger.info("dataset %s: %d training rows (weight %.2f)", name, len(train), weight)
    train = trains[0] if len(trains) == 1 else datasets.concatenate_datasets(trains)
    evaluation = None
    if evals:
        evaluation = evals[0] if len(evals) == 1 else datasets.concatenate_datasets(evals)
    return train, evaluation


def local_model_problem(name: str) -> str | None:
    """Why ``name`` cannot be loaded, when it names a local folder (an existing path, or one written as a path:
    ``./x``, ``/x``, ``runs/demo/base``; a hub id has at most one ``/``), or None. Checked before loading: a missing
    folder is one line, not each process's hub-lookup traceback."""
    from magnet.llm.local import model_folder_problem

    if Path(name).exists() or name.startswith((".", "/", "~")) or name.count("/") > 1:
        return model_folder_problem(Path(name).expanduser())
    return None


def load_tokenizer(model_args: ModelConfig, trust_remote_code: bool = False) -> Any:
    """The model's tokenizer, with a pad token (its end-of-text or end-of-turn token when it has none)."""
    if not model_args.model_name_or_path:
        raise MagnetError("no model: set `model_name_or_path:` in the recipe or pass --model_name_or_path PATH")
    problem = local_model_problem(model_args.model_name_or_path)
    if problem:
        raise MagnetError(f"model_name_or_path {problem}")
    try:
        tokenizer = AutoTokenizer.from_pretrained(
            str(Path(model_args.model_name_or_path).expanduser()),
            revision=model_args.model_revision,
            trust_remote_code=trust_remote_code,
        )
    except OSError as error:  # not on the hub (or no hub here) and not a local folder: one line, not a traceback
        raise MagnetError(f"model_name_or_path {model_args.model_name_or_path}: cannot load it ({error})") from None
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def model_init_kwargs(model_args: ModelConfig, trust_remote_code: bool = False) -> dict[str, Any]:
    """``from_pretrained`` arguments from TRL's ``ModelConfig``, as TRL's own scripts build them (the trainers
    take QLoRA's ``quantization_config`` separately: ``trl.get_quantization_config(model_args)``)."""
    return {
        "revision": model_args.model_revision,
        "trust_remote_code": trust_remote_code,
        "attn_implementation": model_args.attn_implementation,
        "dtype": model_args.dtype,
    }


def check_packing(packing: bool, model_args: ModelConfig) -> None:
    """Packing puts several rows in one sequence; without a FlashAttention kernel that reads the packed
    ``position_ids``, rows would attend to each other, so it is refused."""
    if packing and model_args.attn_implementation not in FLASH_ATTENTION:
        raise MagnetError(
            f"packing=true needs attn_implementation in {FLASH_ATTENTION} (got "
            f"{model_args.attn_implementation!r}): with other attention kernels packed rows attend to each other. "
            "Set attn_implementation: flash_attention_2, or packing: false."
        )


def last_complete_checkpoint(output_dir: str | Path) -> str | None:
    """The newest ``checkpoint-N`` folder that was written to the end (the Trainer writes ``trainer_state.json``
    last); one cut short by a kill is skipped with a warning."""
    folders = sorted(
        (p for p in Path(output_dir).glob("checkpoint-*") if p.is_dir() and p.name.split("-")[-1].isdigit()),
        key=lambda p: int(p.name.split("-")[-1]),
        reverse=True,
    )
    for folder in folders:
        if (folder / "trainer_state.json").is_file():
            return str(folder)
        logger.warning("skipping %s: incomplete (no trainer_state.json), probably cut short by a kill", folder)
    return None


def resume_checkpoint(output_dir: str, resume_from_checkpoint: str | bool | None) -> str | None:
    """The checkpoint to resume from: the one asked for, else the last complete one in ``output_dir`` (a rerun of
    the same command continues where it stopped); ``resume_from_checkpoint: false`` starts afresh."""
    if resume_from_checkpoint is False or str(resume_from_checkpoint).lower() == "false":
        return None
    if resume_from_checkpoint and str(resume_from_checkpoint).lower() != "true":
        return str(resume_from_checkpoint)
    last = last_complete_checkpoint(output_dir) if os.path.isdir(output_dir) else None
    if last is not None:
        logger.info("resuming from %s", last)
    return last


def init_cpu_deepspeed() -> None:
    """Under DeepSpeed on a machine without GPUs, start DeepSpeed's process group on gloo before any model is
    built: TRL builds the reference model inside ``deepspeed.zero.Init``, which would otherwise see one process."""
    if os.environ.get("ACCELERATE_USE_DEEPSPEED", "").lower() == "true" and not torch.cuda.is_available():
        import deepspeed

        deepspeed.init_distributed(dist_backend="gloo")


def shutdown_distributed() -> None:
    """Close the process group before the interpreter exits: DeepSpeed's gloo groups abort the process
    ("terminate called without an active exception") when they are torn down at exit instead."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()
