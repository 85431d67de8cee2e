"""Hint-based distillation (section 3.5 of the paper): trajectories from a teacher that sees the reference.

The teacher plays the assistant over an episode's queries; after each query a ``[Hint]`` lists the turn's
reference calls (``[Hint]: miss function`` / ``[Hint]: missed params`` on split turns). It calls functions, sees
their real outputs from the environment, and answers in text. The stored trajectory has the hints removed
(context distillation), so a model trained on it learns to act without them. A trajectory is kept only if each
turn makes every call its hint names (same arguments, any order), its calls bring the environment to the
reference's final state, no turn ends in a failure message or an unhandled tool error, and split turns ask or
decline instead of calling.

The same rollout, with misleading hints or none, produces the negatives (``magnet.synthesis.negatives``).
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

from magnet.data.schema import Message, SFTRow, ToolCall, TrajectoryMeta, validate_sft_row
from magnet.errors import MagnetError, TeacherError
from magnet.llm.client import Teacher
from magnet.synthesis.episode import Episode, build_environment
from magnet.synthesis.simulate import Simulator
from magnet.tools.call_matching import unmatched_calls
from magnet.tools.calls import FunctionCall, format_calls
from magnet.tools.executor import Environment
from magnet.tools.spec import load_openai_tools
from magnet.tools.toolkit import Toolkit

# What a recovery rollout tells the teacher after its wrong calls (never stored; see ``rollout``'s corrections).
CORRECTION_NOTE = "Those calls were wrong: their outputs above show it. Now make the right calls."
FAILURE_KEYWORDS = ("bad request", "does not match", "i encountered an error", "an error occurred")
SPLIT_LABELS = ("miss_func", "miss_param", "irrelevance")


def hint_system_prompt() -> str:
    """The teacher's system prompt for hinted rollouts (BFCL's prompt plus the paper's hint instructions)."""
    return resources.files("magnet.synthesis").joinpath("prompts", "assistant_with_hints.txt").read_text().strip()


def plain_system_prompt() -> str:
    """The teacher's system prompt without hints (BFCL's prompt alone: the first paragraph of the hinted one),
    for the ablation that distils plain teacher trajectories."""
    return hint_system_prompt().split("\n\n", 1)[0]


@dataclass(frozen=True)
class Hint:
    """What the teacher is told after a query: calls to make, or that a function or a parameter is missing."""

    calls: tuple[FunctionCall, ...] = ()
    missing: str = ""  # "", "function" or "params"

    def text(self) -> str:
        """The ``[Hint]: ...`` line."""
        if self.missing == "function":
            return "[Hint]: miss function"
        if self.missing == "params":
            return "[Hint]: missed params"
        return "[Hint]: " + format_calls(self.calls)


def reference_hints(episode: Episode) -> list[Hint]:
    """The positive hints: each turn's reference calls, or what its split label says is missing."""
    hints = []
    for turn in episode.turns:
        if turn.label == "miss_param":
            hints.append(Hint(missing="params"))
        elif turn.label in ("miss_func", "irrelevance"):
            hints.append(Hint(missing="function"))
        else:
            hints.append(Hint(turn.calls))
    return hints


@dataclass(frozen=True)
class Correction:
    """What a recovery rollout tells the teacher once it has made one of the ``wrong`` calls: those were wrong,
    make ``hint``'s calls (see ``rollout``'s corrections)."""

    hint: Hint
    wrong: tuple[FunctionCall, ...]


