"""OpenAITeacher through the real ``openai`` client against a real HTTP server on 127.0.0.1: answers, tool
calls, retries by cause, accounting that adds up, the cache, a kill mid-run, and keys that never leak."""

from __future__ import annotations

import asyncio
import gc
import http.server
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
import warnings
from pathlib import Path
from typing import ClassVar

import pytest

from magnet.errors import EndpointRefused, TeacherError
from magnet.llm.cache import RequestCache
from magnet.llm.client import Completion, OpenAITeacher, retry_after_seconds, to_openai_messages
from magnet.llm.transport import env_proxy
from magnet.llm.usage import Price, UsageTracker
from magnet.testing.loopback import LoopbackServer
from magnet.tools.calls import FunctionCall

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


def _teacher(server: LoopbackServer, **options) -> OpenAITeacher:
    options.setdefault("timeout", 2.0)
    options.setdefault("backoff_initial", 0.01)
    return OpenAITeacher("loopback", base_url=server.base_url, **options)


async def _ask_many(teacher: OpenAITeacher, count: int) -> list[Completion | TeacherError]:
    async def ask(index: int):
        try:
            return await teacher.complete([{"role": "user", "content": f"request {index}"}], step="probe")
        except TeacherError as error:
            return error

    return await asyncio.gather(*(ask(i) for i in range(count)))


TRANSPORTS = ["aiohttp", "openai", "httpx"]


@pytest.mark.parametrize("http_client", TRANSPORTS)
def test_text_and_native_tool_calls(http_client):
    with LoopbackServer() as server:
        teacher = _teacher(server, http_client=http_client)
        assert teacher.http_client == http_client
        text = asyncio.run(teacher.complete([{"role": "user", "content": "hello there"}]))
        assert text.text == "echo: hello there" and text.finish_reason == "stop"
        assert text.prompt_tokens == 2 and text.completion_tokens == 3
        call = asyncio.run(
            teacher.complete([{"role": "user", "content": 'call: get_weather {"city": "Paris"}'}], tools=[WEATHER_TOOL])
        )
        assert call.tool_calls == (FunctionCall("get_weather", {"city": "Paris"}),)
        assert server.received[-1]["tools"] == [WEATHER_TOOL]


def test_assistant_tool_calls_are_sent_with_json_string_arguments():
    messages = [
        {"role": "user", "content": "hi", "name": None},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"type": "function", "id": "c0", "function": {"name": "f", "arguments": {"x": 1}}}],
        },
        {"role": "tool", "content": "{}", "tool_call_id": "c0", "name": "f"},
    ]
    converted = to_openai_messages(messages)
    assert converted[0] == {"role": "user", "content": "hi"}
    assert converted[1]["tool_calls"][0]["function"]["arguments"] == '{"x": 1}'
    with LoopbackServer() as server:
        asyncio.run(_teacher(server).complete(messages))
        assert server.outcomes["ok"] == 1


@pytest.mark.slow
@pytest.mark.parametrize("http_client", TRANSPORTS)  # every transport maps faults to the same causes
def test_faults_are_retried_and_every_request_is_accounted_for(http_client):
    faults = {
        "error_500": 0.10,
        "rate_limit_429": 0.05,
        "hang": 0.05,
        "malformed_json": 0.05,
        "truncated_tool_call": 0.05,
    }
    with LoopbackServer(faults=faults, hang_seconds=3.0, retry_after=0.02, seed=1) as server:
        teacher = _teacher(server, timeout=0.4, max_concurrency=64, max_retries=6, http_client=http_client)
        results = asyncio.run(_ask_many(teacher, 500))
        answered = [r for r in results if isinstance(r, Completion)]
        failed = [r for r in results if isinstance(r, TeacherError)]
        usage = teacher.usage.step("probe")
        assert len(answered) + len(failed) == 500
        assert usage.answered == len(answered) and sum(usage.failures.values()) == len(failed)
        assert all(error.cause in usage.failures for error in failed)
        # Every attempt the client made ended as an answer, a retry or a final failure ...
        assert usage.requests == usage.answered + sum(usage.retries.values()) + sum(usage.failures.values())
        # ... and the server saw no more than that (a client timeout can fire before a request is read).
        assert server.requests <= usage.requests and server.outcomes["ok"] >= usage.answered
        assert usage.retries["server_error"] > 0 and usage.retries["rate_limit"] > 0
        assert usage.retries["timeout"] > 0 and usage.retries["malformed_response"] > 0
        assert usage.retries["malformed_tool_call"] > 0
        assert all(c.text.startswith("echo: request") for c in answered)


