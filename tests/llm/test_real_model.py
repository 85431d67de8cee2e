"""A real pretrained model (SmolLM2-135M-Instruct, from its wheel) locally and behind a real OpenAI-compatible
server (``transformers serve`` on 127.0.0.1): what the tool-call detection finds, that both paths answer alike,
and that synthesis and evaluation run through them with every item accounted for.

SmolLM2's chat template has no ``tools``: a served model without tool support, the case that used to leave
synthesis with nothing. On 2 cores it writes about 10 tokens a second: few requests, short answers.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from magnet.llm.client import OpenAITeacher
from magnet.llm.local import HFTeacher
from magnet.llm.smollm2 import TRAINING_TEMPLATE

pytestmark = pytest.mark.slow

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather of a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
FRANCE = [{"role": "user", "content": "What is the capital of France? Answer in one word."}]
GREEDY = {"temperature": 0.0, "max_tokens": 12}


def ask(teacher, messages, tools=None, **params):
    async def run():
        try:
            return await teacher.complete(messages, tools, **params)
        finally:
            await teacher.aclose()

    return asyncio.run(run())


def test_smollm2_answers_the_same_locally_and_served(smollm2_dir, smollm2_server):
    base_url, name = smollm2_server
    served = ask(OpenAITeacher(name, base_url=base_url), FRANCE, **GREEDY)
    local = ask(HFTeacher(smollm2_dir, batch_size=1), FRANCE, **GREEDY)
    assert "Paris" in served.text
    assert served.text == local.text
    assert served.prompt_tokens == local.prompt_tokens > 0


def test_auto_finds_that_smollm2_needs_tools_in_the_prompt(smollm2_dir, smollm2_server):
    base_url, name = smollm2_server
    served = OpenAITeacher(name, base_url=base_url)
    answer = ask(served, FRANCE, [WEATHER], **GREEDY)
    assert served.tool_call_mode == "text" and "chat template ignores them" in served.tool_call_reason
    local = HFTeacher(smollm2_dir, batch_size=1)
    ask(local, FRANCE, [WEATHER], **GREEDY)
    assert local.tool_call_mode == "text" and local.tool_call_reason.endswith("the chat template ignores tools")
    # the functions reached the model: the prompt is longer than the same question without tools
    assert answer.prompt_tokens > ask(OpenAITeacher(name, base_url=base_url), FRANCE, **GREEDY).prompt_tokens + 50


def _accounted(report, out: Path) -> None:
    """Every item of every stage accepted or rejected with a reason, in the report and on disk."""
    folders = {"translate": "episodes"}
    assert report["stages"]["translate"]["inputs"] > 0
    for name, stage in report["stages"].items():
        assert stage["inputs"] == stage["accepted"] + stage["rejected"], name
        assert sum(stage["reasons"].values()) == stage["rejected"], name
        rejected = [
            json.loads(line)
            for path in (out / folders.get(name, name)).glob("rejected-*.jsonl")
            for line in path.read_text().splitlines()
        ]
        assert len(rejected) == stage["rejected"], name


def test_synth_with_smollm2_served_as_the_teacher(tmp_path, smollm2_server):
    from magnet.synthesis.config import load_config
    from magnet.synthesis.synth import run_synth

    base_url, name = smollm2_server
    settings = [
        "paths.walks_per_function=1",
        "paths.limit=2",
        "paths.single=2",
        "paths.parallel=0",
        "paths.multiple=0",
        "paths.irrelevance=0",
        "translate.max_attempts=1",
        "translate.turn_attempts=1",
        "max_steps=2",
        "teacher.kind=openai",
        f"teacher.model={name}",
        f"teacher.base_url={base_url}",
        "teacher.temperature=0",
        "teacher.max_tokens=48",
        "teacher.max_concurrency=2",
        "datasets.sft_mixture=all",
        f"out={tmp_path}",
    ]
    report = run_synth(load_config(None, settings), progress=False)
    _accounted(report, tmp_path)
    calls = report["models"]["teacher"]["tool_calls"]
    assert calls["setting"] == "auto"
    # SmolLM2 cannot translate: when no episode reaches a rollout, no request offered tools and nothing was probed
    assert (calls["mode"] == "text") == (report["stages"]["positives"]["inputs"] > 0)
    assert calls["mode"] in ("text", None)
    assert report["usage"]["total"]["answered"] > 0


def test_hinted_rollouts_by_smollm2_served_read_calls_from_its_text(smollm2_server):
    """Positive distillation with SmolLM2 behind ``transformers serve`` (no tools in its template): the functions
    go into the prompt, the hint follows the query, calls written as text are executed, and every episode ends
    as a row or with the filter's reasons. (Translation by the offline backend: SmolLM2 cannot translate.)"""
    from magnet.synthesis.distill import distill
    from magnet.synthesis.episode import Episode
    from magnet.synthesis.graph import SchemaJudge, build_graph
    from magnet.synthesis.offline import OfflineTeacher
    from magnet.synthesis.paths import sample_single_turn
    from magnet.synthesis.translate import Translator, build_registry
    from magnet.tools.builtin import BUILTIN_TOOLKITS

    base_url, name = smollm2_server
    graph = asyncio.run(build_graph([s for k in BUILTIN_TOOLKITS for s in k.specs()], SchemaJudge(), progress=False))
    registry = build_registry(graph)
    paths = sample_single_turn(graph, single=3, parallel=0, multiple=0, irrelevance=0, seed=1)
    teacher = OpenAITeacher(name, base_url=base_url, default_params={"temperature": 0.0, "max_tokens": 40})

    async def run():
        translator = Translator(graph, registry, OfflineTeacher())
        episodes = [
            e for e in await asyncio.gather(*(translator.translate(p) for p in paths)) if isinstance(e, Episode)
        ]
        try:
            return episodes, await asyncio.gather(*(distill(e, registry, teacher, max_steps=2) for e in episodes))
        finally:
            await teacher.aclose()

    episodes, results = asyncio.run(run())
    assert len(episodes) == 3 and teacher.tool_call_mode == "text"
    for result in results:
        assert (result.row is None) == bool(result.reasons)
        for message in result.rollout.messages:
            assert "[Hint]" not in (message.content or "") and "<think>" not in (message.content or "")
    rollout = teacher.usage.step("positive_rollout")
    assert rollout.answered >= 3 and rollout.prompt_tokens > 400 * rollout.answered  # the functions were in it


