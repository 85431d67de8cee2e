"""Fixtures for the evaluation tests: BFCL's own helpers (the outside reference) and its entries."""

from __future__ import annotations

import copy

import pytest

from magnet.eval.entries import load_single_turn_entries, multi_turn_entries


@pytest.fixture(scope="session")
def bfcl_utils():
    """BFCL's ``model_handler.utils``: its prompt assembly and (``eval``-using) decoders."""
    return pytest.importorskip("bfcl_eval.model_handler.utils")


@pytest.fixture(scope="session")
def multi_turn():
    """All v3 multi-turn entries by category."""
    return {
        category: multi_turn_entries(category)
        for category in ("multi_turn_base", "multi_turn_miss_func", "multi_turn_miss_param", "multi_turn_long_context")
    }


@pytest.fixture(scope="session")
def single_turn():
    """Loader of single-turn entries by category (cached)."""
    cache: dict[str, list] = {}

    def load(category: str):
        if category not in cache:
            cache[category] = load_single_turn_entries(category)
        return copy.deepcopy(cache[category])

    return load
