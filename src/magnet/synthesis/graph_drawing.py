"""Drawing a function graph as a PNG (the whole graph, or one function and its neighbours).

Kept apart from the graph itself because it is presentation only and the one place that needs matplotlib, which
is imported when a drawing is asked for and not before.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import networkx as nx

from magnet.errors import MagnetError

if TYPE_CHECKING:
    from magnet.synthesis.graph_model import FunctionGraph


def draw_graph(function_graph: FunctionGraph, path: str | Path, *, focus: str | None = None, radius: int = 1) -> Path:
    """Save a PNG of ``function_graph``, or of ``focus`` and its neighbourhood within ``radius`` hops (what
    ``FunctionGraph.draw`` does).

    The whole graph is drawn as small multiples, one panel per toolkit (its functions, the edges among them, and
    in each title how many edges leave or enter it): a single picture of a hundred functions has labels nobody
    can read. Nested edges are drawn solid, other edges dashed (the legend says so).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    graph = function_graph.graph
    if focus is None:
        figure = _per_toolkit(function_graph, plt)
    else:
        if focus not in graph:
            raise MagnetError(f"function {focus!r} is not in the graph")
        figure, axes = plt.subplots(figsize=(8, 8))
        neighbourhood = nx.ego_graph(graph, focus, radius=radius, undirected=True)
        _draw_panel(neighbourhood, axes, highlight=focus, font_size=8, node_size=300)
        axes.set_title(f"{focus} and its neighbours")
        _legend(figure, plt)
    out = Path(path)
    figure.savefig(out, dpi=120, bbox_inches="tight")
    plt.close(figure)
    return out


def _toolkit(function_graph: FunctionGraph, name: str) -> str:
    spec = function_graph.spec(name)
    return spec.toolkit or spec.category or "misc"


def _per_toolkit(function_graph: FunctionGraph, plt):
    graph = function_graph.graph
    groups: dict[str, list[str]] = {}
    for name in sorted(graph):
        groups.setdefault(_toolkit(function_graph, name), []).append(name)
    columns = max(1, math.ceil(math.sqrt(len(groups))))
    rows = max(1, math.ceil(len(groups) / columns))
    figure, axes = plt.subplots(rows, columns, figsize=(5 * columns, 4.5 * rows), squeeze=False)
    for axis, (toolkit, names) in zip(axes.flat, sorted(groups.items()), strict=False):
        inside = graph.subgraph(names)
        crossing = sum(1 for s, t in graph.edges() if (s in inside) != (t in inside))
        _draw_panel(inside, axis, highlight=None, font_size=7, node_size=120)
        axis.set_title(
            f"{toolkit}\n{len(names)} functions, {inside.number_of_edges()} edges, {crossing} across", fontsize=9
        )
    for axis in list(axes.flat)[len(groups) :]:
        axis.axis("off")
    figure.suptitle(
        f"function graph: {graph.number_of_nodes()} functions, {graph.number_of_edges()} edges, by toolkit", y=1.0
    )
    _legend(figure, plt)
    return figure


def _draw_panel(graph, axis, *, highlight: str | None, font_size: int, node_size: int) -> None:
    # A toolkit is a dozen densely linked functions: on a circle every label has room; a neighbourhood spreads.
    layout = (
        nx.spring_layout(graph, seed=0, k=1.5 / max(1, len(graph)) ** 0.5) if highlight else nx.circular_layout(graph)
    )
    nested = [(s, t) for s, t, n in graph.edges(data="nested") if n]
    plain = [(s, t) for s, t, n in graph.edges(data="nested") if not n]
    colours = ["crimson" if n == highlight else "tab:blue" for n in graph]
    nx.draw_networkx_nodes(graph, layout, node_color=colours, node_size=node_size, ax=axis)
    nx.draw_networkx_edges(graph, layout, edgelist=plain, style="dashed", alpha=0.4, arrowsize=8, ax=axis)
    nx.draw_networkx_edges(graph, layout, edgelist=nested, alpha=0.8, arrowsize=10, ax=axis)
    nx.draw_networkx_labels(graph, layout, font_size=font_size, ax=axis)
    axis.margins(0.2)
    axis.axis("off")


def _legend(figure, plt) -> None:
    from matplotlib.lines import Line2D

    handles = [
        Line2D([], [], color="black", label="nested: the output is the next call's input"),
        Line2D([], [], color="black", linestyle="--", alpha=0.5, label="depends on the output (not nested)"),
    ]
    figure.legend(handles=handles, loc="lower center", ncol=2, frameon=False)
