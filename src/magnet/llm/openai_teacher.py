"""``OpenAITeacher``: a model behind any OpenAI-compatible chat-completions endpoint (vLLM, SGLang, llama.cpp,
``transformers serve``, hosted APIs), over aiohttp or through ``openai.AsyncOpenAI`` (``magnet.llm.transport``).

This module owns what talking to a remote endpoint takes: one transport and semaphore per event loop, retries with
backoff (honouring ``Retry-After``), a sampling seed the endpoint refuses, refusals turned into errors that say
how to fix them, and the ``auto`` probes of whether the endpoint renders tools. The cache, the accounting and the
tool-call modes are ``CachingTeacher``'s (``magnet.llm.caching_teacher``).
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import os
import random
import re
import time
import urllib.parse
from collections.abc import Mapping
from typing import Any

from magnet.errors import EndpointRefused, TeacherError
from magnet.llm.cache import RequestCache
from magnet.llm.caching_teacher import PROBE_MESSAGES, PROBE_TOOL, CachingTeacher
from magnet.llm.teacher import Completion
from magnet.llm.transport import (
    OPENAI_URL,
    AiohttpTransport,
    HttpConnectionFailure,
    HttpStatusFailure,
    HttpTimeout,
    OpenAIClientTransport,
    Transport,
    env_proxy,
)
from magnet.llm.usage import UsageTracker
from magnet.llm.wire import (
    MalformedAnswer,
    completion_from_body,
    retry_after_seconds,
    server_message,
    to_openai_messages,
)

logger = logging.getLogger(__name__)

# Request timeout, conflict, too early: worth another try, unlike other 4xx.
RETRYABLE_CLIENT_STATUSES = (408, 409, 425)
LOCAL_HOSTS = ("127.0.0.1", "localhost", "0.0.0.0", "[::1]")
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


HTTP_CLIENTS = ("auto", "aiohttp", "openai", "httpx")


def _aiohttp_installed() -> bool:
    """Whether aiohttp is installed (the ``openai[aiohttp]`` extra Magnet depends on)."""
    return importlib.util.find_spec("aiohttp") is not None


class OpenAITeacher(CachingTeacher):
    """A model behind an OpenAI-compatible chat-completions endpoint.

    Parameters
    ----------
    model:
        The model name the endpoint serves.
    base_url:
        The endpoint (``http://127.0.0.1:8000/v1`` for a local vLLM); ``None``: ``$OPENAI_BASE_URL`` where it is
        set (as the ``openai`` client reads it), else OpenAI's. Requests carry ``$OPENAI_ORG_ID`` and
        ``$OPENAI_PROJECT_ID`` as the openai client sends them.
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
    http_client:
        How requests cross the wire (``magnet.llm.transport``): ``aiohttp`` (one aiohttp session, the body
        serialized once: the least client CPU per request, which is what limits one process at hundreds of
        requests/s, ``benchmarks/synth_throughput.py``), ``openai`` (the ``openai`` client on its aiohttp
        transport, for what it reads from the environment: organization, project, proxies), ``httpx`` (the
        ``openai`` client on httpx, no aiohttp needed) or ``auto`` (default: aiohttp where it is installed, the
        ``openai[aiohttp]`` extra, else httpx). All three retry and refuse by the same rules (two differences of
        the openai client's: ``magnet.llm.transport``).
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
        http_client: str = "auto",
    ):
        super().__init__(cache=cache, usage=usage, default_params=default_params, tool_calls=tool_calls)
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        if http_client not in HTTP_CLIENTS:
            raise ValueError(f"http_client must be one of {HTTP_CLIENTS}, got {http_client!r}")
        if http_client in ("aiohttp", "openai") and not _aiohttp_installed():
            raise TeacherError(
                f"OpenAITeacher: http_client {http_client} needs the aiohttp package: pip install 'openai[aiohttp]' "
                "(or set http_client: httpx)",
                cause="configuration",
            )
        if http_client == "auto":
            http_client = "aiohttp" if _aiohttp_installed() else "httpx"
        if http_client == "aiohttp":
            try:  # a proxy aiohttp cannot use is a configuration error now, not a connection failure per request
                env_proxy(base_url or os.environ.get("OPENAI_BASE_URL") or OPENAI_URL)
            except ValueError as error:
                raise TeacherError(f"OpenAITeacher: {error}", cause="configuration") from None
        self.http_client = http_client
        self.model = model
        self.base_url = base_url or os.environ.get("OPENAI_BASE_URL") or None  # as the openai client reads it
        self.api_key_env = api_key_env
        self.max_concurrency = max_concurrency
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.name = f"openai:{model}"
        self._jitter = random.Random(seed)
        self._refuses_seed = False  # set when the endpoint refuses a sampling seed
        self._per_loop: tuple[asyncio.AbstractEventLoop, Transport, asyncio.Semaphore] | None = None
        self._retired: list[Transport] = []  # openai-client transports of finished loops, kept referenced
        if not os.environ.get(api_key_env) and not self._is_local():
            raise TeacherError(
                f"OpenAITeacher({model!r}): the environment variable {api_key_env} is not set; export the API key "
                "there (it is read from the environment only, never from files or arguments)",
                cause="configuration",
            )

    def cache_identity(self) -> str:
        """The model at its endpoint: the same name behind two servers is two models."""
        return f"{self.model}@{self.base_url or OPENAI_URL}"

    def __repr__(self) -> str:
        return f"OpenAITeacher(model={self.model!r}, base_url={self.base_url!r}, api_key_env={self.api_key_env!r})"

    def _is_local(self) -> bool:
        """Whether ``base_url`` points at this machine (its parsed host; ``localhost.example.com`` is not)."""
        if not self.base_url:
            return False
        host = urllib.parse.urlsplit(self.base_url).hostname or ""
        return host in {name.strip("[]") for name in LOCAL_HOSTS}

    def _loop_state(self) -> tuple[Transport, asyncio.Semaphore]:
        """The transport and semaphore of the running event loop (both are bound to a loop)."""
        loop = asyncio.get_running_loop()
        if self._per_loop is None or self._per_loop[0] is not loop:
            api_key = os.environ.get(self.api_key_env) or "EMPTY"
            options = {"max_connections": self.max_concurrency, "timeout": self.timeout}
            if self.http_client == "aiohttp":
                transport: Transport = AiohttpTransport(self.base_url, api_key, **options)
            else:
                kind = "aiohttp" if self.http_client == "openai" else "httpx"
                transport = OpenAIClientTransport(self.base_url, api_key, kind=kind, **options)
            if self._per_loop is not None:
                self._per_loop[1].retire()
                if self._per_loop[1].keep_after_retire:
                    self._retired.append(self._per_loop[1])
            self._per_loop = (loop, transport, asyncio.Semaphore(self.max_concurrency))
        return self._per_loop[1], self._per_loop[2]

    async def aclose(self) -> None:
        """Close the transport of the running event loop (call it before the loop ends)."""
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
        transport, semaphore = self._loop_state()
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
                    body = await transport.post_json(payload)
                    completion = completion_from_body(body, time.perf_counter() - started, self.model)
                except HttpStatusFailure as error:
                    if error.status == 429:
                        cause, detail = "rate_limit", str(error)
                        retry_after = retry_after_seconds(error.headers)
                    elif "seed" in payload and error.status in (400, 422) and _NAMES_SEED.search(server_message(error)):
                        # Some endpoints (Azure's non-OpenAI models, Mistral's API) take no sampling seed: the
                        # request goes again without it, and so do all later ones.
                        logger.warning("%s: the endpoint refuses a sampling seed; sending none", self.name)
                        self._refuses_seed = True
                        payload.pop("seed")
                        cause, detail = "seed_refused", f"{error.status}: {server_message(error)}"
                    elif error.status < 500 and error.status not in RETRYABLE_CLIENT_STATUSES:
                        self.usage.record_failure(step, f"http_{error.status}")
                        raise self._refusal(error, bool(tools)) from None
                    else:
                        cause, detail = "server_error", f"{error.status}: {server_message(error)}"
                except HttpTimeout:
                    cause, detail = "timeout", f"no answer within {self.timeout:g} s"
                except HttpConnectionFailure as error:
                    cause, detail = "connection", str(error)
                except ValueError as error:  # a body no JSON reader takes
                    cause, detail = "malformed_response", f"{type(error).__name__}: {error}"
                except MalformedAnswer as error:
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

    def _refusal(self, error: HttpStatusFailure, offered_tools: bool) -> Exception:
        """What a 4xx means: a ``TeacherError`` for a request too long for the model (that item fails), else an
        ``EndpointRefused`` that stops the run, with the server's words and the likely fix."""
        status = error.status
        said = server_message(error)
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
