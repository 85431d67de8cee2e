"""The offline backend: a deterministic teacher that reads prompts as a model does, with no model.

``OfflineTeacher`` is a ``Teacher`` (a ``CachingTeacher``, so requests go through the same text-mode rendering,
reasoning stripping and call decoding as a served model's). It sees the rendered messages and tools only: it finds
the task from the system prompt, reads the prompt's sections back (``magnet.synthesis.prompt_reading``), decides
by rules, and writes the answer in a ``teacher.style`` (``magnet.synthesis.answer_styles``): clean, chatty,
markdown, think, json or mixed. The rules: labels from the words of the function's name and description; the
schema judge for dependencies (output fields matched to parameters by name and type); queries from templates over
the functions' descriptions and values drawn from the records the prompt shows; calls read back from the query
(values stated in it, or found in the earlier outputs it refers to); exact hint following in rollouts;
comparison with the reference for the turn judge; schema-shaped outputs for simulated execution.

A prompt that stops carrying what a step needs fails the run (``PromptReadError``); a query that stops stating a
value leaves its call without it, and the call is refused. What it produces is labelled ``teacher: offline``. The
same request always gives the same answer; a request's sampling ``seed`` (translation sends one per turn attempt)
changes the values it draws, as it would a model's sample.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Mapping, Sequence
from typing import Any

from magnet.llm.answers import OUTPUT_PREFIX, decode_text_calls
from magnet.llm.cache import RequestCache
from magnet.llm.client import CachingTeacher, Completion
from magnet.llm.usage import UsageTracker
from magnet.synthesis.answer_styles import STYLES, AnswerWriter, request_digest
from magnet.synthesis.distill import hint_system_prompt
from magnet.synthesis.prompt_reading import PromptReadError, read_functions, read_step_inputs, specs_of, step_of
from magnet.synthesis.steps import (
    CATEGORIES,
    DependencyInputs,
    LabelInputs,
    NestedInputs,
    SimulateInputs,
    TranslateInputs,
    TurnJudgeInputs,
    TurnRecord,
)
from magnet.tools.calls import FunctionCall, format_call, parse_calls, parse_tool_calls
from magnet.tools.executor import type_problem
from magnet.tools.pool import chaining_pairs
from magnet.tools.spec import FunctionSpec

OFFLINE_NAME = "offline"


# -- labelling and judging ---------------------------------------------------------------------------------------


# Words that name a category beyond the category's own words (a function's name and description use them).
CATEGORY_WORDS = {
    "Weather": ("weather", "forecast", "temperature", "air", "sunrise", "sunset", "rain"),
    "Mapping": ("coordinates", "distance", "map", "nearest", "route"),
    "Location": ("place", "places", "city", "nearby", "location", "address"),
    "Events": ("event", "events", "calendar", "reminder", "attendee", "slot", "meeting"),
    "Email": ("email", "inbox", "reply", "mail"),
    "Communication": ("contact", "contacts", "phone", "message", "sms", "call"),
    "eCommerce": ("product", "products", "order", "orders", "shipment", "shipping", "inventory", "discount", "cart"),
    "Finance": (
        "account",
        "accounts",
        "balance",
        "transaction",
        "transactions",
        "transfer",
        "bill",
        "budget",
        "card",
        "currency",
        "payment",
        "bank",
    ),
    "Food": (
        "restaurant",
        "restaurants",
        "menu",
        "table",
        "reservation",
        "recipe",
        "recipes",
        "nutrition",
        "shopping",
        "ingredient",
        "ingredients",
        "dining",
        "review",
        "reviews",
    ),
    "Tools": ("task", "tasks", "note", "notes", "priority", "due"),
    "Music": ("track", "tracks", "playlist", "artist", "album", "albums", "song", "songs", "music"),
    "Devices": ("device", "devices", "thermostat", "brightness", "door", "lock", "scene", "energy", "home"),
    "Translation": ("translate", "translation", "language", "languages"),
    "Jobs": ("employee", "employees", "department", "manager", "org", "position", "positions", "hr", "title"),
}


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z]+", re.sub(r"([a-z])([A-Z])", r"\1 \2", text).lower().replace("_", " "))


def answer_label(inputs: LabelInputs) -> tuple[str, str]:
    """``(category, tool class)`` from the words of the function's name and description: the category whose
    words (its own name's, or ``CATEGORY_WORDS``) occur most, ``misc`` when none does."""
    spec = inputs.function
    words = _words(f"{spec.name} {spec.description}")
    scores = {}
    for category in CATEGORIES:
        own = [w for w in _words(category) if len(w) > 3 and w not in ("other", "data", "media", "software")]
        vocabulary = set(own) | set(CATEGORY_WORDS.get(category, ()))
        scores[category] = sum(words.count(word) for word in vocabulary)
    best = max(CATEGORIES, key=lambda name: scores[name])
    if scores[best] == 0:
        return "misc", f"{(_words(spec.name) or ['misc'])[-1].capitalize()} tool"
    return best, f"{best.replace('_', ' ')} tool"


def answer_dependencies(inputs: DependencyInputs) -> list[str]:
    """The schema judge: candidates one of whose parameters takes a field of the target's output."""
    return [
        candidate.name
        for candidate in inputs.candidates
        if candidate.name != inputs.target.name
        and any(pair.source == inputs.target.name for pair in chaining_pairs([inputs.target, candidate]))
    ]


def answer_nested(inputs: NestedInputs) -> tuple[bool, str]:
    """Nested when a required parameter of the second takes an identifier from the first's output."""
    for pair in chaining_pairs([inputs.first, inputs.second]):
        if pair.source == inputs.first.name and pair.through_identifier and pair.parameter in inputs.second.required:
            return (
                True,
                f"{pair.parameter} of {inputs.second.name} comes from {pair.field} in {inputs.first.name}'s output",
            )
    return False, f"no required parameter of {inputs.second.name} is an identifier from {inputs.first.name}'s output"


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
        rng = random.Random(request_digest(inputs.seed, spec.name, rounds, position))
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


def _decoded_value(text: str, position: int) -> tuple[Any, int] | None:
    try:
        return json.JSONDecoder().raw_decode(text, position)
    except json.JSONDecodeError:
        return None


def _first_usable(latest: Sequence[Any], name: str, schema: Mapping[str, Any]) -> Any:
    return next((v for output in latest for v in _values_in(output, name) if _usable(v, schema)), None)


def _read_details(
    text: str, position: int, spec: FunctionSpec, latest: Sequence[Any], closing: str
) -> tuple[dict[str, Any], int]:
    """``label value, the label from your last answer, ...`` from ``position`` up to ``closing``: the arguments
    it states, and where reading stopped."""
    labels = sorted(spec.properties, key=lambda name: -len(name))
    arguments: dict[str, Any] = {}
    while position < len(text):
        for name in labels:
            label = name.replace("_", " ")
            referred = f"the {label} from your last answer"
            if text.startswith(referred, position):
                value = _first_usable(latest, name, spec.properties[name])
                if value is not None:
                    arguments[name] = value
                position += len(referred)
                break
            if text.startswith(label + " ", position):
                decoded = _decoded_value(text, position + len(label) + 1)
                if decoded is not None:
                    arguments[name], position = decoded
                    break
        else:
            return arguments, position  # nothing this function takes: the details end here
        separator = next((sep for sep in (", ", " and ") if text.startswith(sep, position)), None)
        if separator is not None:
            position += len(separator)
        elif text.startswith(closing, position):
            return arguments, position + len(closing)
        else:
            return arguments, position
    return arguments, position


def calls_in_request(request: str, specs: Sequence[FunctionSpec], history: Sequence[TurnRecord]) -> list[FunctionCall]:
    """The calls a request asks for, read as a model reads it: each function whose description the request
    paraphrases, with the values stated after it, the values it refers to looked up in the earlier outputs
    (latest first), and the values a later "Sure, ..." message supplies for what an earlier one left out."""
    latest = _parsed_outputs([o for turn in reversed(history) for o in reversed(turn.outputs)])
    specs = list({spec.name: spec for spec in specs}.values())  # a function listed twice is still one function
    found = sorted(
        (match.start(), match.end(), index)
        for index, spec in enumerate(specs)
        for match in re.finditer(re.escape(_sentence(spec)), request)
    )
    calls: list[FunctionCall] = []
    for _start, end, index in found:
        spec = specs[index]
        if request.startswith(" for each of: (", end):
            position = end + len(" for each of: (")
            while True:
                arguments, position = _read_details(request, position, spec, latest, ")")
                calls.append(FunctionCall(spec.name, arguments))
                if not request.startswith("; (", position):
                    break
                position += 3
        elif request.startswith(" (", end):
            calls.append(FunctionCall(spec.name, _read_details(request, end + 2, spec, latest, ")")[0]))
        else:
            calls.append(FunctionCall(spec.name, {}))
    supplied: dict[str, list[Any]] = {}
    combined = FunctionSpec(
        "supplied",
        "",
        {"type": "object", "properties": {name: schema for spec in specs for name, schema in spec.properties.items()}},
    )
    for match in re.finditer(r"Sure, ", request):
        arguments, _ = _read_details(request, match.end(), combined, latest, ".")
        for name, value in arguments.items():
            supplied.setdefault(name, []).append(value)
    filled = []
    for call in calls:
        spec = specs[[s.name for s in specs].index(call.name)]
        arguments = dict(call.arguments)
        for name in spec.required:
            if name not in arguments and supplied.get(name):
                arguments[name] = supplied[name][0] if len(supplied[name]) == 1 else supplied[name].pop(0)
        order = [*[name for name in spec.required if name in arguments], *arguments]
        filled.append(FunctionCall(call.name, {name: arguments[name] for name in dict.fromkeys(order)}))
    return filled


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


def answer_turn_judge(inputs: TurnJudgeInputs) -> tuple[str | None, str]:
    """``(error type or None, reason)``: compare with the reference, the same calls (defaults aside) and a
    summary keeping the reference's facts."""
    reference = _normalised(inputs.reference_calls, inputs.specs)
    candidate = _normalised(inputs.candidate_calls, inputs.specs)
    if bool(reference) != bool(candidate):
        side = "calls a function where the reference does not" if candidate else "makes no call"
        return "missed_function_or_params", f"the assistant {side}."
    if reference != candidate:
        names = {call.name for call in inputs.candidate_calls}
        missing = [call for call in inputs.reference_calls if call.name not in names]
        if missing:
            return "nested_call_missing", f"{missing[0].name} is never called."
        wrong = _wrong_values(inputs)
        if any(value_in(value, inputs.reference_outputs) for value in wrong):
            return "short_dependency", "a value from this turn's outputs is misused."
        if any(value_in(value, inputs.earlier_outputs) for value in wrong):
            return "long_dependency", "a value from an earlier turn is not used."
        return "missed_function_or_params", "the arguments differ from the reference."
    facts = re.findall(r"[A-Za-z]+-\d+|\d+(?:\.\d+)?", inputs.reference_text)
    lost = [fact for fact in facts if fact not in inputs.candidate_text]
    if lost:
        return "wrong_summary", f"the answer omits {lost[0]}."
    return None, ""


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


# -- rollouts ----------------------------------------------------------------------------------------------------------


def _content(message: Mapping[str, Any]) -> str:
    return str(message.get("content") or "")


def _is_output(message: Mapping[str, Any]) -> bool:
    """A tool output: a ``tool`` message, or (calls as text) a user message that starts ``Output of``."""
    return message.get("role") == "tool" or (
        message.get("role") == "user" and _content(message).startswith(OUTPUT_PREFIX)
    )


def _outputs(message: Mapping[str, Any]) -> list[str]:
    if message.get("role") == "tool":
        return [_content(message)]
    parts = re.split(rf"(?:^|\n\n)(?={re.escape(OUTPUT_PREFIX)})", _content(message))
    return [part.split(":\n", 1)[-1] for part in parts if part]


def _made_calls(message: Mapping[str, Any]) -> list[FunctionCall]:
    if message.get("tool_calls"):
        return parse_tool_calls(message["tool_calls"])
    return decode_text_calls(_content(message))[0] if message.get("role") == "assistant" else []


def _hint(query: str) -> str | None:
    match = re.search(r"\[Hint\]:\s*(.*)\Z", query.strip(), re.DOTALL)
    return match.group(1).strip() if match else None


def _asked_for(query: str, specs: Sequence[FunctionSpec]) -> list[str]:
    """The required values a request leaves out: of the functions whose description it paraphrases, the
    required parameters it does not mention."""
    missing = []
    for spec in specs:
        if _sentence(spec) in query:
            missing += [name for name in spec.required if name.replace("_", " ") not in query]
    return list(dict.fromkeys(missing))


def answer_rollout(
    messages: Sequence[Mapping[str, Any]], specs: Sequence[FunctionSpec]
) -> tuple[FunctionCall | None, str]:
    """``(the next call, or None and the text to answer)`` for the assistant of a rollout, from the messages.

    With a ``[Hint]`` after the user's message: the hinted calls not made yet, one per response (as the system
    prompt asks); on ``miss function``, say so; on ``missed params``, ask for what the message leaves out. Without
    a hint: the calls the message asks for, read as forth-translation reads a query. When no call is left, a
    summary of the outputs since the message.
    """
    last = max((i for i, m in enumerate(messages) if m.get("role") == "user" and not _is_output(m)), default=None)
    if last is None:
        raise PromptReadError("rollout", "a user message")
    query = _content(messages[last])
    made = [call for message in messages[last + 1 :] for call in _made_calls(message)]
    outputs = [output for message in messages[last + 1 :] if _is_output(message) for output in _outputs(message)]
    hint = _hint(query)
    if hint == "miss function":
        return None, "I cannot do that: none of the functions I have can do it."
    if hint == "missed params":
        asked = ", ".join(name.replace("_", " ") for name in _asked_for(query, specs)) or "a required detail"
        return None, f"To do that I need the {asked}. Could you tell me?"
    if hint is not None:
        try:
            wanted = parse_calls(hint)
        except ValueError:
            raise PromptReadError("rollout", "a hint in BFCL's call form") from None
    else:
        earlier = [m for m in messages[:last] if _is_output(m)]
        history = (TurnRecord("", (), tuple(o for m in earlier for o in _outputs(m))),)
        wanted = calls_in_request(query, specs, history)
    pending = list(wanted)
    for call in made:
        if call in pending:
            pending.remove(call)
    if pending and len(made) < len(wanted) + 2:
        return pending[0], ""
    return None, _summary(outputs)


# -- the teacher ---------------------------------------------------------------------------------------------------


class OfflineTeacher(CachingTeacher):
    """The offline backend as a ``Teacher``: it reads the request's messages and tools, decides by rules and
    writes in ``style`` (see ``magnet.synthesis.answer_styles.STYLES``). ``tool_calls``: ``native`` (calls as
    ``tool_calls``, the default) or ``text`` (tools described in the prompt, calls written in the answer)."""

    name = OFFLINE_NAME
    model = OFFLINE_NAME

    def __init__(
        self,
        usage: UsageTracker | None = None,
        *,
        style: str = "clean",
        tool_calls: str = "auto",
        cache: RequestCache | None = None,
    ):
        if style not in STYLES:
            raise ValueError(f"teacher.style must be one of {list(STYLES)}, got {style!r}")
        super().__init__(cache=cache, usage=usage, tool_calls=tool_calls)
        self.style = style

    async def _request(
        self,
        messages: list[Mapping[str, Any]],
        tools: list[Mapping[str, Any]] | None,
        params: dict[str, Any],
        step: str,
    ) -> Completion:
        self.usage.record_request(step)
        try:
            completion = self._answer(messages, tools, params)
        except PromptReadError:
            self.usage.record_failure(step, "unreadable_prompt")
            raise
        self.usage.record_answer(step, OFFLINE_NAME, 0, 0, 0.0)
        return completion

    def _answer(
        self, messages: list[Mapping[str, Any]], tools: list[Mapping[str, Any]] | None, params: Mapping[str, Any]
    ) -> Completion:
        writer = AnswerWriter.for_request(self.style, request_digest(messages, tools, params))
        system = next((_content(m) for m in messages if m.get("role") == "system"), "")
        task = step_of(system)
        if task is None:
            if not system.startswith(hint_system_prompt().split("\n", 1)[0]) and not tools:
                raise PromptReadError("request", "a system prompt of a known step")
            specs = specs_of(tools) if tools else read_functions("rollout", system)
            call, text = answer_rollout(messages, specs)
            if call is None:
                return Completion(text=writer.reply(text), finish_reason="stop", model=OFFLINE_NAME)
            if tools:
                return Completion(tool_calls=(call,), finish_reason="tool_calls", model=OFFLINE_NAME)
            return Completion(text=writer.text_calls([call]), finish_reason="stop", model=OFFLINE_NAME)
        inputs = read_step_inputs(task, messages, int(params.get("seed") or 0))
        return Completion(text=self._text(task, inputs, writer), finish_reason="stop", model=OFFLINE_NAME)

    @staticmethod
    def _text(task: str, inputs: Any, writer: AnswerWriter) -> str:
        if task == "label_category":
            return writer.label(*answer_label(inputs))
        if task == "dependency_judge":
            return writer.dependencies(inputs.target.name, answer_dependencies(inputs))
        if task == "nested_judge":
            return writer.verdict(*answer_nested(inputs))
        if task == "back_translate":
            return writer.query(answer_back_translation(inputs))
        if task == "forth_translate":
            calls = calls_in_request(inputs.query, inputs.functions, inputs.history)
            if not calls:
                return writer.finish("the message asks for none of the candidate functions.")
            return writer.calls(calls, "the request maps onto these calls.")
        if task == "turn_judge":
            return writer.turn_verdict(*answer_turn_judge(inputs))
        return writer.simulated(answer_simulation(inputs))
