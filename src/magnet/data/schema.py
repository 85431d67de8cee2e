"""Dataset records: the SFT trajectory row and the mDPO preference row, their HF Features, and validation.

Rows follow the OpenAI / transformers chat format (DESIGN.md section 3): ``tool_calls`` entries are
``{"type": "function", "id", "function": {"name", "arguments": {dict}}}``. Arguments, tools and ``meta`` hold
objects whose keys differ from row to row; Arrow would merge them into one struct and hand back ``None`` for
every key a row lacks, so they are stored with ``datasets.Json()`` features, which round-trip exactly.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import datasets
from datasets import Features, Json, List, Value

from magnet.errors import DatasetError
from magnet.tools.spec import validate_spec_dict

ROLES = ("system", "user", "assistant", "tool")
KINDS = ("multi_turn", "single_turn", "irrelevance")
MAX_REPORTED = 50


@dataclass(frozen=True)
class ToolCall:
    """One call an assistant message makes."""

    id: str
    name: str
    arguments: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The OpenAI ``tool_calls`` entry."""
        return {"type": "function", "id": self.id, "function": {"name": self.name, "arguments": dict(self.arguments)}}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ToolCall:
        """Inverse of ``to_dict``."""
        return cls(id=data["id"], name=data["function"]["name"], arguments=dict(data["function"]["arguments"]))


