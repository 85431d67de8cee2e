"""Tool formats: how a row in Magnet's schema is shown to a model.

* ``native``: the row as it is (``tools`` plus ``tool_calls``), for the model's own chat template.
* ``bfcl_prompt``: BFCL's prompting mode, which the paper trains and evaluates Qwen2.5-Coder with. The system
  prompt is BFCL's own, listing the functions as BFCL's handler does (its func-doc types, the "Python 3 syntax"
  hint, Python ``repr`` of the list); calls are text ``[f(a=1), g(b='x')]``; each tool output is a ``tool``
  message named after the call that made it, as BFCL's local-model handler adds execution results; functions
  added at a later turn (miss_func) are listed in that turn's user message, as BFCL does. A row whose
  ``meta.bfcl_docs`` maps a function name to BFCL's own func doc (evaluation rows built from BFCL's files) lists
  that doc verbatim: BFCL types such as ``tuple`` and ``any`` have no exact JSON Schema twin.

The texts below are BFCL's (bfcl-eval 2025.8.6.2, ``constants/default_prompts.py``); a test checks them against
the installed package.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from magnet.errors import DatasetError
from magnet.tools.calls import FunctionCall, format_call

TOOL_FORMATS = ("native", "bfcl_prompt")

BFCL_SYSTEM_PROMPT_WITHOUT_FUNC_DOC = """You are an expert in composing functions. You are given a question and a set of possible functions. Based on the question, you will need to make one or more function/tool calls to achieve the purpose.
If none of the functions can be used, point it out. If the given question lacks the parameters required by the function, also point it out.
You should only return the function calls in your response.

If you decide to invoke any of the function(s), you MUST put it in the format of [func_name1(params_name1=params_value1, params_name2=params_value2...), func_name2(params)]
You SHOULD NOT include any other text in the response.

At each turn, you should try your best to complete the tasks requested by the user within the current turn. Continue to output functions to call until you have fulfilled the user's request to the best of your ability. Once you have no more functions to call, the system will consider the current turn complete and proceed to the next turn or task.
"""  # noqa: E501
BFCL_SYSTEM_PROMPT = (
    BFCL_SYSTEM_PROMPT_WITHOUT_FUNC_DOC
    + """
Here is a list of functions in JSON format that you can invoke.\n{functions}\n
"""
)
BFCL_FUNCTIONS_ADDED = "I have updated some more functions you can choose from. What about now?"
BFCL_FUNCTIONS_ADDED_PROMPTING = "{functions}\n" + BFCL_FUNCTIONS_ADDED
PYTHON_HINT = " Note that the provided function is in Python 3 syntax."

_TO_BFCL_TYPES = {"object": "dict", "number": "float"}


def _bfcl_schema(schema: Any) -> Any:
    """JSON Schema back to BFCL's func-doc types (``object`` -> ``dict``, ``number`` -> ``float``)."""
    if isinstance(schema, Mapping):
        return {
            key: (_TO_BFCL_TYPES.get(value, value) if key == "type" and isinstance(value, str) else _bfcl_schema(value))
            for key, value in schema.items()
        }
    if isinstance(schema, list):
        return [_bfcl_schema(item) for item in schema]
    return schema


def bfcl_function_doc(tool: Mapping[str, Any]) -> dict[str, Any]:
    """An OpenAI function tool as BFCL's prompting handler lists it (its types, the Python hint appended)."""
    function = tool.get("function", tool)
    doc: dict[str, Any] = {
        "name": function["name"],
        "description": (function.get("description") or "") + PYTHON_HINT,
        "parameters": _bfcl_schema(function.get("parameters") or {"type": "object", "properties": {}}),
    }
    if function.get("response") is not None:
        doc["response"] = _bfcl_schema(function["response"])
    return doc


def _listed_doc(tool: Mapping[str, Any], docs: Mapping[str, Any]) -> dict[str, Any]:
    name = tool.get("function", tool)["name"]
    return docs[name] if name in docs else bfcl_function_doc(tool)


def bfcl_system_prompt(tools: Sequence[Mapping[str, Any]], docs: Mapping[str, Any] | None = None) -> str:
    """BFCL's prompting-mode system prompt for these tools (``docs``: func docs to list verbatim, by name)."""
    return BFCL_SYSTEM_PROMPT.format(functions=[_listed_doc(tool, docs or {}) for tool in tools])


def _added_tools(meta: Mapping[str, Any] | None) -> dict[int, list[Mapping[str, Any]]]:
    missing = (meta or {}).get("missing") or {}
    return {int(turn): list(tools) for turn, tools in (missing.get("tools") or {}).items()}


def render_bfcl_prompt(row: Mapping[str, Any], messages_key: str = "messages") -> list[dict[str, Any]]:
    """The row's conversation in BFCL's prompting mode (see the module docstring)."""
    added = _added_tools(row.get("meta"))
    docs = (row.get("meta") or {}).get("bfcl_docs") or {}
    rendered: list[dict[str, Any]] = [{"role": "system", "content": bfcl_system_prompt(row.get("tools") or [], docs)}]
    call_text: dict[str, str] = {}
    user_turn = -1
    for index, message in enumerate(row[messages_key]):
        role = message.get("role")
        if role == "system":
            rendered[0]["content"] += "\n\n" + (message.get("content") or "")
        elif role == "user":
            user_turn += 1
            content = message.get("content") or ""
            if user_turn in added:
                listed = [_listed_doc(tool, docs) for tool in added[user_turn]]
                content = (
                    BFCL_FUNCTIONS_ADDED_PROMPTING.format(functions=listed)
                    if content == BFCL_FUNCTIONS_ADDED
                    else f"{listed}\n{content}"
                )
            rendered.append({"role": "user", "content": content})
        elif role == "assistant":
            calls = message.get("tool_calls") or []
            if calls:
                texts = [
                    format_call(FunctionCall(c["function"]["name"], dict(c["function"]["arguments"]))) for c in calls
                ]
                call_text.update({c["id"]: text for c, text in zip(calls, texts, strict=True)})
                rendered.append({"role": "assistant", "content": "[" + ", ".join(texts) + "]"})
            else:
                rendered.append({"role": "assistant", "content": message.get("content") or ""})
        elif role == "tool":
            name = call_text.get(message.get("tool_call_id") or "")
            if name is None:
                raise DatasetError(f"row {row.get('id')!r}.{messages_key}[{index}]: tool message answers no call")
            rendered.append({"role": "tool", "name": name, "content": message.get("content") or ""})
        else:
            raise DatasetError(f"row {row.get('id')!r}.{messages_key}[{index}].role: unknown role {role!r}")
    return rendered


def render(
    row: Mapping[str, Any], tool_format: str = "native", messages_key: str = "messages"
) -> tuple[list[dict[str, Any]], list[dict[str, Any]] | None]:
    """``(messages, tools)`` to hand a chat template: ``native`` keeps the row's own; ``bfcl_prompt`` puts the
    functions in the system prompt (``tools`` is then ``None``)."""
    if tool_format == "native":
        return [dict(m) for m in row[messages_key]], [dict(t) for t in row.get("tools") or []]
    if tool_format == "bfcl_prompt":
        return render_bfcl_prompt(row, messages_key), None
    raise DatasetError(f"unknown tool_format {tool_format!r}; choose from {TOOL_FORMATS}")