@dataclass(frozen=True)
class TurnRollout:
    """What the assistant did in one turn: its calls with their results, and its final text."""

    calls: tuple[FunctionCall, ...]
    outputs: tuple[str, ...]
    errors: tuple[str | None, ...]
    text: str
    finished: bool

    def to_dict(self) -> dict[str, Any]:
        """Plain dict."""
        return {
            "calls": [c.to_dict() for c in self.calls],
            "outputs": list(self.outputs),
            "errors": list(self.errors),
            "text": self.text,
            "finished": self.finished,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TurnRollout:
        """Inverse of ``to_dict``."""
        return cls(
            tuple(FunctionCall.from_dict(c) for c in data["calls"]),
            tuple(data["outputs"]),
            tuple(data["errors"]),
            data["text"],
            data["finished"],
        )


@dataclass(frozen=True)
class Rollout:
    """A whole conversation: the stored messages (no hints), the turns, and the environment's final state."""

    messages: tuple[Message, ...]
    turns: tuple[TurnRollout, ...]
    final_state: Mapping[str, Any]
    tools: tuple[Mapping[str, Any], ...]
    added_tools: Mapping[str, list[Mapping[str, Any]]]

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (stored beside the SFT row, so that negatives can branch from it later)."""
        return {
            "messages": [m.to_dict() for m in self.messages],
            "turns": [t.to_dict() for t in self.turns],
            "final_state": dict(self.final_state),
            "tools": [dict(t) for t in self.tools],
            "added_tools": {k: list(v) for k, v in self.added_tools.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Rollout:
        """Inverse of ``to_dict``."""
        return cls(
            tuple(Message.from_dict(m) for m in data["messages"]),
            tuple(TurnRollout.from_dict(t) for t in data["turns"]),
            data["final_state"],
            tuple(data["tools"]),
            data["added_tools"],
        )


def _withheld(episode: Episode) -> set[str]:
    return {name for names in episode.missing_functions.values() for name in names}


async def rollout(
    episode: Episode,
    registry: Mapping[str, type[Toolkit]],
    teacher: Teacher,
    hints: Sequence[Hint | None],
    *,
    step: str = "positive_rollout",
    system_prompt: str | None = None,
    max_steps: int = 8,
    params: Mapping[str, Any] | None = None,
    start_turn: int = 0,
    prefix: Rollout | None = None,
    simulator: Simulator | None = None,
    corrections: Mapping[int, Correction] | None = None,
) -> Rollout:
    """Play the assistant over the episode's queries with ``hints`` (``None`` for a turn: no hint).

    Each response may call functions (executed at once, outputs shown as tool messages) or answer in text, which
    ends the turn. A turn may take one response per reference call plus ``max_steps`` (a turn of many calls made
    one per response is not cut short; a model that loops is). Hints go to the teacher only; the returned
    messages hold the bare queries. ``prefix``/``start_turn`` continue a rollout from an earlier one (replaying
    its calls), which the negatives use to branch at a turn. ``corrections`` ``{turn: Correction}``: after the
    first response of that turn that makes one of the correction's wrong calls, the teacher is told (unseen in the
    stored messages) that its calls were wrong and given the right ones; a recovery (``magnet.synthesis.recovery``).
    """
    env = build_environment(episode, registry)
    env.hidden = _withheld(episode)
    added_tools: dict[str, list[Mapping[str, Any]]] = {}
    first_tools = tuple(spec.to_tool() for spec in env.available_specs())
    system = {"role": "system", "content": system_prompt if system_prompt is not None else hint_system_prompt()}
    seen: list[dict[str, Any]] = [system]
    stored: list[Message] = []
    turns: list[TurnRollout] = []
    if prefix is not None:
        stored.extend(prefix.messages[: _message_count(prefix, start_turn)])
        seen.extend(_as_dicts(stored))
        turns.extend(prefix.turns[:start_turn])
        for index, earlier in enumerate(prefix.turns[:start_turn]):
            env.hidden -= set(episode.missing_functions.get(str(index), []))  # added at this turn, as before
            await env.execute_async(earlier.calls)
        env.hidden -= set(episode.missing_functions.get(str(start_turn), []))
        added_tools.update({k: v for k, v in prefix.added_tools.items() if int(k) <= start_turn})
    for index in range(start_turn, len(episode.turns)):
        turn = episode.turns[index]
        newly = episode.missing_functions.get(str(index), [])
        if newly and (prefix is None or index > start_turn):
            env.hidden -= set(newly)
            added_tools[str(index)] = [env.spec(name).to_tool() for name in newly]
        hint = hints[index] if index < len(hints) else None
        seen.append({"role": "user", "content": turn.query + (f"\n\n{hint.text()}" if hint else "")})
        stored.append(Message("user", turn.query))
        budget = max_steps + len(turn.calls)
        correction = (corrections or {}).get(index)
        turns.append(await _turn(simulator, env, teacher, seen, stored, index, step, budget, params or {}, correction))
    return Rollout(tuple(stored), tuple(turns), env.state(), first_tools, added_tools)


def _message_count(prefix: Rollout, turns: int) -> int:
    """How many stored messages the first ``turns`` user turns of a rollout take."""
    users = 0
    for position, message in enumerate(prefix.messages):
        if message.role == "user":
            if users == turns:
                return position
            users += 1
    return len(prefix.messages)


def _as_dicts(messages: Sequence[Message]) -> list[dict[str, Any]]:
    return [message.to_dict() for message in messages]


async def _turn(
    simulator: Simulator | None,
    env: Environment,
    teacher: Teacher,
    seen: list[dict[str, Any]],
    stored: list[Message],
    index: int,
    step: str,
    max_steps: int,
    params: Mapping[str, Any],
    correction: Correction | None = None,
) -> TurnRollout:
    calls: list[FunctionCall] = []
    outputs: list[str] = []
    errors: list[str | None] = []
    tools = [spec.to_tool() for spec in env.available_specs()]  # fixed within a turn: functions arrive with a query
    for response in range(max_steps):
        completion = await teacher.complete(seen, tools=tools, step=step, **params)
        if not completion.tool_calls:
            text = strip_hints(completion.text)  # a teacher quoting its hint must not leak it into the data
            seen.append({"role": "assistant", "content": text})
            stored.append(Message("assistant", text))
            return TurnRollout(tuple(calls), tuple(outputs), tuple(errors), text, True)
        ids = [f"call_{index}_{response}_{k}" for k in range(len(completion.tool_calls))]
        tool_calls = tuple(
            ToolCall(i, c.name, dict(c.arguments)) for i, c in zip(ids, completion.tool_calls, strict=True)
        )
        message = Message("assistant", strip_hints(completion.text) or None, tool_calls)
        stored.append(message)
        seen.append(message.to_dict())
        if simulator is not None:  # spec-only functions get their outputs before they run
            await simulator.prepare(completion.tool_calls)
        for call_id, result in zip(ids, await env.execute_async(completion.tool_calls), strict=True):
            calls.append(result.call)
            outputs.append(result.content)
            errors.append(result.error)
            stored.append(Message("tool", result.content, tool_call_id=call_id, name=result.call.name))
            seen.append(stored[-1].to_dict())
        if correction is not None and not unmatched_calls(correction.wrong, completion.tool_calls):
            # the teacher alone reads it: the stored trajectory recovers on its own
            seen.append({"role": "user", "content": f"{CORRECTION_NOTE}\n\n{correction.hint.text()}"})
            correction = None
    return TurnRollout(tuple(calls), tuple(outputs), tuple(errors), "", False)


# ---------------------------------------------------------------------------------------------------------------
# Filters and the SFT row
# ---------------------------------------------------------------------------------------------------------------


def reference_state(episode: Episode, registry: Mapping[str, type[Toolkit]]) -> dict[str, Any]:
    """The environment's state after the reference calls of every turn."""
    env = build_environment(episode, registry)
    for turn in episode.turns:
        env.execute(turn.calls)
    return env.state()


