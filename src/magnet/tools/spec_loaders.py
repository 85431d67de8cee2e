"""Spec loaders: OpenAI tool JSON, BFCL func-doc JSON lines and StableToolBench API folders, and the writer of
Magnet's own spec files.

Every loader validates everything it reads (``validate_spec_dict``) and reports all problems of a file in one
``SpecError``, each naming the file, the function and the field.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from magnet.errors import SpecError
from magnet.tools.function_spec import (
    MAX_NAME_LENGTH,
    FunctionSpec,
    plain,
    spec_from_valid_dict,
    spec_location,
    validate_spec_dict,
)
from magnet.tools.schema_check import BFCL_TYPE_MAP, JSON_TYPES, validate_schema


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
            problems.append(
                f"{spec_location(source, data['name'], index)}: $.name: duplicate of spec #{seen[data['name']]}"
            )
            continue
        seen[data["name"]] = index
        specs.append(spec_from_valid_dict(data))
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
            where = spec_location(source, None, index)
            raise SpecError(f"{where}: $.type: only 'function' tools are supported, got {entry['type']!r}")
        body = entry["function"]
        if not isinstance(body, Mapping):
            raise SpecError(f"{spec_location(source, None, index)}: $.function: expected an object")
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


def save_specs(specs: Iterable[FunctionSpec], path: str | Path) -> None:
    """Write specs as a JSON list of OpenAI tools with Magnet's extra keys beside ``function``."""
    rows = []
    for spec in specs:
        row = spec.to_tool()
        row.update(
            {
                "response": plain(spec.response),
                "category": spec.category,
                "tool_class": spec.tool_class,
                "toolkit": spec.toolkit,
            }
        )
        rows.append(row)
    Path(path).write_text(json.dumps(rows, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


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
            converted[key] = plain(value)
    return converted


def _from_bfcl_entry(entry: Any, source: str, index: int) -> dict:
    if not isinstance(entry, Mapping):
        raise SpecError(f"{source}: line {index + 1}: expected an object, got {type(entry).__name__}")
    where = spec_location(source, entry.get("name"), index)
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


def _stb_response_schema(api: Mapping[str, Any]) -> dict | None:
    """The response schema of a StableToolBench API: ``schema`` (RapidAPI's field: a JSON Schema object, the same
    as a JSON string, or ``""``/``{}`` for none, as on many APIs) or Magnet's own ``response_schema``. What is no
    schema object (free text, a sample body such as GeoJSON's ``{"type": "FeatureCollection", ...}``, a schema
    that is not sound) counts as none: the schema judge then finds no edge from the API, and the LLM judge still
    can."""
    for key in ("response_schema", "schema"):
        value = api.get(key)
        if isinstance(value, str) and value.strip().startswith("{"):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                continue
        if (
            isinstance(value, Mapping)
            and ("type" in value or "properties" in value)
            and not validate_schema(value, f"$.{key}")
        ):
            return dict(value)
    return None


def _from_stb_api(entry: Any, source: str, index: int) -> dict:
    tool, category, api = entry
    if not isinstance(api, Mapping) or not isinstance(api.get("name"), str):
        raise SpecError(f"{source}: api_list[{index}]: expected an object with a 'name'")
    name = f"{_stb_identifier(api['name'])}_for_{_stb_identifier(tool.get('tool_name', 'tool'))}"[:MAX_NAME_LENGTH]
    where = spec_location(source, name, index)
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
        "response": _stb_response_schema(api),
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
    counts = Counter(spec.name for spec in specs)
    duplicates = sorted(name for name, count in counts.items() if count > 1)
    if duplicates:
        raise SpecError(f"{root}: function names {duplicates} occur in more than one tool file")
    return specs
