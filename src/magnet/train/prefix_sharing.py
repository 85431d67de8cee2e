"""Prefix-shared preference batches: a pair's prompt forwarded once, both continuations against it.

TRL's ``DPOTrainer`` forwards prompt + chosen and prompt + rejected as two rows, so the prompt is computed twice,
for the policy and again for the reference; in Magnet's pairs the prompt is the whole conversation up to the branch
turn, the system prompt with the function docs included. Here each pair is one row::

    [prompt] [chosen] [a copy of the prompt's last token] [rejected]

with position ids that restart the rejected branch where the prompt ends, and a 4D attention mask under which the
chosen tokens see the prompt and themselves, and the rejected branch sees the prompt less its last token (whose
copy opens the branch) and itself. Every token keeps the attention context and the position it has in its
unshared row, so its hidden state, and its log-prob, are those of the unshared forward (arXiv 2410.20305 packs
DPO pairs the same way). The prompt's last position predicts the chosen continuation's first token, its copy the
rejected one's.

``PackedPairs.unpack`` puts per-token values back into the unshared layout (TRL's 2B rows: every chosen row, then
every rejected row), so the loss, its masks and the metrics are computed exactly as without sharing.

Needs an attention that takes an arbitrary mask: ``sdpa`` or ``eager`` (FlashAttention-2 cannot), and
``truncation_mode: keep_start`` (cut from the start, the two rows of a pair no longer share a prefix).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from magnet.errors import MagnetError

SHARING_ATTENTION = ("sdpa", "eager")


def check_prefix_sharing(attention: str | None, truncation_mode: str) -> None:
    """A clear refusal where prefix sharing cannot be right."""
    if attention not in SHARING_ATTENTION:
        raise MagnetError(
            f"prefix_sharing needs an attention that takes an arbitrary mask ({' or '.join(SHARING_ATTENTION)}); "
            f"the model uses {attention!r} (FlashAttention-2 cannot): set attn_implementation: sdpa, or "
            "prefix_sharing: false"
        )
    if truncation_mode != "keep_start":
        raise MagnetError(
            f"prefix_sharing needs truncation_mode: keep_start (with {truncation_mode!r} the two rows of a pair are "
            "cut from the start and share no prefix); or set prefix_sharing: false"
        )


@dataclass
class PackedPairs:
    """B pairs as B packed rows, and where each token of TRL's 2B unshared rows went.

    ``source[j, t]`` is the packed column whose next-token prediction is the unshared row j's prediction at t (the
    log-prob of token t + 1 of row j); row j is pair ``j % B``."""

    input_ids: torch.Tensor  # (B, L)
    position_ids: torch.Tensor  # (B, L)
    allowed: torch.Tensor  # (B, L, L) bool: query q may attend to key k
    source: torch.Tensor  # (2B, T - 1) long

    @property
    def pairs(self) -> int:
        return self.input_ids.size(0)

    def attention_mask(self, attention: str, dtype: torch.dtype) -> torch.Tensor:
        """The 4D mask the model takes as is: boolean for SDPA, additive (0 or the dtype's minimum) for eager."""
        allowed = self.allowed[:, None]
        if attention == "sdpa":
            return allowed
        return torch.zeros(allowed.shape, dtype=dtype).masked_fill(~allowed, torch.finfo(dtype).min)

    def shift_labels(self, unshared_labels: torch.Tensor) -> torch.Tensor:
        """The packed next-token labels of the unshared ``labels`` (2B, T; -100 where not scored): column i holds
        the token the unshared rows predict there (a prompt column, shared, gets the same token from both)."""
        shifted = unshared_labels[:, 1:]
        packed = torch.full(self.input_ids.shape, -100, dtype=shifted.dtype, device=shifted.device)
        rows = (torch.arange(shifted.size(0), device=shifted.device) % self.pairs)[:, None].expand_as(shifted)
        scored = shifted != -100
        packed[rows[scored], self.source.to(shifted.device)[scored]] = shifted[scored]
        return packed

    def unpack(self, packed: torch.Tensor | None, unshared_labels: torch.Tensor) -> torch.Tensor | None:
        """Per-token values of the packed rows (B, L) in the unshared layout (2B, T - 1), zero where not scored."""
        if packed is None:
            return None
        shifted = unshared_labels[:, 1:]
        rows = (torch.arange(shifted.size(0), device=packed.device) % self.pairs)[:, None].expand_as(shifted)
        values = packed[rows, self.source.to(packed.device)]
        return values.masked_fill(shifted == -100, 0)


def pack_pairs(
    prompts: Sequence[Sequence[int]],
    chosen: Sequence[Sequence[int]],
    rejected: Sequence[Sequence[int]],
    *,
    width: int,
    pad_token_id: int,
    max_length: int | None = None,
) -> PackedPairs:
    """Pack each pair as one row (see the module docstring). ``width`` is T, the unshared rows' padded width;
    ``max_length`` cuts each continuation where its unshared row (prompt + continuation) would be cut."""
    count = len(prompts)
    kept = []
    for prompt, good, bad in zip(prompts, chosen, rejected, strict=True):
        room = None if max_length is None else max(max_length - len(prompt), 0)
        kept.append((list(prompt), list(good)[:room], list(bad)[:room]))
    length = max(len(p) + len(c) + 1 + len(r) for p, c, r in kept)
    input_ids = torch.full((count, length), pad_token_id, dtype=torch.long)
    position_ids = torch.zeros((count, length), dtype=torch.long)
    allowed = torch.zeros((count, length, length), dtype=torch.bool)
    source = torch.zeros((2 * count, width - 1), dtype=torch.long)
    causal = torch.ones((length, length), dtype=torch.bool).tril()
    for b, (prompt, good, bad) in enumerate(kept):
        if not prompt:
            raise MagnetError(f"pair {b}: an empty prompt shares nothing; set prefix_sharing: false")
        p, c, r = len(prompt), len(good), len(bad)
        opening = p + c  # the copy of the prompt's last token
        end = opening + 1 + r
        input_ids[b, :end] = torch.tensor(prompt + good + [prompt[-1]] + bad)
        position_ids[b, :end] = torch.cat([torch.arange(p + c), torch.arange(p - 1, p + r)])
        allowed[b, : p + c, : p + c] = causal[: p + c, : p + c]
        allowed[b, opening:end, : p - 1] = True
        allowed[b, opening:end, opening:end] = causal[: r + 1, : r + 1]
        allowed[b, range(end, length), range(end, length)] = True  # padding sees itself: no row is all masked
        # unshared chosen row b: the same columns; rejected row B + b: the prompt's, then the branch's
        source[b, : min(p + c - 1, width - 1)] = torch.arange(min(p + c - 1, width - 1))
        branch = torch.cat([torch.arange(p - 1), torch.arange(opening, opening + r)])
        source[count + b, : min(len(branch), width - 1)] = branch[: width - 1]
    return PackedPairs(input_ids, position_ids, allowed, source)