@dataclass(frozen=True)
class Message:
    """One chat message. ``tool_calls`` only on assistant messages; ``tool_call_id`` and ``name`` on tool ones."""

    role: str
    content: str | None = None
    tool_calls: tuple[ToolCall, ...] | None = None
    tool_call_id: str | None = None
    name: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Every key present (``None`` where unused, ``[]`` for no tool calls), so all rows share one Arrow
        schema."""
        return {
            "role": self.role,
            "content": self.content,
            # ``[]`` rather than ``None`` when there are none: datasets cannot save a split whose Json column holds
            # nothing but nulls; chat templates and TRL treat both alike.
            "tool_calls": [call.to_dict() for call in self.tool_calls or ()],
            "tool_call_id": self.tool_call_id,
            "name": self.name,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Message:
        """Inverse of ``to_dict``; missing keys read as ``None``."""
        calls = data.get("tool_calls")
        return cls(
            role=data["role"],
            content=data.get("content"),
            tool_calls=tuple(ToolCall.from_dict(call) for call in calls) if calls else None,
            tool_call_id=data.get("tool_call_id"),
            name=data.get("name"),
        )


@dataclass(frozen=True)
class TrajectoryMeta:
    """Where a trajectory came from: its signature path, the node operations, counts, and missing pieces.

    ``missing`` is ``{"functions": {turn: [names]}, "params": {turn: [names]}}`` with turns as strings
    (JSON keys), as BFCL's ``missed_function`` is.
    """

    kind: str = "multi_turn"
    path: tuple[tuple[str, ...], ...] = ()
    ops: tuple[str, ...] = ()
    turns: int = 0
    calls: int = 0
    source_toolkits: tuple[str, ...] = ()
    teacher: str = ""
    missing: Mapping[str, Any] = field(default_factory=dict)
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict; ``extra`` keys sit beside the named ones."""
        return {
            "kind": self.kind,
            "path": [list(turn) for turn in self.path],
            "ops": list(self.ops),
            "turns": self.turns,
            "calls": self.calls,
            "source_toolkits": list(self.source_toolkits),
            "teacher": self.teacher,
            "missing": dict(self.missing),
            **dict(self.extra),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrajectoryMeta:
        """Inverse of ``to_dict``: unknown keys go to ``extra``."""
        named = {"kind", "path", "ops", "turns", "calls", "source_toolkits", "teacher", "missing"}
        return cls(
            kind=data.get("kind", "multi_turn"),
            path=tuple(tuple(turn) for turn in data.get("path", ())),
            ops=tuple(data.get("ops", ())),
            turns=data.get("turns", 0),
            calls=data.get("calls", 0),
            source_toolkits=tuple(data.get("source_toolkits", ())),
            teacher=data.get("teacher", ""),
            missing=dict(data.get("missing", {})),
            extra={k: v for k, v in data.items() if k not in named},
        )


@dataclass(frozen=True)
class SFTRow:
    """A trajectory: what the assistant may call (``tools``), the conversation, and where it came from."""

    id: str
    tools: tuple[Mapping[str, Any], ...]
    messages: tuple[Message, ...]
    meta: TrajectoryMeta = field(default_factory=TrajectoryMeta)

    def to_dict(self) -> dict[str, Any]:
        """The dataset row."""
        return {
            "id": self.id,
            "tools": [dict(tool) for tool in self.tools],
            "messages": [message.to_dict() for message in self.messages],
            "meta": self.meta.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SFTRow:
        """Inverse of ``to_dict``."""
        return cls(
            id=data["id"],
            tools=tuple(data.get("tools") or ()),
            messages=tuple(Message.from_dict(m) for m in data["messages"]),
            meta=TrajectoryMeta.from_dict(data.get("meta") or {}),
        )


@dataclass(frozen=True)
class PreferenceRow:
    """A multi-turn preference pair in TRL's conversational format.

    ``prompt`` is the shared prefix (system, first user turn, and any identical turns before the first
    difference); ``chosen`` and ``rejected`` are the rest of each conversation, user and tool messages included.
    ``meta`` records which turns carry the negative hint and the error types.
    """

    id: str
    tools: tuple[Mapping[str, Any], ...]
    prompt: tuple[Message, ...]
    chosen: tuple[Message, ...]
    rejected: tuple[Message, ...]
    meta: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The dataset row."""
        return {
            "id": self.id,
            "tools": [dict(tool) for tool in self.tools],
            "prompt": [m.to_dict() for m in self.prompt],
            "chosen": [m.to_dict() for m in self.chosen],
            "rejected": [m.to_dict() for m in self.rejected],
            "meta": dict(self.meta),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PreferenceRow:
        """Inverse of ``to_dict``."""
        return cls(
            id=data["id"],
            tools=tuple(data.get("tools") or ()),
            prompt=tuple(Message.from_dict(m) for m in data["prompt"]),
            chosen=tuple(Message.from_dict(m) for m in data["chosen"]),
            rejected=tuple(Message.from_dict(m) for m in data["rejected"]),
            meta=dict(data.get("meta") or {}),
        )


# ---------------------------------------------------------------------------------------------------------------
# Features and conversion
# ---------------------------------------------------------------------------------------------------------------

TOOL_CALL_FEATURE = {
    "type": Value("string"),
    "id": Value("string"),
    "function": {"name": Value("string"), "arguments": Json()},
}
MESSAGE_FEATURE = {
    "role": Value("string"),
    "content": Value("string"),
    "tool_calls": List(TOOL_CALL_FEATURE),
    "tool_call_id": Value("string"),
    "name": Value("string"),
}

SFT_FEATURES = Features(
    {"id": Value("string"), "tools": List(Json()), "messages": List(MESSAGE_FEATURE), "meta": Json()}
)
PREFERENCE_FEATURES = Features(
    {
        "id": Value("string"),
        "tools": List(Json()),
        "prompt": List(MESSAGE_FEATURE),
        "chosen": List(MESSAGE_FEATURE),
        "rejected": List(MESSAGE_FEATURE),
        "meta": Json(),
    }
)


def _canonical(row: Mapping[str, Any]) -> dict[str, Any]:
    """A row as its features store it: messages get every key, and ``[]`` for no tool calls (datasets cannot save a
    split whose Json column holds only nulls)."""
    row = dict(row)
    for key in ("messages", "prompt", "chosen", "rejected"):
        if isinstance(row.get(key), list):
            row[key] = [
                {**{name: None for name in MESSAGE_FEATURE}, **message, "tool_calls": message.get("tool_calls") or []}
                if isinstance(message, Mapping)
                else message
                for message in row[key]
            ]
    return row


def _empty(features: Features) -> datasets.Dataset:
    """An empty dataset that still has every column (``from_list([])`` would have none)."""
    return datasets.Dataset.from_dict({name: [] for name in features}, features=features)


def _from_list(rows: list[dict[str, Any]], features: Features) -> datasets.Dataset:
    """A dataset of ``rows`` (every column present when there are none)."""
    if not rows:
        return _empty(features)
    return datasets.Dataset.from_list([_canonical(row) for row in rows], features=features)


def stream_dataset(
    rows: Iterable[Mapping[str, Any]], kind: str, cache_dir: str | Path, *, validate: bool = True
) -> datasets.Dataset:
    """A dataset of ``kind`` (``sft`` or ``preference``) written from ``rows`` as they come, through Arrow files
    under ``cache_dir``: the rows are never all in memory (``magnet synth`` builds datasets of any size this way).

    Rows are validated as they pass; bad rows are left out and one ``DatasetError`` lists them at the end, as
    ``sft_dataset`` does. ``cache_dir`` must be a folder of this build alone: datasets reuses a cache it finds.
    """
    features, check = {
        "sft": (SFT_FEATURES, validate_sft_row),
        "preference": (PREFERENCE_FEATURES, validate_preference_row),
    }[kind]
    problems: list[str] = []
    kept = 0

    def generate() -> Iterator[dict[str, Any]]:
        nonlocal kept
        for index, row in enumerate(rows):
            found = check(row, index) if validate else []
            if found:
                problems.extend(found)
                continue
            kept += 1
            yield _canonical(row)

    try:
        # A fingerprint of our own: datasets would otherwise pickle the generator (and ``rows``) to name its cache.
        fingerprint = uuid.uuid4().hex
        dataset = datasets.Dataset.from_generator(
            generate, features=features, cache_dir=str(cache_dir), fingerprint=fingerprint
        )
    except ValueError:  # datasets refuses a generator that yielded nothing
        if kept:
            raise
        dataset = _empty(features)
    _raise_problems(problems)
    return dataset


def sft_dataset(rows: Iterable[SFTRow | Mapping[str, Any]], *, validate: bool = True) -> datasets.Dataset:
    """An HF Dataset of SFT rows with ``SFT_FEATURES`` (validated first unless ``validate=False``)."""
    dicts = [row.to_dict() if isinstance(row, SFTRow) else dict(row) for row in rows]
    if validate:
        check_sft_rows(dicts)
    return _from_list(dicts, SFT_FEATURES)


def preference_dataset(rows: Iterable[PreferenceRow | Mapping[str, Any]], *, validate: bool = True) -> datasets.Dataset:
    """An HF Dataset of preference rows with ``PREFERENCE_FEATURES`` (validated first)."""
    dicts = [row.to_dict() if isinstance(row, PreferenceRow) else dict(row) for row in rows]
    if validate:
        check_preference_rows(dicts)
    return _from_list(dicts, PREFERENCE_FEATURES)


def sft_rows(dataset: datasets.Dataset) -> list[SFTRow]:
    """The rows of an SFT dataset as records."""
    return [SFTRow.from_dict(row) for row in dataset]


def preference_rows(dataset: datasets.Dataset) -> list[PreferenceRow]:
    """The rows of a preference dataset as records."""
    return [PreferenceRow.from_dict(row) for row in dataset]


# ---------------------------------------------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------------------------------------------


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


def validate_sft_row(row: Any, index: int = 0) -> list[str]:
    """Every problem of one SFT row, each naming ``row <index>`` and the field."""
    where = f"row {index}"
    if not isinstance(row, Mapping):
        return [f"{where}: expected an object, got {type(row).__name__}"]
    problems: list[str] = []
    if not isinstance(row.get("id"), str) or not row.get("id"):
        problems.append(f"{where}.id: missing or not a string")
    names = _tool_names(row.get("tools", []), where, problems) | _missing_names(row.get("meta"))
    messages = row.get("messages")
    found, pending = _validate_messages(messages, f"{where}.messages", names)
    problems.extend(found)
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
    where = f"row {index}"
    if not isinstance(row, Mapping):
        return [f"{where}: expected an object, got {type(row).__name__}"]
    problems: list[str] = []
    if not isinstance(row.get("id"), str) or not row.get("id"):
        problems.append(f"{where}.id: missing or not a string")
    names = _tool_names(row.get("tools", []), where, problems) | _missing_names(row.get("meta"))
    prompt = row.get("prompt")
    found, pending = _validate_messages(prompt, f"{where}.prompt", names)
    problems.extend(found)
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
    return problems


def _check(rows: Sequence[Any], validate) -> None:
    problems: list[str] = []
    for index, row in enumerate(rows):
        problems.extend(validate(row, index))
    _raise_problems(problems)


def _raise_problems(problems: list[str]) -> None:
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
