"""Teachers: one protocol for every model Magnet asks something of.

``Teacher.complete(messages, tools=None, *, step, **params) -> Completion`` is all a synthesis step or an
evaluation runner needs. ``OpenAITeacher`` talks to any OpenAI-compatible endpoint (vLLM, SGLang, llama.cpp,
hosted APIs); ``HFTeacher`` (``magnet.llm.local``) runs a local transformers model; the offline backend
(``magnet.synthesis.offline``) answers every step deterministically with no model at all. Whatever the teacher,
requests go through the same cache and the same usage accounting, keyed by the step that made them.

``step`` names the synthesis step (for accounting and the cache's bookkeeping); every teacher, the offline
backend included, answers from the messages, the tools and the sampling parameters alone.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
import random
import re
import time
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from magnet.errors import CallParseError, EndpointRefused, MagnetError, TeacherError
from magnet.llm.answers import decode_text_calls, scan_calls, strip_reasoning, with_tools_as_text
from magnet.llm.cache import RequestCache, request_key
from magnet.llm.usage import UsageTracker
from magnet.tools.calls import FunctionCall, parse_tool_calls

logger = logging.getLogger(__name__)

# Request timeout, conflict, too early: worth another try, unlike other 4xx.
RETRYABLE_CLIENT_STATUSES = (408, 409, 425)
LOCAL_HOSTS = ("127.0.0.1", "localhost", "0.0.0.0", "[::1]")
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
# A 400 about the length of one request fails that request only, not the run.
_CONTEXT_LENGTH = re.compile(
    r"context length|context_length|context window|maximum context|prompt is too long|input is too long"
    r"|too many (?:input )?tokens|reduce the length",
    re.IGNORECASE,
)
# A 400/422 about the sampling seed (an extra field the endpoint forbids).
_NAMES_SEED = re.compile(r"\bseed\b", re.IGNORECASE)
# What vLLM, SGLang and llama.cpp say when they were started without tool calling.
_NO_TOOL_CALLING = re.compile(
    r"tool.choice|tool-call-parser|enable-auto-tool-choice|tools? (?:is|are) not supported|does not support tools"
    r"|--jinja",
    re.IGNORECASE,
)


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


class _MalformedAnswer(Exception):
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


class OpenAITeacher(CachingTeacher):
    """A model behind an OpenAI-compatible chat-completions endpoint, through ``openai.AsyncOpenAI``.

    Parameters
    ----------
    model:
        The model name the endpoint serves.
    base_url:
        The endpoint (``http://127.0.0.1:8000/v1`` for a local vLLM); ``None`` for OpenAI's.
    api_key_env:
        Name of the environment variable holding the key. The key is read when the client is built and handed
        to the ``openai`` client only: it is never stored on the teacher, cached, logged or written. Local
        endpoints without a key get a placeholder.
    max_concurrency:
        Requests in flight at once (a semaphore; retries wait outside it).
    timeout:
        Seconds one attempt may take.
    max_retries:
        Further attempts after a 429, a 5xx, a timeout, a connection error or a malformed answer, with
        exponential backoff and jitter (a 429's ``Retry-After`` is honoured). Other 4xx are not retried: one
        about a request's length fails that request (``TeacherError``); any other stops the run
        (``EndpointRefused``, saying what was refused and how to fix it).
    tool_calls:
        ``auto`` (default), ``native`` or ``text`` (see ``TOOL_CALL_MODES``). ``auto`` sends two one-token
        probes, with and without a tool: a 4xx to the first (vLLM without ``--enable-auto-tool-choice``), or the
        same prompt length for both (a chat template that ignores tools, as ``transformers serve`` with a model
        whose template has no tools), means ``text``.
    """

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        max_concurrency: int = 16,
        timeout: float = 60.0,
        max_retries: int = 6,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        seed: int = 0,
        cache: RequestCache | None = None,
        usage: UsageTracker | None = None,
        default_params: Mapping[str, Any] | None = None,
        tool_calls: str = "auto",
    ):
        super().__init__(cache=cache, usage=usage, default_params=default_params, tool_calls=tool_calls)
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        self.model = model
        self.base_url = base_url
        self.api_key_env = api_key_env
        self.max_concurrency = max_concurrency
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.name = f"openai:{model}"
        self._jitter = random.Random(seed)
        self._refuses_seed = False  # set when the endpoint refuses a sampling seed
        self._per_loop: tuple[asyncio.AbstractEventLoop, Any, asyncio.Semaphore] | None = None
        self._retired: list[Any] = []
        if not os.environ.get(api_key_env) and not self._is_local():
            raise TeacherError(
                f"OpenAITeacher({model!r}): the environment variable {api_key_env} is not set; export the API key "
                "there (it is read from the environment only, never from files or arguments)",
                cause="configuration",
            )

    def cache_identity(self) -> str:
        """The model at its endpoint: the same name behind two servers is two models."""
        return f"{self.model}@{self.base_url or 'https://api.openai.com/v1'}"

    def __repr__(self) -> str:
        return f"OpenAITeacher(model={self.model!r}, base_url={self.base_url!r}, api_key_env={self.api_key_env!r})"

    def _is_local(self) -> bool:
        """Whether ``base_url`` points at this machine (its parsed host; ``localhost.example.com`` is not)."""
        if not self.base_url:
            return False
        host = urllib.parse.urlsplit(self.base_url).hostname or ""
        return host in {name.strip("[]") for name in LOCAL_HOSTS}

    def _loop_state(self) -> tuple[Any, asyncio.Semaphore]:
        """The client and semaphore of the running event loop (both are bound to a loop)."""
        import httpx2  # openai's HTTP library
        import openai

        loop = asyncio.get_running_loop()
        if self._per_loop is None or self._per_loop[0] is not loop:
            # A pool sized to the concurrency: httpx scans its whole pool for every request, and openai's
            # default pool (1,000 connections) costs more CPU than the requests themselves at high concurrency.
            http_client = openai.DefaultAsyncHttpxClient(
                limits=httpx2.Limits(
                    max_connections=self.max_concurrency, max_keepalive_connections=self.max_concurrency
                ),
                timeout=self.timeout,
            )
            client = openai.AsyncOpenAI(
                base_url=self.base_url,
                api_key=os.environ.get(self.api_key_env) or "EMPTY",
                timeout=self.timeout,
                max_retries=0,
                http_client=http_client,
            )
            if self._per_loop is not None:
                # A client of a finished loop cannot be closed any more, and if garbage-collected while another
                # loop runs, openai schedules its close on that loop, which fails noisily: keep it referenced.
                self._retired.append(self._per_loop[1])
            self._per_loop = (loop, client, asyncio.Semaphore(self.max_concurrency))
        return self._per_loop[1], self._per_loop[2]

    async def aclose(self) -> None:
        """Close the HTTP client of the running event loop (call it before the loop ends)."""
        if self._per_loop is not None and self._per_loop[0] is asyncio.get_running_loop():
            await self._per_loop[1].close()
            self._per_loop = None

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(self.backoff_max, retry_after) * (1 + 0.1 * self._jitter.random())
        ceiling = min(self.backoff_max, self.backoff_initial * 2**attempt)
        return ceiling * (0.5 + 0.5 * self._jitter.random())

    async def _request(
        self,
        messages: list[Mapping[str, Any]],
        tools: list[Mapping[str, Any]] | None,
        params: dict[str, Any],
        step: str,
    ) -> Completion:
        import openai

        client, semaphore = self._loop_state()
        if self._refuses_seed:
            params = {key: value for key, value in params.items() if key != "seed"}
        payload: dict[str, Any] = {"model": self.model, "messages": to_openai_messages(messages), **params}
        if tools:
            payload["tools"] = tools
        for attempt in range(self.max_retries + 1):
            retry_after = None
            async with semaphore:
                self.usage.record_request(step)
                started = time.perf_counter()
                try:
                    # The client's own POST, with the payload already in wire format and the body returned as
                    # bytes: the typed ``chat.completions.create`` re-walks every message against its TypedDicts
                    # and builds pydantic models of the answer, which at high concurrency costs more CPU than the
                    # request itself. Status errors are still the client's.
                    body = await client.post("/chat/completions", cast_to=bytes, body=payload)
                    completion = _completion_from_body(body, time.perf_counter() - started, self.model)
                except openai.RateLimitError as error:
                    cause, detail = "rate_limit", str(error)
                    retry_after = retry_after_seconds(error.response.headers if error.response else None)
                except openai.APITimeoutError:
                    cause, detail = "timeout", f"no answer within {self.timeout:g} s"
                except openai.APIConnectionError as error:
                    cause, detail = "connection", str(error)
                except openai.APIStatusError as error:
                    if (
                        "seed" in payload
                        and error.status_code in (400, 422)
                        and _NAMES_SEED.search(_server_message(error))
                    ):
                        # Some endpoints (Azure's non-OpenAI models, Mistral's API) take no sampling seed: the
                        # request goes again without it, and so do all later ones.
                        logger.warning("%s: the endpoint refuses a sampling seed; sending none", self.name)
                        self._refuses_seed = True
                        payload.pop("seed")
                        cause, detail = "seed_refused", f"{error.status_code}: {_server_message(error)}"
                    elif error.status_code < 500 and error.status_code not in RETRYABLE_CLIENT_STATUSES:
                        self.usage.record_failure(step, f"http_{error.status_code}")
                        raise self._refusal(error, bool(tools)) from None
                    else:
                        cause, detail = "server_error", f"{error.status_code}: {error}"
                except (openai.APIResponseValidationError, json.JSONDecodeError, ValueError) as error:
                    cause, detail = "malformed_response", f"{type(error).__name__}: {error}"
                except _MalformedAnswer as error:
                    cause, detail = error.cause, str(error)
                else:
                    self.usage.record_answer(
                        step, self.model, completion.prompt_tokens, completion.completion_tokens, completion.latency
                    )
                    return completion
            if attempt == self.max_retries:
                self.usage.record_failure(step, cause)
                raise TeacherError(f"{self.name}: {cause} after {attempt + 1} attempts ({detail})", cause=cause)
            self.usage.record_retry(step, cause)
            logger.debug("%s %s attempt %d failed (%s); retrying", self.name, step, attempt + 1, cause)
            await asyncio.sleep(self._backoff(attempt, retry_after))
        raise AssertionError("unreachable")

    def _refusal(self, error: Any, offered_tools: bool) -> Exception:
        """What a 4xx means: a ``TeacherError`` for a request too long for the model (that item fails), else an
        ``EndpointRefused`` that stops the run, with the server's words and the likely fix."""
        status = error.status_code
        said = _server_message(error)
        if status in (400, 413, 422) and _CONTEXT_LENGTH.search(said):
            return TeacherError(
                f"{self.name}: the request is too long for the model ({status}: {said})", cause="too_long"
            )
        where = f"{self.base_url or 'OpenAI'} (model {self.model!r})"
        if status == 400 and offered_tools and _NO_TOOL_CALLING.search(said):
            fix = (
                "the server does not take tools: start vLLM with --enable-auto-tool-choice --tool-call-parser "
                "hermes (Qwen2.5; the parser that fits your model), or set tool_calls: text (or auto) to describe "
                "the tools in the prompt instead"
            )
        elif status in (401, 403):
            fix = f"check the API key in ${self.api_key_env} and that it may use this model"
        elif status == 404:
            fix = (
                f"the endpoint does not serve {self.model!r} or base_url is wrong (it ends in /v1 for vLLM, "
                "SGLang and transformers serve; GET <base_url>/models lists the served names)"
            )
        else:
            fix = "the request was refused as it is; no retry can mend it"
        return EndpointRefused(f"{where} refused a request (HTTP {status}: {said}); {fix}")

    async def _detect_tool_calls(self) -> tuple[str, str]:
        """Two one-token probes, with and without a tool, bypassing the cache (a refusal is not an answer)."""
        if self.base_url is None:
            return "native", "OpenAI's API takes tools"
        params = {"max_tokens": 1, "temperature": 0.0}
        try:
            with_tool = await self._request(list(PROBE_MESSAGES), [PROBE_TOOL], params, "tool_call_probe")
        except EndpointRefused as refused:
            try:
                await self._request(list(PROBE_MESSAGES), None, params, "tool_call_probe")
            except EndpointRefused as also:
                # Refused either way (an unknown model, a parameter it does not take): the probes tell nothing,
                # and the first real request will say what is wrong.
                return "native", f"the probes were refused with and without tools ({also})"
            return "text", f"the endpoint refuses requests with tools ({refused})"
        without = await self._request(list(PROBE_MESSAGES), None, params, "tool_call_probe")
        if with_tool.tool_calls or with_tool.prompt_tokens > without.prompt_tokens:
            return (
                "native",
                f"the endpoint renders tools (prompt {without.prompt_tokens} -> {with_tool.prompt_tokens} tokens)",
            )
        if with_tool.prompt_tokens and with_tool.prompt_tokens == without.prompt_tokens:
            return "text", (
                f"the endpoint accepts tools but its chat template ignores them (prompt {without.prompt_tokens} "
                "tokens with and without a tool)"
            )
        return "native", "the endpoint reports no token counts, so tools are sent as they are"


def _server_message(error: Any) -> str:
    """The server's own words in an error response (OpenAI's ``error.message``, vLLM's ``message``), shortened."""
    body = getattr(error, "body", None)
    message = None
    if isinstance(body, Mapping):
        inner = body.get("error") if isinstance(body.get("error"), Mapping) else body
        message = inner.get("message") or inner.get("detail")
    text = str(message or getattr(error, "message", "") or error)
    return text if len(text) <= 300 else text[:300] + "..."


def _completion_from_body(body: bytes, latency: float, model: str) -> Completion:
    """A ``Completion`` from a chat-completion response body; anything else is a malformed answer (retried)."""
    try:
        data = json.loads(body)
        choice = data["choices"][0]
        message = choice["message"]
        if not isinstance(message, dict):
            raise TypeError(f"message is {type(message).__name__}")
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, IndexError, TypeError, RecursionError) as error:
        raise _MalformedAnswer(
            "malformed_response", f"not a chat completion ({type(error).__name__}: {error}): {body[:120]!r}"
        ) from None
    try:
        calls = tuple(parse_tool_calls(message.get("tool_calls") or []))
    except (CallParseError, RecursionError) as error:
        raise _MalformedAnswer("malformed_tool_call", str(error)) from None
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
