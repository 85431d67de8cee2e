"""Insert's nested calls during translation: which calls of a turn take a value from an earlier call's output
(the path's ``insert``/``insert_later`` operations, with the parameters the graph's schemas match), and whether
the value the call took came from that output and stayed out of the user's query.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from magnet.synthesis.graph import FunctionGraph
from magnet.synthesis.paths import SignaturePath
from magnet.synthesis.steps import NestedLink
from magnet.tools.calls import FunctionCall
from magnet.tools.executor import CallResult
from magnet.tools.pool import chaining_pairs


def nested_links(path: SignaturePath, graph: FunctionGraph, index: int) -> tuple[NestedLink, ...]:
    """The Insert links whose target is a function of turn ``index``: ``insert:f>g`` where f comes before g in the
    same turn, or ``insert_later:f>g@k`` where the turn is g alone and f is in an earlier turn. The parameters are
    g's required ones that the graph's schemas match to an id in f's output (else to another identifier such as an
    email, else to any field; none when only a model judged the edge)."""
    turn = path.turns[index]
    links = []
    for op in path.ops:
        kind, _, rest = op.partition(":")
        if kind not in ("insert", "insert_later") or ">" not in rest:
            continue
        source, target = rest.split("@", 1)[0].split(">", 1)
        if kind == "insert":
            found = target in turn and source in turn[: turn.index(target)]
        else:
            found = turn == (target,) and any(source in earlier for earlier in path.turns[:index])
        if not found or source not in graph.graph or target not in graph.graph:
            continue
        target_spec = graph.spec(target)
        pairs = [
            pair
            for pair in chaining_pairs([graph.spec(source), target_spec])
            if pair.source == source and pair.target == target and pair.parameter in target_spec.required
        ]
        # The value that makes the call nested is an identifier the source returns (as the schema judge decides);
        # a shared generic name (a date, an address) may be stated.
        strongest = (
            [pair for pair in pairs if pair.field == "id" or pair.field.endswith("_id")]
            or [pair for pair in pairs if pair.through_identifier]
            or pairs
        )
        parameters = tuple(dict.fromkeys(pair.parameter for pair in strongest))
        links.append(NestedLink(source, target, parameters, same_turn=kind == "insert"))
    return tuple(links)


def nested_values(link: NestedLink, call: FunctionCall, source: CallResult | None) -> tuple[dict[str, Any], bool]:
    """The arguments of ``call`` (the link's target) whose values the source call's output holds, and whether they
    are echoes: values the source was given and returned (an id the user named for the source, which the target
    reuses without the user saying it again), rather than values only the source's output produced."""
    if source is None:
        return {}, False
    given = set(map(json.dumps, source.call.arguments.values()))
    values = {
        name: value
        for name, value in call.arguments.items()
        if (not link.parameters or name in link.parameters) and occurs(value, source.content)
    }
    produced = {name: value for name, value in values.items() if json.dumps(value) not in given}
    return (produced, False) if produced else (values, bool(values))


def occurs(value: Any, text: str) -> bool:
    """Whether a scalar value appears in a text as a whole token (values under 3 characters never count: "2" is in
    too many texts to say anything)."""
    if isinstance(value, bool) or value is None or isinstance(value, Mapping | list):
        return False
    needle = value if isinstance(value, str) else json.dumps(value)
    if len(needle) < 3:
        return False
    return re.search(rf"(?<![\w-]){re.escape(needle)}(?![\w-])", text) is not None
