"""Specs from Python callables: type hints and a Google-style docstring make the schema, ``SpecOverrides`` what
an author states instead.

``spec_from_callable`` reads one function or method; ``Toolkit.specs`` calls it for every function of a toolkit,
with the overrides its ``@function`` decorator recorded. Both take the keys of ``SpecOverrides``, declared once
here.
"""

from __future__ import annotations

import inspect
import re
import sys
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypedDict

from magnet.errors import SpecError
from magnet.tools.function_spec import FunctionSpec, spec_from_valid_dict, validate_spec_dict

if TYPE_CHECKING:  # Python 3.10 has no typing.Unpack; only type checkers read these annotations
    from typing_extensions import Unpack


class SpecOverrides(TypedDict, total=False):
    """What a function's author may state instead of what its hints and docstring say.

    Attributes:
        name: The function's name (else the Python name).
        description: What the model reads (else the docstring's summary).
        parameters: The parameters' JSON Schema (else built from the signature).
        response: The output's JSON Schema (else built from the return annotation).
        category: The paper's category (``Toolkit.specs`` defaults it to the toolkit's).
        tool_class: The paper's tool class (``Toolkit.specs`` defaults it to the toolkit's).
    """

    name: str | None
    description: str | None
    parameters: Mapping[str, Any] | None
    response: Mapping[str, Any] | None
    category: str | None
    tool_class: str | None


def check_overrides(overrides: Mapping[str, Any], caller: str) -> dict[str, Any]:
    """``overrides`` as a dict, or ``TypeError`` naming keys that are not ``SpecOverrides`` keys (a misspelt key
    would otherwise be dropped without a word)."""
    known = SpecOverrides.__optional_keys__
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise TypeError(f"{caller}() got unexpected keyword argument(s) {unknown}; it takes {sorted(known)}")
    return dict(overrides)


_SECTION = re.compile(r"^\s*(Args|Arguments|Parameters|Returns|Return|Raises|Yields|Attributes|Example|Examples):\s*$")
_ITEM = re.compile(r"^\s*(\*{0,2}[A-Za-z_][A-Za-z0-9_]*)\s*(\([^)]*\))?\s*:\s*(.*)$")


@dataclass(frozen=True)
class Docstring:
    """A Google-style docstring, split into what a spec needs."""

    summary: str
    params: Mapping[str, str]
    returns: str


def parse_docstring(text: str | None) -> Docstring:
    """Split a Google-style docstring into summary, ``Args:`` descriptions and the ``Returns:`` text.

    Example:
        >>> parse_docstring("Find a city.\\n\\nArgs:\\n    name: The city's name.\\n").params["name"]
        "The city's name."
    """
    lines = inspect.cleandoc(text or "").splitlines()
    summary_lines: list[str] = []
    params: dict[str, str] = {}
    returns: list[str] = []
    section = None
    current = None
    for line in lines:
        header = _SECTION.match(line)
        if header:
            section = header.group(1)
            current = None
            continue
        if section is None:
            summary_lines.append(line)
        elif section in ("Args", "Arguments", "Parameters", "Attributes"):
            item = _ITEM.match(line)
            indent = len(line) - len(line.lstrip())
            if item and indent <= 4:
                current = item.group(1).lstrip("*")
                params[current] = item.group(3).strip()
            elif current and line.strip():
                params[current] = (params[current] + " " + line.strip()).strip()
        elif section in ("Returns", "Return") and line.strip():
            returns.append(line.strip())
    summary = " ".join(" ".join(summary_lines).split())
    return Docstring(summary=summary, params=params, returns=" ".join(returns))


def _typeddict_descriptions(typed_dict: Any) -> dict[str, str]:
    """Field descriptions for a TypedDict: its own ``Attributes:`` section first, then those of the TypedDicts
    it extends, then those of any TypedDict in the same module documenting a field of the same name (before
    Python 3.12 a TypedDict does not record its bases, so an extended TypedDict is found that way)."""
    described: dict[str, str] = {}
    module = sys.modules.get(typed_dict.__module__)
    related = [base for base in getattr(typed_dict, "__orig_bases__", ()) if typing.is_typeddict(base)]
    related += [value for value in vars(module).values() if typing.is_typeddict(value)] if module else []
    for other in reversed(related):
        if other is not typed_dict:
            described.update(parse_docstring(other.__doc__).params)
    described.update(parse_docstring(typed_dict.__doc__).params)
    return described


