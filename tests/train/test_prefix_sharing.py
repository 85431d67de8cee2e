"""Prefix-shared mDPO batches: the packing itself, and the trainer's per-token log-probs, loss and gradients with
sharing against the unshared forward, in float64, on the pipeline's multi-turn pairs and on single-turn pairs."""

from __future__ import annotations

import copy
import functools
import logging

import pytest
import torch
from test_mdpo import load, mdpo_args, perturbed, single_turn  # the mDPO tests' models and pairs

from magnet.data.schema import preference_dataset
from magnet.errors import MagnetError
from magnet.train.attention import magnet_flash_attention, magnet_sdpa_attention, use_packed_attention
from magnet.train.mdpo import MultiTurnDPOTrainer
from magnet.train.prefix_sharing import check_prefix_sharing, pack_pairs


def test_a_pair_is_one_row_whose_rejected_branch_restarts_after_the_prompt():
    packed = pack_pairs([[1, 2, 3]], [[4, 5]], [[6, 7, 8]], width=6, pad_token_id=0)
    # prompt, chosen, a copy of the prompt's last token, rejected
    assert packed.input_ids.tolist() == [[1, 2, 3, 4, 5, 3, 6, 7, 8]]
    assert packed.position_ids.tolist() == [[0, 1, 2, 3, 4, 2, 3, 4, 5]]
    assert packed.prefix_lengths() == ((3, 2, 3),)
    # unshared rows [1 2 3 4 5 .] and [1 2 3 6 7 8]: where each next-token prediction comes from
    assert packed.source.tolist() == [[0, 1, 2, 3, 0], [0, 1, 5, 6, 7]]


def test_continuations_are_cut_where_their_unshared_rows_are():
    packed = pack_pairs([[1, 2], [9]], [[3, 4, 5], [10]], [[6], [11, 12]], width=4, pad_token_id=0, max_length=4)
    assert packed.input_ids.tolist() == [[1, 2, 3, 4, 2, 6], [9, 10, 9, 11, 12, 0]]
    assert packed.prefix_lengths() == ((2, 2, 1), (1, 1, 2))


def _unshared_attention(module, query, key, value, lengths):
    """Each packed row unpacked into its two unshared rows (prompt + chosen, prompt + rejected), each through
    PyTorch's own causal SDPA, and put back in the packed columns: what the two-piece attention must give."""
    groups = module.num_key_value_groups
    expected = torch.zeros(query.shape[0], query.shape[2], query.shape[1], query.shape[3], dtype=query.dtype)
    for b, (p, c, r) in enumerate(lengths):
        opening, end = p + c, p + c + 1 + r
        for columns in (list(range(opening)), list(range(p - 1)) + list(range(opening, end))):
            q, k, v = (x[b : b + 1, :, columns] for x in (query, key, value))
            k, v = k.repeat_interleave(groups, dim=1), v.repeat_interleave(groups, dim=1)
            out = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)[0].transpose(0, 1)
            kept = columns if columns[0] == 0 and len(columns) == opening else columns[p - 1 :]
            expected[b, kept] = out[len(columns) - len(kept) :]
    return expected


def test_the_two_piece_attention_is_each_unshared_rows_causal_attention():
    torch.manual_seed(0)
    lengths = ((5, 3, 4), (1, 2, 1), (3, 6, 2))  # the second: a one-token prompt, nothing before its branch's copy
    width = max(p + c + 1 + r for p, c, r in lengths) + 2  # and padding after every row
    module = torch.nn.Module()
    module.num_key_value_groups, module.is_causal = 2, True  # grouped-query attention: 4 heads, 2 key/value heads
    query = torch.randn(3, 4, width, 8, dtype=torch.float64)
    key, value = torch.randn(3, 2, width, 8, dtype=torch.float64), torch.randn(3, 2, width, 8, dtype=torch.float64)
    shared, _ = magnet_sdpa_attention(module, query, key, value, None, prefix_lengths=lengths)
    expected = _unshared_attention(module, query, key, value, lengths)
    assert shared.shape == expected.shape == (3, width, 4, 8)
    assert torch.allclose(shared, expected, atol=1e-12, rtol=0)
    for b, (p, c, r) in enumerate(lengths):
        assert not shared[b, p + c + 1 + r :].any()  # padding: zeros
    # without prefix_lengths it is plain sdpa
    plain, _ = magnet_sdpa_attention(module, query, key, value, None)
    reference = torch.nn.functional.scaled_dot_product_attention(
        query, key.repeat_interleave(2, dim=1), value.repeat_interleave(2, dim=1), is_causal=True
    )
    assert torch.allclose(plain, reference.transpose(1, 2), atol=1e-12, rtol=0)


