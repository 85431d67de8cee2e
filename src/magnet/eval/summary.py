"""Scores per category and the paper's Table 2 columns, aggregated the way BFCL-v3's leaderboard aggregates.

BFCL (``eval_runner_helper.generate_leaderboard_csv``): non-live simple is the unweighted mean of Python, Java and
JavaScript simple; non-live AST the unweighted mean of simple, multiple, parallel and parallel-multiple; live the
count-weighted mean of the six live categories (irrelevance and relevance included); multi-turn the unweighted
mean of its four categories; overall the unweighted mean of non-live (AST categories plus irrelevance), live and
multi-turn; irrelevance the unweighted mean of non-live and live irrelevance. An aggregate whose categories were
not all evaluated is shown as N/A here (BFCL would count the missing ones as 0).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

TABLE2_COLUMNS = (
    ("overall", "Overall"),
    ("non_live_ast", "Non-live AST"),
    ("live", "Live"),
    ("multi_turn", "Multi-turn"),
    ("multi_turn_base", "Base"),
    ("multi_turn_miss_func", "Miss Func"),
    ("multi_turn_miss_param", "Miss Param"),
    ("multi_turn_long_context", "Long Context"),
    ("relevance", "Relevance"),
    ("irrelevance", "Irrelevance"),
)


@dataclass(frozen=True)
class Score:
    """An accuracy and the number of entries behind it."""

    accuracy: float
    count: int


def category_scores(records: Iterable[Mapping[str, Any]]) -> dict[str, Score]:
    """Accuracy per category from result records (``{"category", "valid"}``)."""
    totals: dict[str, list[int]] = {}
    for record in records:
        counts = totals.setdefault(record["category"], [0, 0])
        counts[0] += bool(record["valid"])
        counts[1] += 1
    return {category: Score(correct / total, total) for category, (correct, total) in totals.items() if total}


def _unweighted(parts: list[Score | None]) -> Score | None:
    if any(part is None for part in parts):
        return None
    return Score(sum(part.accuracy for part in parts) / len(parts), sum(part.count for part in parts))


def _weighted(parts: list[Score | None]) -> Score | None:
    if any(part is None for part in parts):
        return None
    count = sum(part.count for part in parts)
    return Score(sum(part.accuracy * part.count for part in parts) / count, count) if count else None


def table2(scores: Mapping[str, Score]) -> dict[str, Score | None]:
    """The paper's Table 2 columns (plus BFCL's intermediate aggregates) from per-category scores."""
    get = scores.get
    simple = _unweighted([get("simple"), get("java"), get("javascript")])
    non_live_ast = _unweighted([simple, get("multiple"), get("parallel"), get("parallel_multiple")])
    non_live = _unweighted([simple, get("multiple"), get("parallel"), get("parallel_multiple"), get("irrelevance")])
    live_ast = _weighted(
        [get(name) for name in ("live_simple", "live_multiple", "live_parallel", "live_parallel_multiple")]
    )
    live = _weighted(
        [
            get(name)
            for name in (
                "live_simple",
                "live_multiple",
                "live_parallel",
                "live_parallel_multiple",
                "live_irrelevance",
                "live_relevance",
            )
        ]
    )
    multi_turn = _unweighted(
        [
            get(name)
            for name in ("multi_turn_base", "multi_turn_miss_func", "multi_turn_miss_param", "multi_turn_long_context")
        ]
    )
    return {
        "overall": _unweighted([live, non_live, multi_turn]),
        "non_live_ast": non_live_ast,
        "non_live": non_live,
        "non_live_simple": simple,
        "live": live,
        "live_ast": live_ast,
        "multi_turn": multi_turn,
        "multi_turn_base": get("multi_turn_base"),
        "multi_turn_miss_func": get("multi_turn_miss_func"),
        "multi_turn_miss_param": get("multi_turn_miss_param"),
        "multi_turn_long_context": get("multi_turn_long_context"),
        "relevance": get("live_relevance"),
        "irrelevance": _unweighted([get("irrelevance"), get("live_irrelevance")]),
    }


def _percent(score: Score | None) -> str:
    return "N/A" if score is None else f"{100 * score.accuracy:.2f}"


def summary_markdown(
    name: str, scores: Mapping[str, Score], *, limit: int | None = None, ids: Sequence[str] = ()
) -> str:
    """Table 2 as Markdown, then every evaluated category with its count."""
    columns = table2(scores)
    lines = [
        "| Model | " + " | ".join(title for _, title in TABLE2_COLUMNS) + " |",
        "|---" * (len(TABLE2_COLUMNS) + 1) + "|",
        f"| {name} | " + " | ".join(_percent(columns[key]) for key, _ in TABLE2_COLUMNS) + " |",
        "",
        "| Category | Accuracy | Entries |",
        "|---|---|---|",
        *(f"| {category} | {_percent(score)} | {score.count} |" for category, score in scores.items()),
    ]
    if limit is not None:
        lines += ["", f"Only the first {limit} entries of each category were evaluated."]
    if ids:
        lines += ["", f"Only the entries {', '.join(ids)} were evaluated."]
    return "\n".join(lines) + "\n"


def summary_json(
    name: str, scores: Mapping[str, Score], *, limit: int | None = None, ids: Sequence[str] = ()
) -> dict[str, Any]:
    """The same as plain data (accuracies in percent, ``None`` for N/A)."""

    def value(score: Score | None) -> float | None:
        return None if score is None else round(100 * score.accuracy, 4)

    return {
        "model": name,
        "limit": limit,
        "ids": list(ids),
        "table2": {key: value(score) for key, score in table2(scores).items()},
        "categories": {
            category: {"accuracy": value(score), "count": score.count} for category, score in scores.items()
        },
    }
