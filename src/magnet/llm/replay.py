"""Recorded teacher answers, served again over HTTP: a model-like endpoint for tests and benchmarks.

A real OpenAI-compatible endpoint sees only the rendered messages, so no scripted server can answer every
synthesis step plausibly. ``RecordingTeacher`` wraps any teacher (the offline backend, typically) during one run
and keeps each answer under the request as it goes on the wire; ``replay_responder`` turns those answers into a
``LoopbackServer`` responder. A second run of the same config through ``OpenAITeacher`` then sends exactly the
recorded requests (the pipeline is deterministic given the answers), so it runs the whole client path (HTTP,
retries, faults, the cache) against a server that answers like the recorded teacher, at whatever latency and
fault rate the benchmark or test sets.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from magnet.llm.answers import with_tools_as_text
from magnet.llm.client import Completion, Teacher, to_openai_messages
from magnet.llm.replies import Reply, Responder
from magnet.tools.calls import format_calls


def wire_key(messages: Sequence[Mapping[str, Any]], tools: Sequence[Mapping[str, Any]] | None) -> str:
    """A hash of a request as it crosses the wire (OpenAI message form; the model name and sampling parameters
    left out, so that a recording under one teacher name replays under another)."""
    canonical = json.dumps(
        {"messages": to_openai_messages(messages), "tools": list(tools or [])},
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class RecordingTeacher:
    """A teacher that answers through ``inner`` and records every answer by its wire key.

    ``tool_calls="text"`` records requests that offer tools the way a ``text``-mode client sends them (the
    functions in the system prompt, no ``tools``) and their calls as the text a model writes (``[f(a=1)]``), so
    that the replay plays a served model without tool support.
    """

    def __init__(self, inner: Teacher, *, tool_calls: str = "native"):
        if tool_calls not in ("native", "text"):
            raise ValueError(f"tool_calls must be native or text, got {tool_calls!r}")
        self.inner = inner
        self.name = inner.name
        self.usage = getattr(inner, "usage", None)
        self.tool_calls = tool_calls
        self.answers: dict[str, list[Completion]] = {}

    async def complete(
        self,
        messages: Sequence[Mapping[str, Any]],
        tools: Sequence[Mapping[str, Any]] | None = None,
        *,
        step: str = "default",
        **params: Any,
    ) -> Completion:
        completion = await self.inner.complete(messages, tools, step=step, **params)
        if self.tool_calls == "text" and tools:
            written = [completion.text, format_calls(completion.tool_calls) if completion.tool_calls else ""]
            answer = Completion(text="\n".join(part for part in written if part), model=completion.model)
            self.answers.setdefault(wire_key(with_tools_as_text(messages, tools), None), []).append(answer)
        else:
            self.answers.setdefault(wire_key(messages, tools), []).append(completion)
        return completion


def replay_responder(answers: Mapping[str, Sequence[Completion]]) -> Responder:
    """A ``LoopbackServer`` responder answering each request with the recorded answer (an empty answer, which
    the pipeline rejects like any useless one, for a request that was never recorded).

    The key is the messages and tools; the offline backend also reads the request's sampling ``seed`` (a turn
    started over draws new values with the same prompt), so one key can have been answered differently at
    different times: such answers are replayed in the order they were recorded, the last one repeating. A failed
    attempt (an injected fault) does not use up an answer: the responder runs only for requests that are answered."""
    served: dict[str, int] = {}

    def respond(body: dict[str, Any]) -> Reply:
        key = wire_key(body.get("messages") or [], body.get("tools"))
        recorded = answers.get(key)
        if not recorded:
            return Reply(content="")
        index = served.get(key, 0)
        served[key] = index + 1
        completion = recorded[min(index, len(recorded) - 1)]
        calls = [{"name": call.name, "arguments": dict(call.arguments)} for call in completion.tool_calls]
        return Reply(content=completion.text or None, tool_calls=calls or None)

    return respond
