"""Real training rows for the train tests: SFT rows and preference pairs made by the synthesis pipeline
(builtin pool, offline teacher), multi-turn, single-turn, irrelevance and miss-func rows among them; and a small
pipeline-like pair that branches at turn 1 of 3, with a stock-template view of its assistant tokens to check
the trainer against."""

from __future__ import annotations

import asyncio
import random
import re

import pytest
import torch
from transformers import AutoTokenizer

from magnet.data.records import Message, ToolCall
from magnet.synthesis.distill import distill
from magnet.synthesis.episode import Episode
from magnet.synthesis.graph import SchemaJudge, build_graph
from magnet.synthesis.negatives import perturb_negative, preference_pair
from magnet.synthesis.offline import OfflineTeacher
from magnet.synthesis.operations import reshape
from magnet.synthesis.paths import sample_paths, sample_single_turn
from magnet.synthesis.translate import Translator, build_registry
from magnet.tools.builtin import BUILTIN_TOOLKITS


@pytest.fixture(scope="session")
def synthesized():
    """``(sft_rows, preference_rows)`` as dataset dicts."""
    specs = [spec for klass in BUILTIN_TOOLKITS for spec in klass.specs()]
    graph = asyncio.run(build_graph(specs, SchemaJudge(), progress=False))
    registry = build_registry(graph)
    rng = random.Random(3)
    paths = [p for w in sample_paths(graph, seed=3, limit=12) for p in reshape(w, graph, rng)]
    paths += sample_single_turn(graph, single=3, parallel=3, multiple=3, irrelevance=3, seed=3)

    async def run():
        teacher = OfflineTeacher()
        translator = Translator(graph, registry, teacher)
        episodes = [
            r for r in await asyncio.gather(*(translator.translate(p) for p in paths)) if isinstance(r, Episode)
        ]
        results = await asyncio.gather(*(distill(e, registry, teacher) for e in episodes))
        kept = [(e, r) for e, r in zip(episodes, results, strict=True) if r.row is not None]
        pairs = await asyncio.gather(
            *(perturb_negative(e, r.rollout, r.row, registry, teacher, seed=3) for e, r in kept)
        )
        return [r.row.to_dict() for _, r in kept], [p.to_dict() for p in pairs if p is not None]

    sft, pairs = asyncio.run(run())
    assert any(row["meta"]["missing"] for row in sft)  # a miss_func row is among them
    assert any(len(p["chosen"]) > 2 for p in pairs)  # and multi-turn continuations
    return sft, pairs


@pytest.fixture(scope="session")
def sft_rows(synthesized):
    return synthesized[0]


@pytest.fixture(scope="session")
def preference_rows(synthesized):
    return synthesized[1]


DEPOSIT = {
    "type": "function",
    "function": {
        "name": "deposit",
        "description": "Put money on an account.",
        "parameters": {
            "type": "object",
            "properties": {"account_id": {"type": "string"}, "amount": {"type": "number"}},
            "required": ["account_id", "amount"],
        },
    },
}


def _deposit_turn(index: int, amount: float, balance: float, answers: tuple[str, ...]) -> list[Message]:
    call = ToolCall(f"c{index}", "deposit", {"account_id": "acc-1", "amount": amount})
    return [
        Message("user", f"Make deposit {index} on acc-1 and tell me the balance."),
        Message("assistant", None, (call,)),
        Message("tool", f'{{"balance": {balance}}}', tool_call_id=f"c{index}", name="deposit"),
        *(Message("assistant", answer) for answer in answers),
    ]


@pytest.fixture(scope="session")
def branching_pair():
    """A pair as the pipeline makes them (``preference_pair``): three user turns, the negative's wrong deposit at
    turn 1, so turn 2 follows a different history on each side; the prompt holds turn 0's assistant messages, and
    the positive answers turn 1 with two assistant messages in a row."""
    system = Message("system", "You are a bank.")
    positive = [
        system,
        *_deposit_turn(0, 5, 15, ("acc-1 holds 15.",)),
        *_deposit_turn(1, 2, 17, ("Done.", "acc-1 holds 17.")),
        *_deposit_turn(2, 1, 18, ("acc-1 holds 18.",)),
    ]
    negative = [
        system,
        *_deposit_turn(0, 5, 15, ("acc-1 holds 15.",)),
        *_deposit_turn(1, 50, 65, ("acc-1 holds 65.",)),
        *_deposit_turn(2, 1, 66, ("acc-1 holds 66.",)),
    ]
    pair = preference_pair("branching", [DEPOSIT], positive, negative, {"source": "perturb", "negative_turns": [1]})
    assert pair is not None and pair.meta["branch_turn"] == 1 and pair.prompt[-1].role == "user"
    return pair.to_dict()


