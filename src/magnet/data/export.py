"""Exports of SFT rows to the formats other trainers read.

* ShareGPT as LLaMA-Factory reads it (``dataset_info.json`` with ``formatting: sharegpt``): ``conversations`` of
  ``human`` / ``gpt`` / ``function_call`` / ``observation`` turns, ``tools`` as a JSON string.
* OpenAI fine-tuning JSONL: ``messages`` (tool-call arguments as JSON strings) and ``tools``.

Neither format can add tools in the middle of a conversation; a row whose functions are added at a later turn
(BFCL's miss_func) gets a system message at that turn listing the new functions.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any


def _added_tools(row: Mapping[str, Any]) -> dict[int, list[Mapping[str, Any]]]:
    missing = (row.get("meta") or {}).get("missing") or {}
    return {int(turn): tools for turn, tools in (missing.get("tools") or {}).items()}


def _with_additions(row: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The messages, with a system message before the user turn at which functions are added."""
    added = _added_tools(row)
    messages: list[dict[str, Any]] = []
    user_turn = -1
    for message in row["messages"]:
        if message["role"] == "user":
            user_turn += 1
            if user_turn in added:
                names = ", ".join(tool["function"]["name"] for tool in added[user_turn])
                messages.append(
                    {
                        "role": "system",
                        "content": f"New functions are available: {names}. "
                        + json.dumps([tool["function"] for tool in added[user_turn]]),
                    }
                )
        messages.append(dict(message))
    return messages


def to_sharegpt(row: Mapping[str, Any]) -> dict[str, Any]:
    """One row in LLaMA-Factory's ShareGPT format (system prompts folded into the ``system`` field)."""
    conversations = []
    system = []
    pending_outputs: list[str] = []
    for message in _with_additions(row):
        role = message["role"]
        if role != "tool" and pending_outputs:
            conversations.append(
                {
                    "from": "observation",
                    "value": pending_outputs[0]
                    if len(pending_outputs) == 1
                    else json.dumps(pending_outputs, ensure_ascii=False),
                }
            )
            pending_outputs = []
        if role == "system":
            if conversations:  # functions added mid-conversation: LLaMA-Factory has no mid-turn system role
                conversations.append({"from": "human", "value": message["content"]})
                conversations.append({"from": "gpt", "value": "Understood."})
            else:
                system.append(message["content"])
        elif role == "user":
            conversations.append({"from": "human", "value": message["content"] or ""})
        elif role == "assistant" and message.get("tool_calls"):
            calls = [
                {"name": c["function"]["name"], "arguments": c["function"]["arguments"]} for c in message["tool_calls"]
            ]
            conversations.append(
                {
                    "from": "function_call",
                    "value": json.dumps(calls[0] if len(calls) == 1 else calls, ensure_ascii=False),
                }
            )
        elif role == "assistant":
            conversations.append({"from": "gpt", "value": message["content"] or ""})
        elif role == "tool":
            pending_outputs.append(message["content"] or "")
    if pending_outputs:
        conversations.append(
            {
                "from": "observation",
                "value": pending_outputs[0]
                if len(pending_outputs) == 1
                else json.dumps(pending_outputs, ensure_ascii=False),
            }
        )
    tools = [tool["function"] for tool in row.get("tools") or []]
    return {
        "id": row["id"],
        "conversations": conversations,
        "system": "\n".join(system),
        "tools": json.dumps(tools, ensure_ascii=False),
    }


def to_openai_finetune(row: Mapping[str, Any]) -> dict[str, Any]:
    """One row in OpenAI's chat fine-tuning format (arguments as JSON strings, ``None`` keys left out)."""
    messages = []
    for message in _with_additions(row):
        out = {key: value for key, value in message.items() if value is not None}
        if out.get("tool_calls"):
            out["tool_calls"] = [
                {
                    "id": c["id"],
                    "type": "function",
                    "function": {
                        "name": c["function"]["name"],
                        "arguments": json.dumps(c["function"]["arguments"], ensure_ascii=False),
                    },
                }
                for c in out["tool_calls"]
            ]
        if out.get("role") != "tool":
            out.pop("name", None)
        messages.append(out)
    return {"messages": messages, "tools": [dict(tool) for tool in row.get("tools") or []], "parallel_tool_calls": True}


def llamafactory_dataset_info(file_name: str, name: str = "magnet_sft") -> dict[str, Any]:
    """The ``dataset_info.json`` entry LLaMA-Factory needs for the ShareGPT export."""
    return {
        name: {
            "file_name": file_name,
            "formatting": "sharegpt",
            "columns": {"messages": "conversations", "system": "system", "tools": "tools"},
        }
    }
