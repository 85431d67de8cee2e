"""magnet_sdpa on padding-free rows: each sequence of the packed row is its own causal attention (the prefix-shared
pairs are tested in test_prefix_sharing.py)."""

from __future__ import annotations

import itertools

import pytest
import torch

from magnet.errors import MagnetError
from magnet.train.attention import magnet_flash_attention, magnet_sdpa_attention


def _module(groups: int = 2) -> torch.nn.Module:
    module = torch.nn.Module()
    module.num_key_value_groups, module.is_causal = groups, True
    return module


def test_each_sequence_of_a_padding_free_row_attends_causally_to_itself_only():
    torch.manual_seed(0)
    bounds = [0, 5, 6, 13]  # three sequences (one of a single token), then three padding columns
    query = torch.randn(1, 4, 16, 8, dtype=torch.float64)
    key, value = torch.randn(1, 2, 16, 8, dtype=torch.float64), torch.randn(1, 2, 16, 8, dtype=torch.float64)
    packed, _ = magnet_sdpa_attention(_module(), query, key, value, None, cu_seq_lens_q=torch.tensor(bounds))
    assert packed.shape == (1, 16, 4, 8)
    for start, stop in itertools.pairwise(bounds):  # PyTorch's own causal SDPA on each sequence alone
        alone = torch.nn.functional.scaled_dot_product_attention(
            query[:, :, start:stop],
            key[:, :, start:stop].repeat_interleave(2, dim=1),
            value[:, :, start:stop].repeat_interleave(2, dim=1),
            is_causal=True,
        )
        assert torch.allclose(packed[:, start:stop], alone.transpose(1, 2), atol=1e-12, rtol=0)
    assert not packed[:, 13:].any()


def test_boundaries_describe_one_row():
    query = torch.zeros(2, 4, 6, 8)
    with pytest.raises(MagnetError, match="one packed row; the batch has 2"):
        magnet_sdpa_attention(_module(), query, query[:, :2], query[:, :2], None, cu_seq_lens_q=torch.tensor([0, 6]))


def test_arguments_the_packed_pieces_cannot_honour_are_refused():
    query = torch.zeros(1, 4, 6, 8)
    for name, value in (("softcap", 30.0), ("sliding_window", 4096)):
        with pytest.raises(MagnetError, match=f"magnet_sdpa cannot compute packed rows with {name}"):
            magnet_sdpa_attention(
                _module(), query, query[:, :2], query[:, :2], None, cu_seq_lens_q=torch.tensor([0, 6]), **{name: value}
            )
    module = _module()
    module.config = type("Config", (), {"_attn_implementation": "magnet_fa2"})()
    for name, value in (("softcap", 30.0), ("sliding_window", 4096)):
        with pytest.raises(MagnetError, match=f"magnet_flash_attention cannot compute packed rows with {name}"):
            magnet_flash_attention(
                module, query, query[:, :2], query[:, :2], None, prefix_lengths=((3, 1, 1),), **{name: value}
            )
