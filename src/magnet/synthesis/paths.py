"""Function signature paths (FSPs): random walks on the function graph, one function per turn to start with.

A ``SignaturePath`` is a tuple of turns, each a tuple of function names, plus what has been done to it: the
node operations applied (``ops``) and, per turn, a label (``""``, or ``miss_func``/``miss_param`` for the empty
turn Split adds). Walks take ``steps`` steps from their start, choosing the next function uniformly among the
current one's out-edges and stopping early at a dead end; walks shorter than ``min_functions`` are dropped and
duplicates removed. A seeded ``random.Random`` drives everything: the same graph and seed give the same paths.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from magnet.errors import MagnetError
from magnet.synthesis.graph import FunctionGraph

SPLIT_LABELS = ("miss_func", "miss_param")


@dataclass(frozen=True)
class SignaturePath:
    """Turns of function names, with the operations applied and a label per turn."""

    turns: tuple[tuple[str, ...], ...]
    ops: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.labels:
            object.__setattr__(self, "labels", ("",) * len(self.turns))
        if len(self.labels) != len(self.turns):
            raise MagnetError(f"a path needs one label per turn: {len(self.labels)} labels, {len(self.turns)} turns")
        for turn, label in zip(self.turns, self.labels, strict=True):
            if bool(turn) == bool(label):
                raise MagnetError(
                    f"turn {turn!r} labelled {label!r}: only empty (Split) turns carry a label, "
                    "and every empty turn needs one"
                )

    @property
    def functions(self) -> list[str]:
        """Every function of the path, in order."""
        return [name for turn in self.turns for name in turn]

    @property
    def id(self) -> str:
        """A stable id: the same turns, operations and labels give the same id."""
        text = json.dumps([self.turns, self.ops, self.labels])
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @property
    def split_label(self) -> str:
        """``miss_func``/``miss_param`` if Split was applied, else ``""``."""
        return next((label for label in self.labels if label), "")

    def to_dict(self) -> dict[str, Any]:
        """``{"id", "turns", "ops", "labels"}``."""
        return {
            "id": self.id,
            "turns": [list(turn) for turn in self.turns],
            "ops": list(self.ops),
            "labels": list(self.labels),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SignaturePath:
        """Inverse of ``to_dict`` (the id is recomputed, and must match when given)."""
        path = cls(
            tuple(tuple(turn) for turn in data["turns"]), tuple(data.get("ops", ())), tuple(data.get("labels", ()))
        )
        if "id" in data and data["id"] != path.id:
            raise MagnetError(f"path {data['id']}: its turns, ops and labels do not match its id (edited by hand?)")
        return path


def random_walk(graph: FunctionGraph, start: str, steps: int, rng: random.Random) -> list[str]:
    """A walk from ``start`` of at most ``steps`` steps, each to a uniformly chosen out-neighbour.

    Example:
        >>> # with edges a->b, b->c: random_walk(g, "a", 7, random.Random(0)) == ["a", "b", "c"]
    """
    walk = [start]
    for _ in range(steps):
        successors = graph.successors(walk[-1])
        if not successors:
            break
        walk.append(rng.choice(successors))
    return walk


def sample_paths(
    graph: FunctionGraph,
    *,
    steps: int = 7,
    walks_per_function: int = 1,
    seed: int = 0,
    min_functions: int = 2,
    limit: int | None = None,
) -> list[SignaturePath]:
    """Random walks from every function (``walks_per_function`` each), one function per turn, deduplicated.

    Parameters
    ----------
    steps:
        The paper's S: how many steps a walk takes at most.
    min_functions:
        Walks with fewer functions (dead ends right away) are dropped.
    limit:
        Stop after this many distinct paths.
    """
    rng = random.Random(seed)
    seen: set[tuple[str, ...]] = set()
    paths: list[SignaturePath] = []
    for _ in range(walks_per_function):
        for start in sorted(graph.graph.nodes):
            walk = random_walk(graph, start, steps, rng)
            if len(walk) < min_functions or tuple(walk) in seen:
                continue
            seen.add(tuple(walk))
            paths.append(SignaturePath(tuple((name,) for name in walk)))
            if limit is not None and len(paths) >= limit:
                return paths
    return paths


def read_paths(lines: Iterable[str], source: str = "<paths>") -> list[SignaturePath]:
    """Paths from JSON lines; a bad line is an error naming the source and line number."""
    paths = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            paths.append(SignaturePath.from_dict(json.loads(line)))
        except (json.JSONDecodeError, KeyError, TypeError, MagnetError) as error:
            raise MagnetError(f"{source}: line {number}: not a signature path ({error})") from None
    return paths


def path_stats(paths: Sequence[SignaturePath]) -> dict[str, Any]:
    """Paths, mean turns per path, mean functions per path and per non-empty turn, and the share of paths each
    operation touched."""
    if not paths:
        return {"paths": 0}
    turns = [len(p.turns) for p in paths]
    functions = [len(p.functions) for p in paths]
    filled = [len(t) for p in paths for t in p.turns if t]
    kinds = ("merge", "insert", "insert_later", "split")
    share = {kind: sum(any(op.split(":")[0] == kind for op in p.ops) for p in paths) / len(paths) for kind in kinds}
    return {
        "paths": len(paths),
        "turns_per_path": round(sum(turns) / len(paths), 2),
        "functions_per_path": round(sum(functions) / len(paths), 2),
        "functions_per_turn": round(sum(filled) / len(filled), 2),
        "max_turns": max(turns),
        "share_with": {kind: round(value, 3) for kind, value in share.items()},
    }


def sample_single_turn(
    graph: FunctionGraph, *, single: int = 0, parallel: int = 0, multiple: int = 0, irrelevance: int = 0, seed: int = 0
) -> list[SignaturePath]:
    """One-turn paths for the paper's mixture, marked in ``ops``: ``single_turn:single`` (one call),
    ``single_turn:parallel`` (one function, several argument sets), ``single_turn:multiple`` (a function and a
    successor in one turn) and ``irrelevance`` (a request the offered tools cannot serve). Seeded; distinct
    turns first, then repeated turns as further draws when more are asked for than the graph has."""
    rng = random.Random(f"{seed}:single-turn")
    names = sorted(graph.graph.nodes)
    if not names:
        return []
    with_successor = [name for name in names if graph.successors(name)]
    paths: list[SignaturePath] = []
    seen: set[tuple] = set()

    def add(count: int, make) -> None:
        # Distinct (turns, kind) first; once those run out, the same turn again as another draw (a ``draw:n``
        # label gives it another id, hence another seeded state and other values).
        tries = 0
        while count > 0 and tries < 50 * (count + 10):
            tries += 1
            path = make()
            if path is None:
                continue
            draw = 0
            while (path.turns, path.ops) in seen and tries > 20 * (count + 10):
                draw += 1
                path = SignaturePath(path.turns, (path.ops[0], f"draw:{draw}"))
            if (path.turns, path.ops) in seen:
                continue
            seen.add((path.turns, path.ops))
            paths.append(path)
            count -= 1

    def every_function() -> Iterator[str]:
        """Each function once, in a seeded order, then again: every function of the pool gets single-turn paths
        as soon as there are as many as functions (a function without edges appears in no walk)."""
        while True:
            yield from rng.sample(names, len(names))

    singles, parallels = every_function(), every_function()
    add(single, lambda: SignaturePath(((next(singles),),), ("single_turn:single",)))
    add(parallel, lambda: SignaturePath(((next(parallels),),), ("single_turn:parallel",)))

    def multiple_path() -> SignaturePath | None:
        if not with_successor:
            return None
        first = rng.choice(with_successor)
        return SignaturePath(((first, rng.choice(graph.successors(first))),), ("single_turn:multiple",))

    add(multiple, multiple_path)
    add(irrelevance, lambda: SignaturePath(((rng.choice(names),),), ("irrelevance",)))
    return paths
