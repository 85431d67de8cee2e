"""The loopback server, driven through the real ``openai`` client over real HTTP."""

from __future__ import annotations

import asyncio
import http.client
import json
import random
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator

import openai
import pytest

from magnet.testing.loopback import FAULT_KINDS, LoopbackServer, Reply, echo_responder, scripted

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather of a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


def user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def client_for(server: LoopbackServer, **options: float) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0, **options)


def async_client_for(server: LoopbackServer, **options: float) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0, **options)


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    with LoopbackServer() as running:
        yield running


def test_plain_answer_is_a_chat_completion(server: LoopbackServer) -> None:
    messages = [{"role": "system", "content": "be brief"}, *user("hello there world")]
    completion = client_for(server).chat.completions.create(model="teacher-x", messages=messages)
    assert isinstance(completion, openai.types.chat.ChatCompletion)
    assert completion.object == "chat.completion"
    assert completion.model == "teacher-x"
    choice = completion.choices[0]
    assert choice.message.role == "assistant"
    assert choice.message.content == "echo: hello there world"
    assert choice.message.tool_calls is None
    assert choice.finish_reason == "stop"
    assert completion.usage is not None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (5, 4)
    assert completion.usage.total_tokens == 9
    assert server.requests == 1
    assert server.outcomes == {"ok": 1}
    assert server.received[0]["messages"] == messages
    assert server.base_url.startswith("http://127.0.0.1:") and server.base_url.endswith("/v1")


def test_tool_call_answer_is_parsed_by_the_client(server: LoopbackServer) -> None:
    completion = client_for(server).chat.completions.create(
        model="m", messages=user('call: get_weather {"city": "Paris"}'), tools=[WEATHER_TOOL]
    )
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    (call,) = choice.message.tool_calls
    assert call.type == "function" and call.id.startswith("call_")
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris"}
    assert completion.usage.completion_tokens > 0


def test_call_prefix_without_tools_is_echoed() -> None:
    reply = echo_responder({"messages": user('call: get_weather {"city": "Paris"}')})
    assert reply == Reply(content='echo: call: get_weather {"city": "Paris"}')


def test_scripted_replies_round_robin_and_custom_responders() -> None:
    script = [Reply(content="first"), "second", Reply(tool_calls=[{"name": "f", "arguments": {"x": 1}}])]
    with LoopbackServer(script) as server:
        client = client_for(server)
        answers = [client.chat.completions.create(model="m", messages=user(str(i))) for i in range(4)]
    assert [a.choices[0].message.content for a in answers] == ["first", "second", None, "first"]
    assert answers[2].choices[0].message.tool_calls[0].function.arguments == '{"x": 1}'
    with pytest.raises(ValueError, match="at least one"):
        scripted([])

    def count_messages(request: dict) -> Reply:
        return Reply(content=f"{len(request['messages'])} messages", finish_reason="length")

    with LoopbackServer(count_messages) as server:
        completion = client_for(server).chat.completions.create(model="m", messages=user("a") * 3)
    assert completion.choices[0].message.content == "3 messages"
    assert completion.choices[0].finish_reason == "length"


def test_a_failing_responder_is_a_500_not_a_hang() -> None:
    def broken(request: dict) -> Reply:
        raise KeyError("nope")

    with LoopbackServer(broken) as server:
        with pytest.raises(openai.InternalServerError, match="responder failed"):
            client_for(server).chat.completions.create(model="m", messages=user("x"))
        assert server.outcomes == {"responder_error": 1}


def test_models_endpoint(server: LoopbackServer) -> None:
    assert [model.id for model in client_for(server).models.list()] == ["loopback"]


def test_invalid_json_is_a_400_with_an_openai_error_body(server: LoopbackServer) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    try:
        for body in (b"{not json", b"[1, 2]", b'{"model": "m"}'):
            connection.request("POST", "/v1/chat/completions", body, {"Content-Type": "application/json"})
            response = connection.getresponse()
            error = json.loads(response.read())["error"]
            assert response.status == 400
            assert set(error) >= {"message", "type", "code"} and error["type"] == "invalid_request_error"
        connection.request("GET", "/v1/nowhere")
        response = connection.getresponse()
        assert response.status == 404 and "error" in json.loads(response.read())
    finally:
        connection.close()
    assert server.requests == 3
    assert server.outcomes == {"bad_request": 3}
    with pytest.raises(openai.BadRequestError):
        client_for(server).chat.completions.create(model="m", messages=user("x"), stream=True)


