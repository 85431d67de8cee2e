"""A real OpenAI chat-completions server on 127.0.0.1, for tests and benchmarks.

Code that talks to teachers (synthesis, evaluation, the request cache) has to be tested against what really crosses
the wire: the real ``openai`` client, real HTTP, real timeouts, retries and ``Retry-After`` headers. A mocked client
hides exactly the bugs that matter there. ``LoopbackServer`` is a small HTTP/1.1 server (stdlib ``asyncio``, one
event loop in a background thread, keep-alive) that speaks enough of the API for the client to parse its answers,
answers from a script, and adds latency and faults (500, 429, hangs, malformed JSON, truncated tool calls) on request.
Latency is an ``asyncio.sleep``, not a thread per request, so benchmarks at high concurrency measure the client.

The fault of a request is a pure function of (seed, the request body, how many times that exact body was received
before), so a run is reproducible under any interleaving of concurrent requests, and a retry of a failed request can
succeed. The server binds only 127.0.0.1, writes nothing to disk and never reads the ``Authorization`` header.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import http
import json
import threading
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

FAULT_KINDS = ("error_500", "rate_limit_429", "hang", "malformed_json", "truncated_tool_call")
"""The faults a server can inject, in the order their probability ranges are laid out on [0, 1)."""

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
            text = _content_text(message.get("content"))
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


@dataclass(frozen=True)
class _Response:
    """An HTTP response, sent after ``delay`` seconds."""

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
        self.faults = _check_faults(faults or {})
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
        self._server: asyncio.Server | None = None
        self._port = 0
        self._tasks: set[asyncio.Task[None]] = set()

    # -- life cycle ----------------------------------------------------------------------------------------------

    def start(self) -> LoopbackServer:
        """Bind a free port on 127.0.0.1 and serve from an event loop in a daemon thread; returns the server."""
        if self._loop is not None:
            raise RuntimeError("LoopbackServer is already running")
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="magnet-loopback", daemon=True)
        thread.start()
        start = asyncio.start_server(self._serve, "127.0.0.1", 0, backlog=1024, limit=_MAX_HEAD)
        try:
            server = asyncio.run_coroutine_threadsafe(start, loop).result(timeout=10)
        except BaseException:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=2)
            loop.close()
            raise
        self._loop, self._thread, self._server = loop, thread, server
        self._port = server.sockets[0].getsockname()[1]
        return self

    def stop(self) -> None:
        """Stop serving and drop every open connection; returns at once even while requests sleep or hang."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(self._close(), loop).result(timeout=2)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=2)
        if not thread.is_alive():
            loop.close()
        self._loop = self._thread = self._server = None

    async def _close(self) -> None:
        if self._server is not None:
            self._server.close()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=1)
        for _ in range(2):  # let the closed transports' connection_lost callbacks run before the loop stops
            await asyncio.sleep(0)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Answer the requests of one keep-alive connection, in order, until either side closes it."""
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            while True:
                try:
                    method, path, headers, raw = await _read_request(reader, writer)
                except _BadHead as bad:
                    writer.write(
                        _encode(_error(bad.status, str(bad), "invalid_request_error", "bad_request"), close=True)
                    )
                    await writer.drain()
                    return
                try:
                    response = self._route(method, path, raw)
                except Exception as error:  # a bug here must not kill the connection silently
                    response = _error(500, f"loopback: {type(error).__name__}: {error}", "server_error", "loopback")
                if response.delay > 0:
                    await asyncio.sleep(response.delay)
                close = headers.get("connection", "").lower() == "close"
                writer.write(_encode(response, close=close))
                await writer.drain()
                if close:
                    return
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
            return  # the client went away (or sent a head over _MAX_HEAD)
        except asyncio.CancelledError:
            return  # stop(): ending quietly keeps Python 3.11's stream callback from logging the cancellation
        finally:
            if task is not None:
                self._tasks.discard(task)
            writer.close()

    def _route(self, method: str, path: str, raw: bytes) -> _Response:
        if method == "POST" and path == "/v1/chat/completions":
            return self._answer(raw)
        if method == "GET" and path == "/v1/models":
            return self._models()
        return _error(404, f"no route {method} {path}", "invalid_request_error", "not_found")

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
        return self._pick(_canonical(body), occurrence)

    def _pick(self, canonical: bytes, occurrence: int) -> str | None:
        if not self.faults:
            return None
        digest = hashlib.sha256(f"{self.seed}\0{occurrence}\0".encode() + canonical).digest()
        draw = int.from_bytes(digest[:8], "big") / 2.0**64
        edge = 0.0
        for kind in FAULT_KINDS:
            edge += self.faults.get(kind, 0.0)
            if draw < edge:
                return kind
        return None

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
        canonical = _canonical(body)
        key = hashlib.sha256(canonical).digest()
        with self._lock:
            self._requests += 1
            occurrence = self._seen.get(key, 0)
            self._seen[key] = occurrence + 1
            if self.record_bodies and len(self._received) < self.max_recorded:
                self._received.append(body)
        fault = self._pick(canonical, occurrence)
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
        completion_words = len(_content_text(reply.content).split())
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
            len(_content_text(m.get("content")).split()) for m in body["messages"] if isinstance(m, dict)
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


def _check_faults(faults: Mapping[str, float]) -> dict[str, float]:
    checked = {}
    for kind, probability in faults.items():
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; known kinds: {', '.join(FAULT_KINDS)}")
        if not isinstance(probability, int | float) or not 0.0 <= probability <= 1.0:
            raise ValueError(f"fault {kind!r}: probability must be a number in [0, 1], got {probability!r}")
        checked[kind] = float(probability)
    total = sum(checked.values())
    if total > 1.0 + 1e-9:
        raise ValueError(f"fault probabilities sum to {total:g} > 1: {', '.join(f'{k!r}' for k in checked)}")
    return checked


def _request_problem(body: Any) -> str | None:
    if not isinstance(body, dict):
        return "request body must be a JSON object"
    if not isinstance(body.get("messages"), list):
        return "'messages' must be a list of messages"
    if body.get("stream"):
        return "the loopback server does not support 'stream': true"
    return None


def _canonical(body: Any) -> bytes:
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _content_text(content: Any) -> str:
    """The text of a message content: a string, or the text parts of a list of content parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return ""


