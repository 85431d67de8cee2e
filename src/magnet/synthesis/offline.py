"""The offline backend: a deterministic answer for every step that would ask an LLM.

``OfflineTeacher`` is a ``Teacher`` that reads the step's structured inputs (``context``) instead of the
rendered prompt and writes its answer in the step's own format, so the answer goes through the same parser a
real model's answer does. Its choices are rules: queries from templates over function descriptions and argument
values, the schema judge for dependencies (output fields matched to parameters by name and type), exact hint
following for rollouts, comparison with the reference for the turn judge, schema-shaped outputs for simulated
execution. It makes the whole pipeline run on a fresh machine with no model; what it produces is labelled
``teacher: offline``. The same inputs always give the same answer.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Mapping, Sequence
from typing import Any

from magnet.errors import TeacherError
from magnet.llm.client import Completion
from magnet.llm.usage import UsageTracker
from magnet.synthesis.steps import (
    CATEGORIES,
    DependencyInputs,
    HintedTurnInputs,
    LabelInputs,
    NestedInputs,
    SimulateInputs,
    TranslateInputs,
    TurnJudgeInputs,
    TurnRecord,
)
from magnet.tools.calls import FunctionCall, format_call
from magnet.tools.executor import type_problem
from magnet.tools.pool import chaining_pairs
from magnet.tools.spec import FunctionSpec

OFFLINE_NAME = "offline"


def _digest(*parts: Any) -> int:
    text = json.dumps(parts, sort_keys=True, default=str)
    return int(hashlib.sha256(text.encode()).hexdigest()[:12], 16)


# -- labelling and judging ---------------------------------------------------------------------------------------


def answer_label(inputs: LabelInputs) -> str:
    """The toolkit's own metadata, mapped onto the category list (``misc`` when it is not on it)."""
    spec = inputs.function
    known = {name.lower(): name for name in CATEGORIES}
    category = known.get((spec.category or "").lower().replace(" ", "_"), "misc")
    tool_class = spec.tool_class or (f"{spec.toolkit} tool" if spec.toolkit else "misc tool")
    return f"Category: {category}\nTool class: {tool_class}"


def answer_dependencies(inputs: DependencyInputs) -> str:
    """The schema judge: candidates one of whose parameters takes a field of the target's output."""
    related = [
        candidate.name
        for candidate in inputs.candidates
        if candidate.name != inputs.target.name
        and any(pair.source == inputs.target.name for pair in chaining_pairs([inputs.target, candidate]))
    ]
    return json.dumps({inputs.target.name: related})


def answer_nested(inputs: NestedInputs) -> str:
    """Nested when a required parameter of the second takes an identifier from the first's output."""
    for pair in chaining_pairs([inputs.first, inputs.second]):
        if pair.source == inputs.first.name and pair.through_identifier and pair.parameter in inputs.second.required:
            return (
                f"yes\n{pair.parameter} of {inputs.second.name} comes from {pair.field} in {inputs.first.name}'s output"
            )
    return f"no\nno required parameter of {inputs.second.name} is an identifier from {inputs.first.name}'s output"


# -- translation ---------------------------------------------------------------------------------------------------


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


def _synthetic(name: str, schema: Mapping[str, Any], rng: random.Random) -> Any:
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
        return [_synthetic(name.rstrip("s"), schema.get("items", {"type": "string"}), rng)]
    if kind == "object":
        return {}
    for key, value in SYNTHETIC_STRINGS.items():
        if name == key or name.endswith(f"_{key}") or name.startswith(f"{key}_"):
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
        rng = random.Random(_digest(inputs.seed, spec.name, rounds, position))
        copies = rng.choice([2, 3]) if inputs.variant == "parallel" else 1
        for _copy in range(copies):
            call, sources = _plan_call(spec, latest, inputs.state, rng, used)
            used.add(format_call(call))
            plan.append((call, sources))
    return plan


def _usable(value: Any, schema: Mapping[str, Any]) -> bool:
    """A value that fits the parameter's schema and is not empty."""
    return value not in (None, "", [], {}) and type_problem(value, schema, "value") is None


def _plan_call(
    spec: FunctionSpec, latest: list[Any], state: Mapping[str, Any], rng: random.Random, used: set[str]
) -> tuple[FunctionCall, dict[str, str]]:
    """One call of ``spec``; up to ten draws to find one not made before (from the second draw on, an optional
    parameter may be filled too, so that a repeated lookup asks something new)."""
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
            schema = spec.properties.get(name, {})
            from_output = next((v for output in latest for v in _values_in(output, name) if _usable(v, schema)), None)
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
            arguments[name], sources[name] = _synthetic(name, schema, rng), "given"
        call = FunctionCall(spec.name, arguments)
        if format_call(call) not in used:
            break
    return call, sources


