"""The chat-completions wire format: Magnet's messages as the API wants them, a ``Completion`` from a response
body, and what an error response or a 429's headers say.

Pure functions over what crosses the wire, apart from the client that sends it (``magnet.llm.openai_teacher``),
so that a recorded or replayed request (``magnet.llm.replay``) is built exactly as a live one is.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from magnet.errors import CallParseError
from magnet.llm.teacher import Completion
from magnet.tools.calls import parse_tool_calls


def to_openai_messages(messages: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Magnet's messages as the chat-completions API wants them: tool-call arguments as JSON strings, unused
    (``None``) keys left out."""
    converted = []
    for message in messages:
        out = {key: value for key, value in message.items() if value is not None}
        if out.get("tool_calls"):
            calls = []
            for call in out["tool_calls"]:
                function = dict(call["function"])
                if not isinstance(function.get("arguments"), str):
                    function["arguments"] = json.dumps(function.get("arguments") or {}, ensure_ascii=False)
                calls.append({"type": "function", "id": call.get("id", ""), "function": function})
            out["tool_calls"] = calls
        elif "tool_calls" in out:
            del out["tool_calls"]
        if out.get("role") == "assistant" and "content" not in out:
            out["content"] = None
        converted.append(out)
    return converted


class MalformedAnswer(Exception):
    """The endpoint answered, but not with something usable (bad JSON, a cut-off tool call)."""

    def __init__(self, cause: str, detail: str):
        self.cause = cause
        super().__init__(detail)


def retry_after_seconds(headers: Mapping[str, str] | None) -> float | None:
    """The wait a 429 asks for: ``retry-after-ms`` or ``retry-after`` (seconds), if present and numeric."""
    if not headers:
        return None
    for name, scale in (("retry-after-ms", 1e-3), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is not None:
            try:
                return max(0.0, float(value) * scale)
            except ValueError:
                continue
    return None


def server_message(error: Any) -> str:
    """The server's own words in an error response (OpenAI's ``error.message``, vLLM's ``message``), shortened."""
    body = getattr(error, "body", None)
    message = None
    if isinstance(body, Mapping):
        inner = body.get("error") if isinstance(body.get("error"), Mapping) else body
        message = inner.get("message") or inner.get("detail")
    text = str(message or getattr(error, "message", "") or error)
    return text if len(text) <= 300 else text[:300] + "..."


def completion_from_body(body: bytes, latency: float, model: str) -> Completion:
    """A ``Completion`` from a chat-completion response body; anything else is a malformed answer (retried)."""
    try:
        data = json.loads(body)
        choice = data["choices"][0]
        message = choice["message"]
        if not isinstance(message, dict):
            raise TypeError(f"message is {type(message).__name__}")
    except (ValueError, KeyError, IndexError, TypeError, RecursionError) as error:  # ValueError: JSON, too many digits
        raise MalformedAnswer(
            "malformed_response", f"not a chat completion ({type(error).__name__}: {error}): {body[:120]!r}"
        ) from None
    try:
        calls = tuple(parse_tool_calls(message.get("tool_calls") or []))
    except (CallParseError, RecursionError) as error:
        raise MalformedAnswer("malformed_tool_call", str(error)) from None
    usage = data.get("usage") or {}
    return Completion(
        text=message.get("content") or "",
        tool_calls=calls,
        prompt_tokens=usage.get("prompt_tokens") or 0,
        completion_tokens=usage.get("completion_tokens") or 0,
        latency=latency,
        finish_reason=choice.get("finish_reason"),
        model=data.get("model") or model,
    )
