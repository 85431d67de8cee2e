"""A real OpenAI chat-completions server on 127.0.0.1, for tests and benchmarks.

Code that talks to teachers (synthesis, evaluation, the request cache) has to be tested against what really crosses
the wire: the real ``openai`` client, real HTTP, real timeouts, retries and ``Retry-After`` headers. A mocked client
hides exactly the bugs that matter there. ``LoopbackServer`` is an ``aiohttp.web`` application (one event loop in
a background thread) that speaks enough of the API for the client to parse its answers, answers from a script
(``magnet.llm.replies``), and adds latency and faults (500, 429, hangs, malformed JSON, truncated tool calls)
on request. Latency is an ``asyncio.sleep``, not a thread per request, so benchmarks at high concurrency measure
the client. HTTP itself (framing, keep-alive, ``Expect: 100-continue``, chunked bodies) is aiohttp's.

The fault of a request is a pure function of (seed, the request body, how many times that exact body was received
before; ``magnet.testing.faults``), so a run is reproducible under any interleaving of concurrent requests, and a
retry of a failed request can succeed. The server binds only 127.0.0.1, writes nothing to disk and never reads the
``Authorization`` header.

aiohttp is imported by ``start()``, not by this module, so that ``Reply`` and the responders import without it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import json
import threading
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from magnet.llm.replies import Reply, Responder, content_text, echo_responder, scripted
from magnet.testing.faults import FAULT_KINDS, canonical, check_faults, pick_fault

if TYPE_CHECKING:
    from aiohttp import web

__all__ = [
    "CREATED",
    "FAULT_KINDS",
    "OUTCOMES",
    "VLLM_NO_TOOL_PARSER",
    "LoopbackServer",
    "Reply",
    "Responder",
    "echo_responder",
    "main",
    "scripted",
]

OUTCOMES = ("ok", *FAULT_KINDS, "bad_request", "responder_error")
"""Every key ``LoopbackServer.outcomes`` can count."""

VLLM_NO_TOOL_PARSER = {
    "object": "error",
    "message": '"auto" tool choice requires --enable-auto-tool-choice and --tool-call-parser to be set',
    "type": "BadRequestError",
    "param": None,
    "code": 400,
}
"""vLLM's answer (0.6 to 0.11) to a request with ``tools`` when it was started without a tool parser."""

CREATED = 1_700_000_000
"""The fixed ``created`` time of every completion, so that answers are reproducible."""

_MAX_BODY = 1 << 30
"""The largest request body read: aiohttp's default (1 MiB) is less than a request offering many tools can be."""

_SHUTDOWN_GRACE = 0.1
"""Seconds ``stop()`` lets a request in flight finish before cancelling it (a hang must not hold ``stop()``)."""


@dataclass(frozen=True)
class _Response:
    """An HTTP response with a JSON body, sent after ``delay`` seconds."""

    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()
    delay: float = 0.0


