"""Recovery trajectories: beyond the paper, whose stated limitation 3 is that a model trained on its data never
reflects after a wrong action, because the data holds no such example.

A recovery row is a positive trajectory with one detour: at one turn the assistant first makes a wrong call (a
rule-based misleading hint of the paper's error types, the ones that change an argument: ``short_dependency``,
``long_dependency``), sees its real error or wrong output from the environment, and then makes the reference calls
and answers. The teacher is told after the wrong calls' outputs that they were wrong (``rollout``'s corrections);
the stored row holds no hint and no such note, so the model learns to read an output and correct itself. A row is
kept only if the detour happened (a wrong call, then every reference call) and the conversation still reaches the
reference's final state: a wrong call that changed the state for good is no recovery.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Mapping

from magnet.data.schema import SFTRow, validate_sft_row
from magnet.errors import MagnetError, TeacherError
from magnet.llm.client import Teacher
from magnet.synthesis.distill import (
    Correction,
    Hint,
    Rollout,
    problems,
    reference_hints,
    reference_state,
    rollout,
    to_sft_row,
)
from magnet.synthesis.episode import Episode
from magnet.synthesis.negatives import perturbations
from magnet.synthesis.simulate import Simulator
from magnet.tools.call_matching import unmatched_calls
from magnet.tools.toolkit import Toolkit

RECOVERABLE = ("short_dependency", "long_dependency")
RECOVERY_KEY = "recovery"
"""The key of a negatives record that holds the episode's recovery row (the datasets stage reads it there)."""


async def recovery_row(
    episode: Episode,
    positive: Rollout,
    registry: Mapping[str, type[Toolkit]],
    teacher: Teacher,
    *,
    seed: int = 0,
    simulator: Simulator | None = None,
) -> SFTRow | None:
    """A recovery row for ``episode`` (kind ``recovery``), or ``None`` when no rule applies or the detour did not
    recover (the state differs from the reference's, a hinted call is missing, the teacher made no wrong call)."""
    rng = random.Random(f"{seed}:{episode.id}:recovery")
    options = [
        item
        for item in perturbations(episode, positive, rng)
        if item.error_type in RECOVERABLE and item.hint is not None
    ]
    if not options:
        return None
    chosen = rng.choice(options)
    turn = chosen.turn
    hints: list[Hint | None] = list(reference_hints(episode))
    wrong_calls = tuple(unmatched_calls(chosen.hint.calls, episode.turns[turn].calls))
    correction = Correction(hints[turn], wrong_calls)
    hints[turn] = chosen.hint
    try:
        result = await rollout(
            episode,
            registry,
            teacher,
            hints,
            step="recovery_rollout",
            prefix=positive,
            start_turn=turn,
            simulator=simulator,
            corrections={turn: correction},
        )
    except (TeacherError, MagnetError):
        return None
    done = result.turns[turn]
    wrong = not unmatched_calls(wrong_calls, done.calls)  # the wrong calls were made (then corrected)
    # The wrong call's error is what the turn recovers from: the filters' other reasons all stand.
    found = [
        problem
        for problem in problems(episode, result, reference_state(episode, registry))
        if not problem.startswith(f"unhandled_tool_error: turn {turn} ")
    ]
    if not wrong_calls or not wrong or found:
        return None
    row = to_sft_row(episode, result, teacher.name)
    meta = dataclasses.replace(
        row.meta,
        kind="recovery",
        extra={**row.meta.extra, "recovery_turn": turn, "error_type": chosen.error_type},
    )
    row = dataclasses.replace(row, id=f"{episode.id}-rec", meta=meta)
    return None if validate_sft_row(row.to_dict()) else row
