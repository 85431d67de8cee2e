"""Function specs: what a model is told about a function, plus what Magnet needs to chain functions.

A ``FunctionSpec`` is an OpenAI function tool (``name``, ``description``, ``parameters`` as a JSON Schema object)
plus three things Magnet keeps out of the ``tools`` column: the ``response`` schema (what the function returns,
which the function graph matches against other functions' inputs), the ``category`` and the ``tool_class``
(which bound the graph's candidate neighbours), and the ``toolkit`` that implements it (for execution).

Loaders read OpenAI tool JSON, BFCL func-doc JSON lines and Python methods (type hints and docstring). Every
loader validates everything it reads and reports all problems of a file in one ``SpecError``.
"""

from __future__ import annotations

import inspect
import json
import re
import sys
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from magnet.errors import SpecError

JSON_TYPES = ("string", "integer", "number", "boolean", "array", "object", "null")
NAME_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
MAX_NAME_LENGTH = 64

# BFCL's func docs use Python type names; JSON Schema has its own.
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
                "parameters": _plain(self.parameters),
            },
        }

    def to_dict(self) -> dict[str, Any]:
        """A plain dict with every field (for JSON files and dataset metadata)."""
        return {
            "name": self.name,
            "description": self.description,
            "parameters": _plain(self.parameters),
            "response": _plain(self.response),
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
        return _spec_from_valid_dict(data)


def _plain(value: Any) -> Any:
    """Deep-copy JSON-like data into plain dicts and lists (no shared mutable state between specs)."""
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def _spec_from_valid_dict(data: Mapping[str, Any]) -> FunctionSpec:
    return FunctionSpec(
        name=data["name"],
        description=data.get("description") or "",
        parameters=_plain(data.get("parameters") or {"type": "object", "properties": {}}),
        response=_plain(data.get("response")),
        category=data.get("category"),
        tool_class=data.get("tool_class"),
        toolkit=data.get("toolkit"),
    )


# ---------------------------------------------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------------------------------------------


def _where(source: str, name: Any, index: int | None) -> str:
    position = f" (#{index})" if index is not None else ""
    label = f"function {name!r}" if isinstance(name, str) and name else "function <unnamed>"
    return f"{source}: {label}{position}"


def validate_schema(schema: Any, path: str) -> list[str]:
    """Problems of one JSON Schema node and its children, each prefixed with its JSON path.

    Checks what Magnet relies on: ``type`` is a JSON type (or a list of them), ``properties`` maps names to
    schemas, ``required`` names existing properties, ``items`` is a schema, ``enum`` is a non-empty list.
    Schemas without ``type`` (``anyOf``, ``$ref``, "any value") are accepted as they are.
    """
    if not isinstance(schema, Mapping):
        return [f"{path}: expected a JSON Schema object, got {type(schema).__name__} {schema!r:.60}"]
    problems: list[str] = []
    declared = schema.get("type")
    if declared is not None:
        kinds = declared if isinstance(declared, list) else [declared]
        for kind in kinds:
            if kind not in JSON_TYPES:
                hint = f" (did you mean {BFCL_TYPE_MAP[kind]!r}?)" if kind in BFCL_TYPE_MAP else ""
                problems.append(f"{path}.type: {kind!r} is not a JSON Schema type{hint}; use one of {JSON_TYPES}")
    if "properties" in schema:
        properties = schema["properties"]
        if not isinstance(properties, Mapping):
            problems.append(f"{path}.properties: expected an object, got {type(properties).__name__}")
        else:
            for key, child in properties.items():
                problems.extend(validate_schema(child, f"{path}.properties.{key}"))
    if "required" in schema:
        required = schema["required"]
        known = schema.get("properties", {}) if isinstance(schema.get("properties"), Mapping) else {}
        if not isinstance(required, list) or not all(isinstance(item, str) for item in required):
            problems.append(f"{path}.required: expected a list of parameter names, got {required!r:.60}")
        else:
            for item in required:
                if item not in known:
                    problems.append(f"{path}.required: {item!r} is required but not in properties")
    if "items" in schema:
        problems.extend(validate_schema(schema["items"], f"{path}.items"))
    if "enum" in schema and (not isinstance(schema["enum"], list) or not schema["enum"]):
        problems.append(f"{path}.enum: expected a non-empty list, got {schema['enum']!r:.60}")
    return problems


def validate_spec_dict(data: Any, *, source: str = "<dict>", index: int | None = None) -> list[str]:
    """Every problem of one spec dict (Magnet's ``FunctionSpec.to_dict`` shape), as messages naming the field."""
    if not isinstance(data, Mapping):
        return [f"{source}: spec #{index}: expected an object, got {type(data).__name__}"]
    name = data.get("name")
    where = _where(source, name, index)
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


def _load_all(entries: Iterable[tuple[int, Any]], convert: Callable[[Any, str, int], dict], source: str):
    """Convert and validate every entry; raise one SpecError listing all problems of the source."""
    specs: list[FunctionSpec] = []
    problems: list[str] = []
    seen: dict[str, int] = {}
    for index, entry in entries:
        try:
            data = convert(entry, source, index)
        except SpecError as error:
            problems.extend(error.problems)
            continue
        found = validate_spec_dict(data, source=source, index=index)
        if found:
            problems.extend(found)
            continue
        if data["name"] in seen:
            problems.append(f"{_where(source, data['name'], index)}: $.name: duplicate of spec #{seen[data['name']]}")
            continue
        seen[data["name"]] = index
        specs.append(_spec_from_valid_dict(data))
    if problems:
        raise SpecError(problems)
    return specs


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SpecError(f"{path}: file not found") from None
    except json.JSONDecodeError as error:
        raise SpecError(f"{path}: line {error.lineno} column {error.colno}: not valid JSON ({error.msg})") from None


# ---------------------------------------------------------------------------------------------------------------
# OpenAI tools
# ---------------------------------------------------------------------------------------------------------------


def _from_openai_entry(entry: Any, source: str, index: int) -> dict:
    if not isinstance(entry, Mapping):
        raise SpecError(f"{source}: spec #{index}: expected an object, got {type(entry).__name__}")
    body = entry
    if "function" in entry:
        if entry.get("type", "function") != "function":
            raise SpecError(
                f"{_where(source, None, index)}: $.type: only 'function' tools are supported, got {entry['type']!r}"
            )
        body = entry["function"]
        if not isinstance(body, Mapping):
            raise SpecError(f"{_where(source, None, index)}: $.function: expected an object")
    data = dict(body)
    # Magnet's extra keys may sit beside "function" (our own exports) or inside it.
    for key in ("response", "category", "tool_class", "toolkit"):
        if key in entry and key not in data:
            data[key] = entry[key]
    return data


def load_openai_tools(source: str | Path | Iterable[Mapping[str, Any]]) -> list[FunctionSpec]:
    """Specs from OpenAI function tools: a JSON file (a list, or ``{"tools": [...]}``), or a list of dicts.

    Accepts both ``{"type": "function", "function": {...}}`` and bare ``{"name", "description",
    "parameters"}`` entries. Raises ``SpecError`` listing every bad spec of the source at once. In a pool,
    ``magnet.synthesis.simulate`` executes these functions unless their ``toolkit`` key names a toolkit class
    of the pool, grouped by that key or else by category and tool class (the teacher labels functions that
    have none).
    """
    if isinstance(source, str | Path):
        path = Path(source)
        label = str(path)
        loaded = _read_json(path)
        if isinstance(loaded, Mapping) and "tools" in loaded:
            loaded = loaded["tools"]
        if not isinstance(loaded, list):
            raise SpecError(
                f"{label}: expected a JSON list of tools (or {{'tools': [...]}}), got {type(loaded).__name__}"
            )
        entries = loaded
    else:
        label = "<tools>"
        entries = list(source)
    return _load_all(enumerate(entries), _from_openai_entry, label)


# ---------------------------------------------------------------------------------------------------------------
# BFCL func docs
# ---------------------------------------------------------------------------------------------------------------


def bfcl_schema_to_json_schema(schema: Any, path: str, where: str) -> Any:
    """Translate a BFCL func-doc schema (Python type names) to JSON Schema, recursively.

    ``dict`` -> ``object``, ``float`` -> ``number``, ``tuple`` -> ``array``, ``any`` -> no type constraint.
    Unknown type names raise ``SpecError`` with the JSON path.
    """
    if not isinstance(schema, Mapping):
        raise SpecError(f"{where}: {path}: expected an object, got {type(schema).__name__}")
    converted: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "type":
            if value == "any":
                continue
            mapped = BFCL_TYPE_MAP.get(value, value)
            if mapped not in JSON_TYPES:
                raise SpecError(f"{where}: {path}.type: unknown BFCL type {value!r}")
            converted["type"] = mapped
        elif key == "properties" and isinstance(value, Mapping):
            converted["properties"] = {
                name: bfcl_schema_to_json_schema(child, f"{path}.properties.{name}", where)
                for name, child in value.items()
            }
        elif key == "items":
            converted["items"] = bfcl_schema_to_json_schema(value, f"{path}.items", where)
        else:
            converted[key] = _plain(value)
    return converted


def _from_bfcl_entry(entry: Any, source: str, index: int) -> dict:
    if not isinstance(entry, Mapping):
        raise SpecError(f"{source}: line {index + 1}: expected an object, got {type(entry).__name__}")
    where = _where(source, entry.get("name"), index)
    problems = []
    data: dict[str, Any] = {"name": entry.get("name"), "description": entry.get("description", "")}
    for key in ("parameters", "response"):
        if entry.get(key) is None:
            continue
        try:
            data[key] = bfcl_schema_to_json_schema(entry[key], f"$.{key}", where)
        except SpecError as error:
            problems.extend(error.problems)
    if problems:
        raise SpecError(problems)
    return data


def load_bfcl_func_docs(source: str | Path | Iterable[Mapping[str, Any]]) -> list[FunctionSpec]:
    """Specs from BFCL func-doc JSON lines (one function doc per line), or from already loaded docs.

    Raises ``SpecError`` listing every bad line of the file at once (line numbers are 1-based).
    """
    if isinstance(source, str | Path):
        path = Path(source)
        label = str(path)
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            raise SpecError(f"{path}: file not found") from None
        entries: list[tuple[int, Any]] = []
        problems: list[str] = []
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                entries.append((number - 1, json.loads(line)))
            except json.JSONDecodeError as error:
                problems.append(f"{label}: line {number} column {error.colno}: not valid JSON ({error.msg})")
        try:
            specs = _load_all(entries, _from_bfcl_entry, label)
        except SpecError as error:
            problems.extend(error.problems)
            raise SpecError(problems) from None
        if problems:
            raise SpecError(problems)
        return specs
    return _load_all(enumerate(source), _from_bfcl_entry, "<bfcl docs>")


# ---------------------------------------------------------------------------------------------------------------
# Python callables
# ---------------------------------------------------------------------------------------------------------------

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


def spec_from_callable(
    function: Callable[..., Any],
    *,
    name: str | None = None,
    description: str | None = None,
    parameters: Mapping[str, Any] | None = None,
    response: Mapping[str, Any] | None = None,
    category: str | None = None,
    tool_class: str | None = None,
    toolkit: str | None = None,
) -> FunctionSpec:
    """A spec from a Python function or method: type hints and Google-style docstring, or explicit schemas.

    Parameters without a default are required; defaults are recorded in the schema. The return annotation
    (typically a ``TypedDict``) becomes the response schema. Explicit ``parameters``/``response`` win.
    """
    name = name or function.__name__
    where = f"{getattr(function, '__qualname__', name)}"
    doc = parse_docstring(function.__doc__)
    try:
        hints = typing.get_type_hints(function)
    except Exception as error:  # an unresolvable forward reference is the user's to fix
        raise SpecError(f"{where}: cannot resolve type hints ({error})") from None
    if parameters is None:
        properties: dict[str, Any] = {}
        required: list[str] = []
        for parameter in inspect.signature(function).parameters.values():
            if parameter.name == "self" or parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
                continue
            schema = python_type_to_schema(
                hints.get(parameter.name, inspect.Parameter.empty), f"{where}.{parameter.name}"
            )
            if parameter.name in doc.params:
                schema["description"] = doc.params[parameter.name]
            if parameter.default is inspect.Parameter.empty:
                required.append(parameter.name)
            elif parameter.default is not None:
                schema["default"] = parameter.default
            properties[parameter.name] = schema
        parameters = {"type": "object", "properties": properties, "required": required}
    if response is None and "return" in hints:
        response = python_type_to_schema(hints["return"], f"{where}.return")
        if doc.returns:
            response["description"] = doc.returns
    data = {
        "name": name,
        "description": description if description is not None else doc.summary,
        "parameters": parameters,
        "response": response,
        "category": category,
        "tool_class": tool_class,
        "toolkit": toolkit,
    }
    problems = validate_spec_dict(data, source=where)
    if problems:
        raise SpecError(problems)
    return _spec_from_valid_dict(data)


def save_specs(specs: Iterable[FunctionSpec], path: str | Path) -> None:
    """Write specs as a JSON list of OpenAI tools with Magnet's extra keys beside ``function``."""
    rows = []
    for spec in specs:
        row = spec.to_tool()
        row.update(
            {
                "response": _plain(spec.response),
                "category": spec.category,
                "tool_class": spec.tool_class,
                "toolkit": spec.toolkit,
            }
        )
        rows.append(row)
    Path(path).write_text(json.dumps(rows, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


# ---------------------------------------------------------------------------------------------------------------
# StableToolBench API folders
# ---------------------------------------------------------------------------------------------------------------

_STB_TYPES = {
    "STRING": "string",
    "NUMBER": "number",
    "INTEGER": "integer",
    "BOOLEAN": "boolean",
    "ARRAY": "array",
    "OBJECT": "object",
    "ENUM": "string",
    "DATE (YYYY-MM-DD)": "string",
    "TIME (24-HOUR HH:MM)": "string",
    "GEOPOINT (LATITUDE, LONGITUDE)": "string",
    "FLOAT": "number",
    "LIST": "array",
    "DICT": "object",
}


def _stb_identifier(text: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9_]+", "_", text.strip()).strip("_").lower()
    return cleaned if cleaned and not cleaned[0].isdigit() else f"f_{cleaned}"


def _from_stb_api(entry: Any, source: str, index: int) -> dict:
    tool, category, api = entry
    if not isinstance(api, Mapping) or not isinstance(api.get("name"), str):
        raise SpecError(f"{source}: api_list[{index}]: expected an object with a 'name'")
    name = f"{_stb_identifier(api['name'])}_for_{_stb_identifier(tool.get('tool_name', 'tool'))}"[:MAX_NAME_LENGTH]
    where = _where(source, name, index)
    properties: dict[str, Any] = {}
    required: list[str] = []
    problems = []
    for group, is_required in (("required_parameters", True), ("optional_parameters", False)):
        for position, parameter in enumerate(api.get(group) or []):
            if not isinstance(parameter, Mapping) or not isinstance(parameter.get("name"), str):
                problems.append(f"{where}: $.{group}[{position}]: expected an object with a 'name'")
                continue
            kind = _STB_TYPES.get(str(parameter.get("type", "STRING")).upper(), "string")
            schema: dict[str, Any] = {"type": kind, "description": parameter.get("description") or ""}
            if parameter.get("default") not in (None, ""):
                schema["default"] = parameter["default"]
            properties[parameter["name"]] = schema
            if is_required:
                required.append(parameter["name"])
    if problems:
        raise SpecError(problems)
    description = " ".join(part for part in (tool.get("tool_description"), api.get("description")) if part)
    return {
        "name": name,
        "description": description,
        "parameters": {"type": "object", "properties": properties, "required": required},
        "response": api.get("response_schema") or None,
        "category": category,
        "tool_class": tool.get("tool_name"),
        "toolkit": f"stb:{tool.get('tool_name')}",
    }


def load_stabletoolbench(folder: str | Path) -> list[FunctionSpec]:
    """Specs from a StableToolBench-style folder: ``<category>/<tool>.json``, each ``{"tool_name",
    "tool_description", "api_list": [{"name", "description", "required_parameters", "optional_parameters"}]}``.

    Names become ``<api>_for_<tool>`` (as StableToolBench does), the folder gives the category and the tool
    name the tool class. These functions have no implementation: ``magnet.synthesis.simulate`` executes them.
    Every bad file and API is reported at once.
    """
    root = Path(folder)
    if not root.is_dir():
        raise SpecError(f"{root}: not a folder")
    entries: list[tuple[int, Any]] = []
    problems: list[str] = []
    specs: list[FunctionSpec] = []
    for path in sorted(root.rglob("*.json")):
        category = path.parent.name if path.parent != root else "misc"
        try:
            tool = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as error:
            problems.append(f"{path}: not valid JSON ({error})")
            continue
        if not isinstance(tool, Mapping) or not isinstance(tool.get("api_list"), list):
            problems.append(f"{path}: expected an object with an 'api_list' list")
            continue
        entries = [(index, (tool, category, api)) for index, api in enumerate(tool["api_list"])]
        try:
            specs.extend(_load_all(entries, _from_stb_api, str(path)))
        except SpecError as error:
            problems.extend(error.problems)
    if problems:
        raise SpecError(problems)
    names = [spec.name for spec in specs]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise SpecError(f"{root}: function names {duplicates} occur in more than one tool file")
    return specs
