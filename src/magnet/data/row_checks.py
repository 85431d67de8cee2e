"""What makes a dataset row valid: every problem of a row, each naming the row's index and the field, and one
``DatasetError`` listing the problems of many rows.

A row is checked as the trainers and chat templates will read it: tools are valid specs (``validate_spec_dict``),
messages have known roles, every tool call names one of the row's tools and is answered by a tool message before
the conversation goes on.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from magnet.data.turns import message_turns
from magnet.errors import DatasetError
from magnet.tools.function_spec import validate_spec_dict

ROLES = ("system", "user", "assistant", "tool")
KINDS = ("multi_turn", "single_turn", "irrelevance", "recovery")
MAX_REPORTED = 50


def _tool_names(tools: Any, where: str, problems: list[str]) -> set[str]:
    names: set[str] = set()
    if not isinstance(tools, list):
        problems.append(f"{where}.tools: expected a list of tools, got {type(tools).__name__}")
        return names
    for index, tool in enumerate(tools):
        body = tool.get("function") if isinstance(tool, Mapping) else None
        if not isinstance(body, Mapping) or (isinstance(tool, Mapping) and tool.get("type") != "function"):
            problems.append(f"{where}.tools[{index}]: expected {{'type': 'function', 'function': {{...}}}}")
            continue
        problems.extend(validate_spec_dict(body, source=f"{where}.tools[{index}]"))
        if isinstance(body.get("name"), str):
            names.add(body["name"])
    return names


def _validate_messages(
    messages: Any, where: str, tool_names: set[str], *, start_index: int = 0, open_calls: dict[str, str] | None = None
) -> tuple[list[str], dict[str, str]]:
    """Problems of a message list; returns the tool calls still waiting for a tool message."""
    problems: list[str] = []
    pending: dict[str, str] = dict(open_calls or {})
    if not isinstance(messages, list):
        return [f"{where}: expected a list of messages, got {type(messages).__name__}"], pending
    for offset, message in enumerate(messages):
        here = f"{where}[{start_index + offset}]"
        if not isinstance(message, Mapping):
            problems.append(f"{here}: expected a message object, got {type(message).__name__}")
            continue
        role = message.get("role")
        if role not in ROLES:
            problems.append(f"{here}.role: {role!r} is not one of {ROLES}")
            continue
        content = message.get("content")
        if content is not None and not isinstance(content, str):
            problems.append(f"{here}.content: expected a string or null, got {type(content).__name__}")
        if role != "tool" and pending:
            problems.append(
                f"{here}: tool call(s) {sorted(pending)} of the previous assistant message have no "
                "tool message before this one"
            )
            pending = {}
        calls = message.get("tool_calls")
        if role == "assistant":
            if not content and not calls:
                problems.append(f"{here}: an assistant message needs content or tool_calls")
            for index, call in enumerate(calls or []):
                spot = f"{here}.tool_calls[{index}]"
                body = call.get("function") if isinstance(call, Mapping) else None
                if not isinstance(body, Mapping):
                    problems.append(f"{spot}: expected {{'type': 'function', 'id', 'function': {{name, arguments}}}}")
                    continue
                call_id, name = call.get("id"), body.get("name")
                if not isinstance(call_id, str) or not call_id:
                    problems.append(f"{spot}.id: missing")
                elif call_id in pending:
                    problems.append(f"{spot}.id: {call_id!r} is used twice in one message")
                if not isinstance(name, str) or not name:
                    problems.append(f"{spot}.function.name: missing")
                elif name not in tool_names:
                    problems.append(f"{spot}.function.name: {name!r} is not among the row's tools")
                if not isinstance(body.get("arguments"), Mapping):
                    problems.append(
                        f"{spot}.function.arguments: expected an object (dict), got "
                        f"{type(body.get('arguments')).__name__}"
                    )
                if isinstance(call_id, str) and call_id:
                    pending[call_id] = name if isinstance(name, str) else ""
        elif calls:
            problems.append(f"{here}.tool_calls: only assistant messages make tool calls")
        if role == "tool":
            call_id = message.get("tool_call_id")
            if call_id not in pending:
                problems.append(
                    f"{here}.tool_call_id: {call_id!r} answers no open tool call of the assistant "
                    f"(open: {sorted(pending)})"
                )
            else:
                expected = pending.pop(call_id)
                if message.get("name") not in (None, expected):
                    problems.append(f"{here}.name: {message.get('name')!r} but call {call_id!r} was to {expected!r}")
            if not isinstance(content, str):
                problems.append(f"{here}.content: a tool message needs the output as a string")
    return problems, pending


def _missing_names(meta: Any) -> set[str]:
    missing = meta.get("missing", {}) if isinstance(meta, Mapping) else {}
    functions = missing.get("functions", {}) if isinstance(missing, Mapping) else {}
    return {name for names in functions.values() for name in names} if isinstance(functions, Mapping) else set()


def _row_problems(
    row: Any, index: int, conversation: Callable[[Mapping[str, Any], str, set[str]], list[str]]
) -> list[str]:
    """What every row kind shares, then what ``conversation`` finds in the rest of the row.

    A row is an object with an ``id`` and valid ``tools``; its messages may call those tools and the functions the
    row withholds on purpose (``meta.missing``), so ``conversation`` gets both names.
    """
    where = f"row {index}"
    if not isinstance(row, Mapping):
        return [f"{where}: expected an object, got {type(row).__name__}"]
    problems: list[str] = []
    if not isinstance(row.get("id"), str) or not row.get("id"):
        problems.append(f"{where}.id: missing or not a string")
    names = _tool_names(row.get("tools", []), where, problems) | _missing_names(row.get("meta"))
    return problems + conversation(row, where, names)


def validate_sft_row(row: Any, index: int = 0) -> list[str]:
    """Every problem of one SFT row, each naming ``row <index>`` and the field."""
    return _row_problems(row, index, _sft_conversation)


def _sft_conversation(row: Mapping[str, Any], where: str, names: set[str]) -> list[str]:
    """A whole conversation: from a user message (after system) to an assistant one, every call answered."""
    messages = row.get("messages")
    problems, pending = _validate_messages(messages, f"{where}.messages", names)
    if isinstance(messages, list) and messages:
        roles = [m.get("role") for m in messages if isinstance(m, Mapping)]
        first = next((role for role in roles if role != "system"), None)
        if first != "user":
            problems.append(f"{where}.messages: the conversation must start with a user message (after system)")
        if roles and roles[-1] != "assistant":
            problems.append(
                f"{where}.messages: the conversation must end with an assistant message, ends with {roles[-1]!r}"
            )
    elif isinstance(messages, list):
        problems.append(f"{where}.messages: empty")
    if pending:
        problems.append(f"{where}.messages: tool call(s) {sorted(pending)} are never answered")
    problems.extend(_validate_meta(row.get("meta"), where))
    return problems


def _validate_meta(meta: Any, where: str) -> list[str]:
    if meta is None:
        return []
    if not isinstance(meta, Mapping):
        return [f"{where}.meta: expected an object, got {type(meta).__name__}"]
    problems = []
    if "kind" in meta and meta["kind"] not in KINDS:
        problems.append(f"{where}.meta.kind: {meta['kind']!r} is not one of {KINDS}")
    for key in ("turns", "calls"):
        if key in meta and (not isinstance(meta[key], int) or isinstance(meta[key], bool) or meta[key] < 0):
            problems.append(f"{where}.meta.{key}: expected a non-negative integer, got {meta[key]!r}")
    path = meta.get("path")
    if path is not None and not (
        isinstance(path, list)
        and all(isinstance(turn, list) and all(isinstance(name, str) for name in turn) for turn in path)
    ):
        problems.append(f"{where}.meta.path: expected a list of turns, each a list of function names")
    return problems


def validate_preference_row(row: Any, index: int = 0) -> list[str]:
    """Every problem of one preference row, each naming ``row <index>`` and the field."""
    return _row_problems(row, index, _preference_conversation)


def _preference_conversation(row: Mapping[str, Any], where: str, names: set[str]) -> list[str]:
    """A shared prompt ending where the assistant answers, then two different continuations, each starting with
    the assistant and answering the calls the prompt left open."""
    prompt = row.get("prompt")
    problems, pending = _validate_messages(prompt, f"{where}.prompt", names)
    if isinstance(prompt, list):
        if not prompt:
            problems.append(f"{where}.prompt: empty")
        elif isinstance(prompt[-1], Mapping) and prompt[-1].get("role") not in ("user", "tool"):
            problems.append(
                f"{where}.prompt: must end with a user or tool message, ends with {prompt[-1].get('role')!r}"
            )
    for side in ("chosen", "rejected"):
        messages = row.get(side)
        if not isinstance(messages, list) or not messages:
            problems.append(f"{where}.{side}: expected a non-empty list of messages")
            continue
        if isinstance(messages[0], Mapping) and messages[0].get("role") != "assistant":
            problems.append(f"{where}.{side}[0]: must be an assistant message, got {messages[0].get('role')!r}")
        found, left = _validate_messages(messages, f"{where}.{side}", names, open_calls=pending)
        problems.extend(found)
        if left:
            problems.append(f"{where}.{side}: tool call(s) {sorted(left)} are never answered")
    if row.get("chosen") == row.get("rejected") and row.get("chosen"):
        problems.append(f"{where}: chosen and rejected are identical")
    meta = row.get("meta")
    if meta is not None and not isinstance(meta, Mapping):
        problems.append(f"{where}.meta: expected an object, got {type(meta).__name__}")
    elif meta is not None and meta.get("branch_turn") is not None:
        problems.extend(_branch_turn_problems(row, meta["branch_turn"], where))
    return problems


def _branch_turn_problems(row: Mapping[str, Any], branch: Any, where: str) -> list[str]:
    """``meta.branch_turn`` (optional: rows made before it was recorded lack it) is a user turn of both sides."""
    if not isinstance(branch, int) or isinstance(branch, bool) or branch < 0:
        return [f"{where}.meta.branch_turn: expected a non-negative integer (a user turn), got {branch!r}"]
    sides = [row.get("prompt"), row.get("chosen"), row.get("rejected")]
    if not all(isinstance(side, list) and all(isinstance(m, Mapping) for m in side) for side in sides):
        return []  # already reported
    prompt, chosen, rejected = sides
    last = min(max(message_turns(prompt + chosen), default=-1), max(message_turns(prompt + rejected), default=-1))
    if branch > last:
        return [f"{where}.meta.branch_turn: {branch} is past the last user turn of the pair ({last})"]
    return []


def _check(rows: Sequence[Any], validate: Callable[[Any, int], list[str]]) -> None:
    problems: list[str] = []
    for index, row in enumerate(rows):
        problems.extend(validate(row, index))
    raise_problems(problems)


def raise_problems(problems: list[str]) -> None:
    """One ``DatasetError`` listing the problems (up to ``MAX_REPORTED``), if any."""
    if problems:
        shown = problems[:MAX_REPORTED]
        if len(problems) > MAX_REPORTED:
            shown.append(f"... and {len(problems) - MAX_REPORTED} more problems")
        raise DatasetError(shown)


def check_sft_rows(rows: Sequence[Any]) -> None:
    """Raise one ``DatasetError`` listing the problems of every bad SFT row (up to 50)."""
    _check(rows, validate_sft_row)


def check_preference_rows(rows: Sequence[Any]) -> None:
    """Raise one ``DatasetError`` listing the problems of every bad preference row (up to 50)."""
    _check(rows, validate_preference_row)
