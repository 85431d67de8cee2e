"""Magnet's SDPA: one attention for rows that pack several sequences, every piece on SDPA's causal kernel.

Two trainers pack sequences into one row. mDPO's prefix sharing packs a pair as prompt, chosen, and the rejected
branch against the prompt (``magnet.train.prefix_sharing``); padding-free SFT (TRL's ``padding_free``) puts a
batch's rows end to end. transformers runs both through SDPA with one dense mask over the packed row, which takes
SDPA off its causal kernel and costs the whole square of the row (measured on CPU: prefix sharing 1.7x slower than
not sharing, padding-free SFT 0.74x the padded tokens/s). ``magnet_sdpa_attention`` computes each packed sequence
on its own instead:

- ``prefix_lengths`` (prompt, chosen, rejected per row): prompt + chosen causal, and the rejected branch's queries
  against the prompt's keys less its last token and the branch's own, bottom-right causal (PyTorch runs that on
  its flash or memory-efficient kernel where it can, CUDA, and as a materialized mask elsewhere);
- ``cu_seq_lens_q`` (TRL's padding-free batches: the sequences' boundaries in the one row): each sequence causal.

It is registered with transformers' ``AttentionInterface`` as ``magnet_sdpa`` and is ``sdpa`` in every forward that
passes neither (generation, evaluation, padded batches).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import torch
from accelerate.utils import is_peft_model
from torch.nn.attention.bias import causal_lower_right
from transformers import AttentionInterface
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, sdpa_mask

from magnet.errors import MagnetError

MAGNET_SDPA = "magnet_sdpa"  # the model's attention while Magnet packs sequences
PACKABLE = ("sdpa", MAGNET_SDPA)


def use_magnet_sdpa(model: Any) -> None:
    """Switch a transformers model from ``sdpa`` to ``magnet_sdpa`` (the same attention until a forward passes
    ``prefix_lengths`` or ``cu_seq_lens_q``). Registering the name is idempotent: transformers' registry is global
    by design."""
    AttentionInterface.register(MAGNET_SDPA, magnet_sdpa_attention)
    ALL_MASK_ATTENTION_FUNCTIONS.register(MAGNET_SDPA, sdpa_mask)
    if model.config._attn_implementation != MAGNET_SDPA:
        model.set_attn_implementation(MAGNET_SDPA)
    if model.config._attn_implementation != MAGNET_SDPA:  # transformers only warns for a model that cannot switch
        raise MagnetError(
            f"{type(model).__name__} cannot switch its attention to {MAGNET_SDPA} (its attention code does not go "
            "through transformers' AttentionInterface)"
        )


def base_model(model: Any) -> Any:
    """The transformers model inside a PEFT wrapper (whose config says its attention), or the model itself."""
    return model.get_base_model() if is_peft_model(model) else model


def sliding_window(config: Any) -> int | None:
    """The window of a model that uses one (Qwen2's ``sliding_window`` is set but unused unless
    ``use_sliding_window``; Mistral's applies whenever set)."""
    if getattr(config, "use_sliding_window", True) is False:
        return None
    return getattr(config, "sliding_window", None)


def magnet_sdpa_attention(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    dropout: float = 0.0,
    scaling: float | None = None,
    prefix_lengths: Sequence[tuple[int, int, int]] | None = None,
    cu_seq_lens_q: torch.Tensor | None = None,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    """transformers' attention signature (query (B, H, L, D), key and value (B, H_kv, L, D); returns (B, L, H, D)).

    With ``prefix_lengths``, row b is a packed pair whose prompt, chosen and rejected lengths are
    ``prefix_lengths[b]``; with ``cu_seq_lens_q`` (and one row), the row is the sequences between consecutive
    boundaries. Columns after the last sequence (padding) get zeros: no loss reads them. Otherwise ``sdpa``."""
    if prefix_lengths is None and cu_seq_lens_q is None:
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout, scaling, **kwargs)
    for name in ("sliding_window", "softcap", "s_aux", "position_bias"):
        if kwargs.get(name) is not None:
            raise MagnetError(f"magnet_sdpa cannot compute packed rows with {name}={kwargs[name]!r}")
    if prefix_lengths is not None:
        rows = [_pair_row(module, query[b : b + 1], key[b : b + 1], value[b : b + 1], lengths, dropout, scaling)
                for b, lengths in enumerate(prefix_lengths)]  # fmt: skip
        return torch.cat(rows, dim=0), None
    if query.size(0) != 1:
        raise MagnetError(f"cu_seq_lens_q describes one packed row; the batch has {query.size(0)}")
    bounds = getattr(cu_seq_lens_q, "_magnet_bounds", None)
    if bounds is None:  # every layer gets the same tensor: read it to the host once a forward, not once a layer
        bounds = cu_seq_lens_q.tolist()
        cu_seq_lens_q._magnet_bounds = bounds
    return _segments_row(module, query, key, value, bounds, dropout, scaling), None


def _causal(module, query, key, value, dropout, scaling) -> torch.Tensor:
    return sdpa_attention_forward(module, query, key, value, None, dropout, scaling, is_causal=True)[0]


def _pair_row(module, q, k, v, lengths: tuple[int, int, int], dropout, scaling) -> torch.Tensor:
    """[prompt][chosen][copy of the prompt's last token][rejected], then padding (``magnet.train.prefix_sharing``)."""
    p, c, r = lengths
    opening, end = p + c, p + c + 1 + r
    shared = _causal(module, q[:, :, :opening], k[:, :, :opening], v[:, :, :opening], dropout, scaling)
    branch_keys = torch.cat([k[:, :, : p - 1], k[:, :, opening:end]], dim=2)
    branch_values = torch.cat([v[:, :, : p - 1], v[:, :, opening:end]], dim=2)
    branch, _ = sdpa_attention_forward(
        module, q[:, :, opening:end], branch_keys, branch_values, causal_lower_right(r + 1, p + r), dropout, scaling
    )
    padding = shared.new_zeros((1, q.size(2) - end, *shared.shape[2:]))
    return torch.cat([shared, branch, padding], dim=1)


def _segments_row(module, q, k, v, bounds: list[int], dropout, scaling) -> torch.Tensor:
    """Sequences end to end, ``bounds`` their start offsets and the end of the last (TRL's ``cu_seq_lens``)."""
    pieces = [
        _causal(module, q[:, :, start:stop], k[:, :, start:stop], v[:, :, start:stop], dropout, scaling)
        for start, stop in itertools.pairwise(bounds)
        if stop > start
    ]
    output = torch.cat(pieces, dim=1)
    if output.size(1) < q.size(2):
        output = torch.cat([output, output.new_zeros((1, q.size(2) - output.size(1), *output.shape[2:]))], dim=1)
    return output
