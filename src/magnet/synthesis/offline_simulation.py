"""The offline backend's simulated execution: an output shaped by the function's response schema, echoing the
call's arguments and deriving the rest from a hash of the call, so the same call always gives the same output.

Kept apart because simulation answers for a tool, not for the user or the assistant.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from magnet.synthesis.answer_styles import request_digest
from magnet.synthesis.offline_planning import SYNTHETIC_STRINGS
from magnet.synthesis.steps import SimulateInputs
from magnet.tools.calls import FunctionCall
from magnet.tools.executor import type_problem


def simulated_output(schema: Mapping[str, Any] | None, call: FunctionCall, path: str = "") -> Any:
    """A value shaped by ``schema``: arguments of the same name are echoed, the rest derived from a hash of the
    call, so the same call always gives the same output."""
    schema = schema or {"type": "object", "properties": {"result": {"type": "string"}}}
    seed = request_digest(call.name, call.arguments, path)
    kind = schema.get("type")
    if "enum" in schema:
        return schema["enum"][seed % len(schema["enum"])]
    if kind == "object" or "properties" in schema:
        return {
            key: call.arguments[key]
            if key in call.arguments and path == "" and type_problem(call.arguments[key], child, key) is None
            else simulated_output(child, call, f"{path}.{key}")
            for key, child in schema.get("properties", {}).items()
        }
    if kind == "array":
        return [simulated_output(schema.get("items", {"type": "string"}), call, f"{path}[{i}]") for i in range(2)]
    if kind == "integer":
        return seed % 100
    if kind == "number":
        return round((seed % 100000) / 100, 2)
    if kind == "boolean":
        return seed % 2 == 0
    if kind == "null":
        return None
    name = path.rsplit(".", 1)[-1].split("[")[0] or "value"
    for key, value in SYNTHETIC_STRINGS.items():
        if name == key or name.endswith(f"_{key}"):
            return value
    if name.endswith("_id") or name == "id":
        return f"{name.removesuffix('_id').removesuffix('id') or 'item'}-{seed % 10000:04d}"
    return f"{name.replace('_', ' ')} {seed % 1000}"


def answer_simulation(inputs: SimulateInputs) -> Any:
    """The schema-shaped output."""
    return simulated_output(inputs.function.response, inputs.call)