def test_the_transport_defaults_to_aiohttp_where_installed_and_a_missing_one_is_named(monkeypatch):
    from magnet.llm import openai_teacher

    assert OpenAITeacher("m", base_url="http://127.0.0.1:1/v1").http_client == "aiohttp"  # installed here
    monkeypatch.setattr(openai_teacher, "_aiohttp_installed", lambda: False)
    assert OpenAITeacher("m", base_url="http://127.0.0.1:1/v1").http_client == "httpx"
    for needs_aiohttp in ("aiohttp", "openai"):
        with pytest.raises(TeacherError, match=r"pip install 'openai\[aiohttp\]' \(or set http_client: httpx\)"):
            OpenAITeacher("m", base_url="http://127.0.0.1:1/v1", http_client=needs_aiohttp)
    with pytest.raises(ValueError, match="http_client must be one of"):
        OpenAITeacher("m", base_url="http://127.0.0.1:1/v1", http_client="requests")


def test_retry_after_is_honoured_then_the_failure_reports_its_cause():
    assert retry_after_seconds({"retry-after": "2"}) == 2.0
    assert retry_after_seconds({"retry-after-ms": "150", "retry-after": "9"}) == 0.15
    assert retry_after_seconds({"retry-after": "soon"}) is None
    with LoopbackServer(faults={"rate_limit_429": 1.0}, retry_after=0.2) as server:
        teacher = _teacher(server, max_retries=2)
        started = time.perf_counter()
        with pytest.raises(TeacherError, match="rate_limit after 3 attempts") as caught:
            asyncio.run(teacher.complete([{"role": "user", "content": "x"}], step="s"))
        assert time.perf_counter() - started >= 0.4
        assert caught.value.cause == "rate_limit"
        assert teacher.usage.step("s").retries["rate_limit"] == 2 and server.requests == 3


def test_client_errors_are_not_retried_and_stop_the_run():
    with LoopbackServer() as server:
        teacher = _teacher(server, max_retries=5)
        with pytest.raises(EndpointRefused, match=r"refused a request \(HTTP 400: the loopback server does not"):
            asyncio.run(teacher.complete([{"role": "user", "content": "x"}], stream=True))
        assert server.requests == 1 and server.outcomes["bad_request"] == 1  # one attempt, no retry
        assert teacher.usage.step("default").failures == {"http_400": 1}


def test_an_endpoint_that_refuses_a_seed_is_asked_again_without_one():
    """Translation sends a sampling seed; an endpoint that forbids the field is not a refusal of the run."""
    with LoopbackServer(takes_seed=False) as server:
        teacher = _teacher(server, max_retries=2)
        first = asyncio.run(teacher.complete([{"role": "user", "content": "x"}], step="s", seed=7))
        assert first.text == "echo: x" and server.outcomes["bad_request"] == 1
        asyncio.run(teacher.complete([{"role": "user", "content": "y"}], step="s", seed=8))
        assert server.requests == 3 and server.outcomes["bad_request"] == 1  # later requests carry no seed
        assert [("seed" in body) for body in server.received] == [True, False, False]
        assert teacher.usage.step("s").retries == {"seed_refused": 1}


def test_a_second_identical_run_makes_no_requests(tmp_path):
    with LoopbackServer(latency=0.01) as server:
        first = _teacher(server, cache=RequestCache(tmp_path / "cache.sqlite"), max_concurrency=16)
        asyncio.run(_ask_many(first, 50))
        assert server.requests == 50
        again = _teacher(server, cache=RequestCache(tmp_path / "cache.sqlite"))
        results = asyncio.run(_ask_many(again, 50))
        assert server.requests == 50
        assert again.cache.stats.hit_rate == 1.0 and all(r.cached for r in results)
        assert again.usage.step("probe").cache_hits == 50 and again.usage.step("probe").requests == 0
        changed = asyncio.run(again.complete([{"role": "user", "content": "request 1"}], step="probe", temperature=0.7))
        assert not changed.cached and server.requests == 51  # sampling parameters are part of the key