def problems(episode: Episode, result: Rollout, expected_state: Mapping[str, Any]) -> list[str]:
    """Why a positive rollout is not usable (empty when it is): ``reason: detail`` strings."""
    found = []
    offered: dict[str, Mapping[str, Any]] = {}  # a withheld function is offered twice: in tools and when added
    for tool in [*result.tools, *(tool for tools in result.added_tools.values() for tool in tools)]:
        offered.setdefault(str(tool.get("function", tool).get("name")), tool)
    specs = load_openai_tools(offered.values())
    for index, (turn, done) in enumerate(zip(episode.turns, result.turns, strict=True)):
        if not done.finished:
            found.append(f"unfinished_turn: turn {index} never answered in text")
        if turn.label in SPLIT_LABELS and done.calls:
            found.append(f"split_turn_called: turn {index} ({turn.label}) called {done.calls[0].name}")
        if turn.label in SPLIT_LABELS and not done.text:
            found.append(f"split_turn_silent: turn {index} ({turn.label}) neither asked nor declined")
        elif done.finished and not done.text.strip():
            found.append(f"empty_answer: turn {index} ended with an empty answer")
        if turn.label not in SPLIT_LABELS:
            # A skipped read-only call leaves the state as it was: every hinted call must have been made, with its
            # arguments (a default repeated aside), in any order within the turn.
            made = [call for call, error in zip(done.calls, done.errors, strict=True) if not error]
            for call in unmatched_calls(turn.calls, made, specs):
                found.append(f"hinted_call_missing: turn {index} never called {call.to_text()}")
        lowered = done.text.lower()
        keyword = next((k for k in FAILURE_KEYWORDS if k in lowered), None)
        if keyword:
            found.append(f"failure_message: turn {index} ends with {keyword!r}")
        for position, (call, error) in enumerate(zip(done.calls, done.errors, strict=True)):
            retried = any(
                later.name == call.name and not later_error
                for later, later_error in zip(done.calls[position + 1 :], done.errors[position + 1 :], strict=True)
            )
            if error and not retried:
                found.append(f"unhandled_tool_error: turn {index} {call.name}: {error[:80]}")
    if result.final_state != expected_state:
        found.append("state_mismatch: the calls do not reach the reference's final state")
    return found


