"""Scripted model replies: ``Reply`` (what a test server answers in a model's place) and the responders that
choose one per request.

The server itself is ``magnet.testing.loopback``; the replies live here, apart from it, so that ``magnet.llm.replay``
(which turns recorded answers into a responder) needs neither the testing layer nor the server's HTTP stack.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Reply:
    """What the scripted model answers.

    Each tool call is ``{"name": str, "arguments": dict}``; ``arguments`` may also be a string, sent as it is (to
    script invalid JSON). With tool calls, the default ``finish_reason`` ``"stop"`` is sent as ``"tool_calls"``.
    """

    content: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    finish_reason: str = "stop"


Responder = Callable[[dict[str, Any]], Reply]
"""Turns a parsed request body into a ``Reply``; called on the server's event-loop thread, so it must be quick
(use ``latency`` to play a slow model) and must not rely on running in the caller's thread."""


def echo_responder(request: dict[str, Any]) -> Reply:
    """The default answer: ``"echo: <last user message>"``, or a tool call when asked for one.

    With ``tools`` in the request, a last user message ``call: NAME {JSON arguments}`` is answered with that call
    (arguments optional; text that is not a JSON object is echoed instead).
    """
    text = ""
    for message in reversed(request.get("messages") or []):
        if isinstance(message, dict) and message.get("role") == "user":
            text = content_text(message.get("content"))
            break
    if request.get("tools") and text.startswith("call:"):
        name, _, raw = text[len("call:") :].strip().partition(" ")
        try:
            arguments = json.loads(raw) if raw.strip() else {}
        except ValueError:
            arguments = None
        if name and isinstance(arguments, dict):
            return Reply(tool_calls=[{"name": name, "arguments": arguments}])
    return Reply(content=f"echo: {text}")


def scripted(replies: Sequence[Reply | str]) -> Responder:
    """A responder that answers ``replies`` in turn, round-robin (a string stands for ``Reply(content=...)``).

    The turn is taken in the order requests arrive, so under concurrency which request gets which reply depends on
    timing; script one reply, or drive it sequentially, where that matters.
    """
    script = [Reply(content=reply) if isinstance(reply, str) else reply for reply in replies]
    if not script:
        raise ValueError("scripted() needs at least one reply")
    if not all(isinstance(reply, Reply) for reply in script):
        raise ValueError("scripted() takes Reply objects or strings")
    lock = threading.Lock()
    turn = [0]

    def responder(request: dict[str, Any]) -> Reply:
        with lock:
            reply = script[turn[0] % len(script)]
            turn[0] += 1
        return reply

    return responder


def content_text(content: Any) -> str:
    """The text of a message content: a string, or the text parts of a list of content parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return ""
