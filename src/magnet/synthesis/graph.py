"""The function graph: which functions can follow which (section 3.2 of the paper).

For each function, up to 30 candidates are drawn from functions of the same category and tool class (the same
category when the class is too small). A judge decides, for each candidate g of a target f, whether f's output
is a premise of g, equals g's input or is part of g's input; each such pair becomes an edge f -> g that keeps the
judge, its score and its reason. Edges are also judged *nested* (a required parameter of g comes from f's
output, so a user would not state it), which the Insert operation reads.

Two judges: ``schema`` (offline: response fields matched to parameters by name, type and description) and
``llm`` (the paper's dependency and check-nested prompts through a ``Teacher``, cached like every request).
The graph is data (a ``networkx.DiGraph`` with the specs on its nodes); sampling and operations are functions.

This module gathers the graph's parts under one name: the graph as data (``magnet.synthesis.graph_model``), the
judges (``graph_judges``), the building (``graph_building``) and the drawing (``graph_drawing``).

Example:
    >>> import asyncio
    >>> from magnet.tools.builtin import BUILTIN_TOOLKITS
    >>> specs = [spec for toolkit in BUILTIN_TOOLKITS for spec in toolkit.specs()]
    >>> graph = asyncio.run(build_graph(specs, SchemaJudge(), progress=False))
    >>> graph.edge("create_event", "set_reminder").nested
    True
"""

from __future__ import annotations

from magnet.synthesis.graph_building import (
    GraphConfig,
    Labelling,
    build_graph,
    label_functions,
    label_missing,
    sample_candidates,
)
from magnet.synthesis.graph_judges import (
    GENERIC_NAMES,
    DependencyJudge,
    LLMJudge,
    SchemaJudge,
    description_overlap,
    score_pair,
)
from magnet.synthesis.graph_model import (
    FALLBACK_CATEGORY,
    GRAPH_FORMAT,
    UNLABELLED_CLASS,
    Edge,
    FunctionGraph,
    GraphStats,
)

__all__ = [
    "FALLBACK_CATEGORY",
    "GENERIC_NAMES",
    "GRAPH_FORMAT",
    "UNLABELLED_CLASS",
    "DependencyJudge",
    "Edge",
    "FunctionGraph",
    "GraphConfig",
    "GraphStats",
    "LLMJudge",
    "Labelling",
    "SchemaJudge",
    "build_graph",
    "description_overlap",
    "label_functions",
    "label_missing",
    "sample_candidates",
    "score_pair",
]
