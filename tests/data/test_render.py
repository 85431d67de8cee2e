"""Rendering rows in BFCL's prompting mode, checked against bfcl-eval's own prompt and preprocessing."""

from __future__ import annotations

import copy
import json

import pytest

from magnet.data.render import (
    BFCL_FUNCTIONS_ADDED,
    BFCL_SYSTEM_PROMPT,
    bfcl_system_prompt,
    render,
)
from magnet.errors import DatasetError
from magnet.tools.bfcl import bfcl_data_dir
from magnet.tools.spec import load_bfcl_func_docs

ROW = {
    "id": "r1",
    "tools": [
        {
            "type": "function",
            "function": {
                "name": "get_event",
                "description": "Get an event.",
                "parameters": {
                    "type": "object",
                    "properties": {"event_id": {"type": "string"}, "hours": {"type": "number"}},
                    "required": ["event_id"],
                },
            },
        }
    ],
    "messages": [
        {"role": "user", "content": "Show evt-1."},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"type": "function", "id": "c0", "function": {"name": "get_event", "arguments": {"event_id": "evt-1"}}},
                {"type": "function", "id": "c1", "function": {"name": "get_event", "arguments": {"event_id": "evt-2"}}},
            ],
        },
        {"role": "tool", "content": '{"title": "A"}', "tool_call_id": "c0", "name": "get_event"},
        {"role": "tool", "content": '{"title": "B"}', "tool_call_id": "c1", "name": "get_event"},
        {"role": "assistant", "content": "A and B."},
        {"role": "user", "content": "Remind me."},
        {"role": "assistant", "content": "I have no function for reminders."},
        {"role": "user", "content": BFCL_FUNCTIONS_ADDED},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "type": "function",
                    "id": "c2",
                    "function": {"name": "set_reminder", "arguments": {"event_id": "evt-1"}},
                }
            ],
        },
        {"role": "tool", "content": '{"ok": true}', "tool_call_id": "c2", "name": "set_reminder"},
        {"role": "assistant", "content": "Done."},
    ],
    "meta": {
        "missing": {
            "functions": {"2": ["set_reminder"]},
            "tools": {
                "2": [
                    {
                        "type": "function",
                        "function": {
                            "name": "set_reminder",
                            "description": "Remind.",
                            "parameters": {
                                "type": "object",
                                "properties": {"event_id": {"type": "string"}},
                                "required": ["event_id"],
                            },
                        },
                    }
                ]
            },
        }
    },
}


def _bfcl_functions(*names: str) -> dict:
    """BFCL's own functions from ``model_handler/utils.py``, taken from its source: importing the module needs
    tree-sitter, which the ``--no-deps`` install of bfcl-eval leaves out."""
    import ast
    import importlib.util
    from pathlib import Path

    from bfcl_eval.constants import default_prompts

    origin = Path(importlib.util.find_spec("bfcl_eval").origin).parent / "model_handler" / "utils.py"
    tree = ast.parse(origin.read_text())
    wanted = [node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name in names]
    assert len(wanted) == len(names)
    namespace = {"json": json, "DEFAULT_SYSTEM_PROMPT": default_prompts.DEFAULT_SYSTEM_PROMPT}
    exec(compile(ast.Module(body=wanted, type_ignores=[]), str(origin), "exec"), namespace)  # BFCL's own code
    return namespace


def test_bfcl_prompt_texts_are_bfcls():
    pytest.importorskip("bfcl_eval")
    from bfcl_eval.constants import default_prompts

    assert default_prompts.DEFAULT_SYSTEM_PROMPT == BFCL_SYSTEM_PROMPT
    assert default_prompts.DEFAULT_USER_PROMPT_FOR_ADDITIONAL_FUNCTION_FC == BFCL_FUNCTIONS_ADDED


def test_system_prompt_equals_bfcls_own_preprocessing():
    pytest.importorskip("bfcl_eval")
    namespace = _bfcl_functions(
        "func_doc_language_specific_pre_processing",
        "_get_language_specific_hint",
        "system_prompt_pre_processing_chat_model",
    )
    func_doc_language_specific_pre_processing = namespace["func_doc_language_specific_pre_processing"]
    system_prompt_pre_processing_chat_model = namespace["system_prompt_pre_processing_chat_model"]

    path = bfcl_data_dir() / "multi_turn_func_doc" / "gorilla_file_system.json"
    docs = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    theirs = system_prompt_pre_processing_chat_model(
        [{"role": "user", "content": "x"}],
        func_doc_language_specific_pre_processing(copy.deepcopy(docs), "multi_turn_base"),
        "multi_turn_base",
    )[0]["content"]
    tools = [
        {"type": "function", "function": {**spec.to_tool()["function"], "response": spec.response}}
        for spec in load_bfcl_func_docs(path)
    ]
    assert bfcl_system_prompt(tools) == theirs


def test_calls_become_text_outputs_tool_messages_and_added_functions_are_listed():
    messages, tools = render(ROW, "bfcl_prompt")
    assert tools is None and messages[0]["role"] == "system" and "'name': 'get_event'" in messages[0]["content"]
    assert "'type': 'float'" in messages[0]["content"] and "set_reminder" not in messages[0]["content"]
    assert messages[2] == {"role": "assistant", "content": "[get_event(event_id='evt-1'), get_event(event_id='evt-2')]"}
    assert messages[3] == {"role": "tool", "name": "get_event(event_id='evt-1')", "content": '{"title": "A"}'}
    added = messages[8]["content"]
    assert added.startswith("[{'name': 'set_reminder'") and added.endswith("\n" + BFCL_FUNCTIONS_ADDED)
    native, native_tools = render(ROW, "native")
    assert native_tools == ROW["tools"] and native == ROW["messages"]


def test_bad_rows_and_formats_are_named():
    broken = copy.deepcopy(ROW)
    broken["messages"][2]["tool_call_id"] = "nope"
    with pytest.raises(DatasetError, match=r"row 'r1'\.messages\[2\]: tool message answers no call"):
        render(broken, "bfcl_prompt")
    with pytest.raises(DatasetError, match="unknown tool_format 'xml'"):
        render(ROW, "xml")
