"""The StableToolBench-format folder writer: the format's shape, loadable as a pool, reproducible, and a pool whose
graph links tools so that synthesis crosses them."""

from __future__ import annotations

import asyncio
import json
import random
from collections import Counter

import pytest

from magnet.synthesis.graph_building import GraphConfig, build_graph, sample_candidates
from magnet.synthesis.graph_judges import SchemaJudge
from magnet.synthesis.paths import sample_paths
from magnet.testing.stabletoolbench import CATEGORY_RECORDS, write_stabletoolbench_folder
from magnet.tools.spec import load_stabletoolbench


def test_the_folder_has_the_format_s_shape_and_the_asked_size(tmp_path):
    made = write_stabletoolbench_folder(tmp_path, 600, schema_share=0.7)
    files = sorted(tmp_path.rglob("*.json"))
    assert len(CATEGORY_RECORDS) == 49
    assert made.functions == 600 and made.tools == len(files)
    assert {path.parent.name for path in files} == set(CATEGORY_RECORDS)  # every category, one folder each
    sizes = []
    with_schema = 0
    for path in files:
        tool = json.loads(path.read_text())
        assert tool["tool_name"] == path.stem and tool["tool_description"]
        sizes.append(len(tool["api_list"]))
        for api in tool["api_list"]:
            assert {
                "name",
                "description",
                "method",
                "url",
                "required_parameters",
                "optional_parameters",
                "schema",
            } <= set(api)
            for parameter in api["required_parameters"] + api["optional_parameters"]:
                assert parameter["type"].split(" ")[0] in {"STRING", "NUMBER", "ENUM", "BOOLEAN", "DATE"}
            with_schema += api["schema"] != ""
    assert sum(sizes) == 600 and min(sizes) >= 1 and max(sizes) <= 8
    assert with_schema == made.with_response_schema and 0.6 < with_schema / 600 < 0.8


def test_the_same_seed_writes_the_same_files_and_another_seed_others(tmp_path):
    write_stabletoolbench_folder(tmp_path / "a", 200, seed=1)
    write_stabletoolbench_folder(tmp_path / "b", 200, seed=1)
    write_stabletoolbench_folder(tmp_path / "c", 200, seed=2)

    def contents(root):
        return {path.relative_to(root): path.read_bytes() for path in root.rglob("*.json")}

    assert contents(tmp_path / "a") == contents(tmp_path / "b") != contents(tmp_path / "c")


@pytest.mark.parametrize(("arguments", "message"), [((0,), "functions"), ((10,), "categories")])
def test_sizes_the_folder_cannot_take_are_refused(tmp_path, arguments, message):
    with pytest.raises(ValueError, match=message):
        write_stabletoolbench_folder(tmp_path, *arguments, categories=50 if message == "categories" else 49)


def test_the_folder_loads_as_a_pool_with_the_format_s_response_schemas(tmp_path):
    made = write_stabletoolbench_folder(tmp_path, 300)
    specs = load_stabletoolbench(tmp_path)
    assert len(specs) == 300 and len({spec.name for spec in specs}) == 300
    assert sum(spec.response is not None for spec in specs) == made.with_response_schema
    assert Counter(spec.category for spec in specs).keys() == set(CATEGORY_RECORDS)
    assert all(spec.toolkit.startswith("stb:") for spec in specs)


def test_the_graph_links_tools_and_walks_cross_them(tmp_path):
    write_stabletoolbench_folder(tmp_path, 800)
    specs = load_stabletoolbench(tmp_path)
    graph = asyncio.run(build_graph(specs, SchemaJudge(), GraphConfig(), progress=False))
    owner = {spec.name: spec.toolkit for spec in specs}
    crossing = [(s, t) for s, t in graph.graph.edges if owner[s] != owner[t]]
    assert crossing and all(graph.spec(s).category == graph.spec(t).category for s, t in crossing)
    walks = sample_paths(graph)
    assert len(walks) > 400
    assert sum(len({owner[name] for name in walk.functions}) > 1 for walk in walks) > len(walks) / 4
    assert sum(len(walk.functions) for walk in walks) / len(walks) > 3


def _candidates_by_copying(specs, config):
    """The candidate draw as it was written first: a copy of the group without the function, then a sample."""
    by_class, by_category = {}, {}
    for spec in specs:
        by_class.setdefault((spec.category or "misc", spec.tool_class or "misc"), []).append(spec.name)
        by_category.setdefault(spec.category or "misc", []).append(spec.name)
    drawn = {}
    for spec in specs:
        pool = [n for n in by_class[(spec.category or "misc", spec.tool_class or "misc")] if n != spec.name]
        if len(pool) < config.min_class_size:
            pool = [n for n in by_category[spec.category or "misc"] if n != spec.name]
        drawn[spec.name] = sorted(
            random.Random(f"{config.seed}:{spec.name}").sample(pool, min(config.candidates, len(pool)))
        )
    return drawn


def test_candidates_are_drawn_as_from_a_copy_of_the_group(tmp_path):
    # sample_candidates draws from a view of the group without the function (no copy per function); the draws,
    # hence every graph built before, stay the same.
    write_stabletoolbench_folder(tmp_path, 500)
    specs = load_stabletoolbench(tmp_path)
    for config in (GraphConfig(), GraphConfig(candidates=4, min_class_size=2, seed=7)):
        assert sample_candidates(specs, config) == _candidates_by_copying(specs, config)