RUNNER = textwrap.dedent("""
    import asyncio, sys
    from magnet.llm.cache import RequestCache
    from magnet.llm.client import OpenAITeacher

    async def main():
        teacher = OpenAITeacher("loopback", base_url=sys.argv[1], cache=RequestCache(sys.argv[2]),
                                max_concurrency=int(sys.argv[3]))
        await asyncio.gather(*(teacher.complete([{"role": "user", "content": f"request {i}"}]) for i in range(200)))

    asyncio.run(main())
""")


@pytest.mark.slow
def test_a_killed_run_repeats_at_most_the_requests_in_flight(tmp_path):
    script = tmp_path / "runner.py"
    script.write_text(RUNNER)
    cache_path = tmp_path / "cache.sqlite"
    concurrency = 8
    with LoopbackServer(latency=0.05) as server:
        process = subprocess.Popen([sys.executable, str(script), server.base_url, str(cache_path), str(concurrency)])
        deadline = time.time() + 60
        while server.outcomes["ok"] < 60 and time.time() < deadline:
            time.sleep(0.02)
        process.send_signal(signal.SIGKILL)
        process.wait()
        sent_before = server.requests
        assert 60 <= sent_before < 200
        teacher = OpenAITeacher(
            "loopback", base_url=server.base_url, cache=RequestCache(cache_path), max_concurrency=concurrency
        )

        async def rerun():
            await asyncio.gather(*(teacher.complete([{"role": "user", "content": f"request {i}"}]) for i in range(200)))

        asyncio.run(rerun())
        repeated = server.requests - 200
        assert 0 <= repeated <= concurrency
        assert len(RequestCache(cache_path)) == 200


def test_api_keys_never_reach_any_file(tmp_path, monkeypatch):
    secret = "sk-magnet-test-0123456789-SECRET"
    monkeypatch.setenv("MAGNET_TEST_KEY", secret)
    with LoopbackServer() as server:
        usage = UsageTracker(prices={"loopback": Price(1.0, 2.0)})
        teacher = OpenAITeacher(
            "loopback",
            base_url=server.base_url,
            api_key_env="MAGNET_TEST_KEY",
            cache=RequestCache(tmp_path / "cache.sqlite"),
            usage=usage,
        )
        asyncio.run(teacher.complete([{"role": "user", "content": "hello"}], step="probe"))
        usage.save(tmp_path / "usage.json")
        teacher.cache.close()
    assert secret not in repr(teacher) and secret not in str(vars(teacher))
    written = list(Path(tmp_path).rglob("*"))
    assert written
    for path in written:
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path


def test_a_hosted_endpoint_without_a_key_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("NO_SUCH_KEY_VAR", raising=False)
    with pytest.raises(TeacherError, match="the environment variable NO_SUCH_KEY_VAR is not set"):
        OpenAITeacher("gpt-4o", api_key_env="NO_SUCH_KEY_VAR")
    # Only this machine's own hosts go without a key; a hosted name that merely contains "localhost" does not.
    for url in ("http://127.0.0.1:8000/v1", "http://localhost:8000/v1", "http://[::1]:8000/v1"):
        OpenAITeacher("m", base_url=url, api_key_env="NO_SUCH_KEY_VAR")
    for url in ("https://localhost.example.com/v1", "https://api.example.com/127.0.0.1/v1"):
        with pytest.raises(TeacherError, match="NO_SUCH_KEY_VAR is not set"):
            OpenAITeacher("m", base_url=url, api_key_env="NO_SUCH_KEY_VAR")


