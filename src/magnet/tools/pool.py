"""The function pool as a whole: which toolkits it holds, how their functions chain, and whether it is fit
for training.

A *chaining pair* (f, g) is a pair of functions where a field of f's response can be passed as a parameter of
g: same name (or g's parameter ends with ``_<field>``, as ``from_account_id`` takes an ``account_id``; a bare
``id`` field matches only an ``id`` parameter) and a compatible JSON type. This is the cheap, offline signal
that the function graph's schema judge refines; counting the pairs tells whether a pool can yield multi-turn
paths at all.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import logging
import sys
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from magnet.errors import ToolkitError
from magnet.tools.mcp_entry import is_mcp_entry, parse_mcp_entry
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


POOL_ENTRIES = (
    "builtin, bfcl, package.module:ClassName or path/to/file.py:ClassName (a Toolkit subclass), an OpenAI tools "
    "JSON file, a StableToolBench folder, or mcp:<command line or URL> (an MCP server)"
)
"""What a pool entry can be (error messages list it)."""


def _module_of(module_name: str, reference: str) -> ModuleType:
    """The module a toolkit reference names: a file (``tools/trip.py``), or a module importable as it is or from
    the current folder (where ``python -c "import my_tools"`` would find it; the ``magnet`` command's own path
    does not hold that folder)."""
    if module_name.endswith(".py"):
        path = Path(module_name).resolve()
        if not path.is_file():
            raise ToolkitError(f"toolkit {reference!r}: no such file {module_name}")
        name = f"magnet_user_toolkits.{path.stem}_{hashlib.sha256(str(path).encode()).hexdigest()[:8]}"
        if name not in sys.modules:
            spec = importlib.util.spec_from_file_location(name, path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module  # inspect.getsource (the pool's digest) finds the class's source through it
            try:
                spec.loader.exec_module(module)
            except Exception as error:
                del sys.modules[name]
                raise ToolkitError(f"toolkit {reference!r}: {module_name} fails to load ({error})") from None
        return sys.modules[name]
    here = str(Path.cwd())
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name != module_name.split(".")[0] or here in sys.path:
            raise ToolkitError(f"toolkit {reference!r}: cannot import {module_name} ({error})") from None
    except Exception as error:  # the module is there but fails to load (a syntax error, its own import)
        raise ToolkitError(f"toolkit {reference!r}: {module_name} fails to load ({error})") from None
    sys.path.append(here)  # after everything else: the current folder never shadows an installed module
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as again:
        if again.name == module_name.split(".")[0]:
            raise ToolkitError(
                f"toolkit {reference!r}: cannot import {module_name}: not installed, and not in the current folder "
                f"{here} either (give path/to/file.py:ClassName, or set PYTHONPATH)"
            ) from None
        raise ToolkitError(f"toolkit {reference!r}: {module_name} fails to load ({again})") from None
    except Exception as error:
        raise ToolkitError(f"toolkit {reference!r}: {module_name} fails to load ({error})") from None


def import_toolkit(reference: str) -> type[Toolkit]:
    """The ``Toolkit`` subclass ``reference`` names (``package.module:ClassName`` or ``path/to/file.py:ClassName``):
    how a user's own Python tools join a pool from the command line or a YAML config."""
    module_name, sep, class_name = reference.strip().rpartition(":")
    if not sep or not module_name or not class_name:
        raise ToolkitError(f"toolkit {reference!r}: expected package.module:ClassName or path/to/file.py:ClassName")
    module = _module_of(module_name, reference)
    klass = getattr(module, class_name, None)
    if not (isinstance(klass, type) and issubclass(klass, Toolkit)):
        found = sorted(
            n
            for n, v in vars(module).items()
            if isinstance(v, type) and issubclass(v, Toolkit) and v.__module__ == module.__name__
        )
        shadowed = Path(f"{module_name.replace('.', '/')}.py")
        hint = (
            f"; {module.__file__} was imported, not ./{shadowed} (an installed module of that name comes first: "
            f"give {shadowed}:{class_name})"
            if shadowed.is_file() and Path(getattr(module, "__file__", "") or "").resolve() != shadowed.resolve()
            else ""
        )
        raise ToolkitError(
            f"toolkit {reference!r}: {module_name} has no Toolkit subclass named {class_name}"
            + (f"; it has {found}" if found else "")
            + hint
        )
    return klass


def _is_toolkit_reference(entry: str) -> bool:
    return ":" in entry and not Path(entry).exists() and not is_mcp_entry(entry)


def pool_entries(pool: str | Sequence[str]) -> list[str]:
    """The entries of a pool setting (comma-joined or a list; an ``mcp:`` item of a list is one entry, commas
    and all); an entry that is none of ``POOL_ENTRIES`` is an error naming it and what an entry can be."""
    entries = [pool] if isinstance(pool, str) else list(pool)
    parts = [
        part.strip()
        for entry in entries
        for part in ([entry] if not isinstance(pool, str) and is_mcp_entry(entry) else entry.split(","))
        if part.strip()
    ]
    for part in parts:
        if is_mcp_entry(part):
            continue
        if part not in ("builtin", "bfcl") and not _is_toolkit_reference(part) and not Path(part).exists():
            raise ToolkitError(f"pool entry {part!r}: no such file or folder; a pool entry is {POOL_ENTRIES}")
    return parts


def url_mcp_servers(pool: str | Sequence[str], toolkits: Sequence[type[Toolkit]] = ()) -> list[str]:
    """The names of a pool's MCP servers reached by URL (read from the entries, so no server is started; or from
    ``toolkits`` when given): servers whose one state several processes would share."""
    if toolkits:
        servers = [getattr(klass, "mcp_server", None) for klass in toolkits]
    else:
        servers = [parse_mcp_entry(entry) for entry in pool_entries(pool) if is_mcp_entry(entry)]
    return [server.name for server in servers if server is not None and server.url is not None]


def pool_toolkits(pool: str | Sequence[str], *, allow_bfcl: bool = False) -> list[type[Toolkit]]:
    """The executable toolkit classes of a pool: ``builtin``, ``bfcl`` (training use needs ``allow_bfcl``),
    ``package.module:ClassName`` entries and ``mcp:`` servers (``magnet.tools.mcp``: started here to list their
    tools), comma-separated or a list, mixed with ``builtin`` if wished; a spec file or folder has none (its
    functions are simulated by the teacher)."""
    classes: list[type[Toolkit]] = []
    for entry in pool_entries(pool):
        if entry == "builtin":
            from magnet.tools.builtin import BUILTIN_TOOLKITS

            classes.extend(BUILTIN_TOOLKITS)
        elif entry == "bfcl":
            from magnet.tools.bfcl import bfcl_toolkits

            found = bfcl_toolkits(for_training=allow_bfcl)
            check_training_pool(found, allow_evaluation_toolkits=allow_bfcl)
            classes.extend(found)
        elif _is_toolkit_reference(entry):
            classes.append(import_toolkit(entry))
        elif is_mcp_entry(entry):
            from magnet.tools.mcp import mcp_toolkit_class

            classes.append(mcp_toolkit_class(entry))
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
    for entry in pool_entries(pool):
        if entry in ("builtin", "bfcl") or _is_toolkit_reference(entry) or is_mcp_entry(entry):
            continue
        path = Path(entry)
        specs.extend(load_stabletoolbench(path) if path.is_dir() else load_openai_tools(path))
    return specs