def _sentence(spec: FunctionSpec) -> str:
    text = spec.description.strip().rstrip(".") or spec.name.replace("_", " ")
    return text[0].lower() + text[1:]


def _detail(name: str, value: Any, source: str) -> str:
    label = name.replace("_", " ")
    return f"the {label} from your last answer" if source == "output" else f"{label} {json.dumps(value)}"


def answer_back_translation(inputs: TranslateInputs) -> str:
    """A templated request: each function's description with its values stated or referred to; a miss_param
    turn leaves the ``missing`` values out, and the turn after it gives just those."""
    plan = plan_turn(inputs)
    if inputs.split == "supply_param":
        given = [
            _detail(name, call.arguments[name], "given")
            for call, _ in plan
            for name in inputs.missing
            if name in call.arguments
        ]
        return "Sure, " + " and ".join(dict.fromkeys(given)) + "." if given else "Use whatever you think is best."
    by_name = {spec.name: spec for spec in inputs.functions}

    def details(call: FunctionCall, sources: Mapping[str, str]) -> str:
        return ", ".join(
            _detail(name, value, sources[name])
            for name, value in call.arguments.items()
            if not (inputs.split == "miss_param" and name in inputs.missing)
        )

    parts = []
    if inputs.variant == "parallel":  # one request, several argument sets
        for spec in by_name.values():
            variants = [details(call, sources) for call, sources in plan if call.name == spec.name]
            parts.append(_sentence(spec) + " for each of: " + "; ".join(f"({v})" for v in variants))
    else:  # one request per call, in order
        for call, sources in plan:
            stated = details(call, sources)
            parts.append(_sentence(by_name[call.name]) + (f" ({stated})" if stated else ""))
    opener = "Next, please " if inputs.history else "Please "
    return opener + "; then ".join(parts) + "."


def answer_forth_translation(inputs: TranslateInputs) -> str:
    """The planned calls, in the step's ``Answer:`` format."""
    calls = [call for call, _ in plan_turn(inputs)]
    return "Thought: the request maps onto these calls.\nAnswer: " + ", ".join(format_call(call) for call in calls)


# -- rollouts and the turn judge -------------------------------------------------------------------------------------


def _summary(outputs: Sequence[str]) -> str:
    facts = []
    for output in _parsed_outputs(outputs):
        if isinstance(output, Mapping):
            if "error" in output:
                facts.append(f"the request failed: {output['error']}")
                continue
            scalars = [f"{k.replace('_', ' ')} {v}" for k, v in output.items() if not isinstance(v, Mapping | list)]
            lists = [f"{len(v)} {k.replace('_', ' ')}" for k, v in output.items() if isinstance(v, list)]
            facts.append(", ".join((scalars + lists)[:6]))
    return "Done: " + "; ".join(fact for fact in facts if fact) + "." if facts else "Done."


def answer_hinted_turn(inputs: HintedTurnInputs) -> Completion:
    """Exact hint following: the next hinted call (one per response), then a summary of the outputs; on Split
    turns, ask for the missing value or say the function is missing."""
    if inputs.split == "miss_param":
        missing = ", ".join(name.replace("_", " ") for name in inputs.missing) or "a required detail"
        return Completion(
            text=f"To do that I need the {missing}. Could you tell me?", finish_reason="stop", model=OFFLINE_NAME
        )
    if inputs.split == "miss_func":
        return Completion(
            text="I cannot do that: none of the functions I have can do it.", finish_reason="stop", model=OFFLINE_NAME
        )
    if inputs.pending_calls:
        return Completion(tool_calls=(inputs.pending_calls[0],), finish_reason="tool_calls", model=OFFLINE_NAME)
    return Completion(text=_summary(inputs.outputs), finish_reason="stop", model=OFFLINE_NAME)


def _normalised(calls: Sequence[FunctionCall], specs: Sequence[FunctionSpec]) -> list[str]:
    """Calls as canonical text, without arguments that only repeat a default."""
    by_name = {spec.name: spec for spec in specs}
    texts = []
    for call in calls:
        spec = by_name.get(call.name)
        arguments = {
            key: value
            for key, value in sorted(call.arguments.items())
            if not (spec and "default" in spec.properties.get(key, {}) and spec.properties[key]["default"] == value)
        }
        texts.append(format_call(FunctionCall(call.name, arguments)))
    return sorted(texts)