def test_two_endpoints_serving_one_model_name_do_not_share_cached_answers(tmp_path):
    cache = RequestCache(tmp_path / "cache.sqlite")
    with LoopbackServer() as first, LoopbackServer(responder=["the other server"]) as second:
        asked = [{"role": "user", "content": "x"}]
        one = asyncio.run(_teacher(first, cache=cache).complete(asked))
        other = asyncio.run(_teacher(second, cache=cache).complete(asked))
        assert (one.text, other.text) == ("echo: x", "the other server") and not other.cached
        assert asyncio.run(_teacher(second, cache=cache).complete(asked)).cached
    os.environ.pop("NO_SUCH_KEY_VAR", None)


class _RecordingHandler(http.server.BaseHTTPRequestHandler):
    """The standard library's HTTP server, not Magnet's: what each transport really puts on the wire."""

    protocol_version = "HTTP/1.1"
    seen: ClassVar[list[tuple[str, dict[str, str], bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.seen.append((self.path, dict(self.headers), body))
        answer = json.dumps(
            {"choices": [{"message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}]}
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args) -> None:
        pass


@pytest.mark.parametrize("http_client", TRANSPORTS)
def test_every_transport_sends_the_same_body_and_the_key_as_a_bearer_token(http_client, monkeypatch):
    monkeypatch.setenv("MAGNET_WIRE_KEY", "sk-wire-test")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _RecordingHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _RecordingHandler.seen = []
    messages = [{"role": "user", "content": "héllo \u2603"}]
    try:
        teacher = OpenAITeacher(
            "wire",
            base_url=f"http://127.0.0.1:{server.server_port}/v1",
            api_key_env="MAGNET_WIRE_KEY",
            http_client=http_client,
            tool_calls="native",
        )
        answer = asyncio.run(teacher.complete(messages, tools=[WEATHER_TOOL], temperature=0.5))
    finally:
        server.shutdown()
        server.server_close()
    assert answer.text == "ok"
    ((path, headers, body),) = _RecordingHandler.seen
    headers = {key.lower(): value for key, value in headers.items()}
    assert path == "/v1/chat/completions"
    assert headers["authorization"] == "Bearer sk-wire-test"
    assert headers["content-type"] == "application/json"
    assert json.loads(body) == {"model": "wire", "messages": messages, "tools": [WEATHER_TOOL], "temperature": 0.5}


@pytest.mark.parametrize("http_client", TRANSPORTS)
def test_a_closed_port_is_a_connection_failure_retried_then_reported(http_client):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    teacher = OpenAITeacher(
        "m", base_url=f"http://127.0.0.1:{port}/v1", http_client=http_client, max_retries=1, backoff_initial=0.01
    )
    # openai's vendored aiohttp transport maps every aiohttp.ClientConnectionError to httpx.ConnectTimeout
    # (openai/_vendor/httpx_aiohttp/transport.py), so through it a refused connection reads as a timeout.
    cause = "timeout" if http_client == "openai" else "connection"
    started = time.perf_counter()

    async def ask() -> None:
        try:
            await teacher.complete([{"role": "user", "content": "x"}], step="s")
        finally:
            await teacher.aclose()

    with pytest.raises(TeacherError, match=f"{cause} after 2 attempts") as caught:
        asyncio.run(ask())
    assert caught.value.cause == cause and teacher.usage.step("s").retries == {cause: 1}
    assert time.perf_counter() - started < 10  # refused at once, not waited out


def test_a_teacher_used_by_several_event_loops_without_closing_leaves_nothing_to_warn_about(caplog):
    """Tests and notebooks call ``asyncio.run`` once per request; each loop gets its own connections, and those of
    a finished loop are let go without aiohttp's "Unclosed client session" errors when collected. (Sockets left
    by a closed loop are closed when collected, with asyncio's ResourceWarning, hidden by default.) The openai
    client's transports hold an aiohttp or httpx pool of their own, out of Magnet's reach: the teacher keeps
    those referenced, and they may still warn when the teacher is collected."""
    gc.collect()  # earlier tests' garbage is theirs
    with LoopbackServer() as server:
        teacher = _teacher(server, http_client="aiohttp")
        with warnings.catch_warnings(record=True) as warned:
            warnings.simplefilter("always")
            for index in range(3):
                answer = asyncio.run(teacher.complete([{"role": "user", "content": f"loop {index}"}]))
                assert answer.text == f"echo: loop {index}"
            del teacher
            gc.collect()
    aiohttp_says = ("Unclosed client session", "Unclosed connector")
    assert not [w for w in warned if str(w.message).startswith(aiohttp_says)]
    assert not any(said in caplog.text for said in aiohttp_says)


def test_the_environment_proxy_is_read_once_as_httpx_reads_it(monkeypatch):
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "")
    assert env_proxy("https://api.example.com/v1/chat/completions") is None
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    assert env_proxy("https://api.example.com/v1/chat/completions") == "http://proxy.internal:3128"
    assert env_proxy("http://vllm.internal:8000/v1/chat/completions") is None  # HTTPS_PROXY is for https only
    monkeypatch.setenv("ALL_PROXY", "http://all.internal:1080")
    assert env_proxy("http://vllm.internal:8000/v1/chat/completions") == "http://all.internal:1080"
    monkeypatch.setenv("NO_PROXY", "vllm.internal,localhost")
    assert env_proxy("http://vllm.internal:8000/v1/chat/completions") is None


@pytest.mark.parametrize("http_client", TRANSPORTS)
def test_requests_go_through_the_environment_proxy(http_client, monkeypatch):
    """The recording server stands in for a forward proxy: it receives the absolute URL of a host that does not
    resolve (``.invalid``), which only a proxy can reach."""
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "NO_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MAGNET_WIRE_KEY", "sk-proxy-test")
    proxy = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _RecordingHandler)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.server_port}")
    _RecordingHandler.seen = []
    try:
        teacher = OpenAITeacher(
            "wire",
            base_url="http://vllm.invalid:8000/v1",
            api_key_env="MAGNET_WIRE_KEY",
            http_client=http_client,
            tool_calls="native",
            max_retries=0,
        )
        answer = asyncio.run(teacher.complete([{"role": "user", "content": "x"}]))
    finally:
        proxy.shutdown()
        proxy.server_close()
    ((path, headers, _),) = _RecordingHandler.seen
    assert answer.text == "ok" and path == "http://vllm.invalid:8000/v1/chat/completions"
    assert {key.lower(): value for key, value in headers.items()}["authorization"] == "Bearer sk-proxy-test"


def test_a_proxy_aiohttp_cannot_use_is_refused_when_the_teacher_is_built(monkeypatch):
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "NO_PROXY", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ALL_PROXY", "socks5://127.0.0.1:1080")
    with pytest.raises(TeacherError, match=r"socks5://127.0.0.1:1080, which is no HTTP proxy.*http_client: httpx"):
        OpenAITeacher("m", base_url="http://vllm.internal:8000/v1", api_key_env="PATH")
    OpenAITeacher("m", base_url="http://vllm.internal:8000/v1", api_key_env="PATH", http_client="httpx")


def test_the_openai_clients_environment_is_read_by_every_transport(monkeypatch):
    """``OPENAI_BASE_URL`` when no base_url is given, and the organization and project headers: the openai client
    reads them, so the default transport must too (or a run would bill, or go, elsewhere)."""
    monkeypatch.setenv("MAGNET_WIRE_KEY", "sk-env-test")
    monkeypatch.setenv("OPENAI_ORG_ID", "org-magnet")
    monkeypatch.setenv("OPENAI_PROJECT_ID", "proj-magnet")
    for name in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _RecordingHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("OPENAI_BASE_URL", f"http://127.0.0.1:{server.server_port}/v1")
    try:
        for http_client in TRANSPORTS:
            _RecordingHandler.seen = []
            teacher = OpenAITeacher("wire", api_key_env="MAGNET_WIRE_KEY", http_client=http_client, tool_calls="native")
            assert teacher.cache_identity() == f"wire@http://127.0.0.1:{server.server_port}/v1"
            assert asyncio.run(teacher.complete([{"role": "user", "content": "x"}])).text == "ok"
            ((_, headers, _),) = _RecordingHandler.seen
            headers = {key.lower(): value for key, value in headers.items()}
            assert headers["openai-organization"] == "org-magnet", http_client
            assert headers["openai-project"] == "proj-magnet", http_client
    finally:
        server.shutdown()
        server.server_close()
