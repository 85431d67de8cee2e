"""The node operations Merge, Insert and Split (section 3.3 of the paper): pure functions of
(path, graph, rng, config) that reshape a signature path into multi-turn phenomena.

* Merge: each pair of consecutive turns is merged with probability ``p_merge`` (several calls in one turn,
  short dependencies).
* Insert: for each turn's last function, a neighbour judged nested with it is appended to the turn (a nested
  call the user does not ask for explicitly), or with probability ``p_insert_later`` becomes its own turn after a
  random later turn (a long dependency).
* Split: an empty turn labelled ``miss_func`` or ``miss_param`` is inserted before a turn (the assistant must
  say a function is missing, or ask for a value; the following turn supplies it).

The paper applies Merge, then Insert, and Split on a copy; both the plain and the split path go on
(``reshape``). Each operation records what it did in the path's ``ops`` labels, so a dataset can say how every
trajectory was made.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from magnet.errors import MagnetError
from magnet.synthesis.config import OperationSettings
from magnet.synthesis.graph import FunctionGraph
from magnet.synthesis.paths import SPLIT_LABELS, SignaturePath


@dataclass
class OperationConfig(OperationSettings):
    """The operations' probabilities (``paths.p_*`` in a synth config) and the largest turn Merge and Insert make."""

    max_functions_per_turn: int = 4

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.max_functions_per_turn < 1:
            raise MagnetError("OperationConfig.max_functions_per_turn must be at least 1")


def _require_plain(path: SignaturePath, operation: str) -> None:
    if path.split_label:
        raise MagnetError(f"{operation} applies before Split; path {path.id} already has a {path.split_label} turn")


def merge(path: SignaturePath, rng: random.Random, config: OperationConfig | None = None) -> SignaturePath:
    """Merge each consecutive pair of turns with probability ``p_merge`` (turns already merged can take the
    next one too, up to ``max_functions_per_turn``). The functions and their order never change."""
    config = config or OperationConfig()
    _require_plain(path, "Merge")
    if not path.turns:
        return path
    turns = [list(path.turns[0])]
    ops = list(path.ops)
    for index, turn in enumerate(path.turns[1:], start=1):
        if rng.random() < config.p_merge and len(turns[-1]) + len(turn) <= config.max_functions_per_turn:
            turns[-1].extend(turn)
            ops.append(f"merge:{index}")
        else:
            turns.append(list(turn))
    return SignaturePath(tuple(tuple(turn) for turn in turns), tuple(ops))


def insert(
    path: SignaturePath, graph: FunctionGraph, rng: random.Random, config: OperationConfig | None = None
) -> SignaturePath:
    """For each turn's last function f, with probability ``p_insert``, add a neighbour g judged nested with f:
    appended to the same turn, or (``p_insert_later``) as its own turn after a random later turn.

    Only successors of f in the graph whose edge is nested are added; g is not one of the turn's functions.
    """
    config = config or OperationConfig()
    _require_plain(path, "Insert")
    turns = [list(turn) for turn in path.turns]
    later: dict[int, list[tuple[str, ...]]] = {}
    ops = list(path.ops)
    for index, turn in enumerate(path.turns):
        last = turn[-1]
        options = [name for name in graph.nested_successors(last) if name not in turn]
        if not options or rng.random() >= config.p_insert:
            continue
        added = rng.choice(options)
        if index + 1 < len(path.turns) and rng.random() < config.p_insert_later:
            after = rng.randrange(index + 1, len(path.turns))
            later.setdefault(after, []).append((added,))
            ops.append(f"insert_later:{last}>{added}@{after}")
        elif len(turns[index]) < config.max_functions_per_turn:
            turns[index].append(added)
            ops.append(f"insert:{last}>{added}")
    result: list[tuple[str, ...]] = []
    for index, turn in enumerate(turns):
        result.append(tuple(turn))
        result.extend(later.get(index, []))
    return SignaturePath(tuple(result), tuple(ops))


def split(path: SignaturePath, rng: random.Random, config: OperationConfig | None = None) -> SignaturePath:
    """Insert one empty turn labelled ``miss_func`` (probability ``p_miss_func``) or ``miss_param`` before a
    random turn after the first (before the only turn of a one-turn path): the following turn supplies what the
    empty one lacks.

    A ``miss_func`` turn withholds every function of the turn after it, from the start of the conversation (as
    BFCL does), so it goes only before a turn none of whose functions appeared earlier; where there is no such
    turn, the label becomes ``miss_param``.
    """
    config = config or OperationConfig()
    _require_plain(path, "Split")
    if not path.turns:
        raise MagnetError("cannot split an empty path")
    positions = list(range(1, len(path.turns))) if len(path.turns) > 1 else [0]
    label = SPLIT_LABELS[0] if rng.random() < config.p_miss_func else SPLIT_LABELS[1]
    if label == "miss_func":
        fresh = [p for p in positions if not set(path.turns[p]) & {n for turn in path.turns[:p] for n in turn}]
        if fresh:
            positions = fresh
        else:
            label = "miss_param"
    position = rng.choice(positions)
    turns = [*path.turns[:position], (), *path.turns[position:]]
    labels = [""] * len(turns)
    labels[position] = label
    return SignaturePath(tuple(turns), (*path.ops, f"split:{label}@{position}"), tuple(labels))


def reshape(
    path: SignaturePath, graph: FunctionGraph, rng: random.Random, config: OperationConfig | None = None
) -> tuple[SignaturePath, SignaturePath]:
    """The paper's order: Merge, then Insert, giving the enhanced path; Split on a copy. Returns both. An operation
    switched off in ``config`` (an ablation) leaves the path as it was; Split's copy is made either way (whether it
    is used is the caller's choice)."""
    config = config or OperationConfig()
    merged = merge(path, rng, config) if config.merge else path
    enhanced = insert(merged, graph, rng, config) if config.insert else merged
    return enhanced, split(enhanced, rng, config)
