"""BFCL's classes as toolkits: BFCL's own ground truth, run through Magnet, ends where BFCL's executor ends."""

from __future__ import annotations

import json
import logging
import uuid

import pytest

pytest.importorskip("bfcl_eval")

from bfcl_eval.eval_checker.multi_turn_eval import multi_turn_utils
from bfcl_eval.eval_checker.multi_turn_eval.multi_turn_checker import _compare_instances

from magnet.errors import SpecError, ToolkitError
from magnet.tools.bfcl import (
    BFCL_CLASSES,
    MULTI_TURN_CATEGORIES,
    bfcl_environment,
    bfcl_toolkit_class,
    bfcl_toolkits,
    bfcl_versions,
    load_multi_turn_entries,
)
from magnet.tools.calls import FunctionCall, parse_calls
from magnet.tools.executor import Environment
from magnet.tools.pool import check_training_pool


def _replay(entry):
    """Run an entry's ground truth through Magnet and through bfcl_eval; return what differs."""
    env = bfcl_environment(entry)
    order = env.parameter_order()
    model_name = f"magnet_replay_{uuid.uuid4().hex}"
    differences = []
    theirs_instances = {}
    try:
        for turn_index, turn in enumerate(entry.ground_truth):
            calls = [call for text in turn for call in parse_calls(text, parameter_order=order)]
            ours = env.execute(calls)
            theirs, theirs_instances = multi_turn_utils.execute_multi_turn_func_call(
                turn,
                entry.initial_config,
                entry.involved_classes,
                model_name,
                entry.id,
                long_context=entry.long_context,
            )
            for result, expected in zip(ours, theirs, strict=True):
                if result.ok and result.content != expected:
                    differences.append(f"turn {turn_index} {result.call.name}: {result.content!r} != {expected!r}")
                if not result.ok and not expected.startswith("Error during execution"):
                    differences.append(f"turn {turn_index} {result.call.name}: we failed ({result.error})")
        for class_name, instance in theirs_instances.items():
            valid, diff = _compare_instances(env.toolkits[class_name].instance, instance)
            if not valid:
                differences.append(f"{class_name} state differs: {str(diff)[:300]}")
    finally:
        prefix = model_name.replace("-", "_")
        for key in [key for key in vars(multi_turn_utils) if key.startswith(prefix)]:
            del vars(multi_turn_utils)[key]
    return differences


@pytest.mark.slow
@pytest.mark.parametrize("category", MULTI_TURN_CATEGORIES)
def test_ground_truth_replays_to_bfcls_own_final_states(category):
    entries = load_multi_turn_entries(category, version="v3")
    assert len(entries) == 200
    failures = {entry.id: diff for entry in entries if (diff := _replay(entry))}
    assert not failures, f"{len(failures)}/200 entries differ: {list(failures.items())[:3]}"


def test_v3_is_the_default_data():
    assert "v3" in bfcl_versions()
    entry = load_multi_turn_entries("miss_func")[0]
    assert entry.id == "multi_turn_miss_func_0" and entry.missed_function == {"3": ["sort"]}
    with pytest.raises(ToolkitError, match="unknown multi-turn category 'composite'"):
        load_multi_turn_entries("composite")


def test_all_eight_classes_have_specs_from_bfcls_docs():
    toolkits = bfcl_toolkits()
    assert sorted(k.toolkit_name() for k in toolkits) == sorted(BFCL_CLASSES)
    specs = [spec for toolkit in toolkits for spec in toolkit.specs()]
    assert len(specs) == 129
    cd = next(spec for spec in specs if spec.name == "cd")
    assert cd.parameters["type"] == "object" and cd.required == ("folder",)
    assert cd.category == "File System" and cd.toolkit == "GorillaFileSystem"
    assert all(spec.response is not None for spec in specs)


def test_state_is_a_json_snapshot_of_public_attributes():
    entry = load_multi_turn_entries("base")[0]
    env = bfcl_environment(entry)
    state = env.state()
    assert json.loads(json.dumps(state)) == state
    assert sorted(state) == ["GorillaFileSystem", "TwitterAPI"]
    assert state["TwitterAPI"]["username"] == entry.initial_config["TwitterAPI"]["username"]
    assert "document" in state["GorillaFileSystem"]["root"]["contents"]
    env.execute([FunctionCall("mkdir", {"dir_name": "fresh"})])
    assert "fresh" in env.state()["GorillaFileSystem"]["root"]["contents"]


def test_long_context_entries_load_bfcls_filler_state():
    base = bfcl_environment(load_multi_turn_entries("base")[0]).state()
    long = bfcl_environment(load_multi_turn_entries("long_context")[0]).state()
    assert len(json.dumps(long)) > len(json.dumps(base))


def test_rewritten_names_dispatch_to_the_original_methods():
    rewrite = {"cd": {"name": "change_folder", "description": "Enter a folder."}, "tweet": {"name": "ignored"}}
    klass = bfcl_toolkit_class("GorillaFileSystem", rewrite=rewrite)
    spec = next(spec for spec in klass.specs() if spec.name == "change_folder")
    assert spec.description == "Enter a folder."
    assert "cd" not in klass.function_names()
    env = Environment([klass(load_multi_turn_entries("base")[0].initial_config["GorillaFileSystem"])])
    assert env.execute_one(FunctionCall("change_folder", {"folder": "document"})).output == {
        "current_working_directory": "document"
    }
    assert "unknown function 'cd'" in env.execute_one(FunctionCall("cd", {"folder": "document"})).error


def test_bad_rewrites_are_refused():
    with pytest.raises(SpecError, match=r"collide with existing BFCL function names"):
        bfcl_toolkit_class("GorillaFileSystem", rewrite={"cd": {"name": "ls"}})
    with pytest.raises(SpecError, match=r"rewrite\['cd'\]: expected"):
        bfcl_toolkit_class("GorillaFileSystem", rewrite={"cd": "change_folder"})
    with pytest.raises(ToolkitError, match="unknown BFCL class 'Filesystem'"):
        bfcl_toolkit_class("Filesystem")


def test_bfcl_is_evaluation_only_unless_opted_in(caplog):
    with pytest.raises(ToolkitError, match=r"\['MathAPI'\] are the evaluation pool"):
        check_training_pool(bfcl_toolkits(["MathAPI"]))
    with caplog.at_level(logging.WARNING):
        opted_in = bfcl_toolkits(["MathAPI"], for_training=True)
        check_training_pool(opted_in)
    assert "loaded for TRAINING" in caplog.text
