"""Function calls: one record, two wire forms, parsed safely.

``FunctionCall(name, arguments)`` is what every stage passes around. It is read from and written to

* BFCL's text form ``[f(a=1, b='x'), g()]`` (what models write in BFCL's prompting mode, and the form of BFCL's
  ground truth), and
* OpenAI ``tool_calls`` (``{"type": "function", "function": {"name", "arguments"}}``, arguments a dict or a JSON
  string).

Model output is never evaluated: text is parsed with ``ast`` and only literals are accepted (numbers, strings,
booleans, ``None``, lists, tuples, dicts with string keys, and negated numbers). Anything else (a name, an
attribute, a call, a lambda, a comprehension, an operator) raises ``CallParseError`` naming the call and argument.
"""

from __future__ import annotations

import ast
import json
import keyword
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from magnet.errors import CallParseError

MAX_CALL_TEXT = 100_000
_FENCE = re.compile(r"^```[A-Za-z0-9_-]*\s*\n?(.*?)\n?```$", re.DOTALL)


@dataclass(frozen=True)
class FunctionCall:
    """One call: a function name and its keyword arguments (JSON values)."""

    name: str
    arguments: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """``{"name": ..., "arguments": {...}}``."""
        return {"name": self.name, "arguments": dict(self.arguments)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FunctionCall:
        """Inverse of ``to_dict``."""
        return cls(name=data["name"], arguments=dict(data.get("arguments") or {}))

    def to_text(self) -> str:
        """The call in BFCL's text form, ``f(a=1, b='x')`` (one element of BFCL's ground-truth lists)."""
        return format_call(self)

    def to_tool_call(self, call_id: str, *, arguments_as_json: bool = False) -> dict[str, Any]:
        """The call as one OpenAI ``tool_calls`` entry; arguments a dict (Magnet's datasets) or a JSON string."""
        arguments: Any = dict(self.arguments)
        if arguments_as_json:
            arguments = json.dumps(arguments, ensure_ascii=False)
        return {"type": "function", "id": call_id, "function": {"name": self.name, "arguments": arguments}}


# ---------------------------------------------------------------------------------------------------------------
# BFCL text form
# ---------------------------------------------------------------------------------------------------------------


def _dotted_name(node: ast.expr, where: str) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted_name(node.value, where)}.{node.attr}"
    raise CallParseError(f"{where}: the function must be a plain or dotted name, got {ast.unparse(node)!r}")


JSON_CONSTANTS = {"true": True, "false": False, "null": None}


def _literal(node: ast.expr, where: str, lenient: bool = False, json_constants: bool = False) -> Any:
    """The value of a literal node; anything that would need evaluation is refused. ``json_constants``: JSON's
    ``true``, ``false`` and ``null`` read as Python's (a teacher trained on JSON tool calls writes them in Python
    calls too; the strict readers of datasets and evaluation keep them refused).

    ``lenient`` reads values the way BFCL's decoder does where that needs no evaluation: a bare name is its text
    (``unit=celsius`` -> ``'celsius'``), a call without keyword arguments or a subscript is its source text, and
    ``...`` is ``'...'``. Operators, lambdas and calls with keyword arguments (which BFCL's decoder evaluates or
    executes) stay refused.
    """
    if lenient:
        if isinstance(node, ast.Name):
            return node.id
        if (isinstance(node, ast.Call) and not node.keywords) or isinstance(node, ast.Subscript):
            return ast.unparse(node)
        if isinstance(node, ast.Constant) and node.value is Ellipsis:
            return "..."
    if json_constants and isinstance(node, ast.Name) and node.id in JSON_CONSTANTS:
        return JSON_CONSTANTS[node.id]
    if isinstance(node, ast.Constant):
        value = node.value
        if isinstance(value, bool | int | str) or value is None:
            return value
        if isinstance(value, float):
            if not math.isfinite(value):
                raise CallParseError(f"{where}: {value!r} is not a finite number")
            return value
        raise CallParseError(f"{where}: {type(value).__name__} literals are not allowed ({ast.unparse(node)!r})")
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        operand = node.operand
        if (
            isinstance(operand, ast.Constant)
            and isinstance(operand.value, int | float)
            and not isinstance(operand.value, bool)
        ):
            return -operand.value if isinstance(node.op, ast.USub) else operand.value
        raise CallParseError(f"{where}: a sign applies only to a number, got {ast.unparse(node)!r}")
    if isinstance(node, ast.List | ast.Tuple):
        return [_literal(item, f"{where}[{index}]", lenient, json_constants) for index, item in enumerate(node.elts)]
    if isinstance(node, ast.Dict):
        result: dict[str, Any] = {}
        for key_node, value_node in zip(node.keys, node.values, strict=True):
            if key_node is None:
                raise CallParseError(f"{where}: '**' unpacking is not allowed in a dict")
            key = _literal(key_node, f"{where} key", lenient, json_constants)
            if not isinstance(key, str):
                raise CallParseError(f"{where}: dict keys must be strings, got {key!r}")
            result[key] = _literal(value_node, f"{where}[{key!r}]", lenient, json_constants)
        return result
    kind = {
        ast.Name: "a variable name",
        ast.Attribute: "an attribute access",
        ast.Call: "a function call",
        ast.Lambda: "a lambda",
        ast.ListComp: "a comprehension",
        ast.DictComp: "a comprehension",
        ast.SetComp: "a comprehension",
        ast.GeneratorExp: "a generator",
        ast.BinOp: "an operator expression",
        ast.Set: "a set",
        ast.JoinedStr: "an f-string",
        ast.Subscript: "a subscript",
    }.get(type(node), type(node).__name__)
    raise CallParseError(f"{where}: only literal values are allowed, got {kind} {ast.unparse(node)!r}")


