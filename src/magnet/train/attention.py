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

``magnet_flash_attention`` does the same for FlashAttention (``magnet_fa2`` / ``magnet_fa3``, over the model's
``flash_attention_2`` / ``_3``): a pair's two pieces are two sequences of one varlen call, the second with
more keys than queries (FlashAttention's causal mask is bottom-right aligned for such a sequence, as
``causal_lower_right``), through transformers' own FlashAttention forward, which loads the kernel. TRL's
padding-free batches need nothing of Magnet's on FlashAttention: transformers passes their boundaries to the
varlen kernel, so there it is FlashAttention as it ships.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Sequence
from typing import Any

import torch
from accelerate.utils import is_peft_model
from torch.nn.attention.bias import causal_lower_right
from transformers import AttentionInterface
from transformers.integrations.flash_attention import flash_attention_forward, get_target_dtype
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, sdpa_mask
from transformers.modeling_flash_attention_utils import _flash_attention_forward, flash_attn_supports_top_left_mask

from magnet.errors import MagnetError

MAGNET_SDPA = "magnet_sdpa"  # the model's attention while Magnet packs sequences
# No "flash" in these names: transformers treats any attention named so as a FlashAttention kernel to load.
MAGNET_FLASH = {"flash_attention_2": "magnet_fa2", "flash_attention_3": "magnet_fa3"}
FLASH_KERNEL = {magnet: kernel for kernel, magnet in MAGNET_FLASH.items()}
PACKED_ATTENTION = {"sdpa": MAGNET_SDPA, **MAGNET_FLASH}
PACKED_ATTENTION.update({name: name for name in list(PACKED_ATTENTION.values())})
"""The attention Magnet packs rows with, by the model's attention (a model already switched keeps its own)."""
PACKABLE = tuple(PACKED_ATTENTION)


def use_packed_attention(model: Any, over: tuple[str, ...] = PACKABLE) -> None:
    """Switch a transformers model to Magnet's attention of the same kernel (``sdpa`` -> ``magnet_sdpa``,
    ``flash_attention_2`` -> ``magnet_fa2``), the same attention until a forward passes
    ``prefix_lengths`` (or, on SDPA, ``cu_seq_lens_q``). A model whose attention is not in ``over`` is left as it
    is. Registering the names is idempotent: transformers' registry is global by design."""
    current = model.config._attn_implementation
    if current not in over:
        return
    AttentionInterface.register(MAGNET_SDPA, magnet_sdpa_attention)
    ALL_MASK_ATTENTION_FUNCTIONS.register(MAGNET_SDPA, sdpa_mask)
    for name in MAGNET_FLASH.values():
        AttentionInterface.register(name, magnet_flash_attention)
        ALL_MASK_ATTENTION_FUNCTIONS.register(name, ALL_MASK_ATTENTION_FUNCTIONS["flash_attention_2"])
    target = PACKED_ATTENTION[current]
    if target in MAGNET_FLASH.values() and flash_attn_supports_top_left_mask():
        raise MagnetError(
            "this FlashAttention aligns its causal mask top-left (before flash-attn 2.1, or Ascend's), and a "
            "packed rejected branch needs it bottom-right: upgrade it, or set attn_implementation: sdpa"
        )
    if current != target:
        model.set_attn_implementation(target)
    if model.config._attn_implementation != target:  # transformers only warns for a model that cannot switch
        raise MagnetError(
            f"{type(model).__name__} cannot switch its attention to {target} (its attention code does not go "
            "through transformers' AttentionInterface)"
        )


def use_magnet_sdpa(model: Any) -> None:
    """Switch a model on ``sdpa`` to ``magnet_sdpa`` (see ``use_packed_attention``)."""
    use_packed_attention(model, over=("sdpa", MAGNET_SDPA))


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
    _refuse_unpackable("magnet_sdpa", kwargs)
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


def _refuse_unpackable(attention: str, kwargs: dict[str, Any]) -> None:
    """What a packed row cannot be computed with: windows, soft-capping, sinks and biases cross its pieces."""
    for name in ("sliding_window", "softcap", "s_aux", "position_bias"):
        if kwargs.get(name) is not None:
            raise MagnetError(f"{attention} cannot compute packed rows with {name}={kwargs[name]!r}")


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


