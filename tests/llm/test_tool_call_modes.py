"""How calls travel between Magnet and an endpoint: native, text, and auto (detected once), over real HTTP with
the real ``openai`` client; 4xx answers that stop a run and those that fail one request."""

from __future__ import annotations

import asyncio
import json

import pytest

from magnet.errors import EndpointRefused, MagnetError, TeacherError
from magnet.llm.cache import RequestCache
from magnet.llm.client import OpenAITeacher
from magnet.testing.loopback import LoopbackServer, Reply
from magnet.tools.calls import FunctionCall

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather of a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
ASK = [{"role": "system", "content": "You help."}, {"role": "user", "content": "Weather in Paris?"}]
PARIS = FunctionCall("get_weather", {"city": "Paris"})


def teacher_for(server: LoopbackServer, **options) -> OpenAITeacher:
    return OpenAITeacher("loopback", base_url=server.base_url, timeout=2.0, backoff_initial=0.01, **options)


def ask(teacher: OpenAITeacher, messages=ASK, tools=(WEATHER,), **params):
    async def run():
        try:
            return await teacher.complete(messages, list(tools) or None, **params)
        finally:
            await teacher.aclose()

    return asyncio.run(run())


def last_user_or_system(request) -> str:
    return "\n".join(m.get("content") or "" for m in request["messages"])


def text_model(request) -> Reply:
    """A model that reads its functions from the prompt, as a served model without tool support does: it calls
    the function listed in the system prompt (if any) in BFCL's text form, inside a reasoning block's wake."""
    system = request["messages"][0].get("content") or ""
    if "get_weather" in system and not request.get("tools"):
        return Reply(content="<think>The user wants weather. [wrong(x=1)]</think>\n[get_weather(city='Paris')]")
    return Reply(content="<think>No functions.</think>It is sunny.")


def test_text_mode_puts_the_tools_in_the_prompt_and_decodes_the_answer():
    with LoopbackServer(text_model) as server:
        teacher = teacher_for(server, tool_calls="text")
        answer = ask(teacher)
        (request,) = server.received
    assert "tools" not in request  # nothing for a tool parser to refuse
    assert request["messages"][0]["content"].startswith("You help.\n\n# Functions")
    assert '"name": "get_weather"' in request["messages"][0]["content"]
    assert answer.tool_calls == (PARIS,) and answer.text == "" and answer.finish_reason == "tool_calls"
    assert teacher.tool_call_report() == {"setting": "text", "mode": "text", "reason": "tool_calls: text (set)"}


def test_text_mode_writes_earlier_calls_as_text():
    history = [
        *ASK,
        {"role": "assistant", "content": None, "tool_calls": [PARIS.to_tool_call("c0")]},
        {"role": "tool", "tool_call_id": "c0", "name": "get_weather", "content": '{"sky": "clear"}'},
    ]
    with LoopbackServer(["It is clear."]) as server:
        answer = ask(teacher_for(server, tool_calls="text"), messages=history)
        (request,) = server.received
    assert request["messages"][2] == {"role": "assistant", "content": "[get_weather(city='Paris')]"}
    assert request["messages"][3] == {
        "role": "user",
        "content": 'Output of get_weather(city=\'Paris\'):\n{"sky": "clear"}',
    }
    assert answer.text == "It is clear." and not answer.tool_calls


def test_auto_finds_text_when_the_server_refuses_tools():
    """vLLM without --enable-auto-tool-choice: 400 on every request with tools."""
    with LoopbackServer(text_model, tool_parser=False) as server:
        teacher = teacher_for(server)
        first, second = ask(teacher), ask(teacher)
        probes = server.received[:2]
        requests = server.received[2:]
    assert [bool(p.get("tools")) for p in probes] == [True, False] and all(p["max_tokens"] == 1 for p in probes)
    assert first.tool_calls == second.tool_calls == (PARIS,)
    assert len(requests) == 2 and not any("tools" in r for r in requests)  # detected once
    report = teacher.tool_call_report()
    assert report["setting"] == "auto" and report["mode"] == "text"
    assert "refuses requests with tools" in report["reason"] and "--enable-auto-tool-choice" in report["reason"]
    assert teacher.usage.step("tool_call_probe").requests == 2


def test_auto_finds_text_when_the_chat_template_ignores_tools():
    """transformers serve with a model whose template has no tools: tools accepted, prompt the same length."""

    def ignores_tools(request):
        request = {k: v for k, v in request.items() if k != "tools"}
        return text_model(request)

    class TemplateWithoutTools(LoopbackServer):
        def _completion(self, body, reply, *, truncate=False):
            return super()._completion({k: v for k, v in body.items() if k != "tools"}, reply, truncate=truncate)

    with TemplateWithoutTools(ignores_tools) as server:
        teacher = teacher_for(server)
        answer = ask(teacher)
    assert teacher.tool_call_mode == "text" and "ignores them" in teacher.tool_call_reason
    assert answer.tool_calls == (PARIS,)


def test_auto_keeps_native_when_the_server_renders_tools():
    def native_model(request):
        if request.get("tools"):
            return Reply(tool_calls=[{"name": "get_weather", "arguments": {"city": "Paris"}}])
        return Reply(content="OK")

    with LoopbackServer(native_model) as server:
        teacher = teacher_for(server)
        answer = ask(teacher)
        request = server.received[-1]
    assert teacher.tool_call_mode == "native" and "renders tools" in teacher.tool_call_reason
    assert request["tools"] == [WEATHER] and answer.tool_calls == (PARIS,)


