"""bfcl_eval's executor and checkers as Magnet drives them: isolated rollouts, no leaked instances, and the AST
checker loaded without BFCL's model registry."""

from __future__ import annotations

import sys
from pathlib import Path

from magnet.eval import checkers


def _instance_keys(rollout: checkers.BFCLRollout) -> list[str]:
    return [key for key in vars(rollout._utils) if key.startswith(rollout.model_name)]


def test_rollouts_are_isolated_and_freed(multi_turn):
    entry = next(e for e in multi_turn["multi_turn_base"] if "GorillaFileSystem" in e.involved_classes)
    with checkers.BFCLRollout(entry) as first, checkers.BFCLRollout(entry) as second:
        assert first.model_name != second.model_name
        first.execute(["mkdir(dir_name='only_in_first')"])
        assert "only_in_first" in first.execute(["ls()"])[0]
        assert "only_in_first" not in second.execute(["ls()"])[0]
        assert _instance_keys(first) and _instance_keys(second)
    assert not _instance_keys(first) and not _instance_keys(second)


def test_ground_truth_is_valid_and_a_wrong_trajectory_is_not(multi_turn):
    entry = multi_turn["multi_turn_base"][0]
    with checkers.BFCLRollout(entry) as rollout:
        assert rollout.score([[turn] for turn in entry.ground_truth]) == {"valid": True}
    with checkers.BFCLRollout(entry) as rollout:
        wrong = [[["ls()"]] for _ in entry.ground_truth]
        verdict = rollout.score(wrong)
        assert not verdict["valid"] and verdict["error_type"].startswith("multi_turn:")
        assert not rollout.score(wrong[:-1])["valid"]
    scored = [key for key in vars(rollout._utils) if key.startswith(rollout.model_name)]
    assert not scored, "scoring instances (model, ground truth) must be freed too"


def test_callable_names_include_held_out_functions_and_no_private_ones(multi_turn):
    entry = next(e for e in multi_turn["multi_turn_miss_func"] if e.missed_function)
    names = checkers.callable_names(tuple(entry.involved_classes))
    assert {name for held in entry.missed_function.values() for name in held} <= names
    assert not any(name.startswith("_") for name in names)


def test_ast_checker_loads_without_touching_sys_modules():
    before = sys.modules.get(checkers.MODEL_CONFIG_MODULE)
    module = checkers.ast_checker_module()
    assert sys.modules.get(checkers.MODEL_CONFIG_MODULE) is before
    functions = [
        {
            "name": "math.factorial",
            "description": "n!",
            "parameters": {"type": "dict", "properties": {"number": {"type": "integer"}}, "required": ["number"]},
        }
    ]
    answer = [{"math.factorial": {"number": [5]}}]
    assert checkers.ast_check(functions, [{"math.factorial": {"number": 5}}], answer, "Python", "simple")["valid"]
    wrong = checkers.ast_check(functions, [{"math.factorial": {"number": 6}}], answer, "Python", "simple")
    assert not wrong["valid"] and wrong["error_type"] == "value_error:others"
    assert Path(module.__file__).name == "ast_checker.py" and "bfcl_eval" in Path(module.__file__).parts
