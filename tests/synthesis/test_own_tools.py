"""Your own tools count: a user's toolkit beside the builtin pool gets single-turn rows for every function and the
multi-turn paths its edges allow, with default settings; a function in no row is named in the report, with why."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from magnet.synthesis.config import load_config
from magnet.synthesis.synth import run_synth
from magnet.tools.builtin import BUILTIN_TOOLKITS
from magnet.tools.pool import import_toolkit

TRIP = Path(__file__).resolve().parents[2] / "examples" / "trip_planner.py"


@pytest.mark.slow
def test_the_tours_trip_planner_gets_single_turn_rows_and_its_chain(tmp_path):
    trip = import_toolkit(f"{TRIP}:TripPlanner")
    config = load_config(None, values={"out": str(tmp_path), "paths": {"walks_per_function": 1, "limit": 40}})
    report = run_synth(config, progress=False, toolkits=[trip, *BUILTIN_TOOLKITS])
    sft = report["sft"]
    assert set(sft["kinds"]) == {"multi_turn", "single_turn", "irrelevance"}  # defaults give the paper's kinds
    ours = {spec.name for spec in trip.specs()}
    assert not ours & set(report["functions_without_rows"])
    paths = [json.loads(line) for line in (tmp_path / "paths.jsonl").read_text().splitlines()]
    single = {turn[0] for p in paths if p["ops"] and p["ops"][0] == "single_turn:single" for turn in p["turns"]}
    assert single >= {spec.name for spec in trip.specs()} | {s.name for k in BUILTIN_TOOLKITS for s in k.specs()}
    graph = json.loads((tmp_path / "graph.json").read_text())
    assert any(e["source"] == "search_flights" and e["target"] == "book_flight" for e in graph["edges"])
    markdown = (tmp_path / "report.md").read_text()
    assert "### rejections, with examples" in markdown or not any(s["rejected"] for s in report["stages"].values())


def test_the_report_names_a_function_in_no_row_and_why():
    from magnet.synthesis.graph import FunctionGraph
    from magnet.synthesis.paths import SignaturePath
    from magnet.synthesis.report import functions_without_rows
    from magnet.tools.spec import FunctionSpec

    graph = FunctionGraph.from_edges([FunctionSpec("lonely", "Alone."), FunctionSpec("used", "Used.")], [])
    reasons = functions_without_rows(graph, called=["used"], paths=[SignaturePath((("used",),))])
    assert list(reasons) == ["lonely"] and "in no signature path" in reasons["lonely"]
    reasons = functions_without_rows(graph, called=["used"], paths=[SignaturePath((("lonely",),))])
    assert "no edge in the graph" in reasons["lonely"]


def test_rejection_examples_show_different_failures_per_reason(tmp_path):
    from magnet.synthesis.report import rejection_examples

    lines = [
        {"reason": "forth:no_usable_answer", "detail": "complete_task(task_id='tsk-1') failed: 'tsk-1' is done"},
        {"reason": "forth:no_usable_answer", "detail": "complete_task(task_id='tsk-2') failed: 'tsk-2' is done"},
        {"reason": "forth:no_usable_answer", "detail": "lock_door(device_id='dev-1') failed: not a lock"},
        {"episode": "e1", "error": "KeyError: 'x'"},
    ]
    (tmp_path / "rejected-00000.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    examples = rejection_examples(tmp_path)
    assert examples["forth:no_usable_answer"] == [lines[0]["detail"], lines[2]["detail"]]  # one per kind
    assert examples["error"] == ["KeyError: 'x'"]