def test_native_mode_reads_calls_a_server_left_in_the_text():
    """A server with tools in its template but no parser: the model's <tool_call> block arrives as content."""
    hermes = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'
    with LoopbackServer([hermes, "[get_weather(city='Paris')]", "[not_offered(city='Paris')]"]) as server:
        teacher = teacher_for(server, tool_calls="native")
        tagged, listed, unknown = ask(teacher), ask(teacher), ask(teacher)
    assert tagged.tool_calls == listed.tool_calls == (PARIS,) and tagged.text == ""
    assert unknown.tool_calls == () and unknown.text == "[not_offered(city='Paris')]"  # not an offered function


def test_reasoning_is_never_stored(tmp_path):
    cache = RequestCache(tmp_path / "cache.sqlite")
    with LoopbackServer(["<think>secret plan</think>Sunny.", "<think>cut off"]) as server:
        teacher = teacher_for(server, tool_calls="native", cache=cache)
        sunny = ask(teacher, tools=())
        cut = ask(teacher, messages=[{"role": "user", "content": "again"}], tools=())
        base_url = server.base_url
    assert sunny.text == "Sunny." and cut.text == ""
    assert "secret plan" not in (tmp_path / "cache.sqlite").read_bytes().decode("utf-8", "replace")
    gone = OpenAITeacher("loopback", base_url=base_url, max_retries=0, cache=cache)
    assert ask(gone, tools=()).text == "Sunny."  # from the cache: the server is stopped


def test_a_refusal_of_tools_in_native_mode_says_how_to_fix_it():
    with LoopbackServer(tool_parser=False) as server:
        teacher = teacher_for(server, tool_calls="native", max_retries=3)
        with pytest.raises(EndpointRefused) as refused:
            ask(teacher)
        assert server.requests == 1  # not retried
    message = str(refused.value)
    assert "HTTP 400" in message and "--enable-auto-tool-choice --tool-call-parser" in message
    assert "tool_calls: text" in message and "\n" not in message


def refusing(status: int, message: str):
    class Refusing(LoopbackServer):
        def _respond(self, body, fault):
            from magnet.testing.loopback import _Response

            self._count("bad_request")
            return _Response(status, json.dumps({"error": {"message": message, "code": status}}).encode())

    return Refusing()


@pytest.mark.parametrize(
    ("status", "message", "fix"),
    [
        (404, "The model `qwen` does not exist.", "does not serve 'loopback'"),
        (401, "Incorrect API key provided.", "check the API key in $OPENAI_API_KEY"),
        (422, "field required: messages", "no retry can mend it"),
    ],
)
def test_other_refusals_stop_the_run_with_one_line(status, message, fix):
    with refusing(status, message) as server, pytest.raises(EndpointRefused) as refused:
        ask(teacher_for(server, tool_calls="native"), tools=())
    assert message in str(refused.value) and fix in str(refused.value) and "\n" not in str(refused.value)
    assert not isinstance(refused.value, MagnetError)  # per-item handlers must not swallow it


def test_a_request_too_long_fails_that_request_only():
    vllm = "This model's maximum context length is 2048 tokens. However, you requested 4000 tokens."
    with refusing(400, vllm) as server, pytest.raises(TeacherError) as failed:
        ask(teacher_for(server, tool_calls="native"), tools=())
    assert failed.value.cause == "too_long" and "maximum context length" in str(failed.value)


def test_an_unknown_mode_is_refused():
    with pytest.raises(MagnetError, match="tool_calls must be one of"):
        OpenAITeacher("m", base_url="http://127.0.0.1:1/v1", tool_calls="json")


def test_auto_against_an_endpoint_that_refuses_everything_reports_the_real_refusal():
    with refusing(404, "The model `loopback` does not exist.") as server:
        teacher = teacher_for(server)
        with pytest.raises(EndpointRefused, match="does not serve 'loopback'"):
            ask(teacher)
        assert server.requests == 3  # two probes told nothing; the request itself says what is wrong
    assert teacher.tool_call_mode == "native" and "refused with and without tools" in teacher.tool_call_reason


def test_a_rerun_in_auto_answers_from_the_cache_without_probing(tmp_path):
    cache = RequestCache(tmp_path / "cache.sqlite")
    with LoopbackServer(text_model, tool_parser=False) as server:
        first = ask(teacher_for(server, cache=cache))
        assert server.requests == 3  # two probes, one request
        base_url = server.base_url
    gone = OpenAITeacher("loopback", base_url=base_url, max_retries=0, cache=cache)
    again = ask(gone)  # the server is stopped: a probe would fail
    nowhere = gone
    assert again.cached and again.tool_calls == first.tool_calls == (PARIS,)
    assert nowhere.tool_call_mode is None  # nothing had to be found out


def test_cached_answers_are_read_as_fresh_ones_are(tmp_path):
    """An entry written before reasoning was stripped (or by another writer) is read the same way on a hit."""
    from magnet.llm.cache import request_key

    cache = RequestCache(tmp_path / "cache.sqlite")
    raw = {"text": "<think>plan</think>[get_weather(city='Paris')]", "tool_calls": [], "model": "loopback"}
    teacher = OpenAITeacher("loopback", base_url="http://127.0.0.1:9/v1", max_retries=0, cache=cache)
    cache.put(request_key(teacher.cache_identity(), ASK, [WEATHER], {}), raw, model="loopback", step="default")
    answer = ask(teacher)
    assert answer.cached and answer.tool_calls == (PARIS,) and answer.text == ""
