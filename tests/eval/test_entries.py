"""Entries and the conversations they start from, checked against BFCL's own prompt assembly."""

from __future__ import annotations

import copy
import json

import pytest

from magnet.data.render import BFCL_FUNCTIONS_ADDED, render
from magnet.errors import MagnetError
from magnet.eval.entries import (
    ALL_CATEGORIES,
    MULTI_TURN,
    expected_turn_calls,
    multi_turn_row,
    resolve_categories,
    single_turn_row,
)
from magnet.tools.bfcl import bfcl_data_dir
from magnet.tools.calls import FunctionCall


def _bfcl_multi_turn_prompt(bfcl_utils, entry):
    """What BFCL's prompting handler builds: its process_multi_turn_test_case, then _pre_query_processing_prompting,
    then the holdout turns' user messages."""
    from bfcl_eval.constants.category_mapping import MULTI_TURN_FUNC_DOC_FILE_MAPPING
    from bfcl_eval.constants.default_prompts import DEFAULT_USER_PROMPT_FOR_ADDITIONAL_FUNCTION_PROMPTING

    raw = copy.deepcopy(entry.raw)
    functions = []
    for name in raw["involved_classes"]:
        path = bfcl_data_dir() / "multi_turn_func_doc" / MULTI_TURN_FUNC_DOC_FILE_MAPPING[name]
        functions.extend(json.loads(line) for line in path.read_text().splitlines() if line.strip())
    holdout = {}
    for turn, names in raw.get("missed_function", {}).items():
        holdout[turn] = []
        for name in names:
            index = next(i for i, doc in enumerate(functions) if doc["name"] == name)
            holdout[turn].append(functions.pop(index))
    category = raw["id"].rsplit("_", 1)[0]
    functions = bfcl_utils.func_doc_language_specific_pre_processing(functions, category)
    first = bfcl_utils.system_prompt_pre_processing_chat_model(raw["question"][0], functions, category)
    later = {
        int(turn): DEFAULT_USER_PROMPT_FOR_ADDITIONAL_FUNCTION_PROMPTING.format(functions=docs)
        for turn, docs in holdout.items()
    }
    return first, later


@pytest.mark.parametrize("category", MULTI_TURN)
def test_multi_turn_prompt_equals_bfcls(bfcl_utils, multi_turn, category):
    """The rendered system prompt, first turn and held-out-function turns are BFCL's, byte for byte, for every
    entry of every multi-turn category."""
    for entry in multi_turn[category]:
        first, later = _bfcl_multi_turn_prompt(bfcl_utils, entry)
        row = multi_turn_row(entry)
        messages = [dict(m) for m in entry.question[0]]
        assert render({**row, "messages": messages}, "bfcl_prompt")[0] == first, entry.id
        for turn, expected in later.items():
            conversation = [m for t in range(turn) for m in entry.question[t]]
            conversation += [{"role": "user", "content": BFCL_FUNCTIONS_ADDED}]
            rendered, _ = render({**row, "messages": conversation}, "bfcl_prompt")
            assert rendered[-1] == {"role": "user", "content": expected}, (entry.id, turn)


@pytest.mark.parametrize("category", [c for c in ALL_CATEGORIES if c not in MULTI_TURN])
def test_single_turn_prompt_equals_bfcls(bfcl_utils, single_turn, category):
    """Every single-turn entry (Java and JavaScript included) renders to BFCL's prompting-mode messages."""
    for entry in single_turn(category):
        functions = bfcl_utils.func_doc_language_specific_pre_processing(copy.deepcopy(entry.functions), category)
        expected = bfcl_utils.system_prompt_pre_processing_chat_model(
            copy.deepcopy(entry.messages), functions, category
        )
        rendered, tools = render(single_turn_row(entry), "bfcl_prompt")
        assert tools is None
        assert rendered == expected, entry.id


def test_native_rows_offer_every_function_as_a_tool(single_turn, multi_turn):
    entry = single_turn("live_multiple")[0]
    row = single_turn_row(entry)
    _, tools = render(row, "native")
    assert [t["function"]["name"] for t in tools] == [f["name"] for f in entry.functions]
    assert all(t["function"]["parameters"]["type"] == "object" for t in tools)
    miss_func = next(e for e in multi_turn["multi_turn_miss_func"] if e.missed_function)
    row = multi_turn_row(miss_func)
    held_out = {name for names in miss_func.missed_function.values() for name in names}
    assert held_out.isdisjoint(t["function"]["name"] for t in row["tools"])
    assert held_out == {t["function"]["name"] for ts in row["meta"]["missing"]["tools"].values() for t in ts}


def test_resolve_categories():
    assert resolve_categories(["multi_turn"]) == list(MULTI_TURN)
    assert resolve_categories(["base", "simple", "multi_turn_base"]) == ["simple", "multi_turn_base"]
    assert len(resolve_categories(["all"])) == 17
    assert "java" not in resolve_categories(["python"])
    with pytest.raises(MagnetError, match="unknown BFCL category 'simpel'"):
        resolve_categories(["simpel"])


def test_expected_turn_calls_bind_positional_arguments(multi_turn):
    """BFCL's ground truth writes a few calls positionally (``sort('file.txt')``); the reference names them."""
    for entry in multi_turn["multi_turn_base"]:
        for turn, texts in enumerate(entry.ground_truth):
            if any("('" in text for text in texts):
                calls = expected_turn_calls(entry, turn)
                assert all(isinstance(call, FunctionCall) for call in calls)
                assert len(calls) == len(texts)
                return
    pytest.fail("no positional ground-truth call found")
