"""The function graph: which functions can follow which (section 3.2 of the paper).

For each function, up to 30 candidates are drawn from functions of the same category and tool class (the same
category when the class is too small). A judge decides, for each candidate g of a target f, whether f's output
is a premise of g, equals g's input or is part of g's input; each such pair becomes an edge f -> g that keeps the
judge, its score and its reason. Edges are also judged *nested* (a required parameter of g comes from f's
output, so a user would not state it), which the Insert operation reads.

Two judges: ``schema`` (offline: response fields matched to parameters by name, type and description) and
``llm`` (the paper's dependency and check-nested prompts through a ``Teacher``, cached like every request).
The graph is data (a ``networkx.DiGraph`` with the specs on its nodes); sampling and operations are functions.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import random
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import networkx as nx
from tqdm.auto import tqdm

from magnet.errors import MagnetError, StepError, TeacherError
from magnet.files import write_atomic
from magnet.llm.client import Teacher
from magnet.synthesis.steps import DEPENDENCY, LABEL, NESTED, DependencyInputs, LabelInputs, NestedInputs, run_step
from magnet.tools.pool import ChainPair, chaining_pairs
from magnet.tools.spec import FunctionSpec

GRAPH_FORMAT = "magnet-function-graph/1"
# What a function gets when the teacher could not label it: it still takes part in the graph (its candidates come
# from the other unlabelled functions, or from all "misc" ones), and the class says so in the saved graph.
FALLBACK_CATEGORY = "misc"
UNLABELLED_CLASS = "unlabelled"
logger = logging.getLogger(__name__)
# Field names that match across unrelated functions (a task's "title" is not an employee's "title"): a match on
# one of them counts only when the two descriptions also agree.
GENERIC_NAMES = frozenset(
    {
        "name",
        "title",
        "status",
        "description",
        "type",
        "kind",
        "date",
        "time",
        "query",
        "keyword",
        "notes",
        "note",
        "message",
        "content",
        "text",
        "value",
        "label",
        "category",
        "tags",
        "limit",
        "count",
        "rating",
        "reason",
    }
)
_WORD = re.compile(r"[a-z]+")
_STOP = frozenset({"the", "a", "an", "of", "to", "in", "on", "for", "and", "or", "e", "g", "is", "it", "by", "with"})


@dataclass(frozen=True)
class GraphConfig:
    """How the graph is built."""

    candidates: int = 30
    min_class_size: int = 5
    seed: int = 0
    min_score: float = 0.5
    max_concurrency: int = 16


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


# ---------------------------------------------------------------------------------------------------------------
# Candidates
# ---------------------------------------------------------------------------------------------------------------


def sample_candidates(specs: Sequence[FunctionSpec], config: GraphConfig) -> dict[str, list[str]]:
    """Up to ``config.candidates`` candidate neighbours per function, from its category and tool class.

    When fewer than ``min_class_size`` other functions share the tool class, the candidates come from the whole
    category. Each function's draw uses its own seeded RNG, so adding a function elsewhere does not reshuffle it.
    """
    by_class: dict[tuple[str, str], list[str]] = {}
    by_category: dict[str, list[str]] = {}
    for spec in specs:
        by_class.setdefault((spec.category or "misc", spec.tool_class or "misc"), []).append(spec.name)
        by_category.setdefault(spec.category or "misc", []).append(spec.name)
    candidates = {}
    for spec in specs:
        same_class = [n for n in by_class[(spec.category or "misc", spec.tool_class or "misc")] if n != spec.name]
        pool = same_class
        if len(same_class) < config.min_class_size:
            pool = [n for n in by_category[spec.category or "misc"] if n != spec.name]
        rng = random.Random(f"{config.seed}:{spec.name}")
        candidates[spec.name] = sorted(rng.sample(pool, min(config.candidates, len(pool))))
    return candidates


# ---------------------------------------------------------------------------------------------------------------
# Judges
# ---------------------------------------------------------------------------------------------------------------


def _words(text: str) -> set[str]:
    return {word for word in _WORD.findall(text.lower()) if word not in _STOP and len(word) > 1}


def description_overlap(first: str, second: str) -> float:
    """Jaccard overlap of the content words of two descriptions (0 when either is empty)."""
    a, b = _words(first), _words(second)
    return len(a & b) / len(a | b) if a and b else 0.0


def _field_schema(response: Mapping[str, Any] | None, field: str) -> Mapping[str, Any]:
    """The schema of a named field anywhere in a response schema (first match, arrays of objects included)."""
    if not isinstance(response, Mapping):
        return {}
    properties = response.get("properties") or {}
    if field in properties:
        return properties[field]
    for child in [*properties.values(), response.get("items")]:
        if isinstance(child, Mapping):
            found = _field_schema(child if child.get("type") != "array" else child.get("items"), field)
            if found:
                return found
    return {}


def score_pair(source: FunctionSpec, target: FunctionSpec, pair: ChainPair) -> tuple[float, str]:
    """Score one field -> parameter match of the schema judge, with its reason.

    Same name scores 1.0, a ``_<field>`` suffix 0.8; identifiers (``*_id``, ``email``) keep that score, generic
    names (``title``, ``date``, ...) are scaled by how much the field's and the parameter's descriptions agree,
    other names get up to 20% more or less from that agreement.
    """
    field_schema = _field_schema(source.response, pair.field)
    parameter_schema = target.properties.get(pair.parameter, {})
    overlap = description_overlap(
        str(field_schema.get("description", "")), str(parameter_schema.get("description", ""))
    )
    score = 1.0 if pair.field == pair.parameter else 0.8
    if pair.through_identifier:
        kind = "identifier"
    elif pair.field in GENERIC_NAMES:
        kind = "generic name"
        score *= min(1.0, 2 * overlap)
    else:
        kind = "name"
        score *= 0.8 + 0.4 * overlap
    required = "required" if pair.parameter in target.required else "optional"
    reason = (
        f"{source.name} returns {pair.field} ({field_schema.get('type', 'any')}), {target.name} takes "
        f"{required} {pair.parameter} ({parameter_schema.get('type', 'any')}): {kind} match, "
        f"descriptions overlap {overlap:.2f}"
    )
    return round(min(score, 1.0), 3), reason


class DependencyJudge(Protocol):
    """Decides which candidates follow a target, and whether an edge is nested."""

    name: str

    async def related(self, target: FunctionSpec, candidates: Sequence[FunctionSpec]) -> list[Edge]:
        """Edges target -> candidate for the related candidates."""
        ...

    async def nested(self, source: FunctionSpec, target: FunctionSpec) -> tuple[bool, str]:
        """Whether target takes a required value from source's output that a user would not state."""
        ...


