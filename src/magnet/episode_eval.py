"""``magnet eval episodes``: a model evaluated on synthesized episodes it did not train on, on your own tools.

BFCL says how a model does on BFCL's tools; a user who synthesised data for their own tools needs to know whether
the model got better on those. The held-out episodes of a ``magnet synth`` run (``datasets/held_out.json``) are:

* ``test``: the episodes of the SFT test split (in-domain: the toolkits were trained on, these episodes were not);
* ``holdout``: the episodes of ``datasets.holdout_toolkits``, toolkits left out of training entirely (the
  out-of-domain check the paper makes with ToolQuery).

The model talks to the same environment the episode was made in (its toolkits, loaded with its initial state;
withheld functions appear at the turn that adds them), its calls are executed and their outputs fed back, and each
turn is scored as BFCL scores a multi-turn turn: the state after the turn must equal the reference's, and every
output of the reference's calls must be among the model's outputs (BFCL's state and response checkers). A turn
whose label says a function or a value is missing (or an irrelevance turn) is right when the model calls nothing.
An episode is right when every turn is; a turn with more responses with calls than the step limit (BFCL's 20, or
``step_limit``) force-terminates the episode, scored wrong there.
Accuracy per category (multi-turn, single-turn variants, irrelevance) and per toolkit.

Runners, tool formats, resume and the folder's identity (``run.json``, with the fingerprint of what is evaluated
and of the episode set) are BFCL's (``magnet.eval``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from magnet.errors import MagnetError
from magnet.eval.bfcl import check_run, failed_record, read_results, score_all
from magnet.eval.checkers import step_limit as step_limit_of_bfcl
from magnet.eval.loop import StepRecord, ask_runner, step_record
from magnet.eval.runners import AnswerRequest, Runner, runner_fingerprint
from magnet.eval.settings import EpisodeEvalSettings, default_out, runner_from_settings
from magnet.files import write_atomic
from magnet.run_async import run_sync
from magnet.synthesis.datasets_stage import HELD_OUT_FILE
from magnet.synthesis.episode import Episode, EpisodeTurn, build_environment
from magnet.synthesis.graph import FunctionGraph
from magnet.synthesis.registry import build_registry, spec_only_functions
from magnet.synthesis.stages import recorded_pool
from magnet.tools.executor import Environment
from magnet.tools.pool import pool_toolkits
from magnet.tools.toolkit import Toolkit

logger = logging.getLogger(__name__)
SPLITS = ("test", "holdout")
SPLIT_LABELS = ("miss_func", "miss_param", "irrelevance")


# ---------------------------------------------------------------------------------------------------------------
# The episodes and their environment
# ---------------------------------------------------------------------------------------------------------------


def held_out(run: str | Path, split: str) -> list[Episode]:
    """The episodes of ``split`` of a synth run, in the order ``held_out.json`` lists them."""
    if split not in SPLITS:
        raise MagnetError(f"--split {split!r}: choose from {list(SPLITS)}")
    run = Path(run)
    listing = run / "datasets" / HELD_OUT_FILE
    if not listing.is_file():
        raise MagnetError(f"{listing}: not found; --run takes a magnet synth output folder whose datasets stage ran")
    wanted = json.loads(listing.read_text(encoding="utf-8")).get(split) or []
    if not wanted:
        what = "datasets.holdout_toolkits was empty" if split == "holdout" else "the SFT test split is empty"
        raise MagnetError(f"{listing}: no {split} episodes ({what})")
    found: dict[str, Episode] = {}
    remaining = set(wanted)
    for path in sorted((run / "episodes").glob("accepted-*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            record = json.loads(line) if line.strip() else {}
            if record.get("id") in remaining:
                found[record["id"]] = Episode.from_dict(record)
                remaining.discard(record["id"])
    if remaining:
        raise MagnetError(
            f"{run / 'episodes'}: {len(remaining)} {split} episode(s) missing, e.g. {sorted(remaining)[0]}"
        )
    return [found[identifier] for identifier in wanted]


def run_registry(run: str | Path) -> dict[str, type[Toolkit]]:
    """The toolkits that execute a synth run's functions (its graph and recorded pool)."""
    graph_path = Path(run) / "graph.json"
    if not graph_path.is_file():
        raise MagnetError(f"{graph_path}: not found; --run takes a magnet synth output folder")
    graph = FunctionGraph.load(graph_path)
    toolkits = pool_toolkits(recorded_pool(graph_path), allow_bfcl=True)
    simulated = spec_only_functions(graph, toolkits)
    if simulated:
        raise MagnetError(
            f"{run}: {len(simulated)} function(s) of this run are simulated by a teacher (e.g. {simulated[0].name}); "
            "evaluating on simulated functions is not supported: their outputs would come from a model too"
        )
    return build_registry(graph, None, toolkits)