def _error(status: int, message: str, kind: str, code: str) -> _Response:
    body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
    return _Response(status, json.dumps(body).encode())


_MAX_HEAD = 1 << 20
"""The largest request head (request line and headers) the server reads."""


class _BadHead(Exception):
    """A request the server cannot frame (no length, malformed head): answered, then the connection is closed."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


async def _read_request(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> tuple[str, str, dict[str, str], bytes]:
    """Method, path (without query), lower-cased headers and body of the next request on a connection."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/"):
        raise _BadHead(400, f"malformed request line {lines[0][:100]!r}")
    headers = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    if parts[2] == "HTTP/1.0" and headers.get("connection", "").lower() != "keep-alive":
        headers["connection"] = "close"
    if "chunked" in headers.get("transfer-encoding", "").lower():
        raise _BadHead(411, "chunked request bodies are not supported; send a Content-Length")
    try:
        length = int(headers.get("content-length", "0"))
    except ValueError:
        raise _BadHead(400, "invalid Content-Length") from None
    if length < 0:
        raise _BadHead(400, "invalid Content-Length")
    if headers.get("expect", "").lower() == "100-continue":
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    return parts[0], parts[1].split("?", 1)[0].rstrip("/"), headers, await reader.readexactly(length)


def _encode(response: _Response, *, close: bool) -> bytes:
    """The bytes of an HTTP/1.1 response: head and body in one buffer, so that one write sends both."""
    lines = [
        f"HTTP/1.1 {response.status} {http.HTTPStatus(response.status).phrase}",
        "Content-Type: application/json",
        f"Content-Length: {len(response.body)}",
        *(f"{name}: {value}" for name, value in response.headers),
    ]
    if close:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + response.body


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m magnet.llm.loopback --latency 0.1``: serve in this process (its own CPU) until killed.

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