def _strip_wrapping(text: str) -> str:
    text = text.strip()
    fenced = _FENCE.match(text)
    if fenced:
        text = fenced.group(1).strip()
    return text


def parse_calls(
    text: str,
    *,
    parameter_order: Mapping[str, Sequence[str]] | None = None,
    lenient: bool = False,
    json_constants: bool = False,
) -> list[FunctionCall]:
    """Parse BFCL's text form ``[f(a=1, b='x'), g()]`` into calls, without evaluating anything.

    The brackets may be left out for a single call (``f(a=1)``), and a Markdown code fence around the list is
    removed. ``[]`` parses to no calls. Argument values must be literals. Positional arguments (BFCL's own
    ground truth has a few, e.g. ``sort('report.pdf')``) are bound to names only when ``parameter_order`` gives
    the function's parameter names in signature order (``Environment.parameter_order()``); otherwise they are an
    error. ``lenient`` reads what BFCL's own decoder accepts without evaluating it (see ``_literal``) and, like
    BFCL's decoder, ignores positional arguments; evaluation uses it to score a model as BFCL would.
    ``json_constants`` reads ``true``/``false``/``null`` as Python's (teacher answers only).

    Example:
        >>> parse_calls("[get_weather(city='Paris', days=3)]")
        [FunctionCall(name='get_weather', arguments={'city': 'Paris', 'days': 3})]
    """
    if not isinstance(text, str):
        raise CallParseError(f"expected call text, got {type(text).__name__}")
    source = _strip_wrapping(text)
    if not source:
        raise CallParseError("empty call text; write [] for no calls")
    if len(source) > MAX_CALL_TEXT:
        raise CallParseError(f"call text of {len(source):,} characters is over the {MAX_CALL_TEXT:,} accepted")
    if not source.startswith("["):
        source = f"[{source}]"
    try:
        return _parse_list(source, text, parameter_order, lenient, json_constants)
    except (RecursionError, MemoryError):  # a model stuck in a loop writes absurdly nested text
        raise CallParseError("call text is nested too deeply to be a list of calls") from None


def _parse_list(
    source: str,
    text: str,
    parameter_order: Mapping[str, Sequence[str]] | None,
    lenient: bool = False,
    json_constants: bool = False,
) -> list[FunctionCall]:
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError as error:
        raise CallParseError(
            f"not a list of calls: {error.msg} at column {error.offset} in {text.strip()[:120]!r}"
        ) from None
    body = tree.body
    if not isinstance(body, ast.List):
        raise CallParseError(f"expected a list of calls like [f(a=1)], got {text.strip()[:120]!r}")
    calls = []
    for index, node in enumerate(body.elts):
        where = f"call #{index}"
        if not isinstance(node, ast.Call):
            raise CallParseError(f"{where}: expected a call like f(a=1), got {ast.unparse(node)!r}")
        name = _dotted_name(node.func, where)
        where = f"call #{index} ({name})"
        arguments: dict[str, Any] = {}
        if node.args and not lenient:
            order = (parameter_order or {}).get(name)
            if order is None:
                raise CallParseError(
                    f"{where}: positional argument {ast.unparse(node.args[0])}; write every argument as name=value"
                )
            if len(node.args) > len(order):
                raise CallParseError(f"{where}: {len(node.args)} positional arguments, but {name} takes {len(order)}")
            for position, value_node in enumerate(node.args):
                if isinstance(value_node, ast.Starred):
                    raise CallParseError(f"{where}: '*' unpacking is not allowed")
                arguments[order[position]] = _literal(
                    value_node, f"{where} argument {order[position]!r}", json_constants=json_constants
                )
        for named in node.keywords:
            if named.arg is None:
                raise CallParseError(f"{where}: '**' unpacking is not allowed")
            if named.arg in arguments:
                raise CallParseError(f"{where}: argument {named.arg!r} given twice")
            arguments[named.arg] = _literal(named.value, f"{where} argument {named.arg!r}", lenient, json_constants)
        calls.append(FunctionCall(name=name, arguments=arguments))
    return calls


def _format_value(value: Any, where: str) -> str:
    if value is None or isinstance(value, bool | int | str):
        return repr(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise CallParseError(f"{where}: {value!r} has no literal form")
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_format_value(item, where) for item in value) + "]"
    if isinstance(value, Mapping):
        parts = []
        for key, item in value.items():
            if not isinstance(key, str):
                raise CallParseError(f"{where}: dict keys must be strings, got {key!r}")
            parts.append(f"{key!r}: {_format_value(item, where)}")
        return "{" + ", ".join(parts) + "}"
    raise CallParseError(f"{where}: {type(value).__name__} values have no literal form")


