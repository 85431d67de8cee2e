"""The function pool as a whole: which toolkits it holds, how their functions chain, and whether it is fit
for training.

A *chaining pair* (f, g) is a pair of functions where a field of f's response can be passed as a parameter of
g: same name (or g's parameter ends with ``_<field>``, as ``from_account_id`` takes an ``account_id``; a bare
``id`` field matches only an ``id`` parameter) and a compatible JSON type. This is the cheap, offline signal
that the function graph's schema judge refines; counting the pairs tells whether a pool can yield multi-turn
paths at all.
"""

from __future__ import annotations

import importlib
import logging
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from magnet.errors import ToolkitError
from magnet.tools.spec import FunctionSpec
from magnet.tools.toolkit import Toolkit

logger = logging.getLogger(__name__)


IDENTIFIER_FIELDS = ("email",)


@dataclass(frozen=True)
class ChainPair:
    """f's response field ``field`` can feed g's parameter ``parameter``."""

    source: str
    target: str
    field: str
    parameter: str

    @property
    def through_identifier(self) -> bool:
        """True when the shared value identifies a record (``*_id``, ``id``, ``email``): the strongest chains,
        unlike generic names such as ``title`` or ``date`` that match whether or not the functions relate."""
        return self.field == "id" or self.field.endswith("_id") or self.field in IDENTIFIER_FIELDS


def response_fields(schema: Mapping[str, Any] | None) -> Iterator[tuple[str, str | None]]:
    """``(field name, JSON type)`` of every named field in a response schema, arrays of objects included."""
    if not isinstance(schema, Mapping):
        return
    if schema.get("type") == "array" and isinstance(schema.get("items"), Mapping):
        yield from response_fields(schema["items"])
        return
    for name, child in (schema.get("properties") or {}).items():
        if not isinstance(child, Mapping):
            continue
        kind = child.get("type")
        if kind == "array" and isinstance(child.get("items"), Mapping):
            item_kind = child["items"].get("type")
            if item_kind == "object":
                yield from response_fields(child["items"])
            yield name, "array"
            if item_kind not in (None, "object"):
                yield name, item_kind  # a list of ids feeds a parameter taking one id
        elif kind == "object":
            yield name, "object"
            yield from response_fields(child)
        else:
            yield name, kind if isinstance(kind, str) else None


def _compatible(field_type: str | None, parameter_type: Any) -> bool:
    if field_type is None or parameter_type is None:
        return True
    numeric = {"integer", "number"}
    if field_type in numeric and parameter_type in numeric:
        return True
    return field_type == parameter_type


def chaining_pairs(specs: Iterable[FunctionSpec]) -> list[ChainPair]:
    """Every (f, g, field, parameter) where f's output can be g's input by name and type (f != g).

    Example:
        >>> from magnet.tools.builtin import Calendar
        >>> pairs = chaining_pairs(Calendar.specs())
        >>> any(p.source == "create_event" and p.target == "set_reminder" for p in pairs)
        True
    """
    specs = list(specs)
    pairs: list[ChainPair] = []
    for source in specs:
        fields = dict.fromkeys(response_fields(source.response))
        for target in specs:
            if target.name == source.name:
                continue
            for parameter, schema in target.properties.items():
                parameter_type = schema.get("type") if isinstance(schema, Mapping) else None
                for field_name, field_type in fields:
                    # A bare "id" says nothing about what it identifies: it matches only a parameter "id".
                    named = parameter == field_name or (field_name != "id" and parameter.endswith(f"_{field_name}"))
                    if named and _compatible(field_type, parameter_type):
                        pairs.append(ChainPair(source.name, target.name, field_name, parameter))
                        break
    return pairs


def cross_toolkit_examples(specs: Iterable[FunctionSpec]) -> list[ChainPair]:
    """One chain through an identifier per (source toolkit, target toolkit) pair of different toolkits: the
    informative examples of how a pool's toolkits connect."""
    specs = list(specs)
    owner = {spec.name: spec.toolkit for spec in specs}
    examples: dict[tuple[str | None, str | None], ChainPair] = {}
    for pair in chaining_pairs(specs):
        key = (owner[pair.source], owner[pair.target])
        if pair.through_identifier and key[0] != key[1]:
            examples.setdefault(key, pair)
    return list(examples.values())


