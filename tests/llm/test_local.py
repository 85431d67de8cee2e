"""HFTeacher: a local transformers model answers through its chat template, in batches, through the cache."""

from __future__ import annotations

import asyncio
import os
import shutil

import pytest

from magnet.errors import TeacherError
from magnet.llm.cache import RequestCache
from magnet.llm.local import HFTeacher
from magnet.tools.calls import FunctionCall, parse_tagged_tool_calls

pytestmark = pytest.mark.slow

PROMPTS = [
    [{"role": "user", "content": text}]
    for text in (
        "hi",
        "what is the weather in Paris today?",
        "book it",
        "a much longer question about calendars and events",
    )
]


def test_batched_answers_equal_one_by_one_answers(tiny_model_dir):
    batched = HFTeacher(tiny_model_dir, batch_size=4, batch_wait=0.05, max_new_tokens=12)

    async def together():
        return await asyncio.gather(*(batched.complete(p, step="student") for p in PROMPTS))

    in_batches = asyncio.run(together())
    single = HFTeacher(tiny_model_dir, batch_size=1, max_new_tokens=12)
    one_by_one = [asyncio.run(single.complete(p)) for p in PROMPTS]
    assert [c.text for c in in_batches] == [c.text for c in one_by_one]
    assert all(c.completion_tokens > 0 and c.prompt_tokens > 0 for c in in_batches)
    assert batched.usage.step("student").answered == 4
    assert in_batches[0].finish_reason in ("stop", "length", "tool_calls")


def test_tools_are_rendered_and_answers_cached(tiny_model_dir, tmp_path):
    teacher = HFTeacher(tiny_model_dir, max_new_tokens=6, cache=RequestCache(tmp_path / "c.sqlite"))
    tool = {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather.",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        },
    }
    prompt = teacher.render([{"role": "user", "content": "weather?"}], [tool])
    assert "<tools>" in prompt and '"name": "get_weather"' in prompt and prompt.endswith("<|im_start|>assistant\n")
    first = asyncio.run(teacher.complete(PROMPTS[0], tools=[tool]))
    again = asyncio.run(teacher.complete(PROMPTS[0], tools=[tool]))
    assert again.cached and again.text == first.text and teacher.usage.total().requests == 1


def test_a_checkpoint_retrained_into_the_same_folder_gets_no_old_answers(tiny_model_dir, tmp_path):
    folder = tmp_path / "model"
    shutil.copytree(tiny_model_dir, folder)
    cache = RequestCache(tmp_path / "c.sqlite")
    asyncio.run(HFTeacher(folder, max_new_tokens=4, cache=cache).complete(PROMPTS[0]))
    assert asyncio.run(HFTeacher(folder, max_new_tokens=4, cache=cache).complete(PROMPTS[0])).cached
    weights = next(folder.glob("*.safetensors"))
    os.utime(weights, ns=(weights.stat().st_atime_ns, weights.stat().st_mtime_ns + 10**9))  # "retrained"
    assert not asyncio.run(HFTeacher(folder, max_new_tokens=4, cache=cache).complete(PROMPTS[0])).cached


def test_unsupported_parameters_and_missing_models_are_clear_errors(tiny_model_dir, tmp_path):
    teacher = HFTeacher(tiny_model_dir, max_new_tokens=4)
    with pytest.raises(TeacherError, match=r"unsupported generation parameter\(s\) \['logit_bias'\]"):
        asyncio.run(teacher.complete(PROMPTS[0], logit_bias={}))
    with pytest.raises(TeacherError, match="cannot load a model from"):
        HFTeacher(tmp_path / "nothing-here")


def test_tagged_tool_calls_parse_and_report_broken_blocks():
    text = (
        'Let me check.\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>\n'
        '<tool_call>\n{"name": "f", "arguments": {"x": \n</tool_call>'
    )
    remaining, calls, problems = parse_tagged_tool_calls(text)
    assert remaining == "Let me check."
    assert calls == [FunctionCall("get_weather", {"city": "Paris"})]
    assert len(problems) == 1 and problems[0].startswith("<tool_call> #1: not valid JSON")


def test_seeded_sampling_does_not_depend_on_batch_neighbours(tiny_model_dir):
    teacher = HFTeacher(tiny_model_dir, batch_size=4, batch_wait=0.05, max_new_tokens=8)
    params = {"temperature": 0.9, "seed": 5}
    alone = asyncio.run(teacher.complete(PROMPTS[1], **params))

    async def together():
        return await asyncio.gather(teacher.complete(PROMPTS[0], **params), teacher.complete(PROMPTS[1], **params))

    assert asyncio.run(together())[1].text == alone.text


def test_greedy_requests_that_differ_only_in_their_seed_share_a_batch(tiny_model_dir):
    """Translation sends each turn's seed; greedy decoding ignores it, so it must not split the batches."""
    teacher = HFTeacher(tiny_model_dir, batch_size=4, batch_wait=0.2, max_new_tokens=4)
    sizes = []
    generate = teacher._generate

    def counting(prompts, params):
        sizes.append(len(prompts))
        return generate(prompts, params)

    teacher._generate = counting

    async def together():
        return await asyncio.gather(*(teacher.complete(p, seed=index) for index, p in enumerate(PROMPTS)))

    asyncio.run(together())
    assert sizes == [len(PROMPTS)]