def magnet_flash_attention(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    dropout: float = 0.0,
    scaling: float | None = None,
    prefix_lengths: Sequence[tuple[int, int, int]] | None = None,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    """transformers' attention signature, on the FlashAttention kernel the model was loaded with.

    With ``prefix_lengths`` every pair is two sequences of one varlen call: prompt + chosen (queries and keys the
    same tokens), and the rejected branch's queries against the prompt's keys less its last token and the
    branch's own. Otherwise it is transformers' ``flash_attention_forward`` as it ships (padding-free batches
    included)."""
    kernel = FLASH_KERNEL[module.config._attn_implementation]
    if prefix_lengths is None:
        return flash_attention_forward(
            _KernelView(module, kernel), query, key, value, attention_mask, dropout, scaling, **kwargs
        )
    _refuse_unpackable("magnet_flash_attention", kwargs)
    q, k, v = (tensor.transpose(1, 2) for tensor in (query, key, value))  # (B, L, heads, D), as FlashAttention
    q_pieces, k_pieces, v_pieces, q_bounds, k_bounds = [], [], [], [0], [0]
    for b, (p, c, r) in enumerate(prefix_lengths):
        opening, end = p + c, p + c + 1 + r
        q_pieces += [q[b, :opening], q[b, opening:end]]
        k_pieces += [k[b, :opening], k[b, : p - 1], k[b, opening:end]]
        v_pieces += [v[b, :opening], v[b, : p - 1], v[b, opening:end]]
        q_bounds += [q_bounds[-1] + opening, q_bounds[-1] + end]
        k_bounds += [k_bounds[-1] + opening, k_bounds[-1] + opening + p + r]
    q_sizes = [b - a for a, b in itertools.pairwise(q_bounds)]
    k_sizes = [b - a for a, b in itertools.pairwise(k_bounds)]
    cu_q, cu_k = _device_bounds(prefix_lengths, q_bounds, k_bounds, query.device)
    packed = _flash_attention_forward(
        torch.cat(q_pieces)[None],
        torch.cat(k_pieces)[None],
        torch.cat(v_pieces)[None],
        None,
        query_length=q_bounds[-1],
        is_causal=True,
        dropout=dropout,
        softmax_scale=scaling,
        cu_seq_lens_q=cu_q,
        cu_seq_lens_k=cu_k,
        max_length_q=max(q_sizes),
        max_length_k=max(k_sizes),
        target_dtype=get_target_dtype(query, module),
        attn_implementation=kernel,
    )[0]  # (total queries, heads, D)
    output = packed.new_zeros(q.shape)
    for b in range(len(prefix_lengths)):
        start, stop = q_bounds[2 * b], q_bounds[2 * b + 2]
        output[b, : stop - start] = packed[start:stop]
    return output, None


def _device_bounds(
    prefix_lengths: Any, q_bounds: list[int], k_bounds: list[int], device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """The varlen boundaries on the device, copied once a forward rather than once a layer: every layer gets the
    same ``prefix_lengths`` object (``PackedPairs.prefix_lengths``), which keeps them."""
    cached = getattr(prefix_lengths, "_magnet_bounds", None)
    if cached is None or cached[0].device != device:
        cached = (torch.tensor(q_bounds, device=device, dtype=torch.int32),
                  torch.tensor(k_bounds, device=device, dtype=torch.int32))  # fmt: skip
        with contextlib.suppress(AttributeError):  # a plain tuple keeps nothing
            prefix_lengths._magnet_bounds = cached
    return cached


class _KernelView:
    """A module as transformers' FlashAttention forward reads it, its config naming the kernel
    (``flash_attention_2``, which that forward loads) instead of Magnet's name. A view, not a change of the
    config the model's copies and threads share."""

    def __init__(self, module: torch.nn.Module, kernel: str):
        self._module = module
        self.config = _ConfigView(module.config, kernel)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._module, name)


class _ConfigView:
    def __init__(self, config: Any, kernel: str):
        self._config = config
        self._attn_implementation = kernel

    def __getattr__(self, name: str) -> Any:
        return getattr(self._config, name)
