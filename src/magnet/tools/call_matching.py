"""Whether calls match: the same function and arguments, an argument that only repeats its default aside.

Two places compare a model's calls with reference calls and must agree on what "the same call" is: the positive
filter (every hinted call was made) and the offline turn judge. Order does not matter within a turn (independent
calls may come in one response or several, in any order); each reference call is matched once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from magnet.tools.calls import FunctionCall, format_call
from magnet.tools.function_spec import FunctionSpec


def without_defaults(call: FunctionCall, spec: FunctionSpec | None) -> FunctionCall:
    """``call`` without the arguments that only repeat their parameter's documented default.

    Example:
        >>> spec = FunctionSpec("f", "", {"type": "object", "properties": {"n": {"type": "integer", "default": 1}}})
        >>> without_defaults(FunctionCall("f", {"n": 1}), spec)
        FunctionCall(name='f', arguments={})
    """
    if spec is None:
        return FunctionCall(call.name, dict(call.arguments))
    properties = spec.properties
    return FunctionCall(
        call.name,
        {
            key: value
            for key, value in call.arguments.items()
            if not ("default" in properties.get(key, {}) and properties[key]["default"] == value)
        },
    )


def call_key(call: FunctionCall, specs: Mapping[str, FunctionSpec] | None = None) -> str:
    """A canonical text of the call (arguments sorted, defaults aside) to compare calls by."""
    bare = without_defaults(call, (specs or {}).get(call.name))
    return format_call(FunctionCall(bare.name, dict(sorted(bare.arguments.items()))))


def unmatched_calls(
    expected: Sequence[FunctionCall], made: Sequence[FunctionCall], specs: Sequence[FunctionSpec] = ()
) -> list[FunctionCall]:
    """The calls of ``expected`` that ``made`` does not hold, each made call matching one expected call.

    Example:
        >>> a, b = FunctionCall("a", {"x": 1}), FunctionCall("b", {})
        >>> unmatched_calls([a, b, a], [b, a])
        [FunctionCall(name='a', arguments={'x': 1})]
    """
    by_name = {spec.name: spec for spec in specs}
    available = [call_key(call, by_name) for call in made]
    missing = []
    for call in expected:
        key = call_key(call, by_name)
        if key in available:
            available.remove(key)
        else:
            missing.append(call)
    return missing