def test_smollm2_as_the_student_in_bfcl_prompt(tmp_path, smollm2_dir):
    """The paper's negatives with a real student: SmolLM2 (local) samples hint-free rollouts in BFCL's prompting
    format; its answers are read by the evaluation's decoder; the offline backend translates and judges."""
    from magnet.synthesis.config import load_config
    from magnet.synthesis.synth import run_synth

    settings = [
        "paths.walks_per_function=1",
        "paths.limit=0",
        "paths.single=2",
        "paths.parallel=0",
        "paths.multiple=0",
        "paths.irrelevance=0",
        "negatives.source=student",
        "negatives.samples=1",
        "negatives.student.kind=hf",
        f"negatives.student.model={smollm2_dir}",
        "negatives.student.max_tokens=24",
        "datasets.sft_mixture=all",
        f"out={tmp_path}",
    ]
    report = run_synth(load_config(None, settings), progress=False)
    _accounted(report, tmp_path)
    assert report["stages"]["negatives"]["inputs"] > 0
    student = report["models"]["student"]
    assert student["tool_format"] == "bfcl_prompt" and student["tool_format_from"].startswith("default")
    steps = report["usage"]["steps"]
    assert steps["student_sample"]["answered"] >= report["stages"]["negatives"]["inputs"]
    assert steps["student_sample"]["prompt_tokens"] > 300 * steps["student_sample"]["answered"]  # BFCL's prompt
    pairs = [json.loads(line) for path in (tmp_path / "negatives").glob("accepted-*.jsonl") for line in path.open()]
    for pair in pairs:  # the rejected side is the student's own rollout, after the shared prompt
        assert pair["meta"]["source"] == "student" and pair["rejected"] != pair["chosen"]


def test_bfcl_eval_of_smollm2_local_and_served_decode_the_same_calls(tmp_path, smollm2_dir, smollm2_server):
    from magnet.eval.bfcl import evaluate_bfcl, read_results
    from magnet.eval.runners import endpoint_runner, local_runner

    base_url, name = smollm2_server
    categories = ["simple", "irrelevance"]
    runners = {
        "local": local_runner(smollm2_dir, max_new_tokens=24, batch_size=1),
        "served": endpoint_runner(name, base_url, max_tokens=24, max_concurrency=1),
    }
    steps = {}
    for label, runner in runners.items():
        evaluate_bfcl(runner, tmp_path / label, categories=categories, limit=2, concurrency=1, progress=False)
        steps[label] = [
            record["step"]
            for category in categories
            for record in read_results(tmp_path / label / "results" / f"{category}.jsonl")
        ]
    assert len(steps["local"]) == len(steps["served"]) == 4
    same_calls = sum(a["calls"] == b["calls"] for a, b in zip(steps["local"], steps["served"], strict=True))
    assert same_calls / 4 >= 0.9


def test_smollm2_is_written_with_a_training_template_that_changes_no_token(smollm2_dir):
    from transformers import AutoTokenizer

    from magnet.train.templates import template_problems

    tokenizer = AutoTokenizer.from_pretrained(smollm2_dir)
    assert "{% generation %}" in tokenizer.chat_template
    row = {
        "id": "r",
        "tools": [WEATHER],
        "messages": [
            {"role": "user", "content": "Weather in Paris?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "c0",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": {"city": "Paris"}},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "c0", "name": "get_weather", "content": '{"sky": "clear"}'},
            {"role": "assistant", "content": "Clear skies."},
        ],
    }
    stock = tokenizer.chat_template.replace("{% generation %}", "").replace("{% endgeneration %}", "")
    tokenizer.chat_template = stock
    assert template_problems(tokenizer, [row], "bfcl_prompt", template=TRAINING_TEMPLATE) == []