def _stock_assistant_turns(tokenizer, messages, tools) -> tuple[list[int], list[int]]:
    """``(input_ids, turns)`` of a conversation under the stock Qwen2.5 template, found from its text alone: an
    assistant token is one inside what follows ``<|im_start|>assistant`` up to ``<|im_end|>\\n``; its turn is the
    number of user blocks before it (tool outputs come in user blocks that open with ``<tool_response>``) minus 1;
    other tokens get -1."""
    text = tokenizer.apply_chat_template(messages, tools=tools, tokenize=False)
    spans, user = [], -1
    for block in re.finditer(r"<\|im_start\|>(user|assistant)(.*?<\|im_end\|>\n)", text, flags=re.S):
        if block.group(1) == "user" and not block.group(2).startswith("\n<tool_response>"):
            user += 1
        elif block.group(1) == "assistant":
            spans.append((block.start(2), block.end(2), user))
    encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    turns = [next((t for a, b, t in spans if a <= start and end <= b), -1) for start, end in encoded["offset_mapping"]]
    return list(encoded["input_ids"]), turns


@pytest.fixture(scope="session")
def stock_assistant_turns():
    """``_stock_assistant_turns``: the assistant tokens and their turns, found without the training template."""
    return _stock_assistant_turns


@pytest.fixture(scope="session")
def tokenizer(tiny_model_dir):
    return AutoTokenizer.from_pretrained(tiny_model_dir)


class Float64LogProbs:
    """TRL's fused LM head kernel (``trl.kernels.ChunkedLogProbFunction``) written out with plain torch ops: the
    same arguments and outputs, the logits materialised and ``log_softmax`` taken in the model's precision.

    TRL's kernel accumulates in float32 whatever the model's dtype, so two trainers that sum its per-token
    log-probs in different orders differ by ~1e-6 from one CPU to another (STACK.md section 7). Comparisons of
    two loss implementations patch this in and run float64 models, where a strict tolerance tests the masks and
    the terms of the loss, not the processor.
    """

    @staticmethod
    def apply(hidden, weight, bias, targets, temperature, chunk_size, softcap=None, logit_scale=1.0, outputs=()):
        del chunk_size
        logits = hidden @ weight.to(hidden.dtype).t()
        if bias is not None:
            logits = logits + bias.to(hidden.dtype)
        logits = logits * logit_scale
        if softcap is not None:
            logits = softcap * torch.tanh(logits / softcap)
        logits = logits / temperature
        log_p = torch.log_softmax(logits, dim=-1)
        target = log_p.gather(-1, targets.clamp(min=0)[:, None])[:, 0]
        entropy = -(log_p.exp() * log_p).sum(-1) if "entropy" in outputs else None
        with torch.no_grad():
            sq = torch.logsumexp(2 * log_p, dim=-1) if "log_sum_sq_probs" in outputs else None
            mean = logits.mean(-1) if "mean_logits" in outputs else None
            top1 = (logits.argmax(-1) == targets) if "is_top1" in outputs else None
        return target, entropy, sq, mean, top1


@pytest.fixture
def float64_log_probs(monkeypatch):
    """TRL's fused LM head kernel replaced by ``Float64LogProbs`` for the test (float64 comparisons of two loss
    computations); both trainers reach it through ``trl.trainer.utils.add_fused_lm_head``."""
    import trl.trainer.utils

    assert hasattr(trl.trainer.utils, "_ChunkedLogProbFunction")  # the name the fused head calls at run time
    monkeypatch.setattr(trl.trainer.utils, "_ChunkedLogProbFunction", Float64LogProbs)