def shuffled_tools(tools: Sequence[Mapping[str, Any]], seed: str) -> list[dict[str, Any]]:
    """The tools in a seeded random order (the paper shuffles the functions in the system prompt)."""
    order = [dict(tool) for tool in tools]
    random.Random(seed).shuffle(order)
    return order


def to_sft_row(episode: Episode, result: Rollout, teacher: str) -> SFTRow:
    """The trajectory as an SFT row: bare queries, the assistant's calls and texts, tool outputs, metadata."""
    missing: dict[str, Any] = {}
    if episode.missing_functions:
        missing = {
            "functions": {k: list(v) for k, v in episode.missing_functions.items()},
            "tools": {k: list(v) for k, v in result.added_tools.items()},
        }
    params = [turn.missing[0] for turn in episode.turns if turn.label == "miss_param" and turn.missing]
    if params:
        missing["params"] = {str(i): list(t.missing) for i, t in enumerate(episode.turns) if t.label == "miss_param"}
    path = episode.path
    meta = TrajectoryMeta(
        kind=episode.kind,
        path=tuple(tuple(turn) for turn in path.get("turns", [])),
        ops=tuple(path.get("ops", [])),
        turns=len(episode.turns),
        calls=sum(len(t.calls) for t in result.turns),
        source_toolkits=tuple(episode.toolkits),
        teacher=teacher,
        missing=missing,
        extra={"episode": episode.id, "variant": episode.variant, "seed": episode.seed},
    )
    return SFTRow(
        id=episode.id, tools=tuple(shuffled_tools(result.tools, episode.id)), messages=result.messages, meta=meta
    )


@dataclass(frozen=True)
class Distilled:
    """The outcome of distilling one episode: a row, or the reasons it was rejected."""

    row: SFTRow | None
    rollout: Rollout | None
    reasons: tuple[str, ...] = ()

    @property
    def reason(self) -> str:
        """The first reason's key (before the colon), for counting."""
        return self.reasons[0].split(":", 1)[0] if self.reasons else ""


async def distill(
    episode: Episode,
    registry: Mapping[str, type[Toolkit]],
    teacher: Teacher,
    *,
    max_steps: int = 8,
    simulator: Simulator | None = None,
    hints: bool = True,
) -> Distilled:
    """A positive trajectory for ``episode``, or why there is none (a teacher failure is a reason too). With
    ``hints`` off (an ablation), the teacher sees the queries alone, under BFCL's system prompt; the filters are
    the same."""
    given: list[Hint | None] = list(reference_hints(episode)) if hints else [None] * len(episode.turns)
    try:
        result = await rollout(
            episode,
            registry,
            teacher,
            given,
            max_steps=max_steps,
            simulator=simulator,
            system_prompt=None if hints else plain_system_prompt(),
        )
    except TeacherError as error:
        return Distilled(None, None, (f"teacher_{error.cause}: {error}",))
    except MagnetError as error:  # e.g. an episode whose toolkits are not in the registry: reject, go on
        return Distilled(None, None, (f"error_{type(error).__name__}: {error}",))
    found = problems(episode, result, reference_state(episode, registry))
    if found:
        return Distilled(None, result, tuple(found))
    row = to_sft_row(episode, result, teacher.name)
    invalid = validate_sft_row(row.to_dict())
    if invalid:  # whatever a model wrote, no row that the dataset stage would refuse gets this far
        return Distilled(None, result, tuple(f"invalid_row: {problem}" for problem in invalid))
    return Distilled(row, result)


def strip_hints(text: str) -> str:
    """A message without any ``[Hint]: ...`` line (for texts that quoted one)."""
    return re.sub(r"\n*\[Hint\]:[^\n]*", "", text).strip()
