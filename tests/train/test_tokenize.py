"""Preference rows to tokens: every assistant token carries the user turn of its message (in the whole
conversation), checked against the stock template's text; the branch turn becomes ``segment_start``."""

from __future__ import annotations

import pytest

from magnet.data.render import render
from magnet.errors import DatasetError
from magnet.train.templates import training_template
from magnet.train.tokenize import preference_example


@pytest.mark.parametrize("tool_format", ["native", "bfcl_prompt"])
def test_each_assistant_token_has_the_turn_of_its_message(
    tokenizer, branching_pair, stock_assistant_turns, tool_format
):
    pair = branching_pair
    example = preference_example(pair, tokenizer, training_template(tokenizer), tool_format, index=0)
    for side in ("chosen", "rejected"):
        messages, tools = render({**pair, "messages": pair["prompt"] + pair[side]}, tool_format)
        ids, turns = stock_assistant_turns(tokenizer, messages, tools)
        assert example["prompt_ids"] + example[f"{side}_ids"] == ids
        assert example["prompt_turns"] + example[f"{side}_turns"] == turns
    # turn 1 of chosen is three assistant messages (a call, then two answers in a row), turn 2 follows it
    assert sum(m["role"] == "assistant" for m in pair["chosen"][:4]) == 3
    assert [t for t in dict.fromkeys(example["chosen_turns"]) if t >= 0] == [1, 2]
    assert 0 in example["prompt_turns"]  # the prompt holds turn 0's assistant tokens
    assert example["segment_start"] == pair["meta"]["branch_turn"] == 1


def test_a_row_without_a_recorded_branch_turn_gets_the_same_segment_start(tokenizer, branching_pair):
    old = {**branching_pair, "meta": {"source": "perturb"}}
    example = preference_example(old, tokenizer, training_template(tokenizer), "native")
    assert example["segment_start"] == 1


def test_an_assistant_message_before_any_user_message_is_named(tokenizer, branching_pair):
    row = {
        **branching_pair,
        "id": "odd",
        "prompt": [{"role": "assistant", "content": "Hi."}, *branching_pair["prompt"]],
    }
    with pytest.raises(DatasetError, match=r"row 7 \(id 'odd'\)\.chosen: an assistant message comes before"):
        preference_example(row, tokenizer, training_template(tokenizer), "native", index=7)