def python_type_to_schema(annotation: Any, where: str) -> dict[str, Any]:
    """JSON Schema for a Python annotation: builtins, ``list[X]``, ``dict[str, X]``, ``Literal``, ``X | None``,
    ``TypedDict`` (object with its fields, described by the TypedDict's docstring ``Attributes:``)."""
    if annotation is inspect.Parameter.empty or annotation is Any:
        return {}
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        non_null = [arg for arg in args if arg is not type(None)]
        if len(non_null) == 1:
            return python_type_to_schema(non_null[0], where)
        return {"anyOf": [python_type_to_schema(arg, where) for arg in args]}
    if origin is typing.Literal:
        values = list(args)
        kinds = {type(value) for value in values}
        schema = {"enum": values}
        if len(kinds) == 1:
            schema = {**python_type_to_schema(kinds.pop(), where), "enum": values}
        return schema
    if origin in (list, tuple, set, frozenset) or annotation in (list, tuple, set):
        schema: dict[str, Any] = {"type": "array"}
        if args and args[0] is not Ellipsis:
            schema["items"] = python_type_to_schema(args[0], where)
        return schema
    if origin is dict or annotation is dict:
        schema = {"type": "object"}
        if len(args) == 2:
            schema["additionalProperties"] = python_type_to_schema(args[1], where)
        return schema
    if typing.is_typeddict(annotation):
        hints = typing.get_type_hints(annotation)
        described = _typeddict_descriptions(annotation)
        properties = {}
        for key, hint in hints.items():
            properties[key] = python_type_to_schema(hint, where)
            if key in described:
                properties[key]["description"] = described[key]
        required = [key for key in hints if key in annotation.__required_keys__]
        return {"type": "object", "properties": properties, "required": required}
    simple = {str: "string", int: "integer", float: "number", bool: "boolean", type(None): "null"}
    if annotation in simple:
        return {"type": simple[annotation]}
    raise SpecError(f"{where}: cannot express the annotation {annotation!r} as JSON Schema")


def _parameters_schema(function: Callable[..., Any], hints: Mapping[str, Any], doc: Docstring, where: str) -> dict:
    """The parameters' schema from the signature: a parameter without a default is required, a default other than
    ``None`` is recorded, a docstring ``Args:`` entry becomes its description."""
    properties: dict[str, Any] = {}
    required: list[str] = []
    for parameter in inspect.signature(function).parameters.values():
        if parameter.name == "self" or parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        schema = python_type_to_schema(hints.get(parameter.name, inspect.Parameter.empty), f"{where}.{parameter.name}")
        if parameter.name in doc.params:
            schema["description"] = doc.params[parameter.name]
        if parameter.default is inspect.Parameter.empty:
            required.append(parameter.name)
        elif parameter.default is not None:
            schema["default"] = parameter.default
        properties[parameter.name] = schema
    return {"type": "object", "properties": properties, "required": required}


def spec_from_callable(
    function: Callable[..., Any], *, toolkit: str | None = None, **overrides: Unpack[SpecOverrides]
) -> FunctionSpec:
    """A spec from a Python function or method: type hints and Google-style docstring, or explicit schemas.

    Parameters without a default are required; defaults are recorded in the schema. The return annotation
    (typically a ``TypedDict``) becomes the response schema. ``overrides`` (the keys of ``SpecOverrides``) win
    where given and not ``None``; ``toolkit`` names the toolkit class that executes the function.
    """
    given = check_overrides(overrides, "spec_from_callable")
    name = given.get("name") or function.__name__
    where = f"{getattr(function, '__qualname__', name)}"
    doc = parse_docstring(function.__doc__)
    try:
        hints = typing.get_type_hints(function)
    except Exception as error:  # an unresolvable forward reference is the user's to fix
        raise SpecError(f"{where}: cannot resolve type hints ({error})") from None
    parameters = given.get("parameters")
    if parameters is None:
        parameters = _parameters_schema(function, hints, doc, where)
    response = given.get("response")
    if response is None and "return" in hints:
        response = python_type_to_schema(hints["return"], f"{where}.return")
        if doc.returns:
            response["description"] = doc.returns
    description = given.get("description")
    data = {
        "name": name,
        "description": description if description is not None else doc.summary,
        "parameters": parameters,
        "response": response,
        "category": given.get("category"),
        "tool_class": given.get("tool_class"),
        "toolkit": toolkit,
    }
    problems = validate_spec_dict(data, source=where)
    if problems:
        raise SpecError(problems)
    return spec_from_valid_dict(data)
