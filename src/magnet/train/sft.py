"""Supervised fine-tuning on Magnet's trajectories: ``run_sft`` is what ``recipes/sft.py`` calls.

The rows are rendered in the recipe's tool format and tokenized by Magnet (``magnet.train.tokenize``) with the
assistant mask of the training template, then handed to TRL's ``SFTTrainer`` already tokenized: TRL turns the
mask into labels (-100 on system, user and tool tokens), truncates, packs, and trains. Full fine-tuning, LoRA
and QLoRA come from TRL's ``ModelConfig`` (``use_peft``, ``lora_r``, ``load_in_4bit``, ...).
"""

from __future__ import annotations

import logging
from typing import Any

import torch
from transformers import set_seed
from trl import ModelConfig, SFTTrainer, get_peft_config, get_quantization_config

from magnet.errors import MagnetError
from magnet.train.attention import base_model, sliding_window, use_magnet_sdpa
from magnet.train.config import MagnetSFTConfig, ScriptArguments
from magnet.train.loading import (
    SFT_REQUIRED,
    check_packing,
    load_datasets,
    load_tokenizer,
    model_init_kwargs,
)
from magnet.train.outputs import train_and_save
from magnet.train.templates import template_problems, training_template
from magnet.train.tokenize import tokenize_sft

TEMPLATE_CHECK_ROWS = 16
logger = logging.getLogger(__name__)


def build_sft_trainer(
    script_args: ScriptArguments, training_args: MagnetSFTConfig, model_args: ModelConfig
) -> SFTTrainer:
    """TRL's ``SFTTrainer`` on the recipe's datasets, tokenized with assistant-only masks."""
    set_seed(training_args.seed)
    tokenizer = load_tokenizer(model_args, training_args.trust_remote_code)
    check_packing(training_args.packing, model_args)
    train, evaluation = load_datasets(script_args, SFT_REQUIRED, training_args.seed)
    template = training_template(tokenizer)
    sample = [train[i] for i in range(min(TEMPLATE_CHECK_ROWS, len(train)))]
    problems = template_problems(tokenizer, sample, script_args.tool_format, template)
    if problems:
        raise MagnetError("the training template cannot be trusted on these rows:\n  " + "\n  ".join(problems))
    train = tokenize_sft(train, tokenizer, template, script_args.tool_format, training_args.dataset_num_proc)
    if evaluation is not None:
        evaluation = tokenize_sft(evaluation, tokenizer, template, script_args.tool_format)
    if training_args.padding_free and not training_args.packing and training_args.max_length is not None:
        # TRL truncates while it prepares a dataset, but refuses max_length with padding_free (its collator
        # would not cut the rows); the rows are cut here instead, as TRL cuts them, and TRL gets them uncut.
        cut = (training_args.max_length, training_args.truncation_mode, training_args.assistant_only_loss)
        train = truncate_rows(train, *cut, "train", training_args.dataset_num_proc)
        evaluation = truncate_rows(evaluation, *cut, "eval") if evaluation is not None else None
        training_args.max_length = None
    if not training_args.assistant_only_loss:  # train on every token: no mask for TRL to apply
        train = train.remove_columns("assistant_masks")
        evaluation = evaluation.remove_columns("assistant_masks") if evaluation is not None else None
    # The masks are in the data already; TRL's own switch would ask for untokenized conversations.
    training_args.assistant_only_loss = False
    training_args.model_init_kwargs = model_init_kwargs(model_args, training_args.trust_remote_code)
    trainer = SFTTrainer(
        model=model_args.model_name_or_path,
        args=training_args,
        train_dataset=train,
        eval_dataset=evaluation,
        processing_class=tokenizer,
        peft_config=get_peft_config(model_args),
        quantization_config=get_quantization_config(model_args),
    )
    model = base_model(trainer.model)
    if trainer.padding_free and model.config._attn_implementation == "sdpa" and sliding_window(model.config) is None:
        # each row of a padding-free batch on SDPA's causal kernel, not one block-diagonal mask over the batch
        try:
            use_magnet_sdpa(model)
        except MagnetError as error:
            logger.info("padding-free rows keep transformers' block-diagonal mask: %s", error)
        else:
            trainer.data_collator = FullAttentionMask(trainer.data_collator)
    return trainer


class FullAttentionMask:
    """TRL's padding-free collator with an all-ones ``attention_mask`` added: without one, transformers reads the
    restarted position ids as packed rows and builds a (L x L) block-diagonal mask every forward, which
    ``magnet_sdpa`` never reads (it takes the rows' boundaries from ``cu_seq_lens_q``)."""

    def __init__(self, collator: Any):
        self.collator = collator

    def __call__(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
        batch = self.collator(examples)
        batch["attention_mask"] = torch.ones_like(batch["input_ids"])
        return batch


def truncate_rows(
    dataset: Any, max_length: int, truncation_mode: str, assistant_only: bool, name: str, num_proc: int | None = None
) -> Any:
    """Tokenized rows cut to ``max_length`` as TRL's ``SFTTrainer`` cuts them (``keep_start`` or ``keep_end``);
    with ``assistant_only``, the rows left without an assistant token dropped (they train nothing), with a count."""
    if truncation_mode not in ("keep_start", "keep_end"):
        raise MagnetError(f"truncation_mode must be keep_start or keep_end, got {truncation_mode!r}")
    cut = slice(None, max_length) if truncation_mode == "keep_start" else slice(-max_length, None)
    before = len(dataset)
    dataset = dataset.map(
        lambda row: {"input_ids": row["input_ids"][cut], "assistant_masks": row["assistant_masks"][cut]},
        desc=f"Truncating {name} rows to {max_length} tokens",
        num_proc=num_proc,
    )
    if assistant_only:
        dataset = dataset.filter(lambda row: any(row["assistant_masks"]), num_proc=num_proc)
    if len(dataset) < before:
        logger.warning(
            "%s: dropped %d of %d rows with no assistant token once cut to max_length=%d (%s)",
            name,
            before - len(dataset),
            before,
            max_length,
            truncation_mode,
        )
    return dataset


def run_sft(script_args: ScriptArguments, training_args: MagnetSFTConfig, model_args: ModelConfig) -> dict[str, Any]:
    """Train, resuming from the last checkpoint in ``output_dir`` if there is one, then save (see
    ``finish_training``). Returns the metrics."""
    return train_and_save(build_sft_trainer(script_args, training_args, model_args), script_args, "sft")