@pytest.mark.parametrize(
    ("kind", "error"),
    [("error_500", openai.InternalServerError), ("rate_limit_429", openai.RateLimitError)],
)
def test_http_error_faults(kind: str, error: type[openai.APIStatusError]) -> None:
    with LoopbackServer(faults={kind: 1.0}, retry_after=0.25) as server:
        with pytest.raises(error) as raised:
            client_for(server).chat.completions.create(model="m", messages=user("x"))
        assert server.outcomes == {kind: 1}
    assert set(raised.value.body) >= {"message", "type", "code"}
    if kind == "rate_limit_429":
        assert raised.value.response.headers["retry-after"] == "0.25"
        assert raised.value.response.headers["retry-after-ms"] == "250"


def test_rate_limit_is_retried_by_the_client_after_retry_after() -> None:
    # With p = 0.5, pick the seed under which this body gets a 429 first and a completion on its retry.
    body = {"messages": user("retry me"), "model": "m"}
    faults = {"rate_limit_429": 0.5}
    seed = next(
        seed
        for seed in range(100)
        if [LoopbackServer(faults=faults, seed=seed).fault_for(body, n) for n in (0, 1)] == ["rate_limit_429", None]
    )
    with LoopbackServer(faults=faults, seed=seed) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=1)
        completion = client.chat.completions.create(model="m", messages=user("retry me"))
        assert completion.choices[0].message.content == "echo: retry me"
        assert server.outcomes == {"rate_limit_429": 1, "ok": 1}
        assert server.received == [body, body]


def test_hang_times_out_the_client_and_stop_returns_promptly() -> None:
    server = LoopbackServer(faults={"hang": 1.0}, hang_seconds=5).start()
    try:
        started = time.monotonic()
        with pytest.raises(openai.APITimeoutError):
            client_for(server, timeout=0.3).chat.completions.create(model="m", messages=user("x"))
        assert time.monotonic() - started < 2.0
        # A second request still hanging on another connection when stop() comes.
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        connection.request("POST", "/v1/chat/completions", json.dumps({"model": "m", "messages": user("y")}))
        time.sleep(0.1)
        assert server.outcomes == {"hang": 2}
    finally:
        started = time.monotonic()
        server.stop()
        assert time.monotonic() - started < 2.0
    with pytest.raises((http.client.HTTPException, OSError)):
        connection.getresponse()
    connection.close()
    server.stop()  # idempotent
    assert not server.running


def test_malformed_json_raises_json_decode_error_from_the_client() -> None:
    with LoopbackServer(faults={"malformed_json": 1.0}) as server:
        with pytest.raises(json.JSONDecodeError) as raised:
            client_for(server).chat.completions.create(model="m", messages=user("x"))
        # The client does not wrap it: it is no openai.APIError, so its retry logic never sees it either.
        assert not isinstance(raised.value, openai.OpenAIError)
        retrying = openai.OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=2)
        with pytest.raises(json.JSONDecodeError):
            retrying.chat.completions.create(model="m", messages=user("x"))
        assert server.outcomes == {"malformed_json": 2}


