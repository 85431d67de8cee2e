"""Prefix-shared mDPO batches: the packing itself, and the trainer's per-token log-probs, loss and gradients with
sharing against the unshared forward, in float64, on the pipeline's multi-turn pairs and on single-turn pairs."""

from __future__ import annotations

import copy

import pytest
import torch
from test_mdpo import load, mdpo_args, perturbed, single_turn  # the mDPO tests' models and pairs

from magnet.data.schema import preference_dataset
from magnet.errors import MagnetError
from magnet.train.mdpo import MultiTurnDPOTrainer
from magnet.train.prefix_sharing import check_prefix_sharing, pack_pairs


def test_a_pair_is_one_row_whose_rejected_branch_restarts_after_the_prompt():
    packed = pack_pairs([[1, 2, 3]], [[4, 5]], [[6, 7, 8]], width=6, pad_token_id=0)
    # prompt, chosen, a copy of the prompt's last token, rejected
    assert packed.input_ids.tolist() == [[1, 2, 3, 4, 5, 3, 6, 7, 8]]
    assert packed.position_ids.tolist() == [[0, 1, 2, 3, 4, 2, 3, 4, 5]]
    allowed = packed.allowed[0].int().tolist()
    assert allowed[4] == [1, 1, 1, 1, 1, 0, 0, 0, 0]  # chosen sees the prompt and itself
    assert allowed[5] == [1, 1, 0, 0, 0, 1, 0, 0, 0]  # the copy sees what the prompt's last token sees
    assert allowed[8] == [1, 1, 0, 0, 0, 1, 1, 1, 1]  # rejected: the prompt (through the copy) and itself
    # unshared rows [1 2 3 4 5 .] and [1 2 3 6 7 8]: where each next-token prediction comes from
    assert packed.source.tolist() == [[0, 1, 2, 3, 0], [0, 1, 5, 6, 7]]


def test_continuations_are_cut_where_their_unshared_rows_are_and_padding_sees_itself():
    packed = pack_pairs([[1, 2], [9]], [[3, 4, 5], [10]], [[6], [11, 12]], width=4, pad_token_id=0, max_length=4)
    assert packed.input_ids.tolist() == [[1, 2, 3, 4, 2, 6], [9, 10, 9, 11, 12, 0]]
    assert packed.allowed[1, 5].int().tolist() == [0, 0, 0, 0, 0, 1]


def test_where_sharing_cannot_be_right_it_is_refused_with_the_fix():
    with pytest.raises(MagnetError, match=r"flash_attention_2.*set attn_implementation: sdpa, or prefix_sharing"):
        check_prefix_sharing("flash_attention_2", "keep_start")
    with pytest.raises(MagnetError, match="truncation_mode: keep_start"):
        check_prefix_sharing("sdpa", "keep_end")


def _trainer(base, policy, pairs, tokenizer, tmp_path, sharing, use_lora=False, **overrides):
    from peft import LoraConfig

    lora = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM")
    trainer = MultiTurnDPOTrainer(
        copy.deepcopy(base if use_lora else policy),
        ref_model=None if use_lora else copy.deepcopy(base),
        args=mdpo_args(
            tmp_path / str(sharing), prefix_sharing=sharing, per_device_train_batch_size=len(pairs), **overrides
        ),
        train_dataset=preference_dataset(pairs, validate=False),
        processing_class=tokenizer,
        peft_config=lora if use_lora else None,
    )
    if use_lora:  # the adapter away from zero, so that policy and reference differ
        with torch.no_grad():
            for name, parameter in trainer.model.named_parameters():
                if "lora_B" in name:
                    parameter.fill_(0.01)
    return trainer


@pytest.mark.slow
@pytest.mark.parametrize(
    ("kind", "attention", "use_lora", "tolerance"),
    [
        ("multi_turn", "sdpa", False, 1e-10),
        # eager attention takes its softmax in float32 whatever the model's dtype: rows of other lengths round
        # differently there (measured: 1.5e-7)
        ("multi_turn", "eager", True, 1e-6),
        ("single_turn", "sdpa", False, 1e-10),
    ],
)
def test_sharing_gives_the_unshared_log_probs_loss_and_gradients(
    tiny_model_dir, tokenizer, preference_rows, tmp_path, float64_log_probs, kind, attention, use_lora, tolerance
):
    if kind == "multi_turn":
        pairs = sorted((p for p in preference_rows if len(p["chosen"]) > 2), key=lambda p: len(str(p)))[:3]
    else:
        pairs = single_turn(preference_rows)[:3]
    assert len(pairs) == 3
    base = load(tiny_model_dir, dtype=torch.float64)
    base.config._attn_implementation = attention
    policy = perturbed(base)
    results = {}
    for sharing in (False, True):
        trainer = _trainer(base, policy, pairs, tokenizer, tmp_path, sharing, use_lora, mdpo_loss="dmpo")
        batch = trainer.data_collator([trainer.train_dataset[i] for i in range(len(pairs))])
        assert ("packed_input_ids" in batch) == sharing
        trainer.model.train()
        per_token = trainer._forward(trainer.model, batch, with_sft=True).log_probs.detach()
        trainer.model.zero_grad()
        loss = trainer.compute_loss(trainer.model, batch)
        loss.backward()
        grads = {n: p.grad.clone() for n, p in trainer.model.named_parameters() if p.grad is not None}
        results[sharing] = (per_token, loss.item(), grads, batch)
    (plain, loss_plain, grads_plain, batch), (shared, loss_shared, grads_shared, packed) = results[False], results[True]
    scored = (batch["completion_mask"] | batch["sft_mask"]).bool()[:, 1:]
    assert scored.sum() > 0 and torch.equal(plain != 0, shared != 0)
    assert torch.allclose(plain[scored], shared[scored], atol=tolerance, rtol=0)
    assert loss_shared == pytest.approx(loss_plain, abs=max(tolerance, 1e-9))
    assert grads_plain.keys() == grads_shared.keys() and grads_plain
    for name, grad in grads_plain.items():
        # measured: at most 3e-8 (the same batch reordered, unshared: 5e-15). The shared prefix's gradient is the
        # sum of both continuations' before it is multiplied through, not after: float64 rounds differently
        assert torch.allclose(grad, grads_shared[name], atol=1e-6, rtol=0), name
    # the gain follows the prefix: fewer tokens forwarded than the two unshared rows hold
    assert packed["packed_input_ids"].numel() < batch["input_ids"].numel()


@pytest.mark.slow
def test_sharing_refuses_an_attention_without_arbitrary_masks(tiny_model_dir, tokenizer, preference_rows, tmp_path):
    base = load(tiny_model_dir, dtype=torch.float64)
    base.config._attn_implementation = "flash_attention_2"
    with pytest.raises(MagnetError, match="prefix_sharing needs an attention"):
        _trainer(base, base, preference_rows[:2], tokenizer, tmp_path, True)
