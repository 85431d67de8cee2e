"""Turns of a conversation, one definition for synthesis and training.

A turn is a user turn as BFCL counts it: a user message and every assistant and tool message up to the next user
message. Messages before the first user message (a system prompt) belong to no turn. ``preference_pair`` records
the turn where a pair's two conversations part (``meta["branch_turn"]``), and the mDPO tokenization numbers every
assistant token by the turn of its message, with the same function.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from magnet.errors import DatasetError


def _role(message: Any) -> str | None:
    return message.get("role") if isinstance(message, Mapping) else getattr(message, "role", None)


def message_turns(messages: Sequence[Any]) -> list[int]:
    """Per message, the 0-based index of the user turn it belongs to; -1 before the first user message.

    Parameters
    ----------
    messages:
        Dicts or ``magnet.data.records.Message`` records; only the role is read.

    Returns
    -------
    One turn index per message.

    Example
    -------
    >>> roles = ["system", "user", "assistant", "tool", "assistant", "assistant", "user", "assistant"]
    >>> message_turns([{"role": role} for role in roles])
    [-1, 0, 0, 0, 0, 0, 1, 1]
    """
    turns, turn = [], -1
    for message in messages:
        if _role(message) == "user":
            turn += 1
        turns.append(turn)
    return turns


def branch_turn(chosen: Sequence[Any], rejected: Sequence[Any]) -> int:
    """The user turn (by ``message_turns``) where two whole conversations first differ.

    Where the first differing position holds a user message on one side and an assistant message on the other,
    the turn is the earlier one: that is the turn in which the two sides stopped agreeing. Raises ``DatasetError``
    for identical conversations.

    Example
    -------
    >>> shared = [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]
    >>> later = [{"role": "user", "content": "c"}]
    >>> branch_turn(shared + later + [{"role": "assistant", "content": "d"}],
    ...             shared + later + [{"role": "assistant", "content": "e"}])
    1
    """
    index = next(
        (i for i, (ours, theirs) in enumerate(zip(chosen, rejected, strict=False)) if ours != theirs),
        min(len(chosen), len(rejected)),
    )
    candidates = [message_turns(side)[index] for side in (chosen, rejected) if index < len(side)]
    if not candidates:
        raise DatasetError("the two conversations are identical: there is no branch turn")
    return max(min(candidates), 0)


def pair_branch_turn(row: Mapping[str, Any]) -> int:
    """A preference row's branch turn: ``meta["branch_turn"]`` when recorded, else (rows made before it was)
    ``branch_turn`` of ``prompt + chosen`` and ``prompt + rejected``."""
    recorded = (row.get("meta") or {}).get("branch_turn")
    if recorded is not None:
        return int(recorded)
    prompt = list(row["prompt"])
    return branch_turn(prompt + list(row["chosen"]), prompt + list(row["rejected"]))
