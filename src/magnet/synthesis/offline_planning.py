"""How the offline backend plans a turn: which calls it makes and where each argument's value comes from (the
last outputs, the environment state, the schema's enum, or synthesised from the parameter's name and type).

Kept apart from translation, which writes the plan as a request and reads calls back from one, because both
directions and the simulated outputs draw on these values and their helpers.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping, Sequence
from typing import Any

from magnet.synthesis.answer_styles import request_digest
from magnet.synthesis.steps import TranslateInputs, TurnRecord
from magnet.tools.calls import FunctionCall, format_call
from magnet.tools.executor import type_problem
from magnet.tools.spec import FunctionSpec


def _values_in(value: Any, key: str) -> list[Any]:
    """Every value stored under ``key`` anywhere in a JSON value (also as a dict key: ids often are)."""
    found: list[Any] = []
    if isinstance(value, Mapping):
        for name, item in value.items():
            if name == key and not isinstance(item, Mapping | list):
                found.append(item)
            found.extend(_values_in(item, key))
    elif isinstance(value, list):
        for item in value:
            found.extend(_values_in(item, key))
    return found


def _parsed_outputs(texts: Sequence[str]) -> list[Any]:
    parsed = []
    for text in texts:
        try:
            parsed.append(json.loads(text))
        except (json.JSONDecodeError, TypeError):
            continue
    return parsed


SYNTHETIC_STRINGS = {
    "date": "2026-03-05",
    "start": "2026-03-05T10:00",
    "email": "alex.morgan@example.com",
    "city": "Lisbon",
    "currency": "EUR",
    "name": "Alex Morgan",
    "title": "Planning session",
    "query": "garden",
    "keyword": "garden",
    "time": "19:00",
    "country": "Portugal",
    "phone": "+1-555-0199",
    "address": "12 Harbour Street",
}


# Other values of the same kinds, for a later draw whose first choice would repeat a call already made.
SYNTHETIC_ALTERNATIVES = {
    "email": ("sam.okafor@example.com", "ines.duarte@example.com", "li.na@example.com"),
    "name": ("Sam Okafor", "Ines Duarte", "Li Na"),
    "city": ("Porto", "Valencia", "Utrecht"),
    "title": ("Design review", "Lunch with Sam", "Budget sync"),
    "query": ("bicycle", "coffee", "notebook"),
    "keyword": ("bicycle", "coffee", "notebook"),
}


def _synthetic(name: str, schema: Mapping[str, Any], rng: random.Random, draw: int = 0) -> Any:
    if "enum" in schema:
        return rng.choice(list(schema["enum"]))
    kind = schema.get("type")
    if kind == "integer":
        return rng.choice([1, 2, 3, 4, 30, 60])
    if kind == "number":
        return rng.choice([12.5, 40.0, 99.9, 250.0])
    if kind == "boolean":
        return True
    if kind == "array":
        return [_synthetic(name.rstrip("s"), schema.get("items", {"type": "string"}), rng, draw)]
    if kind == "object":
        return {}
    for key, value in SYNTHETIC_STRINGS.items():
        if name == key or name.endswith(f"_{key}") or name.startswith(f"{key}_"):
            if draw and key in SYNTHETIC_ALTERNATIVES:
                return rng.choice(SYNTHETIC_ALTERNATIVES[key])
            return value
    return f"{name.replace('_', ' ')} {rng.randint(1, 9)}"


def _state_keys(name: str) -> list[str]:
    """Keys a parameter's values may be stored under: its name, then its name without a leading qualifier
    (``from_city`` -> ``city``, ``to_account_id`` -> ``account_id``)."""
    keys = [name]
    parts = name.split("_")
    for start in range(1, len(parts)):
        keys.append("_".join(parts[start:]))
    return [key for key in keys if key not in ("id",)] or keys


def _is_identifier(name: str) -> bool:
    return name == "id" or name.endswith("_id")


def _exists(value: Any, state_text: str) -> bool:
    """Whether a value occurs in the (JSON) state: an id that does not is not a record."""
    return json.dumps(value) in state_text


def _used_calls(history: Sequence[TurnRecord]) -> set[str]:
    return {format_call(call) for turn in history for call in turn.calls}


def plan_turn(inputs: TranslateInputs) -> list[tuple[FunctionCall, dict[str, str]]]:
    """The calls the offline backend makes for a turn, and where each argument came from.

    Values come, in order of preference, from the last outputs (by parameter name, or name suffix), from the
    environment state (values stored under that name, chosen with a seeded RNG, avoiding a call already made),
    from the schema's enum, or are synthesised from the parameter's name and type. Sources are ``"output"``,
    ``"state"`` or ``"given"``. The plan depends only on the functions, the finished turns that made calls, the
    state and the seed, so the turns around a Split (which make no calls) plan the same values.
    """
    latest = _parsed_outputs([o for turn in reversed(inputs.history) for o in reversed(turn.outputs)])
    used = _used_calls(inputs.history)
    rounds = sum(1 for turn in inputs.history if turn.calls)
    plan: list[tuple[FunctionCall, dict[str, str]]] = []
    for position, spec in enumerate(inputs.functions):
        rng = random.Random(request_digest(inputs.seed, spec.name, rounds, position))
        copies = rng.choice([2, 3]) if inputs.variant == "parallel" else 1
        for _copy in range(copies):
            fixed = _echoed(spec, inputs, plan)
            call, sources = _plan_call(spec, latest, inputs.state, rng, used, fixed)
            for _redraw in range(5):  # the source's value makes this call one made before: draw the source again
                source = _source_position(spec, inputs, plan)
                if format_call(call) not in used or source is None:
                    break
                source_call = plan[source][0]
                used.add(format_call(source_call))
                source_spec = next(f for f in inputs.functions if f.name == source_call.name)
                plan[source] = _plan_call(source_spec, latest, inputs.state, rng, used)
                fixed = _echoed(spec, inputs, plan)
                call, sources = _plan_call(spec, latest, inputs.state, rng, used, fixed)
            used.add(format_call(call))
            plan.append((call, sources))
    return plan


def _source_position(
    spec: FunctionSpec, inputs: TranslateInputs, plan: Sequence[tuple[FunctionCall, Mapping[str, str]]]
) -> int | None:
    """Where in the plan the call sits whose output gives ``spec`` a nested value (an Insert in this turn)."""
    sources = {link.source for link in inputs.nested if link.target == spec.name and link.same_turn}
    return next((i for i in range(len(plan) - 1, -1, -1) if plan[i][0].name in sources), None)


def _echoed(
    spec: FunctionSpec, inputs: TranslateInputs, plan: Sequence[tuple[FunctionCall, Mapping[str, str]]]
) -> dict[str, Any]:
    """The nested values of ``spec`` (an Insert target in this turn) that its source's planned call already holds:
    a source given an id gives it back, so the target will take that value. Planning the target's other
    arguments around it keeps the call new (a repeated call would be refused)."""
    fixed: dict[str, Any] = {}
    for link in inputs.nested:
        if link.target != spec.name or not link.same_turn:
            continue
        source = next((call for call, _ in reversed(plan) if call.name == link.source), None)
        if source is None:
            continue
        for name in link.parameters:
            value = next((source.arguments[key] for key in _state_keys(name) if key in source.arguments), None)
            if value is not None:
                fixed[name] = value
    return fixed


def _usable(value: Any, schema: Mapping[str, Any]) -> bool:
    """A value that fits the parameter's schema and is not empty."""
    return value not in (None, "", [], {}) and type_problem(value, schema, "value") is None


