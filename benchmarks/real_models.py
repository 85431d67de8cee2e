"""A real model in every seat that talks to one: SmolLM2-135M-Instruct (from its wheel) as the teacher behind
``transformers serve``, as the student in BFCL's prompting format, and as the evaluated model, locally and served.

Prints, for the closing notes and ``results.md``:
1. ``magnet synth`` with SmolLM2 served as the teacher (``tool_calls: auto``): the detected mode and every stage's
   counts by reason; then hinted rollouts by SmolLM2 on episodes the offline backend translated (SmolLM2 cannot
   translate), where the calls travel as text.
2. SmolLM2 (local) as the student (``bfcl_prompt``): pairs, and how many rejected sides hold its decoded calls.
3. ``magnet eval bfcl`` on SmolLM2 with ``--model`` and with ``--endpoint`` (``transformers serve``): scores, and the
   share of steps where both decoded the same calls (and wrote the same text) at temperature 0.
4. The same synth through a loopback server that plays vLLM without a tool parser (400 on ``tools``): ``auto``
   against ``text`` forced.

Slow on 2 cores (SmolLM2 writes about 10 tokens a second): about 10 minutes. ``--out`` keeps the runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from magnet.eval.bfcl import evaluate_bfcl, read_results
from magnet.eval.runners import endpoint_runner, local_runner
from magnet.llm.client import OpenAITeacher
from magnet.llm.smollm2 import write_smollm2
from magnet.synthesis.config import load_config
from magnet.synthesis.distill import distill
from magnet.synthesis.episode import Episode
from magnet.synthesis.graph import SchemaJudge, build_graph
from magnet.synthesis.offline import OfflineTeacher
from magnet.synthesis.paths import sample_single_turn
from magnet.synthesis.synth import run_synth
from magnet.synthesis.translate import Translator, build_registry
from magnet.testing import transformers_server
from magnet.tools.builtin import BUILTIN_TOOLKITS

SMALL = ["paths.walks_per_function=1", "datasets.sft_mixture=all", "datasets.test_size=0.1"]


def stages(report) -> str:
    lines = []
    for name, stage in report["stages"].items():
        reasons = ", ".join(f"{k} {v}" for k, v in Counter(stage["reasons"]).most_common()) or "-"
        lines.append(f"  {name:<10} inputs {stage['inputs']:>3} = accepted {stage['accepted']:>3} + rejected "
                     f"{stage['rejected']:>3}  ({reasons})")  # fmt: skip
    return "\n".join(lines)


def teacher_synth(out: Path, base_url: str, name: str) -> None:
    settings = [
        *SMALL,
        "paths.limit=4",
        "paths.single=4",
        "paths.parallel=2",
        "paths.multiple=2",
        "translate.max_attempts=2",
        "translate.turn_attempts=1",
        "max_steps=3",
        "teacher.kind=openai",
        f"teacher.model={name}",
        f"teacher.base_url={base_url}",
        "teacher.temperature=0",
        "teacher.max_tokens=64",
        "teacher.max_concurrency=2",
        f"out={out}",
    ]
    started = time.perf_counter()
    report = run_synth(load_config(None, settings), progress=False)
    calls = report["models"]["teacher"]["tool_calls"]
    print(f"1a. magnet synth, SmolLM2 served as the teacher ({time.perf_counter() - started:.0f} s)")
    why = calls["reason"] or "no request offered tools"
    print(f"  tool calls: setting {calls['setting']}, mode {calls['mode']} ({why})")
    print(stages(report))


def hinted_rollouts(base_url: str, name: str, count: int = 8) -> None:
    graph = asyncio.run(build_graph([s for k in BUILTIN_TOOLKITS for s in k.specs()], SchemaJudge(), progress=False))
    registry = build_registry(graph)
    paths = sample_single_turn(graph, single=count // 2, parallel=count // 4, multiple=count // 4, seed=2)
    teacher = OpenAITeacher(name, base_url=base_url, default_params={"temperature": 0.0, "max_tokens": 48})

    async def run():
        translator = Translator(graph, registry, OfflineTeacher())
        episodes = [
            e for e in await asyncio.gather(*(translator.translate(p) for p in paths)) if isinstance(e, Episode)
        ]
        try:
            return episodes, await asyncio.gather(*(distill(e, registry, teacher, max_steps=3) for e in episodes))
        finally:
            await teacher.aclose()

    started = time.perf_counter()
    episodes, results = asyncio.run(run())
    reasons = Counter(r.reason for r in results if r.row is None)
    with_calls = sum(any(t.calls for t in r.rollout.turns) for r in results if r.rollout)
    print(f"1b. hinted rollouts by SmolLM2 served, on {len(episodes)} offline-translated single-turn episodes "
          f"({time.perf_counter() - started:.0f} s)")  # fmt: skip
    print(f"  tool calls: {teacher.tool_call_report()['reason']}")
    print(f"  accepted {sum(r.row is not None for r in results)}, rejected {sum(reasons.values())} "
          f"({', '.join(f'{k} {v}' for k, v in reasons.most_common())}); rollouts that executed calls read from "
          f"its text: {with_calls}")  # fmt: skip


def student_synth(out: Path, model: str) -> None:
    settings = [
        *SMALL,
        "paths.limit=3",
        "paths.single=6",
        "negatives.source=student",
        "negatives.samples=2",
        "negatives.student.kind=hf",
        f"negatives.student.model={model}",
        "negatives.student.max_tokens=32",
        f"out={out}",
    ]
    started = time.perf_counter()
    report = run_synth(load_config(None, settings), progress=False)
    student = report["models"]["student"]
    pairs = [json.loads(line) for path in (out / "negatives").glob("accepted-*.jsonl") for line in path.open()]
    calls = sum(any(m.get("tool_calls") for m in pair["rejected"] if m["role"] == "assistant") for pair in pairs)
    kinds = Counter(t for pair in pairs for t in pair["meta"]["error_types"])
    print(f"2. {model} (local) as the student, {student['tool_format']} ({student['tool_format_from']}); "
          f"offline teacher and judge ({time.perf_counter() - started:.0f} s)")  # fmt: skip
    print(stages(report))
    print(f"  pairs {len(pairs)}; rejected sides holding the student's decoded calls: {calls}; error types: "
          f"{dict(kinds)}")  # fmt: skip
    steps = report["usage"]["steps"].get("student_sample", {})
    print(
        f"  student requests {steps.get('answered', 0)}, prompt tokens {steps.get('prompt_tokens', 0)} "
        f"(BFCL's system prompt with the functions), completion tokens {steps.get('completion_tokens', 0)}"
    )


def eval_both(out: Path, model: str, base_url: str) -> None:
    categories = ["simple", "irrelevance", "multi_turn_base"]
    runners = {
        "--model (local)": local_runner(model, max_new_tokens=32, batch_size=1),
        "--endpoint (served)": endpoint_runner(model, base_url, max_tokens=32, max_concurrency=1),
    }
    steps, scores = {}, {}
    for label, runner in runners.items():
        folder = out / label.split()[0].strip("-")
        result = evaluate_bfcl(runner, folder, categories=categories, limit=2, concurrency=1, progress=False)
        scores[label] = {name: round(score.accuracy, 3) for name, score in result.scores.items()}
        steps[label] = []
        for category in categories:
            for record in read_results(folder / "results" / f"{category}.jsonl"):
                turns = record.get("turns") or [[record["step"]]]
                steps[label] += [(category, step) for turn in turns for step in turn]
    local, served = steps.values()
    pairs = list(zip(local, served, strict=False))
    same_calls = sum(a[1]["calls"] == b[1]["calls"] for a, b in pairs)
    same_text = sum(a[1]["text"] == b[1]["text"] for a, b in pairs)
    print(
        "3. magnet eval bfcl on SmolLM2 (2 entries of simple, irrelevance, multi_turn_base; temperature 0, 32 tokens)"
    )
    for label, score in scores.items():
        print(f"  {label:<20} {score}")
    print(f"  steps: {len(local)} local, {len(served)} served; same decoded calls {same_calls}/{len(pairs)} "
          f"({same_calls / max(len(pairs), 1):.0%}), same text {same_text}/{len(pairs)}")  # fmt: skip
    for (category, a), (_, b) in pairs:
        if a["text"] != b["text"]:
            print(f"    differs ({category}): local {a['text'][:70]!r} / served {b['text'][:70]!r}")


def vllm_without_parser(out: Path) -> None:
    from magnet.llm.replay import RecordingTeacher, replay_responder
    from magnet.synthesis.synth import Synth
    from magnet.testing.loopback import LoopbackServer

    small = [*SMALL, "paths.limit=12", "paths.single=8", "paths.parallel=4", "paths.multiple=4"]
    small.append("teacher.max_concurrency=1")
    recording = Synth(load_config(None, [*small, f"out={out / 'offline'}"]), progress=False)
    recording.teacher = RecordingTeacher(recording.teacher, tool_calls="text")
    asyncio.run(recording.run())
    rows = {}
    print("4. the same synth through a server playing vLLM without a tool parser (400 on tools)")
    for mode in ("auto", "text"):
        with LoopbackServer(replay_responder(recording.teacher.answers), tool_parser=False) as server:
            endpoint = ["teacher.kind=openai", "teacher.model=vllm", f"teacher.base_url={server.base_url}"]
            settings = [*small, *endpoint, f"teacher.tool_calls={mode}", f"out={out / mode}"]
            report = run_synth(load_config(None, settings), progress=False)
            outcomes = dict(server.outcomes)
        rows[mode] = [(out / mode / "datasets" / kind) for kind in ("sft", "preference")]
        calls = report["models"]["teacher"]["tool_calls"]
        print(f"  {mode:<5} requests {sum(outcomes.values())} ({outcomes}); mode {calls['mode']}; sft rows "
              f"{report['sft']['rows']}, pairs {report['preference']['rows']}")  # fmt: skip
    import datasets

    same = all(
        datasets.load_from_disk(str(a))[split].to_list() == datasets.load_from_disk(str(b))[split].to_list()
        for a, b in zip(rows["auto"], rows["text"], strict=True)
        for split in ("train", "test")
    )
    print(f"  datasets of auto and text forced identical: {same}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="keep the runs here (default: a temporary folder)")
    parser.add_argument("--model", help="an existing SmolLM2 folder (default: written from the wheel)")
    parser.add_argument(
        "--student",
        help="the student of section 2 (default: SmolLM2 itself); e.g. SmolLM2 after a few SFT steps in "
        "bfcl_prompt (recipes/sft.py), which has learnt to write calls",
    )
    parser.add_argument("--sections", default="1,2,3,4", help="which sections to run (default: all)")
    args = parser.parse_args()
    sections = set(args.sections.split(","))
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(args.out or scratch)
        model = str(write_smollm2(args.model or out / "smollm2"))
        if sections & {"1", "3"}:
            with transformers_server(model) as base_url:
                if "1" in sections:
                    teacher_synth(out / "teacher", base_url, model)
                    hinted_rollouts(base_url, model)
                if "3" in sections:
                    eval_both(out / "eval", model, base_url)
        if "2" in sections:
            student_synth(out / "student", args.student or model)
        if "4" in sections:
            vllm_without_parser(out / "vllm")
    return 0


if __name__ == "__main__":
    sys.exit(main())