def test_on_flash_attention_a_pair_is_two_sequences_of_one_varlen_call(flash_attention_double, monkeypatch):
    """The same pieces through transformers' FlashAttention forward, with ``flash_attn_varlen_func`` (a stand-in
    computing its documented semantics, ``tests/train/conftest.py``): every pair in one varlen call."""
    torch.manual_seed(0)
    lengths = ((5, 3, 4), (1, 2, 1), (3, 6, 2))
    width = max(p + c + 1 + r for p, c, r in lengths) + 2
    module = torch.nn.Module()
    module.num_key_value_groups, module.is_causal = 2, True
    module.config = type("Config", (), {"_attn_implementation": "magnet_fa2"})()
    query = torch.randn(3, 4, width, 8, dtype=torch.float64)
    key, value = torch.randn(3, 2, width, 8, dtype=torch.float64), torch.randn(3, 2, width, 8, dtype=torch.float64)
    calls = []

    @functools.wraps(flash_attention_double)  # transformers reads the kernel's signature for what it may pass
    def counted(*args, **kwargs):
        calls.append(kwargs)
        return flash_attention_double(*args, **kwargs)

    monkeypatch.setattr(
        "transformers.modeling_flash_attention_utils._lazy_imports", lambda *_, **__: (None, counted, None, None, None)
    )
    shared, _ = magnet_flash_attention(module, query, key, value, None, prefix_lengths=lengths)
    assert len(calls) == 1 and calls[0]["causal"] and calls[0]["cu_seqlens_q"].tolist() == [0, 8, 13, 16, 18, 27, 30]
    assert calls[0]["cu_seqlens_k"].tolist() == [0, 8, 17, 20, 22, 31, 36]  # a branch sees the prompt less one
    expected = _unshared_attention(module, query, key, value, lengths)
    assert shared.shape == expected.shape == (3, width, 4, 8)
    assert torch.allclose(shared, expected, atol=1e-12, rtol=0)
    for b, (p, c, r) in enumerate(lengths):
        assert not shared[b, p + c + 1 + r :].any()
    assert module.config._attn_implementation == "magnet_fa2"


def test_where_sharing_cannot_be_right_it_is_refused_with_the_fix():
    for attention in ("eager", "flex_attention"):
        with pytest.raises(MagnetError, match=rf"uses '{attention}': set one of those, or prefix_sharing: false"):
            check_prefix_sharing(attention, "keep_start")
    for attention in ("sdpa", "flash_attention_2", "flash_attention_3"):
        check_prefix_sharing(attention, "keep_start")
    with pytest.raises(MagnetError, match="sliding_window is 4096"):
        check_prefix_sharing("sdpa", "keep_start", 4096)
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
    ("kind", "use_lora", "norm_in_float64", "grad_tolerance", "checkpointing"),
    [
        # Qwen2's RMSNorm computes in float32 whatever the model's dtype, and a shared prompt token's gradient is
        # the sum of both continuations' taken in another order: float32 rounds it differently (measured: 1e-8).
        ("multi_turn", False, False, 1e-6, False),
        # with the norm in float64 the gradients agree to float64 rounding (measured: 6e-15)
        ("multi_turn", False, True, 1e-12, False),
        ("multi_turn", True, True, 1e-12, False),
        ("multi_turn", True, True, 1e-12, True),  # activation checkpointing recomputes the two-piece attention
        ("single_turn", False, True, 1e-12, False),
    ],
)
def test_sharing_gives_the_unshared_log_probs_loss_and_gradients(
    tiny_model_dir,
    tokenizer,
    preference_rows,
    tmp_path,
    float64_log_probs,
    request,
    kind,
    use_lora,
    norm_in_float64,
    grad_tolerance,
    checkpointing,
):
    if norm_in_float64:
        request.getfixturevalue("float64_rms_norm")
    if kind == "multi_turn":
        pairs = sorted((p for p in preference_rows if len(p["chosen"]) > 2), key=lambda p: len(str(p)))[:3]
    else:
        pairs = single_turn(preference_rows)[:3]
    assert len(pairs) == 3
    base = load(tiny_model_dir, dtype=torch.float64)
    assert base.config._attn_implementation == "sdpa"
    policy = perturbed(base)
    results = {}
    for sharing in (False, True):
        trainer = _trainer(base, policy, pairs, tokenizer, tmp_path, sharing, use_lora, mdpo_loss="dmpo")
        results[sharing] = _loss_and_gradients(trainer, len(pairs), checkpointing)
    _assert_same(results[False], results[True], grad_tolerance)