def episode_digest(episodes: Sequence[Episode]) -> str:
    """A digest of an episode set (ids and contents), the part of an evaluation's identity that says on what."""
    digest = hashlib.sha256()
    for episode in episodes:
        digest.update(json.dumps(episode.to_dict(), sort_keys=True).encode())
    return digest.hexdigest()


def category_of(episode: Episode) -> str:
    """``multi_turn``, ``single_turn:<variant>`` or ``irrelevance``."""
    return f"single_turn:{episode.variant}" if episode.kind == "single_turn" else episode.kind


# ---------------------------------------------------------------------------------------------------------------
# One episode
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class _Conversation:
    """The episode's conversation as a row the runners render, growing turn by turn."""

    episode: Episode
    env: Environment
    tool_format: str
    messages: list[dict[str, Any]] = field(default_factory=list)
    added: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.first_tools = [spec.to_tool() for spec in self.env.available_specs()]

    def row(self) -> dict[str, Any]:
        if self.tool_format == "native":  # the functions offered now, the added ones included
            tools = [spec.to_tool() for spec in self.env.available_specs()]
            return {"tools": tools, "messages": list(self.messages), "meta": {}}
        return {"tools": self.first_tools, "messages": list(self.messages), "meta": {"missing": {"tools": self.added}}}


def _reference_states(episode: Episode, registry: Mapping[str, type[Toolkit]]) -> list[dict[str, Any]]:
    env = build_environment(episode, registry)
    states = []
    for turn in episode.turns:
        env.execute(turn.calls)
        states.append(env.state())
    return states


def _turn_verdict(turn: EpisodeTurn, made: int, outputs: Sequence[str], state: Any, expected: Any) -> str | None:
    """Why the model's turn is wrong (None when it is right)."""
    if turn.label in SPLIT_LABELS:
        return f"called a function on a {turn.label} turn (it should ask or decline)" if made else None
    if not made and turn.calls:
        return "made no call"
    if state != expected:
        return "the state after the turn differs from the reference's"
    missing = [output for output in turn.outputs if output not in outputs]
    if missing:
        return f"a reference output is not among the model's: {missing[0][:120]}"
    return None


