"""Dataset statistics beside the paper's Table 1, and plots of their distributions."""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

PAPER_TABLE_1 = {
    "sft": {
        "single_turn": 20000,
        "multi_turn": 7800,
        "irrelevance": 6200,
        "single_turn_calls": 1.80,
        "multi_turn_turns": 4.71,
        "multi_turn_calls": 15.13,
    },
    "preference": {
        "single_turn": 1556,
        "multi_turn": 2250,
        "irrelevance": 750,
        "single_turn_calls": 1.94,
        "multi_turn_turns": 5.22,
        "multi_turn_calls": 14.98,
    },
}


def read_rows(path: str | Path) -> list[dict[str, Any]]:
    """Every row of a dataset in Magnet's schema: a ``save_to_disk`` folder (all its splits) or a JSONL file."""
    import datasets

    from magnet.errors import DatasetError
    from magnet.files import read_jsonl

    path = Path(path)
    if path.is_dir():
        loaded = datasets.load_from_disk(str(path))
        splits = loaded.values() if isinstance(loaded, datasets.DatasetDict) else [loaded]
        return [row for part in splits for row in part]
    return read_jsonl(path, "dataset", DatasetError)


def conversation(row: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The messages of a row: an SFT row's, or a preference pair's prompt and chosen side."""
    if "messages" in row:
        return list(row["messages"])
    return [*row.get("prompt", []), *row.get("chosen", [])]


def row_shape(row: Mapping[str, Any]) -> dict[str, Any]:
    """Kind, user turns, calls and operation labels of one row (SFT, or the chosen side of a pair)."""
    messages = conversation(row)
    meta = row.get("meta") or {}
    ops = meta.get("ops") or []
    return {
        "kind": meta.get("kind", "multi_turn"),
        "turns": sum(1 for m in messages if m["role"] == "user"),
        "calls": sum(len(m.get("tool_calls") or []) for m in messages if m["role"] == "assistant"),
        "ops": [op.split(":")[0] for op in ops],
        "variant": (meta.get("variant") or ""),
    }


def call_name(call: Mapping[str, Any]) -> str:
    """The function a tool call names (OpenAI's ``{"function": {"name"}}`` or a bare ``{"name"}``)."""
    return (call.get("function") or call).get("name", "")


def called_functions(rows: Iterable[Mapping[str, Any]]) -> set[str]:
    """The names of the functions the assistant calls in any row (SFT, or the chosen side of a pair)."""
    return {
        call_name(call)
        for row in rows
        for message in conversation(row)
        if message["role"] == "assistant"
        for call in message.get("tool_calls") or []
    }


def dataset_stats(rows: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Rows per kind and their shares, turns and calls per multi-turn row, calls per single-turn row, the share
    of multi-turn rows each node operation touched, and error types of preference pairs."""
    shapes = [row_shape(row) for row in rows]
    rows_list = shapes
    kinds = Counter(s["kind"] for s in rows_list)
    total = sum(kinds.values()) or 1
    multi = [s for s in rows_list if s["kind"] == "multi_turn"]
    single = [s for s in rows_list if s["kind"] == "single_turn"]

    def mean(values: list[float]) -> float:
        return round(statistics.mean(values), 2) if values else 0.0

    ops = Counter(op for s in multi for op in set(s["ops"]))
    return {
        "rows": len(rows_list),
        "kinds": dict(kinds),
        "shares": {kind: round(count / total, 3) for kind, count in kinds.items()},
        "multi_turn_turns": mean([s["turns"] for s in multi]),
        "multi_turn_calls": mean([s["calls"] for s in multi]),
        "single_turn_calls": mean([s["calls"] for s in single]),
        "single_turn_variants": dict(Counter(s["variant"] for s in single)),
        "operations_share": {op: round(count / (len(multi) or 1), 3) for op, count in sorted(ops.items())},
    }


def error_types(rows: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """Preference pairs per error type of their negative."""
    return dict(Counter(t for row in rows for t in (row.get("meta") or {}).get("error_types", [])))


def comparison_table(stats: Mapping[str, Any], paper: Mapping[str, Any]) -> str:
    """A Markdown table of our statistics beside the paper's."""
    paper_total = sum(paper[k] for k in ("single_turn", "multi_turn", "irrelevance"))
    lines = ["| statistic | ours | paper (Table 1) |", "| --- | --- | --- |"]
    for kind in ("single_turn", "multi_turn", "irrelevance"):
        lines.append(
            f"| {kind} rows (share) | {stats['kinds'].get(kind, 0)} ({stats['shares'].get(kind, 0):.1%}) "
            f"| {paper[kind]} ({paper[kind] / paper_total:.1%}) |"
        )
    if stats["kinds"].get("recovery"):  # negatives.recovery: beyond the paper, which has none
        recovery = stats["kinds"]["recovery"]
        lines.append(f"| recovery rows (share) | {recovery} ({stats['shares']['recovery']:.1%}) | none |")
    lines.append(f"| turns per multi-turn row | {stats['multi_turn_turns']} | {paper['multi_turn_turns']} |")
    lines.append(f"| calls per multi-turn row | {stats['multi_turn_calls']} | {paper['multi_turn_calls']} |")
    lines.append(f"| calls per single-turn row | {stats['single_turn_calls']} | {paper['single_turn_calls']} |")
    return "\n".join(lines)


OPERATION_ORDER = ("merge", "insert", "split", "miss_func", "miss_param")
"""Bars of the operations panel, in this order (others after, by name), so two plots compare at a glance."""


def plot_distributions(
    rows: Iterable[Mapping[str, Any]], path: str | Path, title: str = "", paper: Mapping[str, Any] | None = None
) -> Path:
    """``distribution_figure`` written as a PNG to ``path``."""
    import matplotlib.pyplot as plt

    figure = distribution_figure(rows, title, paper)
    out = Path(path)
    figure.savefig(out, dpi=100, bbox_inches="tight")
    plt.close(figure)
    return out


def distribution_figure(rows: Iterable[Mapping[str, Any]], title: str = "", paper: Mapping[str, Any] | None = None):
    """Histograms of turns and calls per multi-turn row (dashed: our mean; dotted: the paper's Table 1 value, when
    ``paper`` is given), and the share of multi-turn rows each node operation touched (a panel only when the rows
    record their operations: no empty panel)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shapes = [row_shape(row) for row in rows]
    multi = [s for s in shapes if s["kind"] == "multi_turn"]
    ops = Counter(op for s in multi for op in set(s["ops"]))
    figure, axes = plt.subplots(1, 3 if ops else 2, figsize=(15 if ops else 10, 4))
    for axis, key, label, bins, color in (
        (axes[0], "turns", "user turns", range(1, 16), "tab:blue"),
        (axes[1], "calls", "calls", range(0, 40, 2), "tab:orange"),
    ):
        values = [s[key] for s in multi]
        axis.hist(values, bins=bins, color=color, edgecolor="white")
        axis.set(title=f"{label} per multi-turn row", xlabel=label, ylabel="multi-turn rows")
        if values:
            mean = statistics.mean(values)
            axis.axvline(mean, color="black", linestyle="--", label=f"ours {mean:.2f}")
        reference = (paper or {}).get(f"multi_turn_{key}")
        if reference is not None:
            axis.axvline(reference, color="tab:red", linestyle=":", label=f"paper {reference}")
        if values or reference is not None:
            axis.legend()
    if ops:
        names = [op for op in OPERATION_ORDER if op in ops] + sorted(set(ops) - set(OPERATION_ORDER))
        axes[2].bar(names, [ops[name] / len(multi) for name in names], color="tab:green")
        axes[2].set(title="node operations", xlabel="operation", ylabel="share of multi-turn rows", ylim=(0, 1))
    figure.suptitle(f"{title} ({len(shapes)} rows, {len(multi)} multi-turn)" if title else "")
    return figure
