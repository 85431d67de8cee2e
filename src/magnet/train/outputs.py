"""After training: the model, its metrics and state, a model card, the recipe that made it, and the hub.

``magnet.json`` beside the weights records how the model was trained (the tool format above all), so that the
evaluation and the synthesis student render prompts the same way without being told (``magnet.data.model_record``).
"""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path
from typing import Any

from magnet.data.model_record import TRAINING_RECORD, read_training_record
from magnet.files import write_atomic
from magnet.train.config import ScriptArguments
from magnet.train.loading import resume_checkpoint

logger = logging.getLogger(__name__)

__all__ = ["TRAINING_RECORD", "finish_training", "read_training_record", "train_and_save"]


def finish_training(trainer: Any, result: Any, script_args: ScriptArguments, stage: str) -> dict[str, float]:
    """Save weights, tokenizer, metrics, trainer state and a model card; evaluate and push when asked. Returns the
    training metrics (and the evaluation's, prefixed ``eval_``)."""
    args = trainer.args
    metrics = dict(result.metrics)
    trainer.log_metrics("train", metrics)
    trainer.save_metrics("train", metrics)
    trainer.save_state()
    trainer.save_model(args.output_dir)
    tags = ["magnet", "tool-use", "function-calling", stage]
    dataset_name = ", ".join(script_args.datasets)
    if trainer.is_world_process_zero():
        trainer.create_model_card(dataset_name=dataset_name, tags=tags)
        record = {
            "stage": stage,
            "tool_format": script_args.tool_format,
            "script_args": dataclasses.asdict(script_args),
        }
        write_atomic(Path(args.output_dir) / TRAINING_RECORD, json.dumps(record, indent=1) + "\n")
    if args.do_eval and trainer.eval_dataset is not None:
        evaluation = trainer.evaluate()
        trainer.log_metrics("eval", evaluation)
        trainer.save_metrics("eval", evaluation)
        metrics.update(evaluation)
    if args.push_to_hub:
        trainer.push_to_hub(dataset_name=dataset_name, tags=tags)
    return metrics


def train_and_save(trainer: Any, script_args: ScriptArguments, stage: str) -> dict[str, float]:
    """Train (resuming from the last complete checkpoint in ``output_dir``, if any), then ``finish_training``."""
    checkpoint = resume_checkpoint(trainer.args.output_dir, trainer.args.resume_from_checkpoint)
    logger.info(
        "training on %d process(es), %s%s",
        trainer.accelerator.num_processes,
        trainer.accelerator.distributed_type,
        f", resuming from {checkpoint}" if checkpoint else "",
    )
    result = trainer.train(resume_from_checkpoint=checkpoint)
    return finish_training(trainer, result, script_args, stage)
