"""Episodes: the output of back-and-forth translation, before distillation.

An ``Episode`` holds, per turn, the user query, the reference calls and their outputs, the functions of the
signature path's turn and its Split label; plus the toolkits, the initial state and where it came from (path,
operations, teacher, seed, request keys). Episodes are replayable: ``replay`` runs the reference calls on a fresh
environment built from the initial state and reports every output that differs; translation writes an episode
only when that list is empty.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from magnet.errors import MagnetError
from magnet.tools.calls import FunctionCall
from magnet.tools.executor import Environment
from magnet.tools.toolkit import Toolkit

KINDS = ("multi_turn", "single_turn", "irrelevance")
# What BFCL's user says when functions it withheld are added (its miss_func follow-up turn).
FUNCTIONS_ADDED_QUERY = "I have updated some more functions you can choose from. What about now?"


@dataclass(frozen=True)
class EpisodeTurn:
    """One user turn: the query, the reference calls and their outputs (tool-message text).

    ``label`` is ``""``, ``miss_param`` / ``miss_func`` (the turn where the assistant must ask or decline; no
    reference calls) or ``irrelevance``; ``missing`` names the withheld parameters or functions. ``nested`` says,
    per Insert link of the turn, ``source>target:implicit`` (the target took a value only the source's output
    gave, and the query never states it), ``:echoed`` (a value the source was given and returned) or
    ``:unlinked`` (the target's value came from elsewhere).
    """

    query: str
    calls: tuple[FunctionCall, ...] = ()
    outputs: tuple[str, ...] = ()
    functions: tuple[str, ...] = ()
    label: str = ""
    missing: tuple[str, ...] = ()
    nested: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (``nested`` only when the turn has Insert links)."""
        data = {
            "query": self.query,
            "calls": [call.to_dict() for call in self.calls],
            "outputs": list(self.outputs),
            "functions": list(self.functions),
            "label": self.label,
            "missing": list(self.missing),
        }
        if self.nested:
            data["nested"] = list(self.nested)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EpisodeTurn:
        """Inverse of ``to_dict``."""
        return cls(
            query=data["query"],
            calls=tuple(FunctionCall.from_dict(c) for c in data.get("calls", [])),
            outputs=tuple(data.get("outputs", [])),
            functions=tuple(data.get("functions", [])),
            label=data.get("label", ""),
            missing=tuple(data.get("missing", [])),
            nested=tuple(data.get("nested", [])),
        )


@dataclass(frozen=True)
class Episode:
    """A translated signature path: turns, toolkits, initial state and provenance.

    ``missing_functions`` is BFCL's ``missed_function``: ``{turn index: [names]}``, functions absent from the
    tools until that turn. ``variant`` says which single-turn kind an episode is (``single``, ``parallel``,
    ``multiple``) or ``""``.
    """

    id: str
    kind: str
    turns: tuple[EpisodeTurn, ...]
    toolkits: tuple[str, ...]
    initial_state: Mapping[str, Any]
    path: Mapping[str, Any]
    teacher: str
    seed: int
    variant: str = ""
    missing_functions: Mapping[str, list[str]] = field(default_factory=dict)
    request_keys: tuple[str, ...] = ()

    @property
    def calls(self) -> int:
        """Reference calls over all turns."""
        return sum(len(turn.calls) for turn in self.turns)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (one JSON line of an episode shard)."""
        return {
            "id": self.id,
            "kind": self.kind,
            "variant": self.variant,
            "turns": [t.to_dict() for t in self.turns],
            "toolkits": list(self.toolkits),
            "initial_state": dict(self.initial_state),
            "path": dict(self.path),
            "teacher": self.teacher,
            "seed": self.seed,
            "missing_functions": dict(self.missing_functions),
            "request_keys": list(self.request_keys),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Episode:
        """Inverse of ``to_dict``."""
        return cls(
            id=data["id"],
            kind=data["kind"],
            variant=data.get("variant", ""),
            turns=tuple(EpisodeTurn.from_dict(t) for t in data["turns"]),
            toolkits=tuple(data["toolkits"]),
            initial_state=data["initial_state"],
            path=data.get("path", {}),
            teacher=data.get("teacher", ""),
            seed=data.get("seed", 0),
            missing_functions=data.get("missing_functions", {}),
            request_keys=tuple(data.get("request_keys", [])),
        )


def episode_id(path_id: str, kind: str, variant: str, seed: int) -> str:
    """A stable id: the same path, kind and seed give the same id."""
    return hashlib.sha256(json.dumps([path_id, kind, variant, seed]).encode()).hexdigest()[:16]


def build_environment(episode: Episode, registry: Mapping[str, type[Toolkit]]) -> Environment:
    """A fresh environment of the episode's toolkits, loaded with its initial state."""
    unknown = [name for name in episode.toolkits if name not in registry]
    if unknown:
        raise MagnetError(f"episode {episode.id}: toolkit(s) {unknown} are not in the registry ({sorted(registry)})")
    return Environment.from_state([registry[name] for name in episode.toolkits], episode.initial_state)


def replay(episode: Episode, registry: Mapping[str, type[Toolkit]]) -> list[str]:
    """Run the reference calls on a fresh environment; every output that differs from the recorded one."""
    env = build_environment(episode, registry)
    differences = []
    for index, turn in enumerate(episode.turns):
        results = env.execute(turn.calls)
        if len(results) != len(turn.outputs):
            differences.append(f"turn {index}: {len(turn.outputs)} recorded outputs for {len(results)} calls")
            continue
        for result, recorded in zip(results, turn.outputs, strict=True):
            if result.content != recorded:
                differences.append(
                    f"turn {index}: {result.call.to_text()} returned {result.content[:80]!r}, "
                    f"recorded {recorded[:80]!r}"
                )
    return differences


def read_episodes(lines: Sequence[str], source: str = "<episodes>") -> list[Episode]:
    """Episodes from JSON lines; a bad line is an error naming the source and line number."""
    episodes = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            episodes.append(Episode.from_dict(json.loads(line)))
        except (json.JSONDecodeError, KeyError, TypeError) as error:
            raise MagnetError(f"{source}: line {number}: not an episode ({type(error).__name__}: {error})") from None
    return episodes


def format_episode(episode: Episode) -> str:
    """An episode as a readable conversation: user queries, reference calls and their outputs."""
    lines = [
        f"## episode {episode.id} ({episode.kind}{', ' + episode.variant if episode.variant else ''}; "
        f"toolkits {', '.join(episode.toolkits)}; teacher {episode.teacher})",
        "",
    ]
    ops = episode.path.get("ops") or []
    if ops:
        lines += [f"operations: {', '.join(ops)}", ""]
    for index, turn in enumerate(episode.turns):
        added = episode.missing_functions.get(str(index))
        if added:
            lines.append(f"   [functions added at this turn: {', '.join(added)}]")
        lines.append(f"user: {turn.query}")
        for call, output in zip(turn.calls, turn.outputs, strict=True):
            shown = output if len(output) <= 200 else output[:200] + " ..."
            lines.append(f"   call {call.to_text()}")
            lines.append(f"     -> {shown}")
        if turn.label:
            what = {
                "miss_param": "ask for",
                "miss_func": "say it has no function for",
                "irrelevance": "say no function serves",
            }.get(turn.label, turn.label)
            lines.append(f"   (reference: no call; the assistant should {what} {', '.join(turn.missing)})")
    return "\n".join(lines) + "\n"


def describe_episode(record: Mapping[str, Any]) -> dict[str, Any]:
    """An episode shard record's id, and its size: the teacher requests its distillation takes, about one per
    call and one per turn (what the positives stage orders by, longest first)."""
    return {"id": record["id"], "size": sum(len(turn.get("calls", ())) + 1 for turn in record["turns"])}