def format_call(call: FunctionCall) -> str:
    """One call as ``f(a=1, b='x')``: Python literals, arguments in their stored order."""
    for name in (*call.name.split("."), *call.arguments):
        if not name.isidentifier() or keyword.iskeyword(name):
            raise CallParseError(f"{call.name}: {name!r} cannot be written as a name in BFCL's call text")
    arguments = ", ".join(
        f"{key}={_format_value(value, f'{call.name} argument {key!r}')}" for key, value in call.arguments.items()
    )
    return f"{call.name}({arguments})"


def format_calls(calls: Iterable[FunctionCall]) -> str:
    """Calls in BFCL's text form ``[f(a=1), g(b='x')]`` (canonical: ``parse_calls`` reads it back exactly)."""
    return "[" + ", ".join(format_call(call) for call in calls) + "]"


# ---------------------------------------------------------------------------------------------------------------
# OpenAI tool_calls
# ---------------------------------------------------------------------------------------------------------------


def _get(item: Any, key: str) -> Any:
    """Read a key from a dict or an attribute from an SDK object (``openai`` returns pydantic models)."""
    if isinstance(item, Mapping):
        return item.get(key)
    return getattr(item, key, None)


def parse_tool_calls(tool_calls: Sequence[Any] | None) -> list[FunctionCall]:
    """Calls from OpenAI ``tool_calls`` (dicts or ``openai`` SDK objects); arguments a dict or a JSON string."""
    calls = []
    for index, item in enumerate(tool_calls or []):
        body = _get(item, "function") or item
        name = _get(body, "name")
        if not isinstance(name, str) or not name:
            raise CallParseError(f"tool_calls[{index}]: missing function name")
        raw = _get(body, "arguments")
        if raw is None or raw == "":
            arguments: Any = {}
        elif isinstance(raw, str):
            try:
                arguments = json.loads(raw)
            except json.JSONDecodeError as error:
                raise CallParseError(
                    f"tool_calls[{index}] ({name}): arguments are not valid JSON ({error.msg} at column {error.colno})"
                ) from None
            except (ValueError, RecursionError) as error:  # an integer of more digits than Python converts, a deep nest
                raise CallParseError(f"tool_calls[{index}] ({name}): arguments cannot be read ({error})") from None
        else:
            arguments = raw
        if not isinstance(arguments, Mapping):
            raise CallParseError(
                f"tool_calls[{index}] ({name}): arguments must be a JSON object, got {type(arguments).__name__}"
            )
        calls.append(FunctionCall(name=name, arguments=dict(arguments)))
    return calls


def to_tool_calls(
    calls: Iterable[FunctionCall], *, id_prefix: str = "call", arguments_as_json: bool = False
) -> list[dict[str, Any]]:
    """OpenAI ``tool_calls`` for a list of calls, with ids ``{id_prefix}_{index}``."""
    return [
        call.to_tool_call(f"{id_prefix}_{index}", arguments_as_json=arguments_as_json)
        for index, call in enumerate(calls)
    ]


# ---------------------------------------------------------------------------------------------------------------
# Hermes / Qwen2.5 tagged form: <tool_call>{"name": ..., "arguments": {...}}</tool_call>
# ---------------------------------------------------------------------------------------------------------------

_TAGGED = re.compile(r"<tool_call>\s*(.*?)\s*</tool_call>", re.DOTALL)


def parse_tagged_tool_calls(text: str) -> tuple[str, list[FunctionCall], list[str]]:
    """Split a Qwen2.5 (Hermes) style answer into its text, its ``<tool_call>`` blocks and their problems.

    Returns ``(text outside the blocks, calls that parsed, one message per block that did not)``, so that a
    caller can tell a model's malformed call from a plain answer.
    """
    calls: list[FunctionCall] = []
    problems: list[str] = []
    for index, match in enumerate(_TAGGED.finditer(text)):
        try:
            body = json.loads(match.group(1))
        except json.JSONDecodeError as error:
            problems.append(f"<tool_call> #{index}: not valid JSON ({error.msg} at column {error.colno})")
            continue
        if not isinstance(body, Mapping) or not isinstance(body.get("name"), str):
            problems.append(f'<tool_call> #{index}: expected {{"name": ..., "arguments": {{...}}}}')
            continue
        arguments = body.get("arguments") or {}
        if isinstance(arguments, str):
            try:
                arguments = json.loads(arguments)
            except json.JSONDecodeError:
                problems.append(f"<tool_call> #{index} ({body['name']}): arguments are not valid JSON")
                continue
        if not isinstance(arguments, Mapping):
            problems.append(f"<tool_call> #{index} ({body['name']}): arguments must be an object")
            continue
        calls.append(FunctionCall(body["name"], dict(arguments)))
    remaining = _TAGGED.sub("", text).strip()
    return remaining, calls, problems
