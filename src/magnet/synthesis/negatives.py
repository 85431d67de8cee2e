"""Negative trajectories (section 3.5 of the paper) and preference pairs.

Two sources of negatives, both rolled out like positives but with *misleading* hints at one turn:

* ``perturb`` (offline, and an ablation): the misleading hint is built by a rule for one of the paper's error
  types: drop the nested call (``nested_call_missing``), pass a wrong value where a same-turn output should go
  (``short_dependency``), ignore a value from an earlier turn (``long_dependency``), call instead of asking or
  declining on a split turn (``missed_function_or_params``); ``wrong_summary`` rewrites the turn's answer so it
  misstates an output.
* ``student`` (the paper): the SFT model samples trajectories without hints, in the tool format it was trained in
  (``magnet.synthesis.student``); a judge compares each turn with the reference; the first wrong turn's calls
  become the misleading hint; the student rolls out again with it.

A pair is TRL's conversational preference row: ``prompt`` = the messages both share, ``chosen`` = the rest of the
positive trajectory, ``rejected`` = the rest of the negative one; ``meta`` names the turn and the error type.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from magnet.data.schema import Message, PreferenceRow, SFTRow
from magnet.data.turns import branch_turn
from magnet.errors import MagnetError, StepError, TeacherError
from magnet.llm.client import Teacher
from magnet.synthesis.distill import Hint, Rollout, reference_hints, rollout
from magnet.synthesis.episode import Episode
from magnet.synthesis.pipeline import RecordRef
from magnet.synthesis.simulate import Simulator
from magnet.synthesis.steps import TURN_JUDGE, TurnJudgeInputs, TurnRecord, run_step
from magnet.tools.calls import FunctionCall
from magnet.tools.spec import load_openai_tools
from magnet.tools.toolkit import Toolkit


@dataclass(frozen=True)
class Misleading:
    """Where and how a negative departs from the positive: the turn, the error type, the misleading hint (or a
    rewritten answer for ``wrong_summary``)."""

    turn: int
    error_type: str
    hint: Hint | None = None
    text: str = ""


def _other_value(value: Any, state: Mapping[str, Any], key: str, rng: random.Random) -> Any:
    """A different value of the same kind: another one stored under ``key`` in the state, or a mutated one."""
    found: list[Any] = []

    def walk(node: Any) -> None:
        if isinstance(node, Mapping):
            for name, item in node.items():
                if name == key and isinstance(item, type(value)) and item != value:
                    found.append(item)
                walk(item)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(state)
    if found:
        return rng.choice(sorted(found, key=json.dumps))
    if isinstance(value, bool):
        return not value
    if isinstance(value, int | float):
        return value + 1
    digits = re.search(r"(\d+)(?!.*\d)", str(value))
    if digits:
        number = int(digits.group(1)) + 7
        return str(value)[: digits.start(1)] + str(number).zfill(len(digits.group(1))) + str(value)[digits.end(1) :]
    return f"{value} (unknown)"


def _guess(schema: Mapping[str, Any]) -> Any:
    """A made-up value for a parameter (what a model calling a function it should not call would pass)."""
    if "enum" in schema:
        return schema["enum"][0]
    return {"integer": 1, "number": 1.0, "boolean": True, "array": [], "object": {}}.get(schema.get("type"), "unknown")


def _replace_argument(calls: Sequence[FunctionCall], position: int, key: str, value: Any) -> tuple[FunctionCall, ...]:
    changed = list(calls)
    call = changed[position]
    changed[position] = FunctionCall(call.name, {**call.arguments, key: value})
    return tuple(changed)


def perturbations(episode: Episode, positive: Rollout, rng: random.Random) -> list[Misleading]:
    """Every rule-based misleading hint that applies to the episode, one per (turn, error type) found."""
    found: list[Misleading] = []
    state = episode.initial_state
    for index, turn in enumerate(episode.turns):
        earlier_outputs = [o for t in episode.turns[:index] for o in t.outputs]
        if turn.label in ("miss_param", "miss_func") and index + 1 < len(episode.turns):
            guessed = episode.turns[index + 1].calls
            if turn.label == "miss_param" and guessed:
                for position, call in enumerate(guessed):
                    for key in turn.missing:
                        if key in call.arguments:
                            guessed = _replace_argument(
                                guessed, position, key, _other_value(call.arguments[key], state, key, rng)
                            )
            if guessed:
                found.append(Misleading(index, "missed_function_or_params", Hint(guessed)))
            continue
        if turn.label == "irrelevance" and positive.tools:
            tool = positive.tools[rng.randrange(len(positive.tools))]["function"]
            required = tool.get("parameters", {}).get("required", [])
            guess = FunctionCall(
                tool["name"], {name: _guess(tool["parameters"]["properties"].get(name, {})) for name in required}
            )
            found.append(Misleading(index, "missed_function_or_params", Hint((guess,))))
            continue
        if not turn.calls:
            continue
        if len(turn.calls) >= 2:
            found.append(Misleading(index, "nested_call_missing", Hint(turn.calls[:-1])))
        for position, call in enumerate(turn.calls):
            for key, value in call.arguments.items():
                text = json.dumps(value)
                if isinstance(value, bool) or value is None or len(text) < 4:
                    continue  # "1" or "true" occur in any output; only distinctive values show a dependency
                if position and any(text in output for output in turn.outputs[:position]):
                    wrong = _replace_argument(turn.calls, position, key, _other_value(value, state, key, rng))
                    found.append(Misleading(index, "short_dependency", Hint(wrong)))
                elif any(text in output for output in earlier_outputs):
                    wrong = _replace_argument(turn.calls, position, key, _other_value(value, state, key, rng))
                    found.append(Misleading(index, "long_dependency", Hint(wrong)))
        answer = positive.turns[index].text
        number = re.search(r"\d+(?:\.\d+)?", answer)
        if number:
            wrong_text = answer[: number.start()] + str(int(float(number.group(0))) + 13) + answer[number.end() :]
            found.append(Misleading(index, "wrong_summary", text=wrong_text))
    unique: dict[tuple[int, str], Misleading] = {}
    for item in found:
        unique.setdefault((item.turn, item.error_type), item)
    return list(unique.values())


def _rewrite_answer(result: Rollout, turn: int, text: str) -> Rollout:
    """The rollout with turn ``turn``'s final answer replaced by ``text``."""
    messages = list(result.messages)
    users = [i for i, m in enumerate(messages) if m.role == "user"]
    end = users[turn + 1] if turn + 1 < len(users) else len(messages)
    last = max(i for i in range(users[turn], end) if messages[i].role == "assistant" and not messages[i].tool_calls)
    messages[last] = Message("assistant", text)
    return Rollout(tuple(messages), result.turns, result.final_state, result.tools, result.added_tools)


