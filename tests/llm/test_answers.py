"""Reading model answers: reasoning removed, calls decoded from the forms real models write, BFCL's own decoder."""

from __future__ import annotations

import pytest

from magnet.errors import CallParseError
from magnet.llm.answers import decode_bfcl, decode_text_calls, strip_reasoning, tools_prompt, with_tools_as_text
from magnet.tools.calls import FunctionCall

F1 = FunctionCall("get_weather", {"city": "Paris", "days": 2})
F2 = FunctionCall("book", {"ok": True, "note": None})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<think>let me see</think>Paris.", "Paris."),
        ("<think>\nstep 1\n</think>\n\nParis.", "Paris."),
        ("<THINK>a</THINK>b<thinking>c</thinking>d", "bd"),
        ("<think>cut off while thinking", ""),
        ("  <thinking>cut off", ""),
        ("the template opened it\n</think>\n\nParis.", "Paris."),
        ("The HTML tag <think> is used for inner monologue.", "The HTML tag <think> is used for inner monologue."),
        ("Answer: use </think> tags carefully", "Answer: use </think> tags carefully"),
        ("Paris.", "Paris."),
        ("", ""),
    ],
)
def test_reasoning_blocks_are_removed(text, expected):
    assert strip_reasoning(text) == expected


@pytest.mark.parametrize(
    ("text", "rest"),
    [
        ("[get_weather(city='Paris', days=2), book(ok=True, note=None)]", ""),
        ("```python\n[get_weather(city='Paris', days=2), book(ok=True, note=None)]\n```", ""),
        ("I'll check both.\n[get_weather(city='Paris', days=2), book(ok=True, note=None)]", "I'll check both."),
        ("Checking: [get_weather(city='Paris', days=2), book(ok=True, note=None)]", "Checking:"),
        (
            "Sure!\n\n[get_weather(city='Paris', days=2), book(ok=True, note=None)]\n\nLet me know.",
            "Sure!\n\n\nLet me know.",
        ),
        (
            '{"name": "get_weather", "arguments": {"city": "Paris", "days": 2}}\n'
            '{"name": "book", "arguments": {"ok": true, "note": null}}',
            "",
        ),
        (
            '[{"name": "get_weather", "arguments": {"city": "Paris", "days": 2}}, '
            '{"name": "book", "parameters": {"ok": true, "note": null}}]',
            "",
        ),
        (
            '```json\n{"tool_calls": [{"function": {"name": "get_weather", "arguments": "{\\"city\\": \\"Paris\\", '
            '\\"days\\": 2}"}}, {"name": "book", "arguments": {"ok": true, "note": null}}]}\n```',
            "",
        ),
        (
            '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris", "days": 2}}\n</tool_call>\n'
            '<tool_call>{"name": "book", "arguments": {"ok": true, "note": null}}</tool_call>',
            "",
        ),
        ("<think>maybe [wrong(x=1)]</think>[get_weather(city='Paris', days=2), book(ok=True, note=None)]", ""),
    ],
)
def test_calls_written_as_text_are_decoded(text, rest):
    calls, remaining = decode_text_calls(text)
    assert calls == [F1, F2]
    assert remaining == rest


@pytest.mark.parametrize(
    "text",
    [
        "The weather in Paris is sunny.",
        "[1, 2, 3]",
        '{"city": "Paris"}',
        '{"name": "report.txt", "size": 120}',
        "I would call [get_weather(city='Paris')] but the user has to confirm first.",
        "Sure(I can)",
        "<think>[get_weather(city='Paris')]</think>",
        "[get_weather(city=os.system('x'))]",
    ],
)
def test_prose_and_unsafe_text_are_not_calls(text):
    assert decode_text_calls(text)[0] == []


def test_names_restrict_what_counts_as_a_call():
    text = "[get_weather(city='Paris')]"
    assert decode_text_calls(text, names={"get_weather"})[0] == [FunctionCall("get_weather", {"city": "Paris"})]
    assert decode_text_calls(text, names={"book"}) == ([], text)


def test_decode_bfcl_reads_as_bfcl_does():
    assert decode_bfcl("```\n[get_weather(city='Paris', days=2)]\n```") == [F1]
    assert decode_bfcl("get_weather(city='Paris', days=2)") == [F1]
    with pytest.raises(CallParseError):
        decode_bfcl("I cannot help with that.")
    with pytest.raises(CallParseError):
        decode_bfcl("[]")


def test_conversation_with_tools_as_text():
    tools = [{"type": "function", "function": {"name": "get_weather", "description": "Weather.", "parameters": {}}}]
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "c0", "type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}
            ],
        },
        {"role": "tool", "tool_call_id": "c0", "name": "get_weather", "content": "sunny"},
    ]
    converted = with_tools_as_text(messages, tools)
    assert converted[0]["content"].startswith("Be brief.\n\n# Functions")
    assert '"name": "get_weather"' in converted[0]["content"]
    assert converted[2] == {"role": "assistant", "content": "[get_weather(city='Paris')]"}
    assert converted[3] == {"role": "user", "content": "Output of get_weather(city='Paris'):\nsunny"}
    assert all(isinstance(m["content"], str) and set(m) == {"role", "content"} for m in converted)
    # parallel calls: their outputs in one user message, in order
    parallel = [
        *messages[:2],
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "a", "type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}},
            {"id": "b", "type": "function", "function": {"name": "get_weather", "arguments": {"city": "Rome"}}},
        ]},
        {"role": "tool", "tool_call_id": "a", "content": "sunny"},
        {"role": "tool", "tool_call_id": "b", "content": "rain"},
        {"role": "assistant", "content": "Sunny in Paris, rain in Rome."},
    ]  # fmt: skip
    roles = [m["role"] for m in with_tools_as_text(parallel, tools)]
    assert roles == ["system", "user", "assistant", "user", "assistant"]
    assert with_tools_as_text(parallel, tools)[3]["content"] == (
        "Output of get_weather(city='Paris'):\nsunny\n\nOutput of get_weather(city='Rome'):\nrain"
    )
    # no system message: one is added; what the prompt asks for is what the decoder reads
    added = with_tools_as_text(messages[1:2], tools)
    assert added[0] == {"role": "system", "content": tools_prompt(tools)}
    example = next(line for line in tools_prompt(tools).splitlines() if line.startswith("[func_name1("))
    assert [call.name for call in decode_text_calls(example)[0]] == ["func_name1", "func_name2"]