def _first_usable(latest: Sequence[Any], name: str, schema: Mapping[str, Any]) -> Any:
    return next((v for output in latest for v in _values_in(output, name) if _usable(v, schema)), None)


def _plan_call(
    spec: FunctionSpec,
    latest: list[Any],
    state: Mapping[str, Any],
    rng: random.Random,
    used: set[str],
    fixed: Mapping[str, Any] | None = None,
) -> tuple[FunctionCall, dict[str, str]]:
    """One call of ``spec``; up to ten draws to find one not made before (from the second draw on, an optional
    parameter may be filled too, so that a repeated lookup asks something new). ``fixed`` values (source
    ``"nested"``) are kept in every draw."""
    call, sources = FunctionCall(spec.name, {}), {}
    state_text = json.dumps(state, default=str)
    optional = [name for name in spec.properties if name not in spec.required]
    for attempt in range(10):
        arguments: dict[str, Any] = {}
        sources = {}
        names = list(spec.required)
        if attempt and optional:
            names.append(rng.choice(optional))
        for name in names:
            if fixed and name in fixed:
                arguments[name], sources[name] = fixed[name], "nested"
                continue
            schema = spec.properties.get(name, {})
            from_output = _first_usable(latest, name, schema)
            fits = from_output is not None
            if fits and _is_identifier(name) and not _exists(from_output, state_text):
                fits = False  # an id from an output that no longer exists (cancelled, deleted) would fail
            # Later draws may leave an earlier output aside, so a repeated function can get a new value.
            if fits and (attempt == 0 or rng.random() < 0.5):
                arguments[name], sources[name] = from_output, "output"
                continue
            from_state = sorted(
                {json.dumps(v) for key in _state_keys(name) for v in _values_in(dict(state), key) if _usable(v, schema)}
            )
            if from_state:
                arguments[name], sources[name] = json.loads(rng.choice(from_state)), "state"
                continue
            arguments[name], sources[name] = _synthetic(name, schema, rng, attempt), "given"
        call = FunctionCall(spec.name, arguments)
        if format_call(call) not in used:
            break
    return call, sources