async def run_episode(
    episode: Episode, runner: Runner, registry: Mapping[str, type[Toolkit]], limit: int | None = None
) -> dict[str, Any]:
    """The model's conversation over ``episode``, executed and scored; the results-file record. ``limit``: the
    responses with calls a turn may take before it is force-terminated (None: BFCL's)."""
    started = time.perf_counter()
    expected_states = _reference_states(episode, registry)
    env = build_environment(episode, registry)
    env.hidden = {name for names in episode.missing_functions.values() for name in names}
    talk = _Conversation(episode, env, runner.tool_format)
    limit = step_limit_of_bfcl() if limit is None else limit
    turns: list[dict[str, Any]] = []
    force_terminated = False
    for index, turn in enumerate(episode.turns):
        newly = episode.missing_functions.get(str(index), [])
        if newly:
            env.hidden -= set(newly)
            talk.added[str(index)] = [env.spec(name).to_tool() for name in newly]
        talk.messages.append({"role": "user", "content": turn.query})
        steps: list[StepRecord] = []
        outputs: list[str] = []
        made = 0
        while True:
            request = AnswerRequest(
                row=talk.row(),
                entry_id=episode.id,
                category=category_of(episode),
                turn=index,
                step=len(steps),
                expected=turn.calls or None,
            )
            completion, fault = await ask_runner(runner, request)
            record, calls = step_record(completion, runner.tool_format, "Python", fault)
            steps.append(record)
            if not calls:
                talk.messages.append({"role": "assistant", "content": record.text})
                break
            results = env.execute(calls)
            record.calls = [call.to_text() for call in calls]
            record.results = [result.content for result in results]
            outputs += record.results
            made += len(calls)
            ids = [f"call_{index}_{len(steps)}_{k}" for k in range(len(calls))]
            talk.messages.append(
                {
                    "role": "assistant",
                    "content": record.text or None,
                    "tool_calls": [call.to_tool_call(i) for call, i in zip(calls, ids, strict=True)],
                }
            )
            talk.messages += [
                {"role": "tool", "tool_call_id": i, "name": result.call.name, "content": result.content}
                for i, result in zip(ids, results, strict=True)
            ]
            if len(steps) > limit:
                force_terminated = True
                break
        reason = f"force-terminated at the step limit ({limit})" if force_terminated else None
        reason = reason or _turn_verdict(turn, made, outputs, env.state(), expected_states[index])
        turns.append({"correct": reason is None, "reason": reason, "steps": [asdict(step) for step in steps]})
        if force_terminated:
            break
    wrong = next((t["reason"] for t in turns if not t["correct"]), None)
    return {
        "id": episode.id,
        "category": category_of(episode),
        "toolkits": list(episode.toolkits),
        "valid": wrong is None and len(turns) == len(episode.turns),
        "error": wrong,
        "turn_count": len(episode.turns),
        "force_terminated": force_terminated,
        "turns": turns,
        "seconds": round(time.perf_counter() - started, 3),
    }


# ---------------------------------------------------------------------------------------------------------------
# The evaluation
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class EpisodeEvaluation:
    """What ``evaluate_episodes`` measured: accuracy overall, per category and per toolkit, and where it wrote it."""

    out_dir: Path
    summary: dict[str, Any]
    failed: dict[str, str]


def _accuracy(records: Sequence[Mapping[str, Any]], key) -> dict[str, dict[str, Any]]:
    groups: dict[str, list[bool]] = {}
    for record in records:
        for name in key(record):
            groups.setdefault(name, []).append(bool(record["valid"]))
    return {name: {"accuracy": round(sum(v) / len(v), 4), "count": len(v)} for name, v in sorted(groups.items())}


def _turn_accuracy(records: Sequence[Mapping[str, Any]], turn_counts: Mapping[str, int]) -> float | None:
    """Right turns over all the episodes' turns: finer than whole episodes on a small set (a turn never reached,
    after a force-termination or a failed scoring, counts as wrong)."""
    total = sum(turn_counts[record["id"]] for record in records)
    right = sum(bool(turn["correct"]) for record in records for turn in record.get("turns", []))
    return round(right / total, 4) if total else None


def summarize(
    records: Sequence[Mapping[str, Any]], turn_counts: Mapping[str, int], runner: Runner, split: str, run: str
) -> dict[str, Any]:
    """Accuracy overall (of episodes, and of turns), per category and per toolkit (an episode of two toolkits
    counts for both)."""
    return {
        "runner": runner.name,
        "tool_format": runner.tool_format,
        "run": run,
        "split": split,
        "episodes": len(records),
        "accuracy": round(sum(bool(r["valid"]) for r in records) / len(records), 4) if records else None,
        "turn_accuracy": _turn_accuracy(records, turn_counts),
        "categories": _accuracy(records, lambda r: [r["category"]]),
        "toolkits": _accuracy(records, lambda r: r.get("toolkits") or ["?"]),
    }