def _loss_and_gradients(trainer, count, checkpointing=False):
    """Per-token log-probs, loss, gradients and the batch of one training step of ``count`` pairs."""
    if checkpointing:  # as Trainer.train() turns it on
        trainer.model.activation_checkpointing_enable()
        assert trainer.model.is_activation_checkpointing
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(count)])
    assert ("packed_input_ids" in batch) == trainer.prefix_sharing
    trainer.model.train()
    per_token = trainer._forward(trainer.model, batch, with_sft=True).log_probs.detach()
    trainer.model.zero_grad()
    loss = trainer.compute_loss(trainer.model, batch)
    loss.backward()
    grads = {n: p.grad.clone() for n, p in trainer.model.named_parameters() if p.grad is not None}
    return per_token, loss.item(), grads, batch


def _assert_same(unshared, shared_run, grad_tolerance):
    (plain, loss_plain, grads_plain, batch), (shared, loss_shared, grads_shared, packed) = unshared, shared_run
    scored = (batch["completion_mask"] | batch["sft_mask"]).bool()[:, 1:]
    assert scored.sum() > 0 and torch.equal(plain != 0, shared != 0)
    assert torch.allclose(plain[scored], shared[scored], atol=1e-12, rtol=0)  # measured: equal
    assert loss_shared == pytest.approx(loss_plain, abs=1e-12)
    assert grads_plain.keys() == grads_shared.keys() and grads_plain
    for name, grad in grads_plain.items():
        assert torch.allclose(grad, grads_shared[name], atol=grad_tolerance, rtol=0), name
    # the gain follows the prefix: fewer tokens forwarded than the two unshared rows hold
    assert packed["packed_input_ids"].numel() < batch["input_ids"].numel()


@pytest.mark.slow
def test_sharing_on_flash_attention_gives_the_unshared_sdpa_log_probs_loss_and_gradients(
    tiny_model_dir, tokenizer, preference_rows, tmp_path, float64_log_probs, float64_rms_norm, flash_attention_double
):
    """The 7B/14B recipes' attention: shared pairs through transformers' FlashAttention forward (the varlen kernel
    a stand-in, ``tests/train/conftest.py``) against the unshared rows on PyTorch's SDPA, in float64."""
    pairs = sorted((p for p in preference_rows if len(p["chosen"]) > 2), key=lambda p: len(str(p)))[:3]
    base = load(tiny_model_dir, dtype=torch.float64)
    policy = perturbed(base)
    results = {}
    for attention, sharing in (("sdpa", False), ("flash_attention_2", True)):
        models = copy.deepcopy(base), copy.deepcopy(policy)
        for model in models:
            model.config._attn_implementation = attention  # as from_pretrained(attn_implementation=...) sets it
        # the unshared run off by request; the shared one unset, so on where supported
        trainer = _trainer(*models, pairs, tokenizer, tmp_path, None if sharing else False, mdpo_loss="dmpo")
        assert trainer.prefix_sharing == sharing
        if sharing:
            assert trainer.model.config._attn_implementation == "magnet_fa2"
            assert trainer.ref_model.config._attn_implementation == "magnet_fa2"
        results[sharing] = _loss_and_gradients(trainer, len(pairs))
    _assert_same(results[False], results[True], 1e-12)