@dataclass(frozen=True)
class PoolStats:
    """Size and connectivity of a pool."""

    toolkits: int
    functions: int
    categories: dict[str, int]
    chaining_pairs: int
    chaining_function_pairs: int
    cross_toolkit_pairs: int
    functions_with_successor: int
    functions_with_predecessor: int
    identifier_function_pairs: int
    identifier_cross_toolkit_pairs: int

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for JSON output."""
        return dict(vars(self))


def pool_stats(toolkit_classes: Iterable[type[Toolkit]]) -> PoolStats:
    """Counts of toolkits, functions, categories and chaining pairs (see ``chaining_pairs``)."""
    classes = list(toolkit_classes)
    specs = [spec for klass in classes for spec in klass.specs()]
    owner = {spec.name: spec.toolkit for spec in specs}
    pairs = chaining_pairs(specs)
    function_pairs = {(pair.source, pair.target) for pair in pairs}
    identifier_pairs = {(pair.source, pair.target) for pair in pairs if pair.through_identifier}
    return PoolStats(
        toolkits=len(classes),
        functions=len(specs),
        categories=dict(Counter(spec.category or "misc" for spec in specs)),
        chaining_pairs=len(pairs),
        chaining_function_pairs=len(function_pairs),
        cross_toolkit_pairs=len({(s, t) for s, t in function_pairs if owner[s] != owner[t]}),
        functions_with_successor=len({s for s, _ in function_pairs}),
        functions_with_predecessor=len({t for _, t in function_pairs}),
        identifier_function_pairs=len(identifier_pairs),
        identifier_cross_toolkit_pairs=len({(s, t) for s, t in identifier_pairs if owner[s] != owner[t]}),
    )


def check_training_pool(toolkit_classes: Iterable[type[Toolkit]], *, allow_evaluation_toolkits: bool = False) -> None:
    """Refuse evaluation-only toolkits (BFCL's classes) in a training pool unless explicitly allowed.

    Raises ``ToolkitError`` naming them; when allowed, logs a contamination warning instead.
    """
    flagged = [klass.toolkit_name() for klass in toolkit_classes if getattr(klass, "evaluation_only", False)]
    if not flagged:
        return
    if not allow_evaluation_toolkits:
        raise ToolkitError(
            f"toolkit(s) {flagged} are the evaluation pool (BFCL); training on them contaminates BFCL scores. "
            "Load them with for_training=True (or pass allow_evaluation_toolkits=True) to opt in."
        )
    logger.warning("training pool includes evaluation toolkit(s) %s: BFCL scores will be contaminated", flagged)


def import_toolkit(reference: str) -> type[Toolkit]:
    """The ``Toolkit`` subclass ``reference`` names (``package.module:ClassName``): how a user's own Python tools
    join a pool from the command line or a YAML config."""
    module_name, sep, class_name = reference.strip().partition(":")
    if not sep or not module_name or not class_name:
        raise ToolkitError(f"toolkit {reference!r}: expected package.module:ClassName")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ToolkitError(f"toolkit {reference!r}: cannot import {module_name} ({error})") from None
    klass = getattr(module, class_name, None)
    if not (isinstance(klass, type) and issubclass(klass, Toolkit)):
        raise ToolkitError(f"toolkit {reference!r}: {module_name} has no Toolkit subclass named {class_name}")
    return klass


def _pool_entries(pool: str | Sequence[str]) -> list[str]:
    entries = [pool] if isinstance(pool, str) else list(pool)
    return [part.strip() for entry in entries for part in entry.split(",") if part.strip()]


def pool_toolkits(pool: str | Sequence[str], *, allow_bfcl: bool = False) -> list[type[Toolkit]]:
    """The executable toolkit classes of a pool: ``builtin``, ``bfcl`` (training use needs ``allow_bfcl``),
    ``package.module:ClassName`` entries (comma-separated or a list, mixed with ``builtin`` if wished); a spec
    file or folder has none (its functions are simulated by the teacher)."""
    classes: list[type[Toolkit]] = []
    for entry in _pool_entries(pool):
        if entry == "builtin":
            from magnet.tools.builtin import BUILTIN_TOOLKITS

            classes.extend(BUILTIN_TOOLKITS)
        elif entry == "bfcl":
            from magnet.tools.bfcl import bfcl_toolkits

            found = bfcl_toolkits(for_training=allow_bfcl)
            check_training_pool(found, allow_evaluation_toolkits=allow_bfcl)
            classes.extend(found)
        elif ":" in entry and not Path(entry).exists():
            classes.append(import_toolkit(entry))
    names = Counter(klass.toolkit_name() for klass in classes)
    clashes = sorted(name for name, count in names.items() if count > 1)
    if clashes:
        raise ToolkitError(f"pool {pool!r}: toolkit name(s) {clashes} appear twice")
    return classes


def pool_specs(
    pool: str | Sequence[str], *, allow_bfcl: bool = False, toolkits: Sequence[type[Toolkit]] | None = None
) -> list[FunctionSpec]:
    """The specs of a pool: ``builtin``, ``bfcl`` (the evaluation pool: training use needs ``allow_bfcl``,
    logged as contamination), ``package.module:ClassName`` toolkits, an OpenAI tools JSON file, or a
    StableToolBench folder; several entries comma-separated (or a list) are one pool. ``toolkits``: the pool's
    classes when the caller has resolved them already (``pool_toolkits``)."""
    from magnet.tools.spec import load_openai_tools, load_stabletoolbench

    classes = toolkits if toolkits is not None else pool_toolkits(pool, allow_bfcl=allow_bfcl)
    specs = [spec for klass in classes for spec in klass.specs()]
    for entry in _pool_entries(pool):
        if entry in ("builtin", "bfcl") or (":" in entry and not Path(entry).exists()):
            continue
        path = Path(entry)
        specs.extend(load_stabletoolbench(path) if path.is_dir() else load_openai_tools(path))
    return specs
