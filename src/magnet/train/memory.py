"""Per-GPU memory of a training run, estimated before launching it.

Model states (weights, gradients, optimizer) come from DeepSpeed's own estimators for ZeRO-2/3 (18 bytes per
trained parameter spread over the GPUs, plus the 16-bit weights or the largest layer gathered); for LoRA only the
adapter is trained, over frozen 16-bit base weights. Magnet adds what DeepSpeed leaves out: the reference model
of full-parameter DPO (none under LoRA, where the reference is the adapter-disabled base; none when reference
log-probs are precomputed), activations (with activation checkpointing, one hidden state per layer plus one
layer's recomputation, after Korthikanti et al. 2022), and the LM head's working memory: TRL's trainers (1.16) score
tokens with a fused head (``trl.kernels.chunked_logprob``) that projects fp32 tiles of 4,096 tokens x 32,768
vocabulary entries, forward and backward, and never holds the full logits (which for Qwen2.5's 152k vocabulary
would be 5 GB per 8k-token sequence). DPO doubles the sequences of a step (chosen and rejected).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from magnet.errors import MagnetError

GIB = 1024**3


@dataclass(frozen=True)
class ModelShape:
    """What memory depends on: parameter count and the transformer's dimensions."""

    params: int
    layers: int
    hidden: int
    heads: int
    kv_heads: int
    intermediate: int
    vocab: int

    @property
    def largest_layer(self) -> int:
        """Parameters of the largest single layer (the embedding, for Qwen2.5)."""
        attention = self.hidden * self.hidden * 2 + 2 * self.hidden * (self.hidden // self.heads) * self.kv_heads
        return max(self.vocab * self.hidden, attention + 3 * self.hidden * self.intermediate)

    def lora_params(self, rank: int) -> int:
        """Trainable parameters of LoRA of rank ``rank`` on every attention and MLP projection."""
        head = self.hidden // self.heads
        shapes = [
            (self.hidden, self.hidden),
            (self.hidden, head * self.kv_heads),
            (self.hidden, head * self.kv_heads),
            (self.hidden, self.hidden),
            (self.hidden, self.intermediate),
            (self.hidden, self.intermediate),
            (self.intermediate, self.hidden),
        ]
        return self.layers * sum(rank * (rows + cols) for rows, cols in shapes)

    @classmethod
    def from_config(cls, config: Any) -> ModelShape:
        """From a transformers config (no weights are loaded); the parameter count is computed from it."""
        hidden, layers, vocab = config.hidden_size, config.num_hidden_layers, config.vocab_size
        heads = config.num_attention_heads
        kv_heads = getattr(config, "num_key_value_heads", heads) or heads
        intermediate = config.intermediate_size
        head = hidden // heads
        per_layer = (
            2 * hidden * hidden
            + 2 * hidden * head * kv_heads
            + 3 * hidden * intermediate
            + (hidden + 2 * head * kv_heads)
            + 2 * hidden
        )
        embeddings = vocab * hidden * (1 if getattr(config, "tie_word_embeddings", False) else 2)
        return cls(layers * per_layer + embeddings + hidden, layers, hidden, heads, kv_heads, intermediate, vocab)


KNOWN_MODELS = {
    # Qwen2.5-Coder configs (config.json on the hub): 14.7B and 7.6B parameters.
    "qwen2.5-coder-14b": ModelShape(14_770_033_664, 48, 5120, 40, 8, 13824, 152064),
    "qwen2.5-coder-7b": ModelShape(7_615_616_512, 28, 3584, 28, 4, 18944, 152064),
}


FUSED_HEAD_TOKENS = 4096  # trl.kernels.chunked_logprob.TOKEN_CHUNK_SIZE
FUSED_HEAD_VOCAB = 32768  # trl.trainer.utils._CHUNKED_LOGPROB_CHUNK_SIZE


@dataclass(frozen=True)
class TrainSetup:
    """How a run trains: GPUs, ZeRO stage, offload, LoRA, batch, sequence length, DPO."""

    gpus: int = field(default=8, metadata={"help": "Number of GPUs."})
    gpus_per_node: int = field(default=8, metadata={"help": "GPUs per machine (at most gpus)."})
    zero_stage: Literal[0, 1, 2, 3] = field(
        default=3, metadata={"help": "DeepSpeed ZeRO stage.", "aliases": ["--zero"]}
    )
    offload_optimizer: bool = field(default=False, metadata={"help": "Optimizer states in CPU memory."})
    offload_params: bool = field(default=False, metadata={"help": "Parameters in CPU memory (ZeRO-3)."})
    lora_rank: int = field(default=0, metadata={"help": "LoRA rank; 0: full fine-tuning."})
    micro_batch: int = field(default=1, metadata={"help": "Sequences per GPU per step."})
    seq_len: int = field(default=8192, metadata={"help": "Tokens per sequence."})
    activation_checkpointing: bool = field(default=True, metadata={"help": "Activations recomputed in backward."})
    flash_attention: bool = field(
        default=True, metadata={"help": "Attention through flash/SDPA kernels (false: eager attention)."}
    )
    dpo: bool = field(default=False, metadata={"help": "Preference training: chosen and rejected per step."})
    precompute_ref: bool = field(default=False, metadata={"help": "Reference log-probs computed beforehand."})

    def with_values(self, values: Mapping[str, Any]) -> TrainSetup:
        """This setup with ``values`` laid over it; fewer GPUs than a node holds make one smaller node."""
        if "gpus" in values and "gpus_per_node" not in values:
            values = {**values, "gpus_per_node": min(self.gpus_per_node, values["gpus"])}
        return dataclasses.replace(self, **values)


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes per GPU by kind, and their total."""

    model_states: int
    reference_model: int
    activations: int
    logits: int

    @property
    def total(self) -> int:
        """Everything added up."""
        return self.model_states + self.reference_model + self.activations + self.logits

    def table(self) -> str:
        """A small table in GiB."""
        rows = [(name.replace("_", " "), value) for name, value in dataclasses.asdict(self).items()]
        rows.append(("total per GPU", self.total))
        return "\n".join(f"{name:<16} {value / GIB:8.1f} GiB" for name, value in rows)


def _model_states(shape: ModelShape, setup: TrainSetup) -> int:
    """Weights, gradients and optimizer states per GPU (DeepSpeed's estimators for the trained parameters)."""
    from deepspeed.runtime.zero.stage3 import estimate_zero3_model_states_mem_needs
    from deepspeed.runtime.zero.stage_1_and_2 import estimate_zero2_model_states_mem_needs

    nodes = max(1, setup.gpus // setup.gpus_per_node)
    per_node = min(setup.gpus, setup.gpus_per_node)
    trained = shape.lora_params(setup.lora_rank) if setup.lora_rank else shape.params
    frozen = shape.params if setup.lora_rank else 0  # 16-bit base weights under LoRA
    if setup.zero_stage == 3:
        _, gpu, _ = estimate_zero3_model_states_mem_needs(
            trained, shape.largest_layer, per_node, nodes, setup.offload_optimizer, setup.offload_params, True
        )
        if frozen and not setup.offload_params:
            gpu += 2 * frozen // setup.gpus
        return int(gpu)
    if setup.zero_stage in (1, 2):
        _, gpu = estimate_zero2_model_states_mem_needs(trained, per_node, nodes, setup.offload_optimizer)
        return int(gpu + 2 * frozen)
    if setup.zero_stage == 0:
        return int(2 * frozen + 18 * trained + 2 * trained)  # DDP: every GPU holds everything
    raise MagnetError(f"zero_stage must be 0, 1, 2 or 3, got {setup.zero_stage}")


def estimate(shape: ModelShape, setup: TrainSetup) -> MemoryEstimate:
    """Per-GPU memory of training ``shape`` with ``setup`` (see the module docstring for what is counted)."""
    if setup.gpus < 1 or setup.micro_batch < 1 or setup.seq_len < 1:
        raise MagnetError("gpus, micro_batch and seq_len must be positive")
    sequences = setup.micro_batch * (2 if setup.dpo else 1)
    tokens = sequences * setup.seq_len
    reference = 0
    if setup.dpo and not setup.lora_rank and not setup.precompute_ref:
        reference = 2 * shape.params // (setup.gpus if setup.zero_stage == 3 else 1)
    per_layer_full = tokens * shape.hidden * 34  # bytes, 16-bit (Korthikanti et al.)
    if not setup.flash_attention:  # eager attention keeps the score matrices too
        per_layer_full += 5 * shape.heads * sequences * setup.seq_len**2
    if setup.activation_checkpointing:
        activations = shape.layers * tokens * shape.hidden * 2 + per_layer_full
    else:
        activations = shape.layers * per_layer_full
    # the fused head's fp32 tile (forward, and its gradient in backward), plus per-token fp32 statistics
    logits = min(tokens, FUSED_HEAD_TOKENS) * min(shape.vocab, FUSED_HEAD_VOCAB) * 4 * 2 + tokens * 4 * 8
    return MemoryEstimate(_model_states(shape, setup), int(reference), int(activations), int(logits))


FLASH_KERNELS = ("flash_attention_2", "flash_attention_3", "sdpa")


def known_model(name: str) -> str | None:
    """The ``KNOWN_MODELS`` key a model id or output folder names (``Qwen/Qwen2.5-Coder-14B-Instruct`` and
    ``runs/qwen2.5-coder-14b-magnet-sft`` are both ``qwen2.5-coder-14b``), or None."""
    lowered = name.lower()
    return next((key for key in KNOWN_MODELS if key in lowered), None)


def setup_from_recipe(recipe: Mapping[str, Any], accelerate: Mapping[str, Any] | None = None) -> TrainSetup:
    """The ``TrainSetup`` a training recipe (``recipes/*/sft.yaml``/``mdpo.yaml``) and an accelerate config
    (``recipes/accelerate/*.yaml``) describe. Without an accelerate config: one process, no sharding."""
    accelerate = accelerate or {}
    processes = int(accelerate.get("num_processes", 1))
    machines = max(1, int(accelerate.get("num_machines", 1)))
    kind = accelerate.get("distributed_type", "NO")
    zero, offload_optimizer, offload_params = 0, False, False
    if kind == "DEEPSPEED":
        deepspeed = accelerate.get("deepspeed_config") or {}
        zero = int(deepspeed.get("zero_stage", 0))
        offload_optimizer = str(deepspeed.get("offload_optimizer_device", "none")).lower() not in ("none", "")
        offload_params = str(deepspeed.get("offload_param_device", "none")).lower() not in ("none", "")
    elif kind == "FSDP":
        fsdp = accelerate.get("fsdp_config") or {}
        zero = 3 if str(fsdp.get("fsdp_sharding_strategy", "FULL_SHARD")) in ("FULL_SHARD", "1") else 2
        offload_params = offload_optimizer = bool(fsdp.get("fsdp_offload_params", False))
    checkpointing = recipe.get("activation_checkpointing", recipe.get("gradient_checkpointing", True))
    return TrainSetup(
        gpus=processes,
        gpus_per_node=max(1, processes // machines),
        zero_stage=zero,
        offload_optimizer=offload_optimizer,
        offload_params=offload_params,
        lora_rank=int(recipe.get("lora_r", 16)) if recipe.get("use_peft") else 0,
        micro_batch=int(recipe.get("per_device_train_batch_size", 8)),
        seq_len=int(recipe.get("max_length") or 1024),
        activation_checkpointing=bool(checkpointing),
        flash_attention=recipe.get("attn_implementation") in FLASH_KERNELS,
        dpo=any(key in recipe for key in ("beta", "mdpo_loss", "sft_weight", "loss_type")),
        precompute_ref=bool(recipe.get("precompute_ref_log_probs", False)),
    )


def model_shape(model: str) -> ModelShape:
    """The shape of ``model``: a ``KNOWN_MODELS`` key, a name that contains one, or a local folder (or hub id) with
    a ``config.json``."""
    from pathlib import Path

    key = model if model in KNOWN_MODELS else None
    if key is None and not Path(model, "config.json").is_file():
        key = known_model(model)
    if key is not None:
        return KNOWN_MODELS[key]
    from transformers import AutoConfig

    try:
        return ModelShape.from_config(AutoConfig.from_pretrained(model))
    except OSError as error:
        raise MagnetError(f"model {model!r}: not one of {sorted(KNOWN_MODELS)} and no config there ({error})") from None
