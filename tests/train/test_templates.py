"""Training templates: the same tokens as the stock Qwen2.5 template, masks on exactly the assistant turns in both
tool formats, prefix-preserving; and a broken template is caught."""

from __future__ import annotations

import asyncio
import random

import pytest
from transformers import AutoTokenizer

from magnet.errors import MagnetError
from magnet.synthesis.distill import distill
from magnet.synthesis.episode import Episode
from magnet.synthesis.graph import SchemaJudge, build_graph
from magnet.synthesis.offline import OfflineTeacher
from magnet.synthesis.operations import reshape
from magnet.synthesis.paths import sample_paths, sample_single_turn
from magnet.synthesis.translate import Translator, build_registry
from magnet.tools.builtin import BUILTIN_TOOLKITS
from magnet.train.templates import template_problems, training_template

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def rows():
    specs = [spec for klass in BUILTIN_TOOLKITS for spec in klass.specs()]
    graph = asyncio.run(build_graph(specs, SchemaJudge(), progress=False))
    registry = build_registry(graph)
    rng = random.Random(3)
    paths = [p for w in sample_paths(graph, seed=3, limit=12) for p in reshape(w, graph, rng)]
    paths += sample_single_turn(graph, single=3, parallel=3, multiple=3, irrelevance=3, seed=3)

    async def run():
        translator = Translator(graph, registry, OfflineTeacher())
        episodes = [
            r for r in await asyncio.gather(*(translator.translate(p) for p in paths)) if isinstance(r, Episode)
        ]
        results = await asyncio.gather(*(distill(e, registry, OfflineTeacher()) for e in episodes))
        return [r.row.to_dict() for r in results if r.row is not None]

    made = asyncio.run(run())
    assert any(row["meta"]["missing"] for row in made)  # a miss_func row is among them
    return made


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir):
    return AutoTokenizer.from_pretrained(tiny_model_dir)


@pytest.mark.parametrize("tool_format", ["native", "bfcl_prompt"])
def test_training_template_matches_the_stock_one(tokenizer, rows, tool_format):
    from trl.chat_template_utils import qwen2_5_training_chat_template

    assert training_template(tokenizer) == qwen2_5_training_chat_template
    assert template_problems(tokenizer, rows, tool_format) == []


def test_a_template_that_masks_too_little_is_caught(tokenizer, rows):
    template = training_template(tokenizer)
    broken = template.replace("{%- generation %}", "", 1).replace("{%- endgeneration %}", "", 1)
    assert broken != template
    problems = template_problems(tokenizer, rows[:5], "native", template=broken)
    assert problems and all("not exactly the assistant turns" in p or "other tokens" in p for p in problems)


def test_a_template_without_markers_or_variant_is_refused(tokenizer):
    copy = AutoTokenizer.from_pretrained(tokenizer.name_or_path)
    copy.chat_template = "{% for m in messages %}{{ m.content }}{% endfor %}"
    with pytest.raises(MagnetError, match="TRL has no training variant"):
        training_template(copy)
