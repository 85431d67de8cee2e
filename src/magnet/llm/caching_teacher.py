"""The base of the model-backed teachers: the request cache, usage accounting and how tool calls travel.

``CachingTeacher.complete`` answers from the cache when it can and stores what the model answers otherwise, so a
rerun sends nothing it already sent. It also decides, once per teacher, whether calls travel ``native`` (the
endpoint's ``tools`` and ``tool_calls``) or as ``text`` (see ``TOOL_CALL_MODES``), and reads every answer the same
way (``read_answer``: reasoning removed, calls decoded from text where the model wrote them there). Subclasses only
send a request (``_request``) and, for ``auto``, look at what their model does with tools (``_detect_tool_calls``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from magnet.errors import CallParseError, MagnetError
from magnet.llm.answers import decode_text_calls, scan_calls, strip_reasoning, with_tools_as_text
from magnet.llm.cache import RequestCache, request_key
from magnet.llm.teacher import Completion
from magnet.llm.usage import UsageTracker

logger = logging.getLogger(__name__)

TOOL_CALL_MODES = ("auto", "native", "text")
"""How calls travel: ``native`` (the endpoint's ``tools`` and ``tool_calls``), ``text`` (the functions described
in the prompt, the calls decoded from the answer's text), ``auto`` (found out once, at the first request that
offers tools)."""
PROBE_TOOL = {
    "type": "function",
    "function": {
        "name": "magnet_probe",
        "description": "Returns the current time. Part of a check of whether this endpoint renders tools.",
        "parameters": {"type": "object", "properties": {"timezone": {"type": "string"}}},
    },
}
PROBE_MESSAGES = ({"role": "user", "content": "Say OK."},)


class CachingTeacher:
    """Base of the model-backed teachers: parameters, the request cache and usage accounting.

    Subclasses implement ``_request``; ``complete`` looks the request up in the cache first and stores what
    ``_request`` answers, so a rerun sends nothing it already sent.
    """

    name: str = "teacher"
    model: str = ""

    def __init__(
        self,
        *,
        cache: RequestCache | None = None,
        usage: UsageTracker | None = None,
        default_params: Mapping[str, Any] | None = None,
        tool_calls: str = "auto",
    ):
        if tool_calls not in TOOL_CALL_MODES:
            raise MagnetError(f"tool_calls must be one of {list(TOOL_CALL_MODES)}, got {tool_calls!r}")
        self.cache = cache
        self.usage = usage if usage is not None else UsageTracker()
        self.default_params = dict(default_params or {})
        self.tool_calls = tool_calls
        self.tool_call_mode: str | None = None if tool_calls == "auto" else tool_calls
        self.tool_call_reason = "" if tool_calls == "auto" else f"tool_calls: {tool_calls} (set)"
        self._detecting: tuple[asyncio.AbstractEventLoop, asyncio.Lock] | None = None

    def cache_identity(self) -> str:
        """What the request cache keys answers by besides the request: the model, and for subclasses where the
        model's name is not enough, the endpoint or the weights (two servers serving one name differ)."""
        return self.model

    def tool_call_report(self) -> dict[str, Any]:
        """The setting, the mode in use (None until a request offered tools) and why: what a run report records."""
        return {"setting": self.tool_calls, "mode": self.tool_call_mode, "reason": self.tool_call_reason}

    async def resolve_tool_calls(self) -> str:
        """The mode calls travel in: the setting, or, for ``auto``, what the model behind this teacher supports,
        found out once (concurrent first requests wait for one detection)."""
        if self.tool_call_mode is not None:
            return self.tool_call_mode
        loop = asyncio.get_running_loop()
        if self._detecting is None or self._detecting[0] is not loop:
            self._detecting = (loop, asyncio.Lock())
        async with self._detecting[1]:
            if self.tool_call_mode is None:
                mode, reason = await self._detect_tool_calls()
                logger.info("%s: tool calls travel as %s (%s)", self.name, mode, reason)
                self.tool_call_mode, self.tool_call_reason = mode, f"tool_calls: auto -> {mode}: {reason}"
        return self.tool_call_mode

    async def _detect_tool_calls(self) -> tuple[str, str]:
        """``(mode, reason)`` for ``auto``; subclasses look at what their model does with tools."""
        return "native", "this teacher takes tools as they are"

    async def complete(
        self,
        messages: Sequence[Mapping[str, Any]],
        tools: Sequence[Mapping[str, Any]] | None = None,
        *,
        step: str = "default",
        **params: Any,
    ) -> Completion:
        """Answer from the cache, or ask the model and cache the answer.

        With tools offered in ``text`` mode (set, or found by ``auto``), the functions go into the system prompt
        and earlier calls into the messages as text, and the answer's calls are decoded from its text. In every
        mode reasoning blocks are removed from the answer before anything reads or stores it, and an answer
        without ``tool_calls`` whose text holds calls of the offered functions (a server without a tool parser)
        has them decoded.
        """
        # A parameter set to None is not set (and must not reach the endpoint or the cache key).
        merged = {key: value for key, value in {**self.default_params, **params}.items() if value is not None}
        offered = list(tools) if tools else None
        identity = self.cache_identity() if self.cache is not None else ""
        if offered and self.tool_call_mode is None and self.cache is not None:
            # A rerun answers from the cache before anything is probed: the request as either mode sends it.
            for text_mode in (False, True):
                sent_messages, sent_tools = _on_the_wire(messages, offered, text_mode)
                hit = self._cached(request_key(identity, sent_messages, sent_tools, merged), offered, text_mode, step)
                if hit is not None:
                    return hit
        text_mode = bool(offered) and await self.resolve_tool_calls() == "text"
        sent_messages, sent_tools = _on_the_wire(messages, offered, text_mode)
        key = request_key(identity, sent_messages, sent_tools, merged) if self.cache is not None else None
        if key is not None:
            hit = self._cached(key, offered, text_mode, step)
            if hit is not None:
                return hit
        completion = await self._request(sent_messages, sent_tools, merged, step)
        completion = read_answer(completion, offered, text_mode)
        if key is not None:
            self.cache.put(key, completion.to_dict(), model=self.model, step=step)
            completion = dataclasses.replace(completion, request_key=key)
        return completion

    def _cached(
        self, key: str, offered: list[Mapping[str, Any]] | None, text_mode: bool, step: str
    ) -> Completion | None:
        """The cached answer under ``key``, read as a fresh answer is (an entry an older version wrote may still
        hold reasoning or calls in its text), or None."""
        stored = self.cache.get(key) if self.cache is not None else None
        if stored is None:
            return None
        self.usage.record_cache_hit(step)
        completion = read_answer(Completion.from_dict(stored, cached=True), offered, text_mode)
        return dataclasses.replace(completion, request_key=key)

    async def _request(
        self,
        messages: list[Mapping[str, Any]],
        tools: list[Mapping[str, Any]] | None,
        params: dict[str, Any],
        step: str,
    ) -> Completion:
        raise NotImplementedError

    async def aclose(self) -> None:
        """Release what the teacher holds for the running event loop (connections); nothing by default."""