def summary_markdown(summary: Mapping[str, Any]) -> str:
    """The summary as Markdown tables."""
    lines = [
        f"# {summary['runner']} on the {summary['split']} episodes of {summary['run']}",
        "",
        f"accuracy: {summary['accuracy']:.1%} of {summary['episodes']} episodes, {summary['turn_accuracy']:.1%} of "
        f"their turns ({summary['tool_format']})"
        if summary["accuracy"] is not None
        else "no episodes",
    ]
    if summary.get("step_limit") not in (None, step_limit_of_bfcl()):
        lines.append(f"(a turn was cut off after {summary['step_limit']} responses with calls; BFCL allows more)")
    for title, key in (("category", "categories"), ("toolkit", "toolkits")):
        lines += ["", f"| {title} | accuracy | episodes |", "| --- | --- | --- |"]
        lines += [f"| {name} | {value['accuracy']:.1%} | {value['count']} |" for name, value in summary[key].items()]
    return "\n".join(lines) + "\n"


async def evaluate_episodes_async(
    runner: Runner,
    run: str | Path,
    split: str,
    out_dir: str | Path,
    *,
    limit: int | None = None,
    step_limit: int | None = None,
    concurrency: int = 8,
    overwrite: bool = False,
    progress: bool = True,
) -> EpisodeEvaluation:
    """Evaluate ``runner`` on a synth run's held-out episodes (see the module docstring). ``step_limit``: BFCL's
    20 by default; a lower one bounds the time a looping model costs (a quick check on a CPU), and is part of the
    folder's identity since it changes the scores."""
    if limit is not None and limit < 1:
        raise MagnetError(f"limit must be at least 1, got {limit}")
    if step_limit is not None and step_limit < 1:
        raise MagnetError(f"step_limit must be at least 1, got {step_limit}")
    steps = step_limit or step_limit_of_bfcl()
    episodes = held_out(run, split)[:limit]
    registry = run_registry(run)
    out_dir = Path(out_dir)
    identity = {
        "runner": runner.name,
        "tool_format": runner.tool_format,
        "episodes": {"run": str(Path(run).resolve()), "split": split, "digest": episode_digest(episodes)},
        "fingerprint": runner_fingerprint(runner),
    }
    if steps != step_limit_of_bfcl():  # BFCL's, given or not, is the identity without the setting
        identity["step_limit"] = steps
    check_run(out_dir, identity, overwrite)
    path = out_dir / "results" / "episodes.jsonl"
    failed: dict[str, str] = {}
    await score_all(
        episodes,
        lambda episode: run_episode(episode, runner, registry, steps),
        path,
        concurrency=concurrency,
        failed=failed,
        progress=progress,
        desc=split,
        on_error=lambda episode, error: failed_record(
            episode, error, category=category_of(episode), toolkits=list(episode.toolkits)
        ),
    )
    turn_counts = {episode.id: len(episode.turns) for episode in episodes}
    records = [record for record in read_results(path) if record["id"] in turn_counts]
    summary = {
        **summarize(records, turn_counts, runner, split, str(run)),
        "step_limit": steps,
        "failed_requests": failed,
    }
    write_atomic(out_dir / "summary.json", json.dumps(summary, indent=2) + "\n")
    write_atomic(out_dir / "summary.md", summary_markdown(summary))
    return EpisodeEvaluation(out_dir, summary, failed)


def evaluate_episodes(runner: Runner, run: str | Path, split: str, out_dir: str | Path, **options: Any):
    """``evaluate_episodes_async`` from synchronous code (a script, a notebook cell)."""
    return run_sync(evaluate_episodes_async(runner, run, split, out_dir, **options))


def evaluate_episodes_from_settings(settings: EpisodeEvalSettings, *, progress: bool = True, runner=None):
    """What ``magnet eval episodes`` runs: the settings' runner on the settings' run and split."""
    if not settings.synth:
        raise MagnetError("--synth: give the magnet synth output folder whose held-out episodes to evaluate on")
    runner = runner or runner_from_settings(settings)  # the same fields as EvalSettings' runner part
    out = settings.out or Path(settings.synth) / "eval" / settings.split / default_out(runner).name
    return evaluate_episodes(
        runner,
        settings.synth,
        settings.split,
        out,
        limit=settings.limit,
        step_limit=settings.step_limit,
        concurrency=settings.concurrency,
        overwrite=settings.overwrite,
        progress=progress,
    )
