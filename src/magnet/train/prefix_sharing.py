"""Prefix-shared preference batches: a pair's prompt forwarded once, both continuations against it.

TRL's ``DPOTrainer`` forwards prompt + chosen and prompt + rejected as two rows, so the prompt is computed twice,
for the policy and again for the reference; in Magnet's pairs the prompt is the whole conversation up to the branch
turn, the system prompt with the function docs included. Here each pair is one row::

    [prompt] [chosen] [a copy of the prompt's last token] [rejected]

with position ids that restart the rejected branch where the prompt ends. The chosen tokens see the prompt and
themselves; the rejected branch sees the prompt less its last token (whose copy opens the branch) and itself. Every
token keeps the attention context and the position it has in its unshared row, so its hidden state, and its
log-prob, are those of the unshared forward (arXiv 2410.20305 packs DPO pairs the same way). The prompt's last
position predicts the chosen continuation's first token, its copy the rejected one's.

The attention is ``magnet.train.attention``'s ``magnet_sdpa`` or ``magnet_fa2`` / ``magnet_fa3``: each row in
two causal pieces, prompt + chosen and the rejected branch against the prompt, rather than one dense mask over the
packed row.

``PackedPairs.unpack`` puts per-token values back into the unshared layout (TRL's 2B rows: every chosen row, then
every rejected row), so the loss, its masks and the metrics are computed exactly as without sharing.

Needs ``sdpa``, ``flash_attention_2`` or ``flash_attention_3`` attention (``check_prefix_sharing``), no sliding
window, and ``truncation_mode: keep_start`` (cut from the start, the two rows of a pair no longer share a prefix).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from magnet.errors import MagnetError
from magnet.train.attention import PACKABLE


def check_prefix_sharing(attention: str | None, truncation_mode: str, sliding_window: int | None = None) -> None:
    """A clear refusal where prefix sharing cannot be right."""
    if attention not in PACKABLE:
        raise MagnetError(
            f"prefix_sharing needs attn_implementation: sdpa, flash_attention_2 or flash_attention_3; the model uses "
            f"{attention!r}: set one of those, or prefix_sharing: false"
        )
    if sliding_window is not None:
        raise MagnetError(
            f"prefix_sharing does not support sliding-window attention (the model's sliding_window is "
            f"{sliding_window}); set prefix_sharing: false"
        )
    if truncation_mode != "keep_start":
        raise MagnetError(
            f"prefix_sharing needs truncation_mode: keep_start (with {truncation_mode!r} the two rows of a pair are "
            "cut from the start and share no prefix); or set prefix_sharing: false"
        )


class PrefixLengths(tuple):
    """Each pair's (prompt, chosen, rejected) lengths; one object a forward, on which the attention keeps what it
    derives from them once for all layers (FlashAttention's device boundaries)."""


@dataclass
class PackedPairs:
    """B pairs as B packed rows, and where each token of TRL's 2B unshared rows went.

    ``lengths[b]`` is pair b's (prompt, chosen, rejected) token counts as packed (continuations cut as their
    unshared rows are). ``source[j, t]`` is the packed column whose next-token prediction is the unshared row j's
    prediction at t (the log-prob of token t + 1 of row j); row j is pair ``j % B``."""

    input_ids: torch.Tensor  # (B, L)
    position_ids: torch.Tensor  # (B, L)
    lengths: torch.Tensor  # (B, 3) long
    source: torch.Tensor  # (2B, T - 1) long

    @property
    def pairs(self) -> int:
        return self.input_ids.size(0)

    def prefix_lengths(self) -> PrefixLengths:
        """The attention's ``prefix_lengths`` argument: read once per forward, not once per layer."""
        return PrefixLengths(tuple(row) for row in self.lengths.tolist())

    def _pair_rows(self, shifted: torch.Tensor) -> torch.Tensor:
        """For each position of the unshared rows (2B, T - 1), the packed row it lives in: its pair's."""
        return (torch.arange(shifted.size(0), device=shifted.device) % self.pairs)[:, None].expand_as(shifted)

    def shift_labels(self, unshared_labels: torch.Tensor) -> torch.Tensor:
        """The packed next-token labels of the unshared ``labels`` (2B, T; -100 where not scored): column i holds
        the token the unshared rows predict there (a prompt column, shared, gets the same token from both)."""
        shifted = unshared_labels[:, 1:]
        packed = torch.full(self.input_ids.shape, -100, dtype=shifted.dtype, device=shifted.device)
        rows = self._pair_rows(shifted)
        scored = shifted != -100
        packed[rows[scored], self.source.to(shifted.device)[scored]] = shifted[scored]
        return packed

    def unpack(self, packed: torch.Tensor | None, unshared_labels: torch.Tensor) -> torch.Tensor | None:
        """Per-token values of the packed rows (B, L) in the unshared layout (2B, T - 1), zero where not scored."""
        if packed is None:
            return None
        shifted = unshared_labels[:, 1:].to(packed.device)
        values = packed[self._pair_rows(shifted), self.source.to(packed.device)]
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
    source = torch.zeros((2 * count, width - 1), dtype=torch.long)
    for b, (prompt, good, bad) in enumerate(kept):
        if not prompt:
            raise MagnetError(f"pair {b}: an empty prompt shares nothing; set prefix_sharing: false")
        p, c, r = len(prompt), len(good), len(bad)
        opening = p + c  # the copy of the prompt's last token
        end = opening + 1 + r
        input_ids[b, :end] = torch.tensor(prompt + good + [prompt[-1]] + bad)
        position_ids[b, :end] = torch.cat([torch.arange(p + c), torch.arange(p - 1, p + r)])
        # unshared chosen row b: the same columns; rejected row B + b: the prompt's, then the branch's
        source[b, : min(p + c - 1, width - 1)] = torch.arange(min(p + c - 1, width - 1))
        branch = torch.cat([torch.arange(p - 1), torch.arange(opening, opening + r)])
        source[count + b, : min(len(branch), width - 1)] = branch[: width - 1]
    lengths = torch.tensor([(len(p), len(c), len(r)) for p, c, r in kept], dtype=torch.long)
    return PackedPairs(input_ids, position_ids, lengths, source)