def preference_pair(
    row_id: str,
    tools: Sequence[Mapping[str, Any]],
    chosen: Sequence[Message],
    rejected: Sequence[Message],
    meta: Mapping[str, Any],
) -> PreferenceRow | None:
    """Split two conversations into the shared prompt and the differing continuations (None if identical).

    TRL's convention: the prompt is the longest shared prefix that ends with a user or tool message. ``meta`` gets
    ``branch_turn``, the user turn (``magnet.data.turns``) where the two conversations first differ, counted over
    the whole conversation: the turn where the negative's error is, which mDPO's ``segment`` loss starts from."""
    if tuple(chosen) == tuple(rejected):
        return None
    shared = 0
    while shared < min(len(chosen), len(rejected)) and chosen[shared] == rejected[shared]:
        shared += 1
    while shared and chosen[shared - 1].role == "assistant":  # the prompt ends with a user or tool message
        shared -= 1
    return PreferenceRow(
        id=row_id,
        tools=tuple(tools),
        prompt=tuple(chosen[:shared]),
        chosen=tuple(chosen[shared:]),
        rejected=tuple(rejected[shared:]),
        meta={**meta, "branch_turn": branch_turn(chosen, rejected)},
    )


def pair_meta(source: str, episode: Episode, row: SFTRow, teacher: Teacher, **fields: Any) -> dict[str, Any]:
    """A pair's ``meta``: where its negative came from (``source``, the model that wrote it, ``fields`` such as the
    turns and error types), its episode and kind, and what the episode withholds."""
    return {
        "source": source,
        **fields,
        "episode": episode.id,
        "kind": episode.kind,
        "teacher": teacher.name,
        "missing": dict(row.meta.missing),
    }


async def perturb_negative(
    episode: Episode,
    positive: Rollout,
    row: SFTRow,
    registry: Mapping[str, type[Toolkit]],
    teacher: Teacher,
    *,
    seed: int = 0,
    simulator: Simulator | None = None,
) -> PreferenceRow | None:
    """One rule-based negative for an episode (a seeded choice among the rules that apply), as a pair; ``None``
    when no rule applies or the rollout failed (a teacher that gave up)."""
    rng = random.Random(f"{seed}:{episode.id}:perturb")
    options = perturbations(episode, positive, rng)
    if not options:
        return None
    chosen = rng.choice(options)
    if chosen.error_type == "wrong_summary":
        negative = _rewrite_answer(positive, chosen.turn, chosen.text)
    else:
        hints: list[Hint | None] = list(reference_hints(episode))
        hints[chosen.turn] = chosen.hint
        try:
            negative = await rollout(
                episode,
                registry,
                teacher,
                hints,
                step="negative_rollout",
                prefix=positive,
                start_turn=chosen.turn,
                simulator=simulator,
            )
        except (TeacherError, MagnetError):
            return None
    meta = pair_meta("perturb", episode, row, teacher, negative_turns=[chosen.turn], error_types=[chosen.error_type])
    return preference_pair(f"{episode.id}-neg", row.tools, positive.messages, negative.messages, meta)