def test_truncated_tool_call_has_invalid_arguments() -> None:
    with LoopbackServer(faults={"truncated_tool_call": 1.0}) as server:
        client = client_for(server)
        completion = client.chat.completions.create(
            model="m", messages=user('call: get_weather {"city": "Paris"}'), tools=[WEATHER_TOOL]
        )
        choice = completion.choices[0]
        assert choice.finish_reason == "length"
        arguments = choice.message.tool_calls[0].function.arguments
        assert arguments == '{"city": "Paris"}'[: len('{"city": "Paris"}') // 2]
        with pytest.raises(json.JSONDecodeError):
            json.loads(arguments)
        # A plain-text reply still gets a (truncated) call, to the request's first tool.
        plain = client.chat.completions.create(model="m", messages=user("hi"), tools=[WEATHER_TOOL])
        call = plain.choices[0].message.tool_calls[0]
        assert call.function.name == "get_weather"
        with pytest.raises(json.JSONDecodeError):
            json.loads(call.function.arguments)
        assert server.outcomes == {"truncated_tool_call": 2}


def _outcome(client: openai.OpenAI, text: str) -> str:
    try:
        client.chat.completions.create(model="m", messages=user(text))
    except openai.InternalServerError:
        return "error_500"
    except openai.RateLimitError:
        return "rate_limit_429"
    return "ok"


def test_fault_choice_is_deterministic() -> None:
    faults = {"error_500": 0.3, "rate_limit_429": 0.3}
    texts = [f"q{i % 7}" for i in range(30)]  # repeated bodies: the occurrence count matters
    sequences = []
    for _ in range(2):
        with LoopbackServer(faults=faults, seed=11) as server:
            client = client_for(server)
            sequences.append([_outcome(client, text) for text in texts])
            assert server.outcomes == {kind: sequences[-1].count(kind) for kind in set(sequences[-1])}
            server.reset_counters()  # forgets the bodies seen: the same sequence again
            assert [_outcome(client, text) for text in texts] == sequences[-1]
    assert sequences[0] == sequences[1]
    assert len(set(sequences[0])) == 3
    # A repeated identical body does not always get the same outcome (so a retry can succeed).
    same_body = [outcome for text, outcome in zip(texts, sequences[0], strict=True) if text == "q0"]
    assert len(set(same_body)) > 1
    with LoopbackServer(faults=faults, seed=12) as other:
        assert [other.fault_for({"model": "m", "messages": user(t)}, 0) for t in texts[:7]] != [
            None if outcome == "ok" else outcome for outcome in sequences[0][:7]
        ]


def test_fault_choice_does_not_depend_on_interleaving() -> None:
    texts = [f"body {i}" for i in range(40)]

    async def outcomes(order: list[str]) -> dict[str, str]:
        with LoopbackServer(faults={"error_500": 0.5}, latency=0.01) as server:
            client = async_client_for(server)

            async def one(text: str) -> tuple[str, str]:
                await asyncio.sleep(random.random() * 0.02)
                try:
                    await client.chat.completions.create(model="m", messages=user(text))
                except openai.InternalServerError:
                    return text, "error_500"
                return text, "ok"

            result = dict(await asyncio.gather(*(one(text) for text in order)))
            await client.close()
            return result

    shuffled = random.Random(0).sample(texts, len(texts))
    assert asyncio.run(outcomes(texts)) == asyncio.run(outcomes(shuffled))


@pytest.mark.parametrize(
    ("faults", "bad"),
    [
        ({"error_501": 0.1}, "error_501"),
        ({"hang": 1.5}, "hang"),
        ({"hang": -0.1}, "hang"),
        ({"error_500": 0.6, "malformed_json": 0.5}, "malformed_json"),
    ],
)
def test_invalid_fault_config_is_a_value_error(faults: dict[str, float], bad: str) -> None:
    with pytest.raises(ValueError, match=bad):
        LoopbackServer(faults=faults)


def test_fault_kinds_are_the_documented_ones() -> None:
    assert FAULT_KINDS == ("error_500", "rate_limit_429", "hang", "malformed_json", "truncated_tool_call")
    with pytest.raises(ValueError, match="latency"):
        LoopbackServer(latency=-1)


def test_latency_is_honoured() -> None:
    with LoopbackServer(latency=0.2) as server:
        client = client_for(server)
        started = time.monotonic()
        client.chat.completions.create(model="m", messages=user("slow"))
        assert time.monotonic() - started >= 0.2


def test_64_concurrent_requests_overlap() -> None:
    async def burst(server: LoopbackServer) -> float:
        client = async_client_for(server)
        await client.chat.completions.create(model="m", messages=user("warm up"))  # lazy imports, not the server
        started = time.monotonic()
        answers = await asyncio.gather(
            *(client.chat.completions.create(model="m", messages=user(f"n{i}")) for i in range(64))
        )
        elapsed = time.monotonic() - started
        await client.close()
        assert sorted(a.choices[0].message.content for a in answers) == sorted(f"echo: n{i}" for i in range(64))
        return elapsed

    with LoopbackServer(latency=0.2) as server:
        assert asyncio.run(burst(server)) < 1.0
        assert server.requests == 65


def test_counters_and_recording() -> None:
    with LoopbackServer(record_bodies=False) as server:
        client_for(server).chat.completions.create(model="m", messages=user("x"))
        assert server.requests == 1 and server.received == []
    with LoopbackServer(max_recorded=2) as server:
        client = client_for(server)
        for text in "abc":
            client.chat.completions.create(model="m", messages=user(text))
        assert [body["messages"][0]["content"] for body in server.received] == ["a", "b"]
        server.reset_counters()
        assert (server.requests, server.outcomes, server.received) == (0, {}, [])


def test_not_running_has_no_url() -> None:
    server = LoopbackServer()
    with pytest.raises(RuntimeError, match="not running"):
        _ = server.base_url
    server.stop()
    with server, pytest.raises(RuntimeError, match="already running"):
        server.start()
    with server:  # restartable
        assert client_for(server).chat.completions.create(model="m", messages=user("again")).choices


def test_replies_import_without_aiohttp_and_start_says_what_is_missing() -> None:
    # Library users without the testing extra import magnet.testing and magnet.llm.replay; only start() needs aiohttp.
    code = textwrap.dedent(
        """
        import sys
        sys.modules["aiohttp"] = None  # as if it were not installed
        import magnet.testing, magnet.llm.replay
        from magnet.testing.loopback import LoopbackServer, Reply
        try:
            LoopbackServer([Reply(content="x")]).start()
        except ModuleNotFoundError as error:
            print(error)
        """
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "LoopbackServer needs aiohttp: pip install 'magnet-tooluse[testing]'" in result.stdout
