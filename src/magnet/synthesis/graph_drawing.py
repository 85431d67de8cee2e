"""Drawing a function graph as a PNG (the whole graph, or one function and its neighbours).

Kept apart from the graph itself because it is presentation only and the one place that needs matplotlib, which
is imported when a drawing is asked for and not before.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import networkx as nx

from magnet.errors import MagnetError

if TYPE_CHECKING:
    from magnet.synthesis.graph_model import FunctionGraph


def draw_graph(function_graph: FunctionGraph, path: str | Path, *, focus: str | None = None, radius: int = 1) -> Path:
    """Save a PNG of ``function_graph``, or of ``focus`` and its neighbourhood within ``radius`` hops (what
    ``FunctionGraph.draw`` does).

    Nested edges are drawn solid, other edges dashed; nodes are coloured by category.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    graph = function_graph.graph
    if focus is not None:
        if focus not in graph:
            raise MagnetError(f"function {focus!r} is not in the graph")
        graph = nx.ego_graph(graph, focus, radius=radius, undirected=True)
    categories = sorted({function_graph.spec(n).category or "misc" for n in graph})
    palette = plt.get_cmap("tab20")
    colours = [
        "crimson" if n == focus else palette(categories.index(function_graph.spec(n).category or "misc") % 20)
        for n in graph
    ]
    layout = nx.spring_layout(graph, seed=0, k=1.5 / max(1, len(graph)) ** 0.5)
    size = 8 if focus else min(30, 6 + len(graph) / 6)
    figure, axes = plt.subplots(figsize=(size, size))
    nested = [(s, t) for s, t, n in graph.edges(data="nested") if n]
    plain = [(s, t) for s, t, n in graph.edges(data="nested") if not n]
    nx.draw_networkx_nodes(graph, layout, node_color=colours, node_size=300 if focus else 80, ax=axes)
    nx.draw_networkx_edges(graph, layout, edgelist=plain, style="dashed", alpha=0.3, arrowsize=6, ax=axes)
    nx.draw_networkx_edges(graph, layout, edgelist=nested, alpha=0.7, arrowsize=8, ax=axes)
    nx.draw_networkx_labels(graph, layout, font_size=8 if focus else 5, ax=axes)
    axes.set_title(
        f"{focus} and its neighbours"
        if focus
        else f"function graph: {len(graph)} functions, {graph.number_of_edges()} edges ({len(nested)} nested, solid)"
    )
    axes.axis("off")
    out = Path(path)
    figure.savefig(out, dpi=120, bbox_inches="tight")
    plt.close(figure)
    return out