async def _student_sample(
    episode: Episode,
    registry: Mapping[str, type[Toolkit]],
    student: Teacher,
    params: Mapping[str, Any],
    simulator: Simulator | None,
) -> Rollout | None:
    """One hint-free rollout of the student (None when it failed): no hints and no hint instructions, the
    conversation as the student was trained on it."""
    try:
        return await rollout(
            episode,
            registry,
            student,
            [None] * len(episode.turns),
            step="student_sample",
            system_prompt="",
            params=params,
            simulator=simulator,
        )
    except (TeacherError, MagnetError):
        return None


async def student_negative(
    episode: Episode,
    positive: Rollout,
    row: SFTRow,
    registry: Mapping[str, type[Toolkit]],
    student: Teacher,
    judge: Teacher,
    *,
    samples: int = 10,
    temperature: float = 0.7,
    seed: int = 0,
    simulator: Simulator | None = None,
) -> PreferenceRow | None:
    """The paper's negative: ``samples`` hint-free rollouts of the student; the first turn the judge finds wrong
    gives the misleading hint (the student's own calls there); the student rolls out again with it."""
    for sample in range(samples):
        params = {"temperature": temperature, "seed": seed * 1000 + sample}
        attempt = await _student_sample(episode, registry, student, params, simulator)
        if attempt is None:
            continue
        offered = tuple(load_openai_tools(positive.tools))
        for index, (reference, turn) in enumerate(zip(episode.turns, attempt.turns, strict=True)):
            inputs = TurnJudgeInputs(
                query=reference.query,
                reference_calls=reference.calls,
                reference_text=positive.turns[index].text,
                candidate_calls=turn.calls,
                candidate_text=turn.text,
                specs=offered,
                reference_outputs=reference.outputs,
                earlier_outputs=tuple(o for t in episode.turns[:index] for o in t.outputs),
                candidate_outputs=turn.outputs,
                history=tuple(
                    TurnRecord(episode.turns[k].query, done.calls, done.outputs)
                    for k, done in enumerate(attempt.turns[:index])
                ),
            )
            try:
                verdict = (await run_step(judge, TURN_JUDGE, inputs)).value
            except (StepError, TeacherError):
                break
            if verdict.correct:
                continue
            hints: list[Hint | None] = list(reference_hints(episode))
            hints[index] = Hint(turn.calls)
            try:
                negative = await rollout(
                    episode,
                    registry,
                    student,
                    hints,
                    step="negative_rollout",
                    prefix=positive,
                    start_turn=index,
                    params=params,
                    simulator=simulator,
                )
            except (TeacherError, MagnetError):
                break
            meta = pair_meta(
                "student",
                episode,
                row,
                student,
                negative_turns=[index],
                error_types=[verdict.error_type],
                reason=verdict.reason,
                sample=sample,
            )
            pair = preference_pair(f"{episode.id}-neg", row.tools, positive.messages, negative.messages, meta)
            if pair is not None:
                return pair
            break
    return None


async def sampled_negative(
    episode: Episode,
    positive: Rollout,
    row: SFTRow,
    registry: Mapping[str, type[Toolkit]],
    student: Teacher,
    *,
    samples: int = 10,
    temperature: float = 0.7,
    seed: int = 0,
    simulator: Simulator | None = None,
) -> PreferenceRow | None:
    """The ablation of negative hints (Table 4's "rejected = random SFT samples"): the student's own hint-free
    sample, the first of ``samples`` that differs from the positive trajectory, unjudged and not rolled out again."""
    for sample in range(samples):
        params = {"temperature": temperature, "seed": seed * 1000 + sample}
        attempt = await _student_sample(episode, registry, student, params, simulator)
        if attempt is None:
            continue
        meta = pair_meta("sampled", episode, row, student, negative_turns=[], error_types=[], sample=sample)
        pair = preference_pair(f"{episode.id}-neg", row.tools, positive.messages, attempt.messages, meta)
        if pair is not None:
            return pair
    return None


@dataclass(frozen=True)
class NegativeItem:
    """One item of the negatives stage: a positive record and the episode it was distilled from, by reference."""

    positive: RecordRef
    episode: RecordRef

    @property
    def id(self) -> str:
        """The positive row's id."""
        return self.positive.id

    def to_dict(self) -> dict[str, Any]:
        """What identifies the item's content."""
        return {"positive": self.positive.to_dict(), "episode": self.episode.to_dict()}