@pytest.fixture
def float64_rms_norm(monkeypatch):
    """Qwen2's RMSNorm without its float32 cast (it computes in float32 whatever the model's dtype), so that two
    float64 computations of the same gradients differ by float64 rounding, not float32's."""
    from transformers.models.qwen2 import modeling_qwen2

    def forward(self, hidden_states):
        variance = hidden_states.pow(2).mean(-1, keepdim=True)
        return self.weight * (hidden_states * torch.rsqrt(variance + self.variance_epsilon))

    monkeypatch.setattr(modeling_qwen2.Qwen2RMSNorm, "forward", forward)


def flash_attn_varlen_func(
    q,
    k,
    v,
    cu_seqlens_q,
    cu_seqlens_k,
    max_seqlen_q,
    max_seqlen_k,
    dropout_p=0.0,
    softmax_scale=None,
    causal=False,
    window_size=(-1, -1),
    softcap=0.0,
    alibi_slopes=None,
    deterministic=False,
    return_attn_probs=False,
    block_table=None,
):
    """flash-attn 2.x's ``flash_attn_varlen_func`` as its docstring defines it, computed with PyTorch's SDPA in the
    inputs' dtype (no CUDA here): q (total_q, heads, D), k and v (total_k, kv_heads, D) with kv_heads dividing
    heads, sequence i the rows ``cu_seqlens[i]:cu_seqlens[i + 1]`` of each, and with ``causal`` "the causal mask
    aligned to the bottom right corner of the attention matrix" where a sequence has more keys than queries.
    What this machine cannot check is the kernel itself; ``benchmarks/gpu_check.sh`` runs the real one."""
    import itertools

    from torch.nn.attention.bias import causal_lower_right

    assert dropout_p == 0.0 and tuple(window_size) == (-1, -1) and not softcap and alibi_slopes is None
    assert q.dim() == k.dim() == v.dim() == 3 and q.size(1) % k.size(1) == 0
    assert cu_seqlens_q.dtype == cu_seqlens_k.dtype == torch.int32  # as the kernel demands
    groups = q.size(1) // k.size(1)
    q_bounds, k_bounds = cu_seqlens_q.tolist(), cu_seqlens_k.tolist()
    assert len(q_bounds) == len(k_bounds) and q_bounds[-1] == q.size(0) and k_bounds[-1] == k.size(0)
    assert max_seqlen_q == max(b - a for a, b in itertools.pairwise(q_bounds))
    assert max_seqlen_k == max(b - a for a, b in itertools.pairwise(k_bounds))
    pieces = []
    for (q_start, q_stop), (k_start, k_stop) in zip(
        itertools.pairwise(q_bounds), itertools.pairwise(k_bounds), strict=True
    ):
        queries = q[q_start:q_stop].transpose(0, 1)[None]
        keys = k[k_start:k_stop].transpose(0, 1).repeat_interleave(groups, dim=0)[None]
        values = v[k_start:k_stop].transpose(0, 1).repeat_interleave(groups, dim=0)[None]
        mask = causal_lower_right(q_stop - q_start, k_stop - k_start) if causal else None
        out = torch.nn.functional.scaled_dot_product_attention(
            queries, keys, values, attn_mask=mask, scale=softmax_scale
        )
        pieces.append(out[0].transpose(0, 1))
    return torch.cat(pieces)


@pytest.fixture
def flash_attention_double(monkeypatch):
    """transformers' FlashAttention path (``flash_attention_2``) on CPU: its own forward, unpadding and kwargs
    processing, with ``flash_attn_varlen_func`` above in place of the CUDA kernel it would import."""
    from transformers import modeling_flash_attention_utils as fa_utils

    def imports(implementation, attention_wrapper=None, allow_all_kernels=False):
        assert implementation in ("flash_attention_2", "flash_attention_3"), implementation
        return None, flash_attn_varlen_func, None, fa_utils._pad_input, fa_utils._unpad_input

    monkeypatch.setattr(fa_utils, "_lazy_imports", imports)
    monkeypatch.setattr(fa_utils, "_loaded_implementation", None)
    return flash_attn_varlen_func
