"""Force-termination at BFCL's step limit, against bfcl_eval's own inference loop: a model that never stops
calling is cut off after the same number of answers, in the same turn, and the entry is failed."""

from __future__ import annotations

import copy

import pytest

from magnet.eval.bfcl import evaluate_bfcl, read_results
from magnet.eval.entries import multi_turn_entries
from magnet.llm.client import Completion

CALL = "[ls()]"  # GorillaFileSystem's ls: valid in every turn, never ends one


class AlwaysCalling:
    """A runner that answers every step with the same call."""

    name = "always-calling"
    tool_format = "bfcl_prompt"

    async def answer(self, request):
        return Completion(text=CALL)


def _bfcl_own_loop(entry) -> tuple[list[list[str]], bool]:
    """bfcl_eval's ``inference_multi_turn_prompting`` with a model that always answers ``CALL``: the answers per
    turn it records, and whether it force-quit."""
    from bfcl_eval.model_handler.base_handler import BaseHandler
    from bfcl_eval.model_handler.utils import default_decode_execute_prompting

    class Handler(BaseHandler):
        def _query_prompting(self, inference_data):
            return CALL, 0.0

        def _pre_query_processing_prompting(self, test_entry):
            return {"message": []}

        def _parse_query_response_prompting(self, api_response):
            return {"model_responses": api_response, "input_token": 0, "output_token": 0}

        def add_first_turn_message_prompting(self, inference_data, first_turn_message):
            return inference_data

        def _add_next_turn_user_message_prompting(self, inference_data, user_message):
            return inference_data

        def _add_assistant_message_prompting(self, inference_data, model_response_data):
            return inference_data

        def _add_execution_results_prompting(self, inference_data, execution_results, model_response_data):
            return inference_data

        def decode_execute(self, result):
            return default_decode_execute_prompting(result)

    responses, metadata = Handler("magnet-step-limit-check", 0.0).inference_multi_turn_prompting(
        copy.deepcopy(entry.raw), include_input_log=False, exclude_state_log=True
    )
    forced = "has been forced to quit" in str(metadata["inference_log"])  # its handler log says so
    return responses, forced


@pytest.mark.slow
def test_the_step_limit_cuts_a_looping_model_off_where_bfcl_does(tmp_path):
    entry = multi_turn_entries("multi_turn_base")[0]
    theirs, force_quit = _bfcl_own_loop(entry)
    assert force_quit
    evaluate_bfcl(AlwaysCalling(), tmp_path, categories=["multi_turn_base"], limit=1, progress=False)
    record = read_results(tmp_path / "results" / "multi_turn_base.jsonl")[0]
    ours = [[step["text"] for step in steps] for steps in record["turns"]]
    assert record["force_terminated"] and not record["valid"]
    assert [len(turn) for turn in ours] == [len(turn) for turn in theirs]  # the same turn, the same answer count
    assert ours == theirs
