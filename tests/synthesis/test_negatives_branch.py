"""Preference pairs record their branch turn: the user turn where the negative departs from the positive, counted
over the whole conversation, whatever part of it the shared prompt holds."""

from __future__ import annotations

import pytest

from magnet.data.records import Message, ToolCall
from magnet.data.schema import validate_preference_row
from magnet.data.turns import message_turns, pair_branch_turn
from magnet.synthesis.negatives import preference_pair

TOOL = {
    "type": "function",
    "function": {
        "name": "deposit",
        "description": "Put money on an account.",
        "parameters": {
            "type": "object",
            "properties": {"account_id": {"type": "string"}, "amount": {"type": "number"}},
            "required": ["account_id", "amount"],
        },
    },
}


def deposit_turn(index: int, amount: float, then: float) -> list[Message]:
    call = ToolCall(f"c{index}", "deposit", {"account_id": "acc-1", "amount": amount})
    return [
        Message("user", f"Make deposit {index} on acc-1."),
        Message("assistant", None, (call,)),
        Message("tool", f'{{"balance": {then}}}', tool_call_id=f"c{index}", name="deposit"),
        Message("assistant", f"acc-1 now holds {then}."),
    ]


def three_turns(second: list[Message], third_answer: float) -> list[Message]:
    return [Message("system", "You are a bank."), *deposit_turn(0, 5, 15), *second, *deposit_turn(2, 1, third_answer)]


@pytest.mark.parametrize(
    ("negative_second", "prompt_end"),
    [
        # the wrong call: the prompt ends with turn 1's user message
        (deposit_turn(1, 50, 65), "user"),
        # the right call, a wrong summary of its output: the prompt ends inside turn 1, with the tool output
        ([*deposit_turn(1, 2, 17)[:3], Message("assistant", "acc-1 now holds 170.")], "tool"),
    ],
)
def test_the_branch_turn_is_recorded_and_old_rows_recompute_it(negative_second, prompt_end):
    positive = three_turns(deposit_turn(1, 2, 17), 18)
    negative = three_turns(negative_second, 66)  # the later turn follows a different history
    pair = preference_pair("ep-neg", [TOOL], positive, negative, {"source": "perturb", "negative_turns": [1]})
    assert pair is not None and pair.prompt[-1].role == prompt_end
    assert pair.meta["branch_turn"] == 1 and pair.meta["source"] == "perturb"
    assert message_turns(list(pair.prompt) + list(pair.chosen))[len(pair.prompt)] == 1
    row = pair.to_dict()
    assert validate_preference_row(row) == []
    old = {**row, "meta": {key: value for key, value in row["meta"].items() if key != "branch_turn"}}
    assert pair_branch_turn(old) == pair_branch_turn(row) == 1