def _on_the_wire(
    messages: Sequence[Mapping[str, Any]], offered: list[Mapping[str, Any]] | None, text_mode: bool
) -> tuple[list[Mapping[str, Any]], list[Mapping[str, Any]] | None]:
    """``(messages, tools)`` as a request sends them: in ``text`` mode the tools described in the messages."""
    if text_mode and offered:
        return with_tools_as_text(messages, offered), None
    return list(messages), offered


def read_answer(completion: Completion, tools: Sequence[Mapping[str, Any]] | None, text_mode: bool) -> Completion:
    """The answer as Magnet uses and stores it: reasoning removed; calls decoded from its text when the request
    offered tools and the answer has no ``tool_calls`` (in ``text`` mode any call; otherwise only calls of the
    offered functions, so that a bracketed list in prose does not become a call)."""
    text = strip_reasoning(completion.text)
    if tools and not completion.tool_calls and text:
        offered = {tool.get("function", tool).get("name") for tool in tools}
        calls, rest = decode_text_calls(text, None if text_mode else offered)
        if not calls and text_mode:  # calls of the offered functions amid prose: "Let me check: `f(a=1)`."
            try:
                calls, rest = scan_calls(text, offered, alone=True)
            except CallParseError:
                calls = []
        if calls:
            finish = "tool_calls" if completion.finish_reason == "stop" else completion.finish_reason
            return dataclasses.replace(completion, text=rest, tool_calls=tuple(calls), finish_reason=finish)
    return dataclasses.replace(completion, text=text)
