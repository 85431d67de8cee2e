"""Signature paths and node operations, as properties over random graphs (hypothesis) and on the builtin pool."""

from __future__ import annotations

import asyncio
import json
import random
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from magnet.errors import MagnetError
from magnet.synthesis.graph import Edge, FunctionGraph, SchemaJudge, build_graph
from magnet.synthesis.operations import OperationConfig, insert, merge, reshape, split
from magnet.synthesis.paths import SignaturePath, path_stats, read_paths, sample_paths
from magnet.tools.builtin import BUILTIN_TOOLKITS
from magnet.tools.spec import FunctionSpec


@st.composite
def graphs(draw) -> FunctionGraph:
    size = draw(st.integers(min_value=2, max_value=10))
    names = [f"f{i}" for i in range(size)]
    pairs = [(a, b) for a in names for b in names if a != b]
    chosen = draw(st.lists(st.sampled_from(pairs), unique=True, max_size=len(pairs)))
    nested = draw(st.lists(st.booleans(), min_size=len(chosen), max_size=len(chosen)))
    edges = [Edge(a, b, "test", 1.0, "", nested=flag) for (a, b), flag in zip(chosen, nested, strict=True)]
    return FunctionGraph.from_edges([FunctionSpec(name, "") for name in names], edges)


configs = st.builds(
    OperationConfig,
    p_merge=st.floats(0, 1),
    p_insert=st.floats(0, 1),
    p_insert_later=st.floats(0, 1),
    p_miss_func=st.floats(0, 1),
    max_functions_per_turn=st.integers(1, 5),
)


@settings(max_examples=150, deadline=None)
@given(graphs(), st.integers(0, 10_000), st.integers(1, 8))
def test_walks_follow_edges_and_are_distinct(graph, seed, steps):
    paths = sample_paths(graph, steps=steps, walks_per_function=3, seed=seed)
    assert len({tuple(p.functions) for p in paths}) == len(paths)
    for path in paths:
        assert 2 <= len(path.functions) <= steps + 1
        assert all(len(turn) == 1 for turn in path.turns)
        for source, target in zip(path.functions, path.functions[1:], strict=False):
            assert graph.graph.has_edge(source, target)
        last = path.functions[-1]
        assert len(path.functions) == steps + 1 or not graph.successors(last)  # stopped only at a dead end
    assert paths == sample_paths(graph, steps=steps, walks_per_function=3, seed=seed)


@settings(max_examples=150, deadline=None)
@given(graphs(), st.integers(0, 10_000), configs)
def test_operations_keep_their_promises(graph, seed, config):
    for path in sample_paths(graph, steps=6, seed=seed):
        rng = random.Random(seed)
        merged = merge(path, rng, config)
        assert merged.functions == path.functions  # same functions, same order: same multiset
        assert all(1 <= len(turn) <= max(config.max_functions_per_turn, 1) for turn in merged.turns)

        inserted = insert(merged, graph, rng, config)
        added = Counter(inserted.functions) - Counter(merged.functions)
        labels = [op for op in inserted.ops if op.startswith(("insert:", "insert_later:"))]
        assert sum(added.values()) == len(labels)
        for label in labels:
            source, target = label.split(":", 1)[1].split("@")[0].split(">")
            assert graph.graph.has_edge(source, target) and graph.graph.edges[source, target]["nested"]
        remaining = iter(inserted.functions)
        assert all(name in remaining for name in merged.functions)  # originals kept, in order

        with_split = split(inserted, rng, config)
        empty = [i for i, turn in enumerate(with_split.turns) if not turn]
        assert len(empty) == 1 and with_split.labels[empty[0]] in ("miss_func", "miss_param")
        assert [t for t in with_split.turns if t] == list(inserted.turns)
        assert empty[0] < len(with_split.turns) - 1  # a turn always follows the empty one
        if with_split.labels[empty[0]] == "miss_func":  # its functions can be withheld from the start
            before = {name for turn in with_split.turns[: empty[0]] for name in turn}
            assert not set(with_split.turns[empty[0] + 1]) & before

        again = reshape(path, graph, random.Random(seed), config)
        assert again == reshape(path, graph, random.Random(seed), config)


