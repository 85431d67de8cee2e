"""Multi-turn DPO: ``MultiTurnDPOTrainer(trl.DPOTrainer)``.

TRL's ``DPOTrainer`` scores a continuation on every token after the prompt: in a multi-turn pair that includes
the user's later turns and the tool outputs, which the model never writes. M-DPO (the paper's mDPO) sums the
log-ratio r(tau) = sum log pi_theta - log pi_ref over the assistant's tokens only, over all of its turns:

    L = -log sigmoid(beta * (r(tau_w) - r(tau_l))) + lambda * NLL(assistant tokens of tau_w)

The prompt (the shared prefix) is the same on both sides, so its assistant tokens' log-ratios cancel in
r(tau_w) - r(tau_l); only the continuations' are scored. The NLL term is the paper's L_SFT(x; tau_w): over the
assistant tokens of the whole positive trajectory, prompt included (``sft_on: trajectory``, read from the same
forward pass, as TRL puts prompt and continuation in one sequence), or of the continuation only
(``sft_on: continuation``).

Three things differ from TRL and nothing else is overridden: the rows are rendered and tokenized with per-token
user-turn numbers (``_prepare_dataset``, see ``magnet.train.tokenize``; a turn is a user turn as
``magnet.data.turns`` defines it), the collator sets ``completion_mask`` to the continuation's assistant tokens and
adds per-token ``token_weights`` for the variant in use and the ``sft_mask`` of the NLL, and the loss sums the
weighted log-ratios (``_compute_loss``, ``compute_ref_log_probs``, which ``precompute_ref_log_probs`` uses too).
The reference model, PEFT (reference = the adapter-disabled base), DeepSpeed/FSDP preparation, precomputed
reference log-probs, logging and checkpointing are TRL's. With ``prefix_sharing`` a pair is forwarded as one packed
row, its prompt once (``magnet.train.prefix_sharing``), and its per-token outputs unpacked into TRL's layout
(``precompute_ref_log_probs`` runs in ``DPOTrainer.__init__``, before sharing is switched on: unshared).

Variants (``MDPOConfig.mdpo_loss``), with t the user turn of a token in the whole conversation: ``sigmoid``
weights every assistant token of the continuation 1 (M-DPO, Xiong et al. 2024); ``segment`` only the turns
``[b, b + segment_turns)`` from the pair's branch turn b (``meta["branch_turn"]``, where the error is made: the
later turns follow different histories on the two sides; ``segment_turns: 0`` runs to the end and equals
``sigmoid``); ``dmpo`` weights turn t of T (the user turns of that side's whole conversation) by
(1 - g^(T-t)) / (1 - g^T) (DMPO, Shi et al. 2024: earlier turns count more, and the weights normalise for the
number of turns). ``length_normalize`` divides each r(tau) by its number of weighted tokens.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from accelerate.utils import is_peft_model
from transformers import AutoTokenizer, set_seed
from trl import DPOTrainer, ModelConfig, get_peft_config, get_quantization_config
from trl.models.utils import disable_gradient_checkpointing
from trl.trainer.dpo_trainer import DataCollatorForPreference
from trl.trainer.utils import global_then_local_main_first, pad, use_adapter

from magnet.data.render import TOOL_FORMATS
from magnet.errors import MagnetError
from magnet.train.attention import base_model, sliding_window, use_packed_attention
from magnet.train.config import MDPOConfig, ScriptArguments
from magnet.train.loading import (
    PREFERENCE_REQUIRED,
    load_datasets,
    load_tokenizer,
    model_init_kwargs,
)
from magnet.train.outputs import train_and_save
from magnet.train.prefix_sharing import (
    PackedPairs,
    check_prefix_sharing,
    pack_pairs,
)
from magnet.train.templates import training_template
from magnet.train.tokenize import PREFERENCE_COLUMNS, tokenize_preferences

logger = logging.getLogger(__name__)


def dmpo_weight(turn: int, turns: int, gamma: float) -> float:
    """DMPO's weight of turn ``turn`` (from 0) in a trajectory of ``turns`` turns: (1 - g^(T-t)) / (1 - g^T).

    >>> [round(dmpo_weight(t, 3, 0.5), 4) for t in range(3)]
    [1.0, 0.8571, 0.5714]
    """
    if gamma == 1.0:
        return (turns - turn) / turns
    return (1 - gamma ** (turns - turn)) / (1 - gamma**turns)


def turn_weights(
    turns: Sequence[int], segment_start: int, mdpo_loss: str, gamma: float, segment_turns: int = 1
) -> list[float]:
    """Per-token weights of the preference term on a continuation: 0 off the assistant's tokens, and per turn as
    ``mdpo_loss`` says. ``turns`` are user-turn numbers in the whole conversation (``magnet.train.tokenize``), so
    the last one + 1 is the conversation's number of turns.

    >>> turn_weights([-1, 1, 1, -1, 2, -1, 3], segment_start=2, mdpo_loss="segment", gamma=1.0)
    [0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0]
    >>> turn_weights([-1, 1, 1, -1, 2, -1, 3], segment_start=2, mdpo_loss="segment", gamma=1.0, segment_turns=0)
    [0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 1.0]
    """
    count = max(turns, default=-1) + 1
    if mdpo_loss == "sigmoid":
        per_turn = [1.0] * count
    elif mdpo_loss == "segment":
        end = segment_start + segment_turns if segment_turns else count
        per_turn = [1.0 if segment_start <= turn < end else 0.0 for turn in range(count)]
    elif mdpo_loss == "dmpo":
        per_turn = [dmpo_weight(turn, count, gamma) for turn in range(count)]
    else:
        raise MagnetError(f"unknown mdpo_loss {mdpo_loss!r}")
    return [per_turn[turn] if turn >= 0 else 0.0 for turn in turns]


@dataclass
class DataCollatorForMultiTurnPreference(DataCollatorForPreference):
    """TRL's preference collator, with ``completion_mask`` on the continuation's assistant tokens only, the
    per-token ``token_weights`` of the preference term, and ``sft_mask``: the tokens of the NLL term (on the chosen
    rows: the assistant tokens of prompt + chosen, or of chosen only with ``sft_on="continuation"``; none on the
    rejected rows). Same truncation and padding as TRL's tensors."""

    mdpo_loss: str = "sigmoid"
    dmpo_gamma: float = 1.0
    segment_turns: int = 1
    sft_on: str = "trajectory"
    prefix_sharing: bool = False

    def torch_call(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
        output = super().torch_call(examples)
        masks, weights, sft_masks = [], [], []
        for side in ("chosen", "rejected"):
            for example in examples:
                prompt = [0] * len(example["prompt_ids"])
                turns = example[f"{side}_turns"]
                mask = [int(turn >= 0) for turn in turns]
                masks.append(prompt + mask)
                weights.append(
                    [0.0] * len(prompt)
                    + turn_weights(turns, example["segment_start"], self.mdpo_loss, self.dmpo_gamma, self.segment_turns)
                )
                if side == "rejected":
                    sft_masks.append([0] * (len(prompt) + len(mask)))
                elif self.sft_on == "trajectory":
                    sft_masks.append([int(turn >= 0) for turn in example["prompt_turns"]] + mask)
                else:
                    sft_masks.append(prompt + mask)
        if self.max_length is not None:
            cut = (
                slice(None, self.max_length) if self.truncation_mode == "keep_start" else slice(-self.max_length, None)
            )
            masks, weights, sft_masks = [m[cut] for m in masks], [w[cut] for w in weights], [m[cut] for m in sft_masks]
        width = output["input_ids"].shape[1]
        output["completion_mask"] = pad([torch.tensor(m + [0] * (width - len(m))) for m in masks], 0)
        output["sft_mask"] = pad([torch.tensor(m + [0] * (width - len(m))) for m in sft_masks], 0)
        # float64, as the sums they weight (``_scores``): DMPO's weights of later turns are not exact in float32.
        output["token_weights"] = pad(
            [torch.tensor(w + [0.0] * (width - len(w)), dtype=torch.float64) for w in weights], 0.0
        )
        if self.prefix_sharing:
            packed = pack_pairs(
                [example["prompt_ids"] for example in examples],
                [example["chosen_ids"] for example in examples],
                [example["rejected_ids"] for example in examples],
                width=width,
                pad_token_id=self.pad_token_id,
                max_length=self.max_length,
            )
            output.update({f"packed_{key}": value for key, value in vars(packed).items()})
        for key in ("ref_chosen_logps", "ref_rejected_logps"):
            if key in examples[0]:
                # TRL's collator makes float32 tensors of them; a multi-turn sum of thousands of token log-probs
                # (summed in float64, see ``_scores``) rounded to float32 moves the margin by ~1e-4.
                output[key] = torch.tensor([example[key] for example in examples], dtype=torch.float64)
        return output


# TRL options that change what the loss is; MultiTurnDPOTrainer computes its own loss and supports none of them.
_UNSUPPORTED = {
    "loss_type": (["sigmoid"], "use mdpo_loss (sigmoid, dmpo, segment) and sft_weight instead"),
    "loss_weights": (None, "use sft_weight (and sft_on) for the NLL term"),
    "ld_alpha": (None, "use length_normalize"),
    "use_weighting": (False, "WPO weighting is not implemented for multi-turn pairs"),
    "f_divergence_type": ("reverse_kl", "only the reverse-KL (standard) DPO is implemented"),
    "padding_free": (False, "padding-free batches are not supported by TRL's DPOTrainer either"),
}


def _check_supported(args: MDPOConfig) -> None:
    for name, (allowed, hint) in _UNSUPPORTED.items():
        value = getattr(args, name, allowed)
        if value != allowed:
            raise MagnetError(f"MDPOConfig.{name}={value!r} is not supported by MultiTurnDPOTrainer: {hint}")


class MultiTurnDPOTrainer(DPOTrainer):
    """``trl.DPOTrainer`` for multi-turn tool-use pairs (see the module docstring).

    Takes the same arguments as ``DPOTrainer`` plus ``tool_format`` (``native`` or ``bfcl_prompt``: how tools and
    calls are rendered, as in ``magnet.data.render``). Datasets are Magnet preference rows (``prompt``, ``chosen``,
    ``rejected``, ``tools``, ``meta``) or any TRL conversational preference dataset, or already tokenized ones.
    """

    _tag_names: ClassVar[list[str]] = ["trl", "dpo", "magnet", "mdpo"]

    def __init__(
        self,
        model: Any,
        ref_model: Any = None,
        args: MDPOConfig | None = None,
        data_collator: Any = None,
        train_dataset: Any = None,
        eval_dataset: Any = None,
        processing_class: Any = None,
        *,
        tool_format: str = "native",
        **kwargs: Any,
    ):
        if not isinstance(args, MDPOConfig):
            raise MagnetError("MultiTurnDPOTrainer needs an MDPOConfig (magnet.train.config.MDPOConfig)")
        _check_supported(args)
        if tool_format not in TOOL_FORMATS:
            raise MagnetError(f"tool_format must be one of {TOOL_FORMATS}, got {tool_format!r}")
        if processing_class is None:
            name = model if isinstance(model, str) else model.config._name_or_path
            processing_class = AutoTokenizer.from_pretrained(name, trust_remote_code=args.trust_remote_code)
        self.tool_format = tool_format
        self.sft_weight = args.sft_weight
        self.length_normalize = args.length_normalize
        if data_collator is None:
            tokenizer = getattr(processing_class, "tokenizer", processing_class)
            pad_token = args.pad_token or tokenizer.pad_token or tokenizer.eos_token
            tokenizer.pad_token = pad_token
            data_collator = DataCollatorForMultiTurnPreference(
                pad_token_id=tokenizer.convert_tokens_to_ids(pad_token),
                max_length=args.max_length,
                truncation_mode=args.truncation_mode,
                pad_to_multiple_of=args.pad_to_multiple_of,
                mdpo_loss=args.mdpo_loss,
                dmpo_gamma=args.dmpo_gamma,
                segment_turns=args.segment_turns,
                sft_on=args.sft_on,
            )
        super().__init__(
            model,
            ref_model=ref_model,
            args=args,
            data_collator=data_collator,
            train_dataset=train_dataset,
            eval_dataset=eval_dataset,
            processing_class=processing_class,
            **kwargs,
        )
        self.prefix_sharing = self._resolve_prefix_sharing(args.prefix_sharing, args.truncation_mode)
        if self.prefix_sharing:
            self.data_collator.prefix_sharing = True

    def _models(self) -> list[Any]:
        """The transformers models the loss forwards: the policy's, and the reference's when it is its own."""
        return [self._transformers_model(model) for model in (self.model, self.ref_model) if model is not None]

    def _resolve_prefix_sharing(self, requested: bool | None, truncation_mode: str) -> bool:
        """``prefix_sharing``: true is checked (a clear error names what is missing), unset is on where supported.
        Where it is on, the models' attention is switched to Magnet's of the same kernel (``magnet_sdpa``,
        ``magnet_fa2``)."""
        if requested is False:
            return False
        if not isinstance(self.data_collator, DataCollatorForMultiTurnPreference):
            if requested:
                raise MagnetError(
                    "prefix_sharing needs MultiTurnDPOTrainer's own collator (DataCollatorForMultiTurnPreference); "
                    "set prefix_sharing: false to use another"
                )
            return False
        for model in self._models():
            try:
                check_prefix_sharing(model.config._attn_implementation, truncation_mode, sliding_window(model.config))
                use_packed_attention(model)
            except MagnetError as error:
                if requested:
                    raise
                logger.info("prefix sharing is off: %s", str(error).split(";")[0])
                return False
        return True

    # -- data ---------------------------------------------------------------------------------------------------

    def _prepare_dataset(self, dataset, processing_class, args, dataset_name):
        if all(column in dataset.column_names for column in PREFERENCE_COLUMNS):
            return dataset
        tokenizer = getattr(processing_class, "tokenizer", processing_class)
        template = training_template(tokenizer)
        with global_then_local_main_first():
            dataset = tokenize_preferences(dataset, tokenizer, template, self.tool_format, args.dataset_num_proc)
            if args.max_length is not None and args.truncation_mode == "keep_start":
                # A prompt that fills max_length leaves no assistant token to learn from (as in TRL).
                before = len(dataset)
                dataset = dataset.filter(lambda row: len(row["prompt_ids"]) < args.max_length)
                if len(dataset) < before:
                    logger.warning(
                        "%s: dropped %d of %d pairs whose prompt alone fills max_length=%d",
                        dataset_name,
                        before - len(dataset),
                        before,
                        args.max_length,
                    )
        return dataset

    def _set_signature_columns_if_needed(self):
        super()._set_signature_columns_if_needed()
        extra = ("prompt_turns", "chosen_turns", "rejected_turns", "segment_start")
        self._signature_columns = list(dict.fromkeys([*self._signature_columns, *extra]))

    # -- loss ---------------------------------------------------------------------------------------------------

    @staticmethod
    def _model_inputs(inputs: dict[str, torch.Tensor], with_sft: bool = False) -> tuple[dict[str, Any], torch.Tensor]:
        """The model's arguments, and labels on the tokens whose log-probs the loss reads (the fused LM head
        scores only those): the continuations' assistant tokens, and with ``with_sft`` the NLL's tokens too."""
        scored = inputs["completion_mask"].bool()
        if with_sft and "sft_mask" in inputs:
            scored = scored | inputs["sft_mask"].bool()
        labels = inputs["input_ids"].masked_fill(~scored, -100)
        return {
            "input_ids": inputs["input_ids"],
            "attention_mask": inputs["attention_mask"],
            "use_cache": False,
        }, labels

    def _transformers_model(self, model: Any) -> Any:
        """The transformers model inside accelerate's and PEFT's wrappers (whose config says its attention)."""
        return base_model(self.accelerator.unwrap_model(model))

    def _forward(self, model: Any, inputs: dict[str, torch.Tensor], with_sft: bool = False) -> Any:
        """The fused-head forward of the batch, per-token outputs in TRL's unshared layout (2B rows): two rows per
        pair, or with ``prefix_sharing`` one packed row per pair, unpacked (``magnet.train.prefix_sharing``)."""
        model_kwargs, labels = self._model_inputs(inputs, with_sft)
        if self.aux_loss_enabled:
            model_kwargs["output_router_logits"] = True
        if "packed_input_ids" not in inputs:
            return model(**model_kwargs, labels=labels, fused_lm_head=True)
        packed = PackedPairs(
            **{key: inputs[f"packed_{key}"] for key in ("input_ids", "position_ids", "lengths", "source")}
        )
        outputs = model(
            input_ids=packed.input_ids,
            position_ids=packed.position_ids,
            # no padding to mask (the attention knows each pair's lengths), and a 2D mask keeps transformers from
            # reading the restarted positions as packed sequences and building a mask nobody reads
            attention_mask=torch.ones_like(packed.input_ids),
            prefix_lengths=packed.prefix_lengths(),
            use_cache=False,
            shift_labels=packed.shift_labels(labels),
            fused_lm_head=True,
            **({"output_router_logits": True} if self.aux_loss_enabled else {}),
        )
        for name in ("log_probs", "entropy", "is_top1"):
            setattr(outputs, name, packed.unpack(getattr(outputs, name), labels))
        return outputs

    def _scores(self, per_token_logps: torch.Tensor, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        """r(tau) before the reference is subtracted: the weighted sum of per-token log-probs of each row.

        Summed in float64: a multi-turn trajectory has thousands of assistant tokens, and a float32 sum of them
        rounds by more than the log-ratio margins the loss compares."""
        weights = inputs["token_weights"][:, 1:].double()
        scores = (per_token_logps[:, -weights.size(1) :].double() * weights).sum(dim=1)
        if self.length_normalize:
            scores = scores / (weights > 0).sum(dim=1).clamp(min=1)
        return scores

    def _reference_context(self, model: Any):
        if self.ref_model is None and is_peft_model(self.model):
            unwrapped = self.accelerator.unwrap_model(self.model)
            return use_adapter(unwrapped, adapter_name="ref" if "ref" in unwrapped.peft_config else None)
        return contextlib.nullcontext()

    def compute_ref_log_probs(self, model, inputs):
        """Reference r(tau) of chosen and rejected for one batch (used by ``precompute_ref_log_probs`` too)."""
        with (
            torch.no_grad(),
            disable_gradient_checkpointing(self.model, self.args.gradient_checkpointing_kwargs),
            self._reference_context(model),
            self.accelerator.autocast(),
        ):
            per_token = self._forward(model, inputs).log_probs
        return self._scores(per_token, inputs).chunk(2, dim=0)

    def _compute_loss(self, model, inputs, return_outputs):
        mode = "train" if self.model.training else "eval"
        outputs = self._forward(model, inputs, with_sft=True)
        mask = inputs["completion_mask"][:, 1:]
        per_token = outputs.log_probs[:, -mask.size(1) :]
        chosen_logps, rejected_logps = self._scores(per_token, inputs).chunk(2, dim=0)

        if self.precompute_ref_logps:
            ref_chosen_logps, ref_rejected_logps = inputs["ref_chosen_logps"], inputs["ref_rejected_logps"]
        else:
            reference = self.ref_model if self.ref_model is not None else self.model
            ref_chosen_logps, ref_rejected_logps = self.compute_ref_log_probs(reference, inputs)

        chosen_logratios = chosen_logps - ref_chosen_logps
        rejected_logratios = rejected_logps - ref_rejected_logps
        preference_loss = -F.logsigmoid(self.beta * (chosen_logratios - rejected_logratios)).mean()
        # The NLL's tokens: the chosen rows' sft_mask (a collator of TRL's own has none: its completion tokens).
        sft_mask = inputs["sft_mask"][:, 1:] if "sft_mask" in inputs else mask
        chosen_mask = sft_mask.chunk(2, dim=0)[0].bool()
        chosen_token_logps = per_token.chunk(2, dim=0)[0]
        nll = -chosen_token_logps[chosen_mask].mean() if chosen_mask.any() else per_token.sum() * 0.0
        # float32 for training in any lower precision; a float64 model (the tests' comparisons) keeps float64.
        loss = (preference_loss + self.sft_weight * nll).to(torch.promote_types(per_token.dtype, torch.float32))
        if self.aux_loss_enabled:
            loss = loss + self.router_aux_loss_coef * outputs.aux_loss
            self._metrics[mode]["aux_loss"].append(self.accelerator.gather_for_metrics(outputs.aux_loss).mean().item())

        self._log_metrics(
            mode, inputs, outputs, mask, chosen_logratios, rejected_logratios, chosen_logps, rejected_logps
        )
        self._metrics[mode]["nll"].append(self.accelerator.gather_for_metrics(nll.detach()).mean().item())
        if return_outputs:
            with torch.no_grad():
                outputs = model(**self._model_inputs(inputs)[0])
        return (loss, outputs) if return_outputs else loss

    def _log_metrics(self, mode, inputs, outputs, mask, chosen_logratios, rejected_logratios, chosen, rejected):
        """TRL's DPO metrics (same names), computed on the assistant tokens."""
        gather = self.accelerator.gather_for_metrics
        tokens = gather(mask.sum()).sum()
        if outputs.entropy is not None:
            entropy = gather((outputs.entropy[:, -mask.size(1) :] * mask).sum()).sum()
            self._metrics[mode]["entropy"].append((entropy / tokens).item() if tokens > 0 else 0.0)
        if outputs.is_top1 is not None:
            chosen_mask = mask.chunk(2, dim=0)[0].bool()
            chosen_top1 = outputs.is_top1[:, -mask.size(1) :].chunk(2, dim=0)[0]
            correct, total = gather((chosen_top1 & chosen_mask).sum()).sum(), gather(chosen_mask.sum()).sum()
            self._metrics[mode]["mean_token_accuracy"].append((correct / total).item() if total > 0 else 0.0)
        if mode == "train":
            self._total_train_tokens += gather(inputs["attention_mask"].sum()).sum().item() // self._tp_size
        self._metrics[mode]["num_tokens"] = [self._total_train_tokens]
        chosen_rewards = self.beta * chosen_logratios.detach()
        rejected_rewards = self.beta * rejected_logratios.detach()
        self._metrics[mode]["rewards/chosen"].append(gather(chosen_rewards).mean().item())
        self._metrics[mode]["rewards/rejected"].append(gather(rejected_rewards).mean().item())
        accuracies = (chosen_rewards > rejected_rewards).float()
        self._metrics[mode]["rewards/accuracies"].append(gather(accuracies).mean().item())
        self._metrics[mode]["rewards/margins"].append(gather(chosen_rewards - rejected_rewards).mean().item())
        self._metrics[mode]["logps/chosen"].append(gather(chosen.detach()).mean().item())
        self._metrics[mode]["logps/rejected"].append(gather(rejected.detach()).mean().item())


def build_mdpo_trainer(
    script_args: ScriptArguments, training_args: MDPOConfig, model_args: ModelConfig
) -> MultiTurnDPOTrainer:
    """``MultiTurnDPOTrainer`` on the recipe's preference datasets. The model is the SFT model; the reference is
    a frozen copy of it, or the same model with the adapter disabled when ``use_peft`` is on."""
    set_seed(training_args.seed)
    tokenizer = load_tokenizer(model_args, training_args.trust_remote_code)
    train, evaluation = load_datasets(script_args, PREFERENCE_REQUIRED, training_args.seed)
    training_args.model_init_kwargs = model_init_kwargs(model_args, training_args.trust_remote_code)
    return MultiTurnDPOTrainer(
        model_args.model_name_or_path,
        args=training_args,
        train_dataset=train,
        eval_dataset=evaluation,
        processing_class=tokenizer,
        peft_config=get_peft_config(model_args),
        quantization_config=get_quantization_config(model_args),
        tool_format=script_args.tool_format,
    )


def run_mdpo(script_args: ScriptArguments, training_args: MDPOConfig, model_args: ModelConfig) -> dict[str, Any]:
    """Train, resuming from the last checkpoint in ``output_dir`` if there is one, then save. Returns the
    metrics."""
    return train_and_save(build_mdpo_trainer(script_args, training_args, model_args), script_args, "mdpo")
