"""The judges of the function graph: which candidates follow a function, and whether an edge is nested.

``SchemaJudge`` decides offline (response fields matched to parameters by name, type and description);
``LLMJudge`` asks a teacher the paper's dependency and check-nested prompts. Kept apart from the graph, which
only stores their judgements, and from the building, which only schedules them.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from magnet.llm.client import Teacher
from magnet.synthesis.graph_model import Edge
from magnet.synthesis.steps import DEPENDENCY, NESTED, DependencyInputs, NestedInputs, run_step
from magnet.tools.pool import ChainPair, chaining_pairs
from magnet.tools.spec import FunctionSpec

# Logged under the graph module's name, as before the graph was split into modules (filters and tests use it).
logger = logging.getLogger("magnet.synthesis.graph")
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