def test_operations_refuse_a_split_path_and_bad_probabilities():
    path = SignaturePath((("a",), ("b",)))
    split_path = split(path, random.Random(0))
    with pytest.raises(MagnetError, match="Merge applies before Split"):
        merge(split_path, random.Random(0))
    with pytest.raises(MagnetError, match="p_merge must be a probability"):
        OperationConfig(p_merge=1.5)
    with pytest.raises(MagnetError, match="only empty \\(Split\\) turns carry a label"):
        SignaturePath((("a",),), labels=("miss_func",))


def test_paths_round_trip_and_detect_edits():
    path = split(SignaturePath((("a", "b"), ("c",)), ("merge:1",)), random.Random(3))
    line = json.dumps(path.to_dict())
    assert read_paths([line]) == [path]
    tampered = json.loads(line)
    tampered["turns"][0] = ["x"]
    with pytest.raises(MagnetError, match=r"paths\.jsonl: line 2: not a signature path"):
        read_paths(["", json.dumps(tampered)], "paths.jsonl")


def test_builtin_pool_statistics():
    specs = [spec for klass in BUILTIN_TOOLKITS for spec in klass.specs()]
    graph = asyncio.run(build_graph(specs, SchemaJudge(), progress=False))
    walks = sample_paths(graph, seed=0)
    rng = random.Random(0)
    plain = [reshape(walk, graph, rng)[0] for walk in walks]
    stats = path_stats(plain)
    assert stats["paths"] == len(walks) >= 100
    assert 3 <= stats["turns_per_path"] <= 9 and 1.2 <= stats["functions_per_turn"] <= 2.5
    assert stats["share_with"]["merge"] > 0.5 and stats["share_with"]["insert"] > 0.5


def test_single_turn_counts_follow_the_papers_mixture_unless_set():
    from magnet.synthesis.config import PathSettings
    from magnet.synthesis.stages import single_turn_counts

    auto = single_turn_counts(PathSettings(), multi_turn_paths=78, functions=10)
    # 78 multi-turn paths -> 200 single-turn (20,000 : 7,800), split 60/20/20; 62 irrelevance (6,200 : 7,800)
    assert auto == {"single": 120, "parallel": 40, "multiple": 40, "irrelevance": 62}
    assert single_turn_counts(PathSettings(), multi_turn_paths=0, functions=10)["single"] == 10  # one per function
    chosen = single_turn_counts(PathSettings(single=5, irrelevance=0), multi_turn_paths=78, functions=10)
    assert chosen == {"single": 5, "parallel": 40, "multiple": 40, "irrelevance": 0}


def test_the_ablation_switches_turn_each_operation_off():
    """Table 4's rows: 'init graph' (no operation), '+merge', '+merge+insert' (no Split copies)."""
    from magnet.synthesis.config import PathSettings
    from magnet.synthesis.stages import sample_signature_paths

    specs = [spec for klass in BUILTIN_TOOLKITS for spec in klass.specs()]
    graph = asyncio.run(build_graph(specs, SchemaJudge(), progress=False))
    counts = {"single": 0, "parallel": 0, "multiple": 0, "irrelevance": 0}

    def kinds(**switches):
        sample = sample_signature_paths(graph, PathSettings(limit=60, **counts, **switches), seed=3)
        paths = sample.paths()
        assert [row["id"] for row in sample.rows()] == [path.id for path in paths]
        return Counter(op.split(":")[0] for path in paths for op in path.ops), len(paths), len(sample.walks)

    full, paths, walks = kinds()
    assert full["merge"] and full["insert"] and full["split"] == walks and paths == 2 * walks
    initial, paths, walks = kinds(merge=False, insert=False, split=False)
    assert not initial and paths == walks
    merged, _, _ = kinds(insert=False, split=False)
    assert set(merged) == {"merge"}
    inserted, paths, walks = kinds(split=False)
    assert "merge" in inserted and "insert" in inserted and "split" not in inserted and paths == walks
