"""How a chat-completions request crosses the wire: a JSON body POSTed, the response body back as bytes, and every
failure as one of three exceptions the teacher's retry policy reads (``magnet.llm.openai_teacher``).

Two transports:

- ``AiohttpTransport`` (``http_client: aiohttp``): one ``aiohttp.ClientSession`` per event loop, the body
  serialized once with ``json.dumps``, one ``Authorization`` header. At hundreds of requests a second the client's
  CPU per request is what limits one process, and the ``openai`` client spends most of its own building a request
  (option models, URL parsing, header merging) and adapting ``httpx`` to aiohttp; going straight to the aiohttp
  session it wraps costs about a third (``benchmarks/synth_throughput.py --transports``).
- ``OpenAIClientTransport`` (``http_client: openai`` or ``httpx``): the ``openai`` client's own POST, on its
  aiohttp transport (``DefaultAioHttpClient``) or on httpx, for everything the client reads from the environment
  (``OPENAI_ORG_ID``, ``OPENAI_PROJECT_ID``, httpx's proxy settings) or a deployment that needs its exact headers.

All send the same body and map failures to the same three exceptions (tested on each against one server), with
two differences of the openai client's own: its vendored aiohttp adapter reports a refused connection as a timeout,
and its ``timeout`` bounds each phase of an attempt (connect, read, write) rather than the whole attempt.
"""

from __future__ import annotations

import asyncio
import json
import os
import urllib.parse
import urllib.request
from collections.abc import AsyncGenerator, Mapping
from typing import Any, Protocol

OPENAI_URL = "https://api.openai.com/v1"


class HttpStatusFailure(Exception):
    """The endpoint answered with an HTTP error status. ``body`` is its parsed JSON (``None`` if it was none),
    ``message`` its text, as ``openai.APIStatusError`` carries them (``magnet.llm.wire.server_message`` reads
    either)."""

    def __init__(self, status: int, headers: Mapping[str, str], body: Any, message: str):
        self.status = status
        self.headers = headers
        self.body = body
        self.message = message
        super().__init__(f"HTTP {status}: {message}")


class HttpTimeout(Exception):
    """No complete answer within the attempt's time."""


class HttpConnectionFailure(Exception):
    """The connection failed or broke before a complete answer (refused, reset, cut short)."""


class Transport(Protocol):
    """POSTs a JSON body to ``<base_url>/chat/completions`` and returns the response body."""

    async def post_json(self, payload: Mapping[str, Any]) -> bytes: ...

    async def close(self) -> None: ...

    keep_after_retire: bool
    """Whether the teacher must keep the transport referenced once its loop is left (see ``retire``)."""

    def retire(self) -> None:
        """Let go of a transport whose event loop has finished (it can no longer be closed there)."""


def env_proxy(url: str) -> str | None:
    """The proxy the environment names for ``url`` (``HTTPS_PROXY``, ``HTTP_PROXY``, ``ALL_PROXY``, less
    ``NO_PROXY``), as httpx and requests read them; ``None`` for none. aiohttp speaks only to HTTP proxies: any
    other (``socks5://``) is a ``ValueError`` that says so."""
    parts = urllib.parse.urlsplit(url)
    if parts.hostname and urllib.request.proxy_bypass(parts.hostname):
        return None
    proxies = urllib.request.getproxies()
    proxy = proxies.get(parts.scheme) or proxies.get("all") or None
    if proxy is not None and urllib.parse.urlsplit(proxy).scheme not in ("http", "https"):
        raise ValueError(
            f"the environment's proxy for {parts.scheme} is {proxy}, which is no HTTP proxy and aiohttp cannot use "
            "it: set an HTTP proxy, or http_client: httpx (SOCKS needs httpx[socks])"
        )
    return proxy


def openai_headers() -> dict[str, str]:
    """The organization and project headers the ``openai`` client sends from ``OPENAI_ORG_ID`` and
    ``OPENAI_PROJECT_ID``, so that requests bill where they did through it."""
    names = {"OPENAI_ORG_ID": "OpenAI-Organization", "OPENAI_PROJECT_ID": "OpenAI-Project"}
    return {header: os.environ[variable] for variable, header in names.items() if os.environ.get(variable)}


