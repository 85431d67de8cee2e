"""The offline backend's translation: back-translation writes a turn's planned calls as a templated request,
and forth-translation reads the calls a request asks for, as a model reads it.

Kept apart from planning (what values a turn uses) and from the rollouts, which read requests with
``calls_in_request`` but answer a different prompt.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from magnet.synthesis.offline_planning import (
    _first_usable,
    _parsed_outputs,
    _state_keys,
    _usable,
    _values_in,
    plan_turn,
)
from magnet.synthesis.steps import NestedLink, TranslateInputs, TurnRecord
from magnet.tools.calls import FunctionCall, format_call
from magnet.tools.spec import FunctionSpec


def _sentence(spec: FunctionSpec) -> str:
    text = spec.description.strip().rstrip(".") or spec.name.replace("_", " ")
    return text[0].lower() + text[1:]


def _referring(label: str) -> str:
    """How a request points at a value the assistant got from a tool (the reader takes the latest one)."""
    return f"the latest {label} you got"


ORDINALS = ("", "second ", "third ", "fourth ", "fifth ")


class _Waiting:
    """The value of an argument the request takes from an output this turn has not produced yet."""

    def __repr__(self) -> str:
        return "WAITING"


WAITING = _Waiting()


def _from_that(label: str) -> str:
    """How a request points at a value the previous call of the same request returns (an Insert in the turn)."""
    return f"the {label} from that"


def _recent(label: str, rank: int) -> str:
    """How a request points at a value an earlier turn's output gave (an Insert as its own later turn): the most
    recent such value, or the second, third... most recent."""
    return f"the {ORDINALS[rank]}most recent {label} you found"


def ranked_values(outputs: Sequence[Any], name: str, schema: Mapping[str, Any]) -> list[Any]:
    """The distinct usable values of parameter ``name`` in parsed outputs (latest first), under its name or its
    name without a qualifier (``to_account_id`` -> ``account_id``), most recent first."""
    found: list[Any] = []
    for output in outputs:
        for key in _state_keys(name):
            for value in _values_in(output, key):
                if _usable(value, schema) and value not in found:
                    found.append(value)
    return found


def _nested_detail(
    name: str, link: NestedLink, history: Sequence[TurnRecord], latest: Sequence[Any], schema, fresh
) -> str | None:
    """A nested argument as the request refers to it, never stated: from the call before it in the same request,
    or as the n-th most recent value an earlier output gave: one the source's latest output holds, and for which
    ``fresh(value)`` says the call would be a new one. ``None`` when the source's output holds no such value (the
    argument is then planned as any other: the call is not nested)."""
    label = name.replace("_", " ")
    if link.same_turn:
        return _from_that(label)
    for turn in reversed(history):
        for call, output in zip(reversed(turn.calls), reversed(turn.outputs), strict=False):
            if call.name != link.source:
                continue
            everything = ranked_values(latest, name, schema)
            for value in ranked_values(_parsed_outputs([output]), name, schema):
                if value in everything[: len(ORDINALS)] and fresh(value):
                    return _recent(label, everything.index(value))
            return None
    return None


def _detail(name: str, value: Any, source: str, latest_value: Any = None) -> str:
    """One argument as the request states it: referred to when it is the latest such value the conversation
    shows (what a reader would take), else stated (a value from an earlier turn, which "the latest" would not
    name)."""
    label = name.replace("_", " ")
    if source == "output" and value == latest_value:
        return _referring(label)
    return f"{label} {json.dumps(value)}"


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
    latest = _parsed_outputs([o for turn in reversed(inputs.history) for o in reversed(turn.outputs)])
    links = {(link.target, name): link for link in inputs.nested for name in link.parameters}
    used = {format_call(call) for turn in inputs.history for call in turn.calls}

    def details(call: FunctionCall, sources: Mapping[str, str]) -> str:
        schemas = by_name[call.name].properties

        def one(name: str, value: Any) -> str:
            link = links.get((call.name, name))
            if link is not None:

                def fresh(value: Any) -> bool:
                    return format_call(FunctionCall(call.name, {**call.arguments, name: value})) not in used

                nested = _nested_detail(name, link, inputs.history, latest, schemas.get(name, {}), fresh)
                if nested is not None:
                    return nested
            return _detail(name, value, sources[name], _first_usable(latest, name, schemas.get(name, {})))

        return ", ".join(
            one(name, value)
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


def _referred_value(text: str, position: int, name: str, schema, latest, this_round) -> tuple[Any, int] | None:
    """A value the request refers to at ``position`` (an output of this request's earlier calls, or the n-th most
    recent one an earlier output gave): the value (``WAITING`` when this request's call has not run yet) and the
    end of the reference."""
    label = name.replace("_", " ")
    if text.startswith(_from_that(label), position):
        found = ranked_values(this_round, name, schema)
        return (found[0] if found else WAITING), position + len(_from_that(label))
    for rank in range(len(ORDINALS)):
        if text.startswith(_recent(label, rank), position):
            found = ranked_values(latest, name, schema)
            return (found[rank] if rank < len(found) else WAITING), position + len(_recent(label, rank))
    return None


def _read_details(
    text: str, position: int, spec: FunctionSpec, latest: Sequence[Any], closing: str, this_round: Sequence[Any] = ()
) -> tuple[dict[str, Any], int]:
    """``label value, the latest label you got, ...`` from ``position`` up to ``closing``: the arguments
    it states, and where reading stopped."""
    labels = sorted(spec.properties, key=lambda name: -len(name))
    arguments: dict[str, Any] = {}
    while position < len(text):
        for name in labels:
            label = name.replace("_", " ")
            referred = _referring(label)
            nested = _referred_value(text, position, name, spec.properties[name], latest, this_round)
            if nested is not None:
                arguments[name], position = nested
                break
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


def calls_in_request(
    request: str,
    specs: Sequence[FunctionSpec],
    history: Sequence[TurnRecord],
    round_outputs: Sequence[str] = (),
    round_calls: Sequence[FunctionCall] = (),
) -> list[FunctionCall]:
    """The calls a request asks for, read as a model reads it: each function whose description the request
    paraphrases, with the values stated after it, the values it refers to looked up in the earlier outputs
    (latest first) or in what this request's calls made so far returned (``round_outputs``) or were given
    (``round_calls``: "that restaurant" may be the one the previous step was about; a value none of them holds yet
    is ``WAITING``), and the values a later "Sure, ..." message supplies for what an earlier one left out."""
    latest = _parsed_outputs([o for turn in reversed(history) for o in reversed(turn.outputs)])
    this_round = [
        *_parsed_outputs(list(reversed(round_outputs))),
        *(dict(call.arguments) for call in reversed(round_calls)),
    ]
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
                arguments, position = _read_details(request, position, spec, latest, ")", this_round)
                calls.append(FunctionCall(spec.name, arguments))
                if not request.startswith("; (", position):
                    break
                position += 3
        elif request.startswith(" (", end):
            calls.append(FunctionCall(spec.name, _read_details(request, end + 2, spec, latest, ")", this_round)[0]))
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


def next_calls(inputs: TranslateInputs) -> list[FunctionCall]:
    """Forth-translation's next answer: the calls the request asks for that were not made yet this round, up to
    the first that waits for an output this round has not produced (it comes in the next answer)."""
    wanted = calls_in_request(inputs.query, inputs.functions, inputs.history, inputs.round_outputs, inputs.round_calls)
    made = list(inputs.round_calls)
    batch = []
    for call in wanted:
        if call in made:
            made.remove(call)
            continue
        if any(value is WAITING for value in call.arguments.values()):
            break
        batch.append(call)
    return batch
