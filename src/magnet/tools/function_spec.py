"""The function spec record, and what makes one valid.

A ``FunctionSpec`` is an OpenAI function tool (``name``, ``description``, ``parameters`` as a JSON Schema object)
plus three things Magnet keeps out of the ``tools`` column: the ``response`` schema (what the function returns,
which the function graph matches against other functions' inputs), the ``category`` and the ``tool_class``
(which bound the graph's candidate neighbours), and the ``toolkit`` that implements it (for execution).

``validate_spec_dict`` is the one gate every loader (``magnet.tools.spec_loaders``, ``magnet.tools.python_spec``)
and the dataset row checks pass specs through; it reports every problem, each naming the field.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from magnet.errors import SpecError
from magnet.tools.schema_check import validate_schema

NAME_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
MAX_NAME_LENGTH = 64


@dataclass(frozen=True)
class FunctionSpec:
    """One callable function as the model sees it, plus Magnet's metadata.

    ``parameters`` is a JSON Schema of ``type: object``; ``response`` a JSON Schema of the output (``None`` when
    unknown). ``category`` and ``tool_class`` follow the paper (e.g. category ``Weather``, tool class
    ``Weather condition tool``). ``toolkit`` names the ``Toolkit`` class that executes the function.
    """

    name: str
    description: str
    parameters: Mapping[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}})
    response: Mapping[str, Any] | None = None
    category: str | None = None
    tool_class: str | None = None
    toolkit: str | None = None

    @property
    def properties(self) -> Mapping[str, Any]:
        """The parameter schemas by name."""
        return self.parameters.get("properties", {})

    @property
    def required(self) -> tuple[str, ...]:
        """Names of the required parameters, in schema order."""
        return tuple(self.parameters.get("required", ()))

    def to_tool(self) -> dict[str, Any]:
        """The OpenAI function tool: what goes into a dataset's ``tools`` column and a chat template."""
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": plain(self.parameters),
            },
        }

    def to_dict(self) -> dict[str, Any]:
        """A plain dict with every field (for JSON files and dataset metadata)."""
        return {
            "name": self.name,
            "description": self.description,
            "parameters": plain(self.parameters),
            "response": plain(self.response),
            "category": self.category,
            "tool_class": self.tool_class,
            "toolkit": self.toolkit,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str = "<dict>") -> FunctionSpec:
        """Inverse of ``to_dict``; validates and raises ``SpecError`` naming ``source``."""
        problems = validate_spec_dict(data, source=source)
        if problems:
            raise SpecError(problems)
        return spec_from_valid_dict(data)


def plain(value: Any) -> Any:
    """Deep-copy JSON-like data into plain dicts and lists (no shared mutable state between specs)."""
    if isinstance(value, Mapping):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    return value


def spec_from_valid_dict(data: Mapping[str, Any]) -> FunctionSpec:
    """The spec of a dict that ``validate_spec_dict`` found no problem in (loaders validate all entries first)."""
    return FunctionSpec(
        name=data["name"],
        description=data.get("description") or "",
        parameters=plain(data.get("parameters") or {"type": "object", "properties": {}}),
        response=plain(data.get("response")),
        category=data.get("category"),
        tool_class=data.get("tool_class"),
        toolkit=data.get("toolkit"),
    )


def spec_location(source: str, name: Any, index: int | None) -> str:
    """``source: function 'name' (#index)``: how every problem of a spec says where it is."""
    position = f" (#{index})" if index is not None else ""
    label = f"function {name!r}" if isinstance(name, str) and name else "function <unnamed>"
    return f"{source}: {label}{position}"


def validate_spec_dict(data: Any, *, source: str = "<dict>", index: int | None = None) -> list[str]:
    """Every problem of one spec dict (Magnet's ``FunctionSpec.to_dict`` shape), as messages naming the field."""
    if not isinstance(data, Mapping):
        return [f"{source}: spec #{index}: expected an object, got {type(data).__name__}"]
    name = data.get("name")
    where = spec_location(source, name, index)
    problems: list[str] = []
    if not isinstance(name, str) or not name:
        problems.append(f"{where}: $.name: missing or not a string")
    elif not NAME_PATTERN.match(name) or len(name) > MAX_NAME_LENGTH:
        problems.append(
            f"{where}: $.name: {name!r} is not a valid function name "
            f"(letters, digits and underscores, optionally dotted, at most {MAX_NAME_LENGTH} characters)"
        )
    description = data.get("description", "")
    if description is not None and not isinstance(description, str):
        problems.append(f"{where}: $.description: expected a string, got {type(description).__name__}")
    parameters = data.get("parameters")
    if parameters is not None:
        if not isinstance(parameters, Mapping):
            problems.append(f"{where}: $.parameters: expected a JSON Schema object, got {type(parameters).__name__}")
        else:
            if parameters.get("type", "object") != "object":
                problems.append(f"{where}: $.parameters.type: must be 'object', got {parameters.get('type')!r}")
            problems.extend(f"{where}: {p}" for p in validate_schema(parameters, "$.parameters"))
    response = data.get("response")
    if response is not None:
        problems.extend(f"{where}: {p}" for p in validate_schema(response, "$.response"))
    for key in ("category", "tool_class", "toolkit"):
        value = data.get(key)
        if value is not None and not isinstance(value, str):
            problems.append(f"{where}: $.{key}: expected a string, got {type(value).__name__}")
    return problems