def _parsed(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return None


class AiohttpTransport:
    """An ``aiohttp.ClientSession`` bound to the running event loop, sized to the teacher's concurrency.

    ``timeout`` bounds a whole attempt (connect, send and read), as the teacher's ``timeout`` promises. The
    proxy variables of the environment are honoured as httpx honours them, read once (``env_proxy``). aiohttp's
    own ``trust_env`` would look ``~/.netrc`` up in a worker thread for every request (a thread round trip each:
    at 100 ms x 64 in flight it cost a fifth of the throughput), and a netrc entry for the host would clash
    with the ``Authorization`` header.

    A teacher is often used under ``asyncio.run`` and never closed (a notebook, a test, one ``asyncio.run`` per
    request). The session then closes itself when its loop ends: the first request starts an async generator
    whose ``finally`` closes the session, and ``asyncio.run`` finishes every async generator of its loop
    (``loop.shutdown_asyncgens``) before closing it. A loop closed without that leaves ``retire`` to let go.
    """

    def __init__(self, base_url: str | None, api_key: str, *, max_connections: int, timeout: float):
        import aiohttp

        self.url = (base_url or OPENAI_URL).rstrip("/") + "/chat/completions"
        self.timeout = timeout
        self._loop = asyncio.get_running_loop()
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=max_connections),
            timeout=aiohttp.ClientTimeout(total=timeout),
            headers={"Authorization": f"Bearer {api_key}", "Content-Type": "application/json", **openai_headers()},
        )
        self._proxy = env_proxy(self.url)
        self._closes_at_loop_end: AsyncGenerator[None, None] | None = None

    keep_after_retire = False  # once retired it holds nothing that must outlive it

    async def post_json(self, payload: Mapping[str, Any]) -> bytes:
        import aiohttp

        if self._closes_at_loop_end is None:
            self._closes_at_loop_end = _close_at_loop_end(self._session)
            await anext(self._closes_at_loop_end)
        data = json.dumps(payload, ensure_ascii=False).encode()
        try:
            async with self._session.post(self.url, data=data, proxy=self._proxy) as response:
                raw = await response.read()
                if response.status >= 400:
                    raise HttpStatusFailure(
                        response.status,
                        response.headers,
                        _parsed(raw),
                        raw.decode(errors="replace")[:2000] or response.reason or "",
                    )
                return raw
        except asyncio.TimeoutError:  # aiohttp's own timeouts are subclasses
            raise HttpTimeout(f"no answer within {self.timeout:g} s") from None
        except (aiohttp.ClientError, OSError) as error:
            raise HttpConnectionFailure(f"{type(error).__name__}: {error}") from None

    async def close(self) -> None:
        await self._session.close()

    def retire(self) -> None:
        # A loop still open (a notebook's, another thread's) closes the session itself when it finishes its async
        # generators; closing its connections from here, outside it, would not be safe.
        if self._session.closed or not self._loop.is_closed():
            return
        # The loop that owned the session was closed without finishing its async generators, so its
        # connections cannot be closed the usual way (that takes the loop). The session is detached (marked
        # closed) and the pool marked closed by aiohttp's own close, which does no I/O once its loop is closed;
        # each socket is closed when its asyncio transport is collected. Without this, both warn when collected.
        connector = self._session.connector
        self._session.detach()
        if connector is not None:
            connector._close()  # the synchronous half of ``close()``; the public one returns an awaitable


async def _close_at_loop_end(session: Any) -> AsyncGenerator[None, None]:
    """Suspended until its loop finishes its async generators (the end of ``asyncio.run``), then closes
    ``session`` on that loop, as an explicit ``close`` would."""
    try:
        yield
    finally:
        if not session.closed:
            await session.close()


class OpenAIClientTransport:
    """The ``openai`` client's own POST (``client.post`` with ``cast_to=bytes``: the payload is already in wire
    format, so the typed ``chat.completions.create`` would only re-walk it), on aiohttp or httpx."""

    def __init__(self, base_url: str | None, api_key: str, *, max_connections: int, timeout: float, kind: str):
        import httpx2  # openai's HTTP library
        import openai

        # A pool sized to the concurrency: httpx scans its whole pool for every request, and openai's default
        # pool (1,000 connections) costs more CPU than the requests themselves at high concurrency.
        limits = httpx2.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
        make = openai.DefaultAioHttpClient if kind == "aiohttp" else openai.DefaultAsyncHttpxClient
        self.timeout = timeout
        self._client = openai.AsyncOpenAI(
            base_url=base_url,
            api_key=api_key,
            timeout=timeout,
            max_retries=0,
            http_client=make(limits=limits, timeout=timeout),
        )

    async def post_json(self, payload: Mapping[str, Any]) -> bytes:
        import openai

        try:
            return await self._client.post("/chat/completions", cast_to=bytes, body=payload)
        except openai.APIStatusError as error:
            raise HttpStatusFailure(error.status_code, error.response.headers, error.body, error.message) from None
        except openai.APITimeoutError:
            raise HttpTimeout(f"no answer within {self.timeout:g} s") from None
        except openai.APIConnectionError as error:
            raise HttpConnectionFailure(str(error)) from None

    async def close(self) -> None:
        await self._client.close()

    keep_after_retire = True

    def retire(self) -> None:
        # A client of a finished loop cannot be closed any more, and if garbage-collected while another loop
        # runs, openai schedules its close on that loop, which fails noisily: the teacher keeps it referenced
        # (``keep_after_retire``).
        pass