class LoopbackServer:
    """An OpenAI-compatible chat-completions server on ``127.0.0.1``, for the real ``openai`` client.

    Use it as a context manager, or call ``start()`` and ``stop()``; point a client at ``base_url``::

        with LoopbackServer(latency=0.1, faults={"rate_limit_429": 0.2}) as server:
            client = openai.OpenAI(base_url=server.base_url, api_key="sk-test")

    ``responder`` answers each request (a function of the request body, a list of replies used round-robin, or
    None for ``echo_responder``). ``latency`` seconds are added to every chat-completion answer. ``faults`` maps
    kinds of ``FAULT_KINDS`` to probabilities (summing to at most 1); ``hang`` waits ``hang_seconds`` before
    answering normally, ``rate_limit_429`` asks the client to retry after ``retry_after`` seconds. The counters
    ``requests``, ``outcomes`` and ``received`` (the first ``max_recorded`` bodies, when ``record_bodies``) count
    chat-completion requests only; they are safe to read from any thread while the server runs. With
    ``tool_parser=False`` it plays vLLM started without ``--enable-auto-tool-choice --tool-call-parser``: every
    request that offers ``tools`` gets vLLM's HTTP 400; with ``takes_seed=False`` an endpoint that forbids the
    ``seed`` field (HTTP 422, as Azure AI's pydantic validation answers).

    Routes: ``POST /v1/chat/completions`` and ``GET /v1/models``; anything else is a 404 with an OpenAI error body.
    Subclasses may override ``_respond(body, fault) -> _Response`` to play other endpoints' refusals.
    """

    def __init__(
        self,
        responder: Responder | Sequence[Reply | str] | None = None,
        *,
        latency: float = 0.0,
        faults: Mapping[str, float] | None = None,
        seed: int = 0,
        retry_after: float = 0.05,
        hang_seconds: float = 30.0,
        record_bodies: bool = True,
        max_recorded: int = 10_000,
        models: Sequence[str] = ("loopback",),
        tool_parser: bool = True,
        takes_seed: bool = True,
    ):
        if responder is None:
            responder = echo_responder
        elif not callable(responder):
            responder = scripted(responder)
        self.responder: Responder = responder
        for name, value in (("latency", latency), ("retry_after", retry_after), ("hang_seconds", hang_seconds)):
            if value < 0:
                raise ValueError(f"{name} must be >= 0, got {value!r}")
        self.latency = float(latency)
        self.retry_after = float(retry_after)
        self.hang_seconds = float(hang_seconds)
        self.faults = check_faults(faults or {})
        self.seed = seed
        self.record_bodies = record_bodies
        self.max_recorded = max_recorded
        self.models = tuple(models)
        self.tool_parser = tool_parser
        self.takes_seed = takes_seed
        self._lock = threading.Lock()
        self._requests = 0
        self._outcomes: Counter[str] = Counter()
        self._received: list[dict[str, Any]] = []
        self._seen: dict[bytes, int] = {}
        self._next_id = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._port = 0
        self._tasks: set[asyncio.Task[Any]] = set()

    # -- life cycle ----------------------------------------------------------------------------------------------

    def start(self) -> LoopbackServer:
        """Bind a free port on 127.0.0.1 and serve from an event loop in a daemon thread; returns the server."""
        if self._loop is not None:
            raise RuntimeError("LoopbackServer is already running")
        _aiohttp_web()  # a missing aiohttp is said here, before a thread starts
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="magnet-loopback", daemon=True)
        thread.start()
        try:
            runner, port = asyncio.run_coroutine_threadsafe(self._open(), loop).result(timeout=10)
        except BaseException:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=2)
            loop.close()
            raise
        self._loop, self._thread, self._runner, self._port = loop, thread, runner, port
        return self

    async def _open(self) -> tuple[web.AppRunner, int]:
        """The running application and the port it listens on (run on the server's loop)."""
        web = _aiohttp_web()
        app = web.Application(client_max_size=_MAX_BODY)
        app.add_routes(
            [
                web.post("/v1/chat/completions", self._chat_completions),
                web.get("/v1/models", self._list_models),
                web.route("*", "/{path:.*}", self._no_route),  # an OpenAI error body, not aiohttp's text 404/405
            ]
        )
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=_SHUTDOWN_GRACE)
        await runner.setup()
        try:
            await web.TCPSite(runner, "127.0.0.1", 0, backlog=1024).start()
        except BaseException:
            await runner.cleanup()
            raise
        return runner, runner.addresses[0][1]

    def stop(self) -> None:
        """Stop serving and drop every open connection; returns at once even while requests sleep or hang."""
        loop, thread, runner = self._loop, self._thread, self._runner
        if loop is None or thread is None:
            return
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(self._close(runner), loop).result(timeout=2)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=2)
        if not thread.is_alive():
            loop.close()
        self._loop = self._thread = self._runner = None

    async def _close(self, runner: web.AppRunner | None) -> None:
        """Close the listening socket and every connection, then cancel what still sleeps: aiohttp leaves running
        the handler of a request whose client went away (a timed-out hang), and a loop closed under it warns."""
        if runner is not None:
            await runner.cleanup()
        tasks = [task for task in self._tasks if not task.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=1)
        for _ in range(2):  # let the closed transports' connection_lost callbacks run before the loop stops
            await asyncio.sleep(0)

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        """True between ``start()`` and ``stop()``."""
        return self._loop is not None

    @property
    def port(self) -> int:
        """The port the server listens on (chosen by the system)."""
        if self._loop is None:
            raise RuntimeError("LoopbackServer is not running: call start() or use it as a context manager")
        return self._port

    @property
    def base_url(self) -> str:
        """The ``base_url`` to give an OpenAI client: ``http://127.0.0.1:<port>/v1``."""
        return f"http://127.0.0.1:{self.port}/v1"

    # -- routes --------------------------------------------------------------------------------------------------

    async def _chat_completions(self, request: web.Request) -> web.Response:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            raw = await request.read()
            try:
                response = self._answer(raw)
            except Exception as error:  # a bug here must be an answer, not aiohttp's bare 500
                response = _error(500, f"loopback: {type(error).__name__}: {error}", "server_error", "loopback")
            if response.delay > 0:
                await asyncio.sleep(response.delay)
            return _to_web(response)
        finally:
            if task is not None:
                self._tasks.discard(task)

    async def _list_models(self, request: web.Request) -> web.Response:
        return _to_web(self._models())

    async def _no_route(self, request: web.Request) -> web.Response:
        message = f"no route {request.method} {request.path}"
        return _to_web(_error(404, message, "invalid_request_error", "not_found"))

    # -- counters ------------------------------------------------------------------------------------------------

    @property
    def requests(self) -> int:
        """How many chat-completion requests were received (bad ones included)."""
        with self._lock:
            return self._requests

    @property
    def outcomes(self) -> Counter[str]:
        """A copy of the count of each outcome (keys from ``OUTCOMES``)."""
        with self._lock:
            return Counter(self._outcomes)

    @property
    def received(self) -> list[dict[str, Any]]:
        """A copy of the parsed request bodies received, in arrival order (empty unless ``record_bodies``)."""
        with self._lock:
            return list(self._received)

    def reset_counters(self) -> None:
        """Zero the counters and forget which bodies were seen, so fault choice starts over as on a fresh server."""
        with self._lock:
            self._requests = 0
            self._outcomes.clear()
            self._received.clear()
            self._seen.clear()

    # -- answering -----------------------------------------------------------------------------------------------

    def fault_for(self, body: Mapping[str, Any], occurrence: int = 0) -> str | None:
        """The fault (or None) for the ``occurrence``-th receipt (0 = first) of a request body: a pure function."""
        return pick_fault(self.faults, self.seed, canonical(body), occurrence)

    def _count(self, outcome: str) -> None:
        with self._lock:
            self._outcomes[outcome] += 1

    def _new_id(self) -> int:
        with self._lock:
            self._next_id += 1
            return self._next_id

    def _answer(self, raw: bytes) -> _Response:
        """The response to one ``POST /v1/chat/completions`` body, with its delay (latency, plus a hang's)."""
        try:
            body = json.loads(raw)
            problem = _request_problem(body)
        except ValueError as error:
            body, problem = None, f"request body is not valid JSON: {error}"
        if problem is not None:
            with self._lock:
                self._requests += 1
                self._outcomes["bad_request"] += 1
            return dataclasses.replace(
                _error(400, problem, "invalid_request_error", "invalid_request"), delay=self.latency
            )
        wire = canonical(body)
        key = hashlib.sha256(wire).digest()
        with self._lock:
            self._requests += 1
            occurrence = self._seen.get(key, 0)
            self._seen[key] = occurrence + 1
            if self.record_bodies and len(self._received) < self.max_recorded:
                self._received.append(body)
        fault = pick_fault(self.faults, self.seed, wire, occurrence)
        response = self._respond(body, fault)
        delay = self.latency + (self.hang_seconds if fault == "hang" else 0.0)
        return dataclasses.replace(response, delay=delay)

    def _respond(self, body: dict[str, Any], fault: str | None) -> _Response:
        if "seed" in body and not self.takes_seed:  # what pydantic-validated endpoints (Azure AI) answer
            self._count("bad_request")
            return _error(422, "seed: Extra inputs are not permitted", "invalid_request_error", "extra_forbidden")
        if body.get("tools") and not self.tool_parser:
            self._count("bad_request")
            return _Response(400, json.dumps(VLLM_NO_TOOL_PARSER).encode())
        if fault == "error_500":
            self._count(fault)
            return _error(500, "loopback: injected internal server error", "server_error", "internal_error")
        if fault == "rate_limit_429":
            self._count(fault)
            headers = (("Retry-After", f"{self.retry_after:g}"), ("retry-after-ms", f"{self.retry_after * 1000:g}"))
            response = _error(429, "loopback: injected rate limit", "requests", "rate_limit_exceeded")
            return _Response(response.status, response.body, headers)
        try:
            reply = self.responder(body)
            if isinstance(reply, str):
                reply = Reply(content=reply)
            if not isinstance(reply, Reply):
                raise TypeError(f"a responder must return a Reply, got {type(reply).__name__}")
            completion = self._completion(body, reply, truncate=fault == "truncated_tool_call")
        except Exception as error:
            self._count("responder_error")
            message = f"loopback: the responder failed: {type(error).__name__}: {error}"
            return _error(500, message, "server_error", "responder_error")
        self._count(fault or "ok")
        text = json.dumps(completion, ensure_ascii=False).encode()
        if fault == "malformed_json":
            text = text[: len(text) // 2]
        return _Response(200, text)

    def _completion(self, body: dict[str, Any], reply: Reply, *, truncate: bool = False) -> dict[str, Any]:
        """A ``chat.completion`` object for ``reply``; ``truncate`` cuts the first tool call's arguments in half."""
        calls = [dict(call) for call in reply.tool_calls or []]
        finish_reason = reply.finish_reason
        if truncate:
            if not calls:
                tools = body.get("tools") or [{}]
                name = (tools[0].get("function") or {}).get("name", "tool") if isinstance(tools[0], dict) else "tool"
                calls = [{"name": name, "arguments": {"text": reply.content or ""}}]
            finish_reason = "length"
        tool_calls = []
        completion_words = len(content_text(reply.content).split())
        for index, call in enumerate(calls):
            arguments = call.get("arguments", {})
            arguments = arguments if isinstance(arguments, str) else json.dumps(arguments, ensure_ascii=False)
            if truncate and index == 0:
                arguments = arguments[: len(arguments) // 2]
            name = str(call["name"])
            completion_words += len(name.split()) + len(arguments.split())
            function = {"name": name, "arguments": arguments}
            tool_calls.append({"id": f"call_{self._new_id()}", "type": "function", "function": function})
        if tool_calls and finish_reason == "stop":
            finish_reason = "tool_calls"
        message: dict[str, Any] = {"role": "assistant", "content": reply.content, "refusal": None}
        if tool_calls:
            message["tool_calls"] = tool_calls
        # Tools count as prompt, as a chat template that renders them makes them (what ``tool_calls: auto`` checks).
        prompt_words = sum(
            len(content_text(m.get("content")).split()) for m in body["messages"] if isinstance(m, dict)
        ) + (len(json.dumps(body["tools"]).split()) if body.get("tools") else 0)
        return {
            "id": f"chatcmpl-loopback-{self._new_id()}",
            "object": "chat.completion",
            "created": CREATED,
            "model": body.get("model", self.models[0] if self.models else "loopback"),
            "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish_reason}],
            "usage": {
                "prompt_tokens": prompt_words,
                "completion_tokens": completion_words,
                "total_tokens": prompt_words + completion_words,
            },
        }

    def _models(self) -> _Response:
        data = [{"id": model, "object": "model", "created": CREATED, "owned_by": "magnet"} for model in self.models]
        return _Response(200, json.dumps({"object": "list", "data": data}).encode())


def _aiohttp_web() -> Any:
    """``aiohttp.web``, imported when a server starts: library users without the ``testing`` extra never need it."""
    try:
        from aiohttp import web
    except ImportError as missing:
        raise ModuleNotFoundError(
            "LoopbackServer needs aiohttp: pip install 'magnet-tooluse[testing]' (or the dev extra)", name="aiohttp"
        ) from missing
    return web


def _to_web(response: _Response) -> web.Response:
    return _aiohttp_web().Response(
        status=response.status, body=response.body, headers=response.headers, content_type="application/json"
    )


def _request_problem(body: Any) -> str | None:
    if not isinstance(body, dict):
        return "request body must be a JSON object"
    if not isinstance(body.get("messages"), list):
        return "'messages' must be a list of messages"
    if body.get("stream"):
        return "the loopback server does not support 'stream': true"
    return None


def _error(status: int, message: str, kind: str, code: str) -> _Response:
    body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
    return _Response(status, json.dumps(body).encode())


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m magnet.testing.loopback --latency 0.1``: serve in this process (its own CPU) until killed.

    Prints the base URL on the first line of standard output, for a benchmark or a manual test to read.
    """
    import argparse
    import time

    parser = argparse.ArgumentParser(description="An OpenAI-compatible test server on 127.0.0.1.")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every answer")
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="KIND=P",
        help=f"inject a fault with probability P (kinds: {', '.join(FAULT_KINDS)})",
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    faults = {kind: float(p) for kind, _, p in (item.partition("=") for item in args.fault)}
    server = LoopbackServer(latency=args.latency, faults=faults, seed=args.seed, record_bodies=False).start()
    print(server.base_url, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
