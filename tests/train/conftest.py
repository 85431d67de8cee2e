"""Real training rows for the train tests: SFT rows and preference pairs made by the synthesis pipeline
(builtin pool, offline teacher), multi-turn, single-turn, irrelevance and miss-func rows among them."""

from __future__ import annotations

import asyncio
import random

import pytest
from transformers import AutoTokenizer

from magnet.synthesis.distill import distill
from magnet.synthesis.episode import Episode
from magnet.synthesis.graph import SchemaJudge, build_graph
from magnet.synthesis.negatives import perturb_negative
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


@pytest.fixture(scope="session")
def tokenizer(tiny_model_dir):
    return AutoTokenizer.from_pretrained(tiny_model_dir)