def answer_turn_judge(inputs: TurnJudgeInputs) -> str:
    """Compare with the reference: same calls (defaults aside) and a summary keeping the reference's facts."""
    reference = _normalised(inputs.reference_calls, inputs.specs)
    candidate = _normalised(inputs.candidate_calls, inputs.specs)
    if bool(reference) != bool(candidate):
        side = "calls a function where the reference does not" if candidate else "makes no call"
        return f"no\nError type: missed_function_or_params\nReason: the assistant {side}."
    if reference != candidate:
        names = {call.name for call in inputs.candidate_calls}
        missing = [call for call in inputs.reference_calls if call.name not in names]
        if missing:
            return f"no\nError type: nested_call_missing\nReason: {missing[0].name} is never called."
        wrong = _wrong_values(inputs)
        if any(value_in(value, inputs.reference_outputs) for value in wrong):
            return "no\nError type: short_dependency\nReason: a value from this turn's outputs is misused."
        if any(value_in(value, inputs.earlier_outputs) for value in wrong):
            return "no\nError type: long_dependency\nReason: a value from an earlier turn is not used."
        return "no\nError type: missed_function_or_params\nReason: the arguments differ from the reference."
    facts = re.findall(r"[A-Za-z]+-\d+|\d+(?:\.\d+)?", inputs.reference_text)
    lost = [fact for fact in facts if fact not in inputs.candidate_text]
    if lost:
        return f"no\nError type: wrong_summary\nReason: the answer omits {lost[0]}."
    return "yes"


def _wrong_values(inputs: TurnJudgeInputs) -> list[Any]:
    """Reference argument values the candidate did not pass to the same function."""
    wrong = []
    for reference in inputs.reference_calls:
        same = [c for c in inputs.candidate_calls if c.name == reference.name]
        for key, value in reference.arguments.items():
            if not any(c.arguments.get(key) == value for c in same):
                wrong.append(value)
    return wrong


def value_in(value: Any, outputs: Sequence[str]) -> bool:
    """Whether ``value`` appears in any of the output texts (as JSON)."""
    needle = json.dumps(value) if not isinstance(value, str) else value
    return any(needle in output for output in outputs)


# -- simulated execution -------------------------------------------------------------------------------------------


def simulated_output(schema: Mapping[str, Any] | None, call: FunctionCall, path: str = "") -> Any:
    """A value shaped by ``schema``: arguments of the same name are echoed, the rest derived from a hash of the
    call, so the same call always gives the same output."""
    schema = schema or {"type": "object", "properties": {"result": {"type": "string"}}}
    seed = _digest(call.name, call.arguments, path)
    kind = schema.get("type")
    if "enum" in schema:
        return schema["enum"][seed % len(schema["enum"])]
    if kind == "object" or "properties" in schema:
        return {
            key: call.arguments[key]
            if key in call.arguments and path == ""
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


def answer_simulation(inputs: SimulateInputs) -> str:
    """The schema-shaped output as JSON text."""
    return json.dumps(simulated_output(inputs.function.response, inputs.call))


# -- the teacher -----------------------------------------------------------------------------------------------------


class OfflineTeacher:
    """The offline backend as a ``Teacher``: answers from ``context`` (the step's inputs), no model involved."""

    name = OFFLINE_NAME
    model = OFFLINE_NAME

    def __init__(self, usage: UsageTracker | None = None):
        self.usage = usage if usage is not None else UsageTracker()

    async def complete(
        self,
        messages: Sequence[Mapping[str, Any]],
        tools: Sequence[Mapping[str, Any]] | None = None,
        *,
        step: str = "default",
        context: Any = None,
        **params: Any,
    ) -> Completion:
        """Answer the step deterministically from its inputs."""
        del messages, tools, params
        self.usage.record_request(step)
        if isinstance(context, HintedTurnInputs):
            completion = answer_hinted_turn(context)
        else:
            text = self._text(step, context)
            completion = Completion(text=text, finish_reason="stop", model=OFFLINE_NAME)
        self.usage.record_answer(step, OFFLINE_NAME, 0, 0, 0.0)
        return completion

    def _text(self, step: str, context: Any) -> str:
        if isinstance(context, LabelInputs):
            return answer_label(context)
        if isinstance(context, DependencyInputs):
            return answer_dependencies(context)
        if isinstance(context, NestedInputs):
            return answer_nested(context)
        if isinstance(context, TranslateInputs):
            return answer_forth_translation(context) if step == "forth_translate" else answer_back_translation(context)
        if isinstance(context, TurnJudgeInputs):
            return answer_turn_judge(context)
        if isinstance(context, SimulateInputs):
            return answer_simulation(context)
        self.usage.record_failure(step, "no_offline_answer")
        raise TeacherError(
            f"the offline backend has no answer for step {step!r} with inputs of type {type(context).__name__}; "
            "pass the step's inputs as context (run_step does) or use a model teacher",
            cause="no_offline_answer",
        )
