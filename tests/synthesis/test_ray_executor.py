"""``magnet synth --executor ray`` on a local Ray cluster of 2 CPUs: the shards, manifests and datasets of a
one-process run, every task's teacher usage in the report, and a rerun that resumes with nothing to do."""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import pytest

from magnet.cli import main
from magnet.errors import MagnetError
from magnet.synthesis.config import load_config
from magnet.synthesis.pipeline import read_manifest
from magnet.synthesis.ray_executor import run_part, run_synth_on_ray, with_absolute_paths
from magnet.synthesis.synth import Synth, run_synth
from magnet.tools.mcp import recorded_toolkit_class

pytest.importorskip("ray")

SMALL = [
    "paths.walks_per_function=1",
    "paths.limit=30",
    "paths.single=30",
    "paths.parallel=6",
    "paths.multiple=6",
    "paths.irrelevance=12",
    "translate.shard_size=10",
    "datasets.sft_mixture=all",
    "datasets.test_size=0.1",
]
LOCAL_CLUSTER = {"num_cpus": 2, "object_store_memory": 100 * 1024**2}


def _rows(folder: Path) -> list[str]:
    loaded = datasets.load_from_disk(str(folder))
    return sorted(json.dumps(row, sort_keys=True) for split in loaded.values() for row in split)


def _shards(folder: Path) -> dict[str, str]:
    return {path.name: path.read_text() for path in sorted(folder.glob("*-*.jsonl"))}


@pytest.mark.slow
def test_ray_tasks_give_a_one_process_run_s_shards_and_datasets_and_resume(tmp_path, monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    whole = tmp_path / "whole"
    expected = run_synth(load_config(None, [*SMALL, f"out={whole}"]), progress=False)
    shared = tmp_path / "shared"
    report = run_synth_on_ray(
        load_config(None, [*SMALL, f"out={shared}"]), tasks=2, progress=False, ray_init=LOCAL_CLUSTER
    )
    assert report["executor"] == {"kind": "ray", "tasks": 2}
    for stage in ("episodes", "positives", "negatives"):
        assert _shards(shared / stage) == _shards(whole / stage), stage
        assert sorted(p.name for p in (shared / stage).glob("manifest.part-*")) == [
            "manifest.part-0-of-2.json",
            "manifest.part-1-of-2.json",
        ]
        assert read_manifest(shared / stage)["shards"].keys() == read_manifest(whole / stage)["shards"].keys()
    for name in ("sft", "preference"):
        assert _rows(shared / "datasets" / name) == _rows(whole / "datasets" / name)
    # The teacher was asked by the two tasks, not by the driver: their usage is in the report.
    assert report["usage"]["total"]["requests"] == expected["usage"]["total"]["requests"] > 0

    again = run_synth_on_ray(
        load_config(None, [*SMALL, f"out={shared}"]), tasks=2, progress=False, ray_init=LOCAL_CLUSTER
    )
    assert again["usage"]["total"]["requests"] == 0  # every shard was done: resumed, nothing asked
    assert again["sft"] == report["sft"]


def test_paths_are_made_absolute_for_the_workers(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tools.json").write_text("[]")
    (tmp_path / "seed").mkdir()
    config = load_config(
        None, ["out=runs/x", "teacher.cache=cache.sqlite"], {"pool": ["builtin", "tools.json", "mcp:seed=seed;srv -x"]}
    )
    absolute = with_absolute_paths(config)
    assert absolute.out == str(tmp_path / "runs" / "x")
    assert absolute.teacher.cache == str(tmp_path / "cache.sqlite")
    assert absolute.pool == ["builtin", str(tmp_path / "tools.json"), f"mcp:name=srv;seed={tmp_path / 'seed'};srv -x"]
    assert with_absolute_paths(load_config(None, ["out=/tmp/o"])).pool == "builtin"  # unchanged: kept as given


def test_toolkit_files_model_folders_and_the_student_s_cache_are_made_absolute_too(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tools").mkdir()
    (tmp_path / "tools" / "trip.py").write_text("")
    (tmp_path / "models" / "sft").mkdir(parents=True)
    config = load_config(
        None,
        [
            "out=o",
            "teacher.kind=hf",
            "teacher.model=models/sft",
            "negatives.source=student",
            "negatives.student.kind=openai",
            "negatives.student.model=served-name",
            "negatives.student.cache=student.sqlite",
        ],
        {"pool": ["tools/trip.py:TripToolkit", "my_tools:Shop"]},
    )
    absolute = with_absolute_paths(config)
    assert absolute.pool == [f"{tmp_path / 'tools' / 'trip.py'}:TripToolkit", "my_tools:Shop"]  # a module stays
    assert absolute.teacher.model == str(tmp_path / "models" / "sft")
    assert absolute.negatives.student.cache == str(tmp_path / "student.sqlite")
    assert absolute.negatives.student.model == "served-name"  # a served model's name is no path


def test_a_part_that_cannot_do_its_shards_is_an_error_not_a_silent_success(tmp_path):
    config = load_config(None, [*SMALL, f"out={tmp_path / 'run'}"])
    with pytest.raises(MagnetError, match=r"part 1/2 stopped before its shards were done: .*built by part 0"):
        run_part(config, (1, 2), ())


def test_a_server_reached_by_url_is_never_shared_by_parts(tmp_path):
    config = load_config(None, [f"out={tmp_path / 'run'}"], {"pool": ["builtin", "mcp:http://127.0.0.1:9/mcp"]})
    with pytest.raises(MagnetError, match=r"\['mcp-127.0.0.1-9'\] are reached by URL"):
        Synth(config, part=(0, 2))
    shop = recorded_toolkit_class("mcp:name=shop;http://127.0.0.1:9/mcp", [])
    with pytest.raises(MagnetError, match="reached by URL"):
        Synth(load_config(None, [f"out={tmp_path / 'run'}"]), part=(1, 3), toolkits=[shop])
    with pytest.raises(MagnetError, match=r"MCP toolkit classes \['shop'\] cannot be sent to Ray tasks"):
        run_synth_on_ray(load_config(None, [f"out={tmp_path / 'run'}"]), toolkits=[shop], progress=False)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--executor", "ray", "--shard", "0/2"], "not --shard"),
        (["--ray-tasks", "2"], "--ray-tasks is for --executor ray"),
    ],
)
def test_ray_flags_that_do_not_fit_are_one_line(tmp_path, capsys, argv, message):
    assert main(["synth", "--out", str(tmp_path / "never"), *argv]) != 0
    assert message in capsys.readouterr().err
    assert not (tmp_path / "never").exists()