@pytest.mark.slow
def test_sharing_is_on_where_supported_and_a_request_it_cannot_meet_is_refused(
    tiny_model_dir, tokenizer, preference_rows, tmp_path, caplog
):
    base = load(tiny_model_dir, dtype=torch.float64)
    assert _trainer(base, base, preference_rows[:2], tokenizer, tmp_path, None).prefix_sharing  # sdpa: on
    base.config._attn_implementation = "eager"
    with caplog.at_level(logging.INFO, logger="magnet.train.mdpo"):
        trainer = _trainer(base, base, preference_rows[:2], tokenizer, tmp_path, None)
    assert not trainer.prefix_sharing and not trainer.data_collator.prefix_sharing
    assert "prefix sharing is off: prefix_sharing needs attn_implementation: sdpa" in caplog.text
    with pytest.raises(MagnetError, match=r"needs attn_implementation: sdpa, flash_attention_2 or .* uses 'eager'"):
        _trainer(base, base, preference_rows[:2], tokenizer, tmp_path, True)
    assert not _trainer(base, base, preference_rows[:2], tokenizer, tmp_path, False).prefix_sharing


@pytest.mark.slow
def test_the_switched_attention_is_sdpa_outside_a_packed_forward(tiny_model_dir, tokenizer, preference_rows, tmp_path):
    """The model keeps the trainer's attention after training: generation and evaluation must be unchanged."""
    base = load(tiny_model_dir, dtype=torch.float64)
    trainer = _trainer(base, base, preference_rows[:2], tokenizer, tmp_path, True)
    model = trainer.model
    assert model.config._attn_implementation == "magnet_sdpa"
    prompt = tokenizer(["a short prompt", "a longer prompt, padded on the left"], return_tensors="pt", padding=True)
    plain = copy.deepcopy(model)
    plain.set_attn_implementation("sdpa")
    settings = {"max_new_tokens": 6, "do_sample": False, "pad_token_id": tokenizer.pad_token_id}
    assert torch.equal(model.generate(**prompt, **settings), plain.generate(**prompt, **settings))


@pytest.mark.slow
def test_a_model_that_cannot_switch_its_attention_does_not_share(
    tiny_model_dir, tokenizer, preference_rows, tmp_path, monkeypatch, caplog
):
    """transformers only warns when a model cannot take another attention; the packed rows would then run under
    plain causal attention, the rejected branch seeing the chosen one. Sharing must be off, or refused."""
    base = load(tiny_model_dir, dtype=torch.float64)
    monkeypatch.setattr(type(base), "set_attn_implementation", lambda self, name: None)
    with caplog.at_level(logging.INFO, logger="magnet.train.mdpo"):
        assert not _trainer(base, base, preference_rows[:2], tokenizer, tmp_path, None).prefix_sharing
    assert "cannot switch its attention to magnet_sdpa" in caplog.text
    with pytest.raises(MagnetError, match="cannot switch its attention to magnet_sdpa"):
        _trainer(base, base, preference_rows[:2], tokenizer, tmp_path, True)


@pytest.mark.slow
def test_the_switched_flash_attention_is_flash_attention_outside_a_packed_forward(
    tiny_model_dir, tokenizer, flash_attention_double
):
    """After training the model keeps ``magnet_fa2``: padded generation must be the stock FlashAttention path's."""
    stock = load(tiny_model_dir, dtype=torch.float64)
    stock.config._attn_implementation = "flash_attention_2"
    switched = copy.deepcopy(stock)
    use_packed_attention(switched)
    assert switched.config._attn_implementation == "magnet_fa2"
    tokenizer.padding_side = "left"
    prompt = tokenizer(["a short prompt", "a longer prompt, padded on the left"], return_tensors="pt", padding=True)
    settings = {"max_new_tokens": 6, "do_sample": False, "pad_token_id": tokenizer.pad_token_id}
    assert torch.equal(switched.generate(**prompt, **settings), stock.generate(**prompt, **settings))
    assert switched.config._attn_implementation == "magnet_fa2"
