"""Turns as BFCL counts them: a user message and everything up to the next one; a pair's branch turn, recorded or
recomputed for rows made before it was recorded, and checked where rows are validated."""

from __future__ import annotations

import pytest

from magnet.data.records import Message, ToolCall
from magnet.data.schema import preference_dataset, validate_preference_row
from magnet.data.turns import branch_turn, message_turns, pair_branch_turn
from magnet.errors import DatasetError

CALL = ToolCall("c0", "get_balance", {"account_id": "acc-1"})
TOOL = {
    "type": "function",
    "function": {
        "name": "get_balance",
        "description": "Read a balance.",
        "parameters": {"type": "object", "properties": {"account_id": {"type": "string"}}, "required": ["account_id"]},
    },
}


def conversation(last_answer: str) -> list[Message]:
    return [
        Message("system", "You are a bank."),
        Message("user", "Balance of acc-1?"),
        Message("assistant", None, (CALL,)),
        Message("tool", '{"balance": 10}', tool_call_id="c0", name="get_balance"),
        Message("assistant", "Checked."),
        Message("assistant", "acc-1 holds 10."),  # a second assistant message in a row: still turn 0
        Message("user", "And in euros?"),
        Message("assistant", last_answer),
    ]


def test_a_turn_is_a_user_message_and_everything_up_to_the_next():
    assert message_turns(conversation("9 EUR")) == [-1, 0, 0, 0, 0, 0, 1, 1]
    assert message_turns([m.to_dict() for m in conversation("9 EUR")]) == [-1, 0, 0, 0, 0, 0, 1, 1]
    assert message_turns([]) == []


def test_the_branch_turn_is_where_the_conversations_first_differ():
    assert branch_turn(conversation("9 EUR"), conversation("90 EUR")) == 1
    wrong_call = conversation("9 EUR")
    wrong_call[2] = Message("assistant", None, (ToolCall("c0", "get_balance", {"account_id": "acc-2"}),))
    assert branch_turn(conversation("9 EUR"), wrong_call) == 0
    # one side asks the next question where the other keeps answering: they part in the earlier turn
    shared = conversation("9 EUR")[:6]
    assert branch_turn([*shared, Message("user", "Bye")], [*shared, Message("assistant", "Anything else?")]) == 0
    assert branch_turn(shared, [*shared, Message("user", "Bye")]) == 1  # one is a prefix of the other
    with pytest.raises(DatasetError, match="identical"):
        branch_turn(conversation("9 EUR"), conversation("9 EUR"))


def pair_row(meta):
    chosen, rejected = conversation("9 EUR"), conversation("90 EUR")
    return {
        "id": "pair",
        "tools": [TOOL],
        "prompt": [m.to_dict() for m in chosen[:7]],
        "chosen": [m.to_dict() for m in chosen[7:]],
        "rejected": [m.to_dict() for m in rejected[7:]],
        "meta": meta,
    }


def test_rows_without_a_recorded_branch_turn_get_it_from_their_messages():
    recorded, old = pair_row({"branch_turn": 1}), pair_row({"source": "perturb"})
    assert pair_branch_turn(recorded) == pair_branch_turn(old) == 1
    assert pair_branch_turn({**old, "meta": None}) == 1
    dataset = preference_dataset([recorded, old])  # both kinds validate and load
    assert [pair_branch_turn(row) for row in dataset] == [1, 1]


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("1", "expected a non-negative integer"),
        (-1, "expected a non-negative integer"),
        (True, "expected a non-negative integer"),
        (2, "past the last user turn of the pair (1)"),
    ],
)
def test_a_bad_branch_turn_is_named(value, problem):
    problems = validate_preference_row(pair_row({"branch_turn": value}), 4)
    assert len(problems) == 1 and problems[0].startswith("row 4.meta.branch_turn: ") and problem in problems[0]
