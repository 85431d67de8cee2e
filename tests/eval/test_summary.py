"""The Table 2 aggregation, checked against BFCL's own leaderboard code (``generate_leaderboard_csv``)."""

from __future__ import annotations

import csv
import random
import types

import pytest

from magnet.eval import checkers
from magnet.eval.entries import ALL_CATEGORIES, MULTI_TURN
from magnet.eval.summary import Score, category_scores, summary_markdown, table2

COLUMNS = {
    "overall": "Overall Acc",
    "non_live_ast": "Non-Live AST Acc",
    "live": "Live Acc",
    "multi_turn": "Multi Turn Acc",
    "multi_turn_base": "Multi Turn Base",
    "multi_turn_miss_func": "Multi Turn Miss Func",
    "multi_turn_miss_param": "Multi Turn Miss Param",
    "multi_turn_long_context": "Multi Turn Long Context",
    "relevance": "Relevance Detection",
    "irrelevance": "Irrelevance Detection",
    "non_live_simple": "Non-Live Simple AST",
}


class _Registry:
    def __getitem__(self, name):
        return types.SimpleNamespace(display_name=name, url="", org="", license="", input_price=None, output_price=None)


def _bfcl_leaderboard(scores: dict[str, Score], tmp_path) -> dict[str, str]:
    helper = checkers.load_with_registry("bfcl_eval.eval_checker.eval_runner_helper", _Registry())
    table: dict = {}
    for category, score in scores.items():
        helper.record_result(table, "magnet", category, score.accuracy, score.count)
    helper.generate_leaderboard_csv(table, tmp_path)
    with (tmp_path / "data_overall.csv").open() as handle:
        return next(csv.DictReader(handle))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_table2_equals_bfcls_leaderboard(tmp_path, seed):
    generator = random.Random(seed)
    scores = {}
    for category in ALL_CATEGORIES:
        count = generator.randint(10, 400)
        scores[category] = Score(generator.randint(0, count) / count, count)
    ours = table2(scores)
    theirs = _bfcl_leaderboard(scores, tmp_path)
    for key, column in COLUMNS.items():
        assert f"{100 * ours[key].accuracy:.2f}%" == theirs[column], (key, column)


def test_partial_runs_show_na_for_incomplete_aggregates():
    records = [{"category": name, "valid": index % 2 == 0} for name in MULTI_TURN for index in range(4)]
    scores = category_scores(records)
    columns = table2(scores)
    assert columns["multi_turn"].accuracy == 0.5 and columns["multi_turn"].count == 16
    assert columns["overall"] is None and columns["live"] is None
    markdown = summary_markdown("m", scores, limit=4)
    assert "| m | N/A | N/A | N/A | 50.00 | 50.00 |" in markdown
    assert "first 4 entries" in markdown
