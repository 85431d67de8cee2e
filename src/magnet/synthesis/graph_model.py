"""The function graph as data: ``FunctionGraph`` (a ``networkx.DiGraph`` whose nodes carry their specs and whose
edges carry their judgement), its ``Edge`` records, its ``GraphStats``, and its JSON file.

Kept apart from the judges and the building so that sampling paths and operations, which only read a graph, load
it without the teacher, the judges or ``tqdm``.
"""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import networkx as nx

from magnet.errors import MagnetError
from magnet.files import write_atomic
from magnet.tools.spec import FunctionSpec

GRAPH_FORMAT = "magnet-function-graph/1"
# What a function gets when the teacher could not label it: it still takes part in the graph (its candidates come
# from the other unlabelled functions, or from all "misc" ones), and the class says so in the saved graph.
FALLBACK_CATEGORY = "misc"
UNLABELLED_CLASS = "unlabelled"


@dataclass(frozen=True)
class Edge:
    """A judged dependency f -> g."""

    source: str
    target: str
    judge: str
    score: float
    reason: str
    nested: bool = False
    nested_reason: str = ""


@dataclass(frozen=True)
class GraphStats:
    """Size and shape of a graph."""

    nodes: int
    edges: int
    nested_edges: int
    with_out_edge: int
    isolated: list[str]
    out_degree: dict[int, int]
    edges_per_category: dict[str, int]
    judges: dict[str, int]
    unlabelled: list[str] = dataclasses.field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (for JSON)."""
        return dataclasses.asdict(self)


class FunctionGraph:
    """A ``networkx.DiGraph`` over function names; nodes carry their ``FunctionSpec`` (``spec``), edges their
    judgement (``judge``, ``score``, ``reason``, ``nested``, ``nested_reason``)."""

    def __init__(self, graph: nx.DiGraph | None = None):
        self.graph = graph if graph is not None else nx.DiGraph()

    @classmethod
    def from_edges(cls, specs: Iterable[FunctionSpec], edges: Iterable[Edge]) -> FunctionGraph:
        """A graph of these specs and edges (edges between unknown functions are an error)."""
        graph = nx.DiGraph()
        for spec in specs:
            graph.add_node(spec.name, spec=spec)
        for edge in edges:
            if edge.source not in graph or edge.target not in graph:
                raise MagnetError(f"edge {edge.source} -> {edge.target} names a function not in the graph")
            graph.add_edge(
                edge.source,
                edge.target,
                judge=edge.judge,
                score=edge.score,
                reason=edge.reason,
                nested=edge.nested,
                nested_reason=edge.nested_reason,
            )
        return cls(graph)

    def spec(self, name: str) -> FunctionSpec:
        """The spec of function ``name``."""
        return self.graph.nodes[name]["spec"]

    @property
    def specs(self) -> list[FunctionSpec]:
        """Every function's spec, in node order."""
        return [data["spec"] for _, data in self.graph.nodes(data=True)]

    def successors(self, name: str) -> list[str]:
        """Functions that can follow ``name``, sorted (so sampling does not depend on insertion order)."""
        return sorted(self.graph.successors(name))

    def nested_successors(self, name: str) -> list[str]:
        """Successors judged nested with ``name`` (candidates for Insert), sorted."""
        return sorted(t for t in self.graph.successors(name) if self.graph.edges[name, t].get("nested"))

    def edge(self, source: str, target: str) -> Edge:
        """The judgement of edge source -> target."""
        data = self.graph.edges[source, target]
        return Edge(
            source,
            target,
            data["judge"],
            data["score"],
            data["reason"],
            data.get("nested", False),
            data.get("nested_reason", ""),
        )

    def edges(self) -> list[Edge]:
        """Every edge, sorted by (source, target)."""
        return [self.edge(s, t) for s, t in sorted(self.graph.edges)]

    def stats(self) -> GraphStats:
        """Nodes, edges, nested edges, functions with an out-edge, isolated functions, out-degree distribution,
        edges per category of their source, edges per judge, and the functions the teacher could not label."""
        out_degrees = Counter(dict(self.graph.out_degree()).values())
        categories = Counter(self.spec(s).category or "misc" for s, _ in self.graph.edges)
        return GraphStats(
            nodes=self.graph.number_of_nodes(),
            edges=self.graph.number_of_edges(),
            nested_edges=sum(1 for _, _, nested in self.graph.edges(data="nested") if nested),
            with_out_edge=sum(1 for _, degree in self.graph.out_degree() if degree > 0),
            isolated=sorted(n for n in self.graph if self.graph.degree(n) == 0),
            out_degree=dict(sorted(out_degrees.items())),
            edges_per_category=dict(sorted(categories.items())),
            judges=dict(Counter(judge for _, _, judge in self.graph.edges(data="judge"))),
            unlabelled=sorted(n for n in self.graph if self.spec(n).tool_class == UNLABELLED_CLASS),
        )

    def to_dict(self) -> dict[str, Any]:
        """``{"format", "functions": [spec dicts], "edges": [edge dicts]}``."""
        return {
            "format": GRAPH_FORMAT,
            "functions": [spec.to_dict() for spec in self.specs],
            "edges": [dataclasses.asdict(edge) for edge in self.edges()],
        }

    def save(self, path: str | Path) -> None:
        """Write the graph as JSON (to a temporary file first: never half-written)."""
        write_atomic(path, json.dumps(self.to_dict(), ensure_ascii=False, indent=1) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> FunctionGraph:
        """Read a graph written by ``save``; a malformed file is a ``MagnetError`` naming it."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
            if data.get("format") != GRAPH_FORMAT:
                raise MagnetError(f"{path}: not a Magnet function graph (format {data.get('format')!r})")
            specs = [FunctionSpec.from_dict(spec, source=str(path)) for spec in data["functions"]]
            edges = [Edge(**edge) for edge in data["edges"]]
        except (OSError, json.JSONDecodeError, KeyError, TypeError, AttributeError) as error:
            raise MagnetError(f"{path}: cannot read the function graph ({type(error).__name__}: {error})") from None
        return cls.from_edges(specs, edges)

    def draw(self, path: str | Path, *, focus: str | None = None, radius: int = 1) -> Path:
        """Save a PNG of the graph, or of ``focus`` and its neighbourhood within ``radius`` hops.

        Nested edges are drawn solid, other edges dashed; nodes are coloured by category.
        """
        from magnet.synthesis.graph_drawing import draw_graph  # matplotlib is loaded only for a drawing

        return draw_graph(self, path, focus=focus, radius=radius)
