"""Training configurations: TRL's configs, extended with what Magnet's recipes need.

``ScriptArguments`` says which datasets to train on (local ``save_to_disk`` folders or hub ids, with mixture
weights) and in which tool format; ``MagnetSFTConfig`` and ``MDPOConfig`` extend ``trl.SFTConfig`` and
``trl.DPOConfig``. All three parse with ``trl.TrlParser`` from ``--config recipe.yaml`` plus command-line
overrides, as alignment-handbook's scripts do. Every field has help text and a default.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from trl import DPOConfig, SFTConfig

from magnet.data.render import TOOL_FORMATS
from magnet.errors import MagnetError

MDPO_LOSSES = ("sigmoid", "dmpo", "segment")
SFT_ON = ("continuation", "trajectory")


@dataclass
class ScriptArguments:
    """What a recipe trains on."""

    datasets: list[str] = field(
        default_factory=list,
        metadata={
            "help": "Datasets to train on: local save_to_disk folders (magnet synth's datasets/sft or "
            "datasets/preference) or hub ids; several are concatenated."
        },
    )
    dataset_weights: list[float] = field(
        default_factory=list,
        metadata={"help": "Mixture weights, one per dataset (a share of each dataset's rows; default: all rows)."},
    )
    train_split: str = field(default="train", metadata={"help": "Split to train on."})
    eval_split: str = field(default="test", metadata={"help": "Split to evaluate on (skipped when absent)."})
    tool_format: str = field(
        default="bfcl_prompt",
        metadata={
            "help": "How tools and calls are shown: 'bfcl_prompt' (BFCL's prompting mode, the paper's choice "
            "for Qwen2.5-Coder) or 'native' (the model's chat template with tools and tool_calls)."
        },
    )

    def __post_init__(self) -> None:
        if self.tool_format not in TOOL_FORMATS:
            raise MagnetError(f"tool_format must be one of {TOOL_FORMATS}, got {self.tool_format!r}")
        if self.dataset_weights and len(self.dataset_weights) != len(self.datasets):
            raise MagnetError(
                f"dataset_weights has {len(self.dataset_weights)} values for {len(self.datasets)} "
                "datasets; give one weight per dataset"
            )
        if any(not 0 < weight <= 1 for weight in self.dataset_weights):
            raise MagnetError("dataset_weights are shares of each dataset, in (0, 1]")


@dataclass
class MagnetSFTConfig(SFTConfig):
    """``trl.SFTConfig`` with the paper's defaults (lr 1e-5, warm-up 0.1, linear decay, 1 epoch, 8,172 tokens) and
    the loss on every assistant turn."""

    learning_rate: float = field(default=1e-5, metadata={"help": "Peak learning rate (the paper: 1e-5)."})
    warmup_steps: float = field(
        default=0.1,
        metadata={"help": "Warm-up: a share of the training steps when below 1 (the paper: 0.1), else a step count."},
    )
    lr_scheduler_type: str = field(default="linear", metadata={"help": "Decay after warm-up (the paper: linear)."})
    num_train_epochs: float = field(default=1.0, metadata={"help": "Epochs (the paper: 1)."})
    max_length: int | None = field(default=8172, metadata={"help": "Longest tokenized row (the paper: 8,172)."})
    assistant_only_loss: bool = field(
        default=True,
        metadata={
            "help": "Loss on the assistant turns only (every one of them); user, tool and system tokens are masked."
        },
    )


@dataclass
class MDPOConfig(DPOConfig):
    """``trl.DPOConfig`` for multi-turn DPO: r(tau) sums log-ratios over the assistant tokens of the continuation,
    and L = -log sigma(beta (r(tau_w) - r(tau_l))) + sft_weight * NLL(tau_w)."""

    mdpo_loss: str = field(
        default="sigmoid",
        metadata={
            "help": "'sigmoid': the paper's M-DPO over every assistant turn of the continuation; 'dmpo': turn t of "
            "T weighted by DMPO's discount with dmpo_gamma; 'segment': only the segment_turns user turns from "
            "the pair's branch turn (meta.branch_turn), where the negative's error is."
        },
    )
    segment_turns: int = field(
        default=1,
        metadata={
            "help": "With mdpo_loss 'segment': how many user turns the segment spans from the branch turn "
            "(1: the branch turn only; 0: to the end of the conversation, which is then 'sigmoid')."
        },
    )
    sft_weight: float = field(default=1.0, metadata={"help": "The paper's lambda: weight of the NLL of chosen."})
    sft_on: str = field(
        default="trajectory",
        metadata={
            "help": "The NLL's tokens: 'trajectory': the assistant tokens of prompt + chosen (the paper's "
            "L_SFT(x; tau_w), the whole positive trajectory); 'continuation': those of chosen only."
        },
    )
    dmpo_gamma: float = field(default=0.7, metadata={"help": "Discount of the 'dmpo' per-turn weights."})
    length_normalize: bool = field(
        default=False, metadata={"help": "Divide each trajectory's summed log-ratio by its weighted tokens."}
    )
    prefix_sharing: bool | None = field(
        default=None,
        metadata={
            "help": "Forward each pair's shared prompt once and both continuations against it (one packed row per "
            "pair, a two-piece causal attention), for the policy and the reference. Unset: on where supported (sdpa "
            "or flash_attention_2/3, keep_start truncation, no sliding window), off elsewhere; true: an error names "
            "what is missing."
        },
    )
    beta: float = field(default=0.1, metadata={"help": "Inverse temperature of the preference loss."})
    learning_rate: float = field(
        default=1e-6, metadata={"help": "Learning rate (the paper: 1e-6 with LoRA on 14B, 5e-7 full on 7B)."}
    )

    def __post_init__(self) -> None:
        if self.mdpo_loss not in MDPO_LOSSES:
            raise MagnetError(f"MDPOConfig.mdpo_loss must be one of {MDPO_LOSSES}, got {self.mdpo_loss!r}")
        if self.sft_on not in SFT_ON:
            raise MagnetError(f"MDPOConfig.sft_on must be one of {SFT_ON}, got {self.sft_on!r}")
        if not isinstance(self.segment_turns, int) or isinstance(self.segment_turns, bool) or self.segment_turns < 0:
            raise MagnetError(
                f"MDPOConfig.segment_turns must be an integer >= 0 (1: the branch turn only; 0: to the end), "
                f"got {self.segment_turns!r}"
            )
        if self.sft_weight < 0:
            raise MagnetError(f"MDPOConfig.sft_weight must be >= 0, got {self.sft_weight!r}")
        if not 0 < self.dmpo_gamma <= 1:
            raise MagnetError(f"MDPOConfig.dmpo_gamma must be in (0, 1], got {self.dmpo_gamma!r}")
        super().__post_init__()