class SchemaJudge:
    """The offline judge: response-schema fields matched to parameters by name, type and description."""

    name = "schema"

    def __init__(self, min_score: float = 0.5):
        self.min_score = min_score

    async def related(self, target: FunctionSpec, candidates: Sequence[FunctionSpec]) -> list[Edge]:
        edges = []
        for candidate in candidates:
            best: tuple[float, str] | None = None
            for pair in chaining_pairs([target, candidate]):
                if pair.source != target.name:
                    continue
                scored = score_pair(target, candidate, pair)
                if best is None or scored[0] > best[0]:
                    best = scored
            if best is not None and best[0] >= self.min_score:
                edges.append(Edge(target.name, candidate.name, self.name, best[0], best[1]))
        return edges

    async def nested(self, source: FunctionSpec, target: FunctionSpec) -> tuple[bool, str]:
        for pair in chaining_pairs([source, target]):
            if pair.source == source.name and pair.through_identifier and pair.parameter in target.required:
                return True, f"{target.name}'s required {pair.parameter} is the {pair.field} in {source.name}'s output"
        return False, f"no required parameter of {target.name} is an identifier from {source.name}'s output"


class LLMJudge:
    """The paper's judge: the dependency prompt for edges and the check-nested prompt, through a teacher."""

    def __init__(self, teacher: Teacher, max_attempts: int = 3):
        self.teacher = teacher
        self.max_attempts = max_attempts
        self.name = f"llm:{teacher.name}"
        self.dropped: list[tuple[str, str]] = []  # (target, name) the judge gave that was not a candidate

    async def related(self, target: FunctionSpec, candidates: Sequence[FunctionSpec]) -> list[Edge]:
        if not candidates:
            return []
        result = await run_step(
            self.teacher, DEPENDENCY, DependencyInputs(target, tuple(candidates)), max_attempts=self.max_attempts
        )
        if result.value.dropped:
            logger.info("%s: the judge named non-candidates %s (dropped)", target.name, list(result.value.dropped))
            self.dropped += [(target.name, name) for name in result.value.dropped]
        return [
            Edge(target.name, name, self.name, 1.0, f"{self.teacher.name} judged {name} related to {target.name}")
            for name in result.value.names
        ]

    async def nested(self, source: FunctionSpec, target: FunctionSpec) -> tuple[bool, str]:
        result = await run_step(self.teacher, NESTED, NestedInputs(source, target), max_attempts=self.max_attempts)
        return result.value.yes, result.value.reason


# ---------------------------------------------------------------------------------------------------------------
# The graph
# ---------------------------------------------------------------------------------------------------------------


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
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        graph = self.graph
        if focus is not None:
            if focus not in graph:
                raise MagnetError(f"function {focus!r} is not in the graph")
            graph = nx.ego_graph(graph, focus, radius=radius, undirected=True)
        categories = sorted({self.spec(n).category or "misc" for n in graph})
        palette = plt.get_cmap("tab20")
        colours = [
            "crimson" if n == focus else palette(categories.index(self.spec(n).category or "misc") % 20) for n in graph
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
            else f"function graph: {len(graph)} functions, "
            f"{graph.number_of_edges()} edges ({len(nested)} nested, solid)"
        )
        axes.axis("off")
        out = Path(path)
        figure.savefig(out, dpi=120, bbox_inches="tight")
        plt.close(figure)
        return out


