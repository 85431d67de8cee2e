"""Java and JavaScript source text for a value, by BFCL's type names.

BFCL scores Java and JavaScript answers by parsing the model's source text (tree-sitter) and converting each
argument back with its type converters (``java_type_converter``, ``js_type_converter``). The reference runner
writes its ground-truth values with these functions so that those converters read back exactly the
ground-truth value: ``long`` 42 is ``42L``, a ``HashMap`` is ``new HashMap<String, Object>() {{ put(...); }}``,
a JavaScript ``Bigint`` is ``42n``, and so on.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any


def _string(value: Any) -> str:
    return json.dumps(str(value), ensure_ascii=False)


def _java_scalar(value: Any) -> str:
    """A value inside a collection, as BFCL's ``parse_java_value`` reads it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    return _string(value)


def java_source(value: Any, java_type: str, nested_type: str | None = None) -> str:
    """``value`` as Java source that BFCL's ``java_type_converter(text, java_type, nested_type)`` reads back."""
    if java_type in ("byte", "short", "integer"):
        return str(value)
    if java_type == "long":
        return f"{value}L"
    if java_type == "float":
        return f"{value}f"
    if java_type == "double":
        return repr(float(value)) if isinstance(value, int | float) and not isinstance(value, bool) else str(value)
    if java_type == "boolean":
        return "true" if value is True else "false" if value is False else str(value)
    if java_type == "char":
        return f"'{value}'"
    if java_type in ("Array", "ArrayList") and isinstance(value, list):
        items = [java_source(item, nested_type) if nested_type else _java_scalar(item) for item in value]
        if nested_type in ("String", "char"):
            quote = '"' if nested_type == "String" else "'"
            items = [f"{quote}{item}{quote}" for item in value]
        if java_type == "Array":
            element = {"String": "String", "integer": "int", "long": "long", "boolean": "boolean"}.get(
                nested_type or "", "Object"
            )
            return f"new {element}[]{{{', '.join(items)}}}"
        if not items:
            return "new ArrayList<>()"
        return f"new ArrayList<>(Arrays.asList({', '.join(items)}))"
    if java_type == "HashMap" and isinstance(value, Mapping):
        puts = " ".join(f"put({_string(key)}, {_java_scalar(item)});" for key, item in value.items())
        return f"new HashMap<String, Object>() {{{{ {puts} }}}}" if puts else "new HashMap<>()"
    if isinstance(value, str) and '"' in value:  # source code itself (a constructor call): BFCL keeps it verbatim
        return value
    return _string(value)


def js_source(value: Any, js_type: str, nested_type: str | None = None) -> str:
    """``value`` as JavaScript source that BFCL's ``js_type_converter(text, js_type, nested_type)`` reads back."""
    if js_type == "Bigint":
        return f"{value}n"
    if js_type in ("integer", "float"):
        return str(value)
    if js_type == "Boolean":
        return "true" if value is True else "false" if value is False else str(value)
    if js_type == "array" and isinstance(value, list):
        return "[" + ", ".join(_js_item(item) for item in value) + "]"
    if js_type == "dict" and isinstance(value, Mapping):
        return "{" + ", ".join(f"{key}: {_js_item(item)}" for key, item in value.items()) + "}"
    return _string(value)


def _js_item(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_js_item(item) for item in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{key}: {_js_item(item)}" for key, item in value.items()) + "}"
    return _string(value)
