"""What a teacher is: the ``Teacher`` protocol every model Magnet asks something of follows, and the
``Completion`` it answers with.

A synthesis step or an evaluation runner needs nothing else, so this module imports nothing of the clients:
``OpenAITeacher`` (``magnet.llm.openai_teacher``), ``HFTeacher`` (``magnet.llm.local``) and the offline backend
(``magnet.synthesis.offline``) all answer in these terms.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from magnet.tools.calls import FunctionCall


@dataclass(frozen=True)
class Completion:
    """One answer: text, parsed tool calls, token counts, latency and why generation stopped."""

    text: str = ""
    tool_calls: tuple[FunctionCall, ...] = ()
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency: float = 0.0
    finish_reason: str | None = None
    model: str = ""
    cached: bool = False
    request_key: str = ""

    def to_dict(self) -> dict[str, Any]:
        """What the cache stores (``cached``, ``latency`` and ``request_key`` describe one delivery, not the answer)."""
        return {
            "text": self.text,
            "tool_calls": [call.to_dict() for call in self.tool_calls],
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "finish_reason": self.finish_reason,
            "model": self.model,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, cached: bool = False) -> Completion:
        """Inverse of ``to_dict``."""
        return cls(
            text=data.get("text", ""),
            tool_calls=tuple(FunctionCall.from_dict(c) for c in data.get("tool_calls", [])),
            prompt_tokens=data.get("prompt_tokens", 0),
            completion_tokens=data.get("completion_tokens", 0),
            finish_reason=data.get("finish_reason"),
            model=data.get("model", ""),
            cached=cached,
        )


@runtime_checkable
class Teacher(Protocol):
    """Anything that answers chat messages. ``name`` labels the data it produces (``meta.teacher``)."""

    name: str

    async def complete(
        self,
        messages: Sequence[Mapping[str, Any]],
        tools: Sequence[Mapping[str, Any]] | None = None,
        *,
        step: str = "default",
        **params: Any,
    ) -> Completion:
        """Answer ``messages`` (OpenAI chat format), optionally offering ``tools`` (OpenAI function tools)."""
        ...
