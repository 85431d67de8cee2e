"""Dataset records: the SFT trajectory row and the mDPO preference row, as frozen dataclasses that convert to and
from the plain dicts a dataset stores.

Rows follow the OpenAI / transformers chat format (DESIGN.md section 3): ``tool_calls`` entries are
``{"type": "function", "id", "function": {"name", "arguments": {dict}}}``. ``magnet.data.row_checks`` says what
makes a row valid; ``magnet.data.schema`` stores rows as HF Datasets.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


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