async def label_missing(
    specs: Sequence[FunctionSpec], teacher: Teacher, max_concurrency: int = 16
) -> list[FunctionSpec]:
    """Give functions without a category or tool class the teacher's labels (the paper's labelling step).

    A function the teacher cannot label (no usable answer, or the request failed for good) keeps what it has and
    gets category ``FALLBACK_CATEGORY`` and tool class ``UNLABELLED_CLASS`` for what it lacks, with a warning
    naming it; one more warning counts them all. ``FunctionGraph.stats().unlabelled`` lists them later.

    Example:
        >>> from magnet.synthesis.offline import OfflineTeacher
        >>> bare = FunctionSpec("get_weather", "Weather in a city.")
        >>> [(s.category, s.tool_class) for s in asyncio.run(label_missing([bare], OfflineTeacher()))]
        [('Weather', 'Weather tool')]
    """
    semaphore = asyncio.Semaphore(max_concurrency)
    failed: list[str] = []

    async def label(spec: FunctionSpec) -> FunctionSpec:
        if spec.category and spec.tool_class:
            return spec
        async with semaphore:
            try:
                result = await run_step(teacher, LABEL, LabelInputs(spec))
            except (StepError, TeacherError) as error:
                logger.warning(
                    "could not label function %r (%s); it gets category %r, tool class %r",
                    spec.name,
                    error,
                    spec.category or FALLBACK_CATEGORY,
                    spec.tool_class or UNLABELLED_CLASS,
                )
                failed.append(spec.name)
                return dataclasses.replace(
                    spec,
                    category=spec.category or FALLBACK_CATEGORY,
                    tool_class=spec.tool_class or UNLABELLED_CLASS,
                )
        return dataclasses.replace(spec, category=result.value.category, tool_class=result.value.tool_class)

    labelled = list(await asyncio.gather(*(label(spec) for spec in specs)))
    if failed:
        logger.warning(
            "%d of %d functions could not be labelled (e.g. %s); see the warnings above",
            len(failed),
            len(specs),
            sorted(failed)[:5],
        )
    return labelled


async def build_graph(
    specs: Sequence[FunctionSpec],
    judge: DependencyJudge,
    config: GraphConfig = GraphConfig(),
    *,
    teacher: Teacher | None = None,
    progress: bool = True,
) -> FunctionGraph:
    """Build the function graph of a pool.

    Functions without category or tool class are labelled by ``teacher`` first (an error without one; a function
    it cannot label gets the fallback labels of ``label_missing``, a warning, and a place in
    ``stats().unlabelled``). Then every function is judged against its candidates, and every edge for
    nestedness. A target whose judgement fails (the teacher gave up) gets no edges; that is logged in the edges'
    absence, not fatal.
    """
    specs = list(specs)
    names = [spec.name for spec in specs]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise MagnetError(f"the pool has duplicate function names {duplicates}")
    unlabelled = [spec.name for spec in specs if not (spec.category and spec.tool_class)]
    if unlabelled:
        if teacher is None:
            raise MagnetError(
                f"{len(unlabelled)} functions have no category/tool class (e.g. {unlabelled[:3]}); "
                "pass a teacher to label them"
            )
        specs = await label_missing(specs, teacher, config.max_concurrency)
    by_name = {spec.name: spec for spec in specs}
    candidates = sample_candidates(specs, config)
    semaphore = asyncio.Semaphore(config.max_concurrency)
    bar = tqdm(total=len(specs), desc=f"graph ({judge.name})", unit="fn", disable=not progress)

    async def judge_target(spec: FunctionSpec) -> list[Edge]:
        async with semaphore:
            try:
                edges = await judge.related(spec, [by_name[n] for n in candidates[spec.name]])
            except (StepError, TeacherError):
                edges = []
        judged = []
        for edge in edges:
            async with semaphore:
                try:
                    nested, reason = await judge.nested(spec, by_name[edge.target])
                except (StepError, TeacherError) as error:
                    nested, reason = False, f"not judged: {error}"
            judged.append(dataclasses.replace(edge, nested=nested, nested_reason=reason))
        bar.update()
        return judged

    dropped_before = len(getattr(judge, "dropped", []))
    try:
        results = await asyncio.gather(*(judge_target(spec) for spec in specs))
    finally:
        bar.close()
    dropped = getattr(judge, "dropped", [])[dropped_before:]
    if dropped:
        logger.warning(
            "the dependency judge named %d functions that were not among the candidates (dropped; e.g. %s -> %s)",
            len(dropped),
            *dropped[0],
        )
    return FunctionGraph.from_edges(specs, [edge for edges in results for edge in edges])
