"""JSON-Schema checks in one place, on ``jsonschema``: does a value fit a schema, does a call fit its function's
parameters, is a schema one Magnet can use.

Values are checked against the keywords Magnet has always read (``type``, ``enum``, and ``items`` and
``properties`` when they are schemas), not against every keyword of the schema: checking ``required`` deep down,
``minimum``, ``pattern`` and the rest would refuse calls and outputs that earlier datasets kept, and a dataset must
come out the same from the same seed. Two readings are Python's, not the JSON Schema spec's: a tuple is an array (a
tool may return one) and ``1.0`` is not an integer (an ``int`` parameter would not take it); a bool is neither an
integer nor a number, as in the spec, and in an ``enum`` it equals no number (``True`` is not one of ``[1]``). A
``type`` name Magnet does not know constrains nothing.

Messages are Magnet's own, not jsonschema's: they reach models (error results, retry prompts) and rejection
reasons, so they say where the problem sits (``argument 'stops'[2].city``) and what was expected.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from jsonschema import Draft202012Validator, TypeChecker, ValidationError, validators

if TYPE_CHECKING:  # only for annotations: the spec module imports this one
    from magnet.tools.calls import FunctionCall
    from magnet.tools.function_spec import FunctionSpec

JSON_TYPES = ("string", "integer", "number", "boolean", "array", "object", "null")

# Python type names (BFCL's func docs use them) that people write where JSON Schema wants its own.
BFCL_TYPE_MAP = {
    "dict": "object",
    "float": "number",
    "tuple": "array",
    "list": "array",
    "int": "integer",
    "str": "string",
    "bool": "boolean",
    "String": "string",
}

_KIND_TESTS: dict[str, Callable[[Any], bool]] = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "array": lambda v: isinstance(v, list | tuple),
    "object": lambda v: isinstance(v, dict),
    "null": lambda v: v is None,
}


def _type_check(test: Callable[[Any], bool]) -> Callable[[Any, Any], bool]:
    """A ``TypeChecker`` entry (it is called with the checker first) from a test of the value alone."""
    return lambda _checker, value: test(value)


def _type(validator: Any, declared: Any, instance: Any, schema: Any) -> Iterator[ValidationError]:
    """The ``type`` keyword, where a name outside ``JSON_TYPES`` (``"any"``, a typo) accepts every value."""
    kinds = declared if isinstance(declared, list) else [declared]
    if not any(kind not in _KIND_TESTS or validator.is_type(instance, kind) for kind in kinds):
        yield ValidationError("type")


def _when_schema(keyword: Callable[..., Any]) -> Callable[..., Iterator[ValidationError]]:
    """A keyword read only when its value is a mapping (``items: [...]`` or ``items: false`` constrain nothing)."""

    def check(validator: Any, value: Any, instance: Any, schema: Any) -> Iterator[ValidationError]:
        if isinstance(value, Mapping):
            yield from keyword(validator, value, instance, schema)

    return check


_VALUE_KEYWORDS = {
    "type": _type,
    "enum": Draft202012Validator.VALIDATORS["enum"],
    "items": _when_schema(Draft202012Validator.VALIDATORS["items"]),
    "properties": _when_schema(Draft202012Validator.VALIDATORS["properties"]),
}
# Of several problems, the one reported is the one met first walking the value: a node's own type, then its enum,
# then its items or properties in the value's order.
_VALUE_RANK = {"type": 0, "enum": 1}
_ValueValidator = validators.create(
    meta_schema=Draft202012Validator.META_SCHEMA,
    validators=_VALUE_KEYWORDS,
    type_checker=TypeChecker({kind: _type_check(test) for kind, test in _KIND_TESTS.items()}),
)


def _place(error: ValidationError, value: Any, where: str) -> tuple[tuple[int, ...], str]:
    """Where an error sits in ``value``: a sort key (positions in the value's own order) and its text."""
    order: list[int] = []
    node = value
    for step in error.absolute_path:
        if isinstance(node, list | tuple):
            order.append(step)
            where += f"[{step}]"
        else:
            order.append(list(node).index(step))
            where += f".{step}"
        node = node[step]
    return (*order, -1, _VALUE_RANK.get(error.validator, 2)), where


def type_problem(value: Any, schema: Mapping[str, Any], where: str) -> str | None:
    """Why ``value`` does not fit ``schema`` (type, enum, array items, object properties), or None if it does.

    Example:
        >>> type_problem({"stops": ["Oslo", 3]}, {"properties": {"stops": {"items": {"type": "string"}}}}, "x")
        'x.stops[1]: expected string, got int 3'
    """
    errors = list(_ValueValidator(schema).iter_errors(value))
    if not errors:
        return None
    located = [(*_place(error, value, where), error) for error in errors]
    _order, place, error = min(located, key=lambda item: item[0])
    if error.validator == "enum":
        return f"{place}: {error.instance!r:.60} is not one of {error.validator_value}"
    declared = error.validator_value
    expected = " or ".join(declared if isinstance(declared, list) else [declared])
    return f"{place}: expected {expected}, got {type(error.instance).__name__} {error.instance!r:.60}"


def _required(validator: Any, names: Any, instance: Any, schema: Any) -> Iterator[ValidationError]:
    """The ``required`` keyword, with the missing names (in the schema's order) as the error's value."""
    if isinstance(instance, dict) and isinstance(names, list):
        missing = [name for name in names if name not in instance]
        if missing:
            yield ValidationError("required", validator_value=missing)


_REQUIRED_AT_ROOT = validators.create(meta_schema=Draft202012Validator.META_SCHEMA, validators={"required": _required})
_REQUIRED_EVERYWHERE = validators.create(
    meta_schema=Draft202012Validator.META_SCHEMA,
    validators={"required": _required, "items": _VALUE_KEYWORDS["items"], "properties": _VALUE_KEYWORDS["properties"]},
)


def output_problem(
    value: Any, schema: Mapping[str, Any], where: str, *, required_everywhere: bool = False
) -> str | None:
    """``type_problem``, then the keys ``required`` lists: at the top (a tool's output: nested objects are the
    tool's own business) or at every level (a value that must fit its schema fully).

    Example:
        >>> output_problem({"temp": 3}, {"required": ["temp", "unit"]}, "output")
        "output lacks required ['unit']"
    """
    problem = type_problem(value, schema, where)
    if problem:
        return problem
    checker = _REQUIRED_EVERYWHERE if required_everywhere else _REQUIRED_AT_ROOT
    errors = list(checker(schema).iter_errors(value))
    if not errors:
        return None
    _order, place, error = min(((*_place(e, value, where), e) for e in errors), key=lambda item: item[0])
    return f"{place} lacks required {error.validator_value}"


def argument_problems(call: FunctionCall, spec: FunctionSpec, *, check_types: bool = True) -> list[str]:
    """Missing required, unknown and mistyped arguments of a call against its spec.

    ``None`` is accepted for an optional parameter, as a Python ``x: T | None = None`` would. An argument the
    parameters do not name is an error whatever ``additionalProperties`` says: a function has its parameters.
    """
    problems = []
    missing = [name for name in spec.required if name not in call.arguments]
    if missing:
        problems.append(f"missing required argument(s) {missing}")
    properties = spec.properties
    for key, value in call.arguments.items():
        if key not in properties:
            problems.append(f"unexpected argument {key!r}; {call.name} takes {sorted(properties)}")
            continue
        if not check_types or (value is None and key not in spec.required):
            continue
        problem = type_problem(value, properties[key], f"argument {key!r}")
        if problem:
            problems.append(problem)
    return problems


# ---------------------------------------------------------------------------------------------------------------
# Schemas themselves
# ---------------------------------------------------------------------------------------------------------------


def _known_required(validator: Any, enabled: Any, node: Any, schema: Any) -> Iterator[ValidationError]:
    """Every name in a node's ``required`` list is one of its ``properties`` (no JSON Schema keyword says so)."""
    required = node.get("required") if isinstance(node, Mapping) else None
    if not enabled or not isinstance(required, list) or not all(isinstance(name, str) for name in required):
        return
    known = node.get("properties") if isinstance(node.get("properties"), Mapping) else {}
    for index, name in enumerate(required):
        if name not in known:
            yield ValidationError("required", path=["required", index], instance=name)


# What Magnet relies on in a schema it reads (``anyOf``, ``$ref`` and other keywords are taken as they are).
_SCHEMA_NODE: dict[str, Any] = {
    "type": "object",
    "knownRequired": True,
    "properties": {
        "type": {
            "if": {"type": "array"},
            "then": {"items": {"enum": list(JSON_TYPES)}},
            "else": {"enum": [*JSON_TYPES, None]},
        },
        "properties": {"type": "object", "additionalProperties": {"$ref": "#"}},
        "required": {"type": "array", "items": {"type": "string"}},
        "items": {"$ref": "#"},
        "enum": {"type": "array", "minItems": 1},
    },
}
# Problems of one node come in this order, each keyword's children right after it.
_SCHEMA_RANK = {"type": 0, "properties": 1, "required": 2, "items": 3, "enum": 4}
_SCHEMA_CHECK = validators.extend(
    Draft202012Validator,
    {"knownRequired": _known_required},
    # Any mapping is a schema object here, as a Python caller may pass one; arrays stay lists.
    type_checker=Draft202012Validator.TYPE_CHECKER.redefine("object", lambda _checker, v: isinstance(v, Mapping)),
)(_SCHEMA_NODE)


def _schema_problem(error: ValidationError, schema: Any, path: str) -> tuple[tuple[int, ...], str]:
    """Sort key and message of one problem ``_SCHEMA_CHECK`` found in ``schema`` (``path`` names its root)."""
    steps = list(error.absolute_path)
    order: list[int] = []
    node = schema
    while steps and steps[0] in ("properties", "items") and (steps[0] == "items" or len(steps) > 1):
        keyword = steps.pop(0)
        order.append(_SCHEMA_RANK[keyword])
        if keyword == "items":
            node, path = node["items"], f"{path}.items"
        else:
            child = steps.pop(0)
            order.append(list(node["properties"]).index(child))
            node, path = node["properties"][child], f"{path}.properties.{child}"
    if not steps:
        return tuple(order), f"{path}: expected a JSON Schema object, got {type(node).__name__} {node!r:.60}"
    keyword = steps[0]
    order.append(_SCHEMA_RANK[keyword])
    if keyword == "type":
        kind = error.instance
        hint = f" (did you mean {BFCL_TYPE_MAP[kind]!r}?)" if isinstance(kind, str) and kind in BFCL_TYPE_MAP else ""
        message = f"{path}.type: {kind!r} is not a JSON Schema type{hint}; use one of {JSON_TYPES}"
        order += steps[1:]
    elif keyword == "properties":
        message = f"{path}.properties: expected an object, got {type(node['properties']).__name__}"
    elif keyword == "required" and error.validator == "knownRequired":
        message = f"{path}.required: {error.instance!r} is required but not in properties"
        order += steps[1:]
    elif keyword == "required":  # the same key and message for every bad entry: one problem for the whole list
        message = f"{path}.required: expected a list of parameter names, got {node['required']!r:.60}"
    else:
        message = f"{path}.enum: expected a non-empty list, got {node['enum']!r:.60}"
    return tuple(order), message


# Every row of a dataset repeats its tools' schemas, thousands of times; a schema found sound once (by its repr,
# which tells apart every difference the check sees) is not checked again. Bounded: cleared when full.
_SOUND_SCHEMAS: set[str] = set()
_SOUND_LIMIT = 4096


def validate_schema(schema: Any, path: str) -> list[str]:
    """Problems of one JSON Schema node and its children, each prefixed with its JSON path.

    Checks what Magnet relies on: ``type`` is a JSON type (or a list of them), ``properties`` maps names to
    schemas, ``required`` names existing properties, ``items`` is a schema, ``enum`` is a non-empty list.
    Schemas without ``type`` (``anyOf``, ``$ref``, "any value") are accepted as they are.
    """
    key = repr(schema)
    if key in _SOUND_SCHEMAS:
        return []
    found = sorted(_schema_problem(error, schema, path) for error in _SCHEMA_CHECK.iter_errors(schema))
    if not found:
        if len(_SOUND_SCHEMAS) >= _SOUND_LIMIT:
            _SOUND_SCHEMAS.clear()
        _SOUND_SCHEMAS.add(key)
    return [message for _order, message in dict.fromkeys(found)]
