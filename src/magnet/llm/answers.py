"""Reading what a model wrote: reasoning blocks removed, tool calls decoded from text.

A served model does not always hand back calls as ``tool_calls``. vLLM without a tool parser, ``transformers
serve``, llama.cpp without ``--jinja``, or a model prompted to call functions in text (BFCL's prompting mode) all
answer with text that holds the calls. Magnet reads them in one place:

* ``strip_reasoning``: ``<think>...</think>`` blocks (also an unterminated one, cut off by ``max_tokens``) are
  removed before anything is parsed, and so never reach a dataset.
* ``decode_bfcl``: BFCL's own prompting-mode decoder for Python answers (what the evaluation scores and what a
  student trained in ``bfcl_prompt`` writes): backticks stripped, brackets added, literals only.
* ``decode_text_calls``: the teacher's text mode, which accepts the forms models write: a BFCL-style list
  ``[f(a=1), g(b='x')]`` (alone, fenced, or on the answer's last line), a JSON object or list of
  ``{"name": ..., "arguments"/"parameters": {...}}`` (also ``{"tool_calls": [...]}``), and hermes
  ``<tool_call>{...}</tool_call>`` blocks.

Nothing here evaluates model text: calls are parsed with ``ast`` and ``json`` into literal values.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from magnet.errors import CallParseError
from magnet.tools.calls import (
    FunctionCall,
    format_call,
    format_calls,
    parse_calls,
    parse_tagged_tool_calls,
    parse_tool_calls,
)

REASONING_TAGS = ("think", "thinking", "reasoning")
_CLOSED = re.compile(r"<(think|thinking|reasoning)>.*?</\1>", re.DOTALL | re.IGNORECASE)
# An unterminated block counts only where an answer starts with it (a model cut off while thinking); a tag in the
# middle of prose is prose.
_OPEN = re.compile(r"\A\s*<(think|thinking|reasoning)>.*\Z", re.DOTALL | re.IGNORECASE)
# A reasoning model served with its template's opening tag in the prompt writes only the closing one, and ends its
# reasoning with a line break; "use </think> tags" in a sentence is not that.
_CLOSING_ONLY = re.compile(
    r"\A(?:(?!<(?:think|thinking|reasoning)>).)*?</(think|thinking|reasoning)>[ \t]*(?:\n|\Z)",
    re.DOTALL | re.IGNORECASE,
)
_TRAILING_LIST = re.compile(r"\[\s*[A-Za-z_][\w.]*\(.*\]\s*\Z", re.DOTALL)
_FENCED = re.compile(r"```[A-Za-z0-9_-]*[ \t]*\n?(.*?)\n?```", re.DOTALL)


def strip_reasoning(text: str) -> str:
    """``text`` without reasoning blocks: closed ones, a leading one whose opening tag was in the prompt, and an
    unterminated one (a model cut off while thinking said nothing else)."""
    if not text:
        return ""
    text = _CLOSING_ONLY.sub("", text, count=1)
    text = _CLOSED.sub("", text)
    return _OPEN.sub("", text).strip()


def bfcl_wrap(text: str) -> str:
    """BFCL's ``default_decode_*_prompting`` clean-up: strip backticks, newlines and spaces; add brackets."""
    text = text.strip("`\n ")
    if not text.startswith("["):
        text = "[" + text
    if not text.endswith("]"):
        text = text + "]"
    return text


def decode_bfcl(text: str) -> list[FunctionCall]:
    """The calls in a BFCL prompting-mode answer (Python), or ``CallParseError`` where BFCL would not decode it.

    Like BFCL's ``default_decode_ast_prompting``: backticks, newlines and spaces stripped from both ends,
    brackets added where missing, and, as its ``ast_parse`` does, ``[``, ``]`` and ``'`` stripped from both ends
    of the result before parsing; then literal values only (bare names read as strings, as BFCL reads them).
    """
    if not isinstance(text, str):
        raise CallParseError(f"expected the model's answer as text, got {type(text).__name__}")
    inner = bfcl_wrap(text).strip("[]'")
    if not inner.strip():
        raise CallParseError("no call in the answer")
    return parse_calls(f"[{inner}]", lenient=True)


def json_calls(value: Any) -> list[FunctionCall] | None:
    """Calls from a decoded JSON value shaped like calls, or None when it is not shaped like calls."""
    if isinstance(value, Mapping) and isinstance(value.get("tool_calls"), list):
        value = value["tool_calls"]
    items = value if isinstance(value, list) else [value]
    if not items:
        return None
    calls = []
    for item in items:
        if not isinstance(item, Mapping):
            return None
        body = item.get("function") if isinstance(item.get("function"), Mapping) else item
        name = body.get("name")
        # A call names its arguments: {"name": "report.txt", "size": 120} is an answer about a file, not a call.
        if not isinstance(name, str) or not name or not ({"arguments", "parameters"} & set(body)):
            return None
        arguments = body.get("arguments", body.get("parameters"))
        try:
            calls += parse_tool_calls([{"function": {"name": name, "arguments": arguments}}])
        except CallParseError:
            return None
    return calls


def _candidates(text: str) -> list[tuple[str, tuple[int, int]]]:
    """Pieces of an answer that may hold all its calls, each with the span it takes in ``text``: the whole
    answer, then each fenced block (the fence included in the span)."""
    stripped = text.strip()
    start = text.index(stripped)
    pieces = [(stripped, (start, start + len(stripped)))]
    pieces += [(match.group(1).strip(), match.span()) for match in _FENCED.finditer(text)]
    return [(piece, span) for piece, span in pieces if piece]


def _calls_on_lines(text: str, names: Collection[str] | None) -> tuple[list[FunctionCall], str]:
    """Calls on lines of their own amid prose (``Sure!\\n[f(a=1)]\\nLet me know.``), or one JSON call per line."""
    found, kept = [], []
    for line in text.splitlines():
        piece = line.strip().strip("`").strip()
        calls = _decode_piece(piece) if piece[:1] in "{[" else None
        if calls and _known(calls, names):
            found += calls
        else:
            kept.append(line)
    return (found, "\n".join(kept).strip()) if found else ([], text)


def _decode_piece(piece: str) -> list[FunctionCall] | None:
    if piece[:1] in "{[":
        try:
            decoded = json.loads(piece)
        except (json.JSONDecodeError, RecursionError):
            decoded = None
        if decoded is not None:
            calls = json_calls(decoded)
            if calls:
                return calls
    if (piece.startswith("[") and piece.endswith("]")) or re.match(r"^[A-Za-z_][\w.]*\(.*\)$", piece, re.DOTALL):
        try:
            calls = parse_calls(piece, json_constants=True)
        except CallParseError:
            return None
        return calls or None
    return None


def decode_text_calls(text: str, names: Collection[str] | None = None) -> tuple[list[FunctionCall], str]:
    """``(calls, the rest of the text)`` from an answer that writes its calls as text; ``([], text)`` when it
    holds none. ``names``: accept calls only when every called name is one of these (for answers that were not
    asked for text calls, where a stray list in prose must not become a call).

    Example:
        >>> decode_text_calls("Let me look: [get_weather(city='Paris')]")
        ([FunctionCall(name='get_weather', arguments={'city': 'Paris'})], 'Let me look:')
    """
    text = strip_reasoning(text)
    if not text:
        return [], ""
    # Mistral's and Llama 3's call markers, when a server leaves them in.
    text = re.sub(r"^\s*(?:\[TOOL_CALLS\]|<\|python_tag\|>)\s*", "", text)
    rest, tagged, _problems = parse_tagged_tool_calls(text)
    if tagged:
        known = _known(tagged, names)
        return (known, rest) if known else ([], text)
    for piece, (start, end) in _candidates(text):
        calls = _decode_piece(piece)
        if calls and _known(calls, names):
            return calls, (text[:start] + text[end:]).strip()
    calls, rest = _calls_on_lines(text, names)
    if calls:
        return calls, rest
    trailing = _TRAILING_LIST.search(text)  # "Checking: [f(a=1)]"
    if trailing:
        calls = _decode_piece(trailing.group(0).strip())
        if calls and _known(calls, names):
            return calls, text[: trailing.start()].strip()
    return [], text


_CALL_START = re.compile(r"(?<![\w.])([A-Za-z_][\w.]*)\(")


def closing_bracket(text: str, start: int, *, prose_apostrophes: bool = False) -> int | None:
    """The index just past the bracket that closes the one at ``start`` (``(``, ``[`` and ``{`` nest alike;
    strings skipped), or ``None`` when it is never closed. With ``prose_apostrophes`` a single quote opens a
    string only after a bracket, a comma, a colon or whitespace, so that "it's" in a JSON-ish value is no string."""
    depth, quote, index = 0, "", start
    while index < len(text):
        char = text[index]
        if quote:
            if char == "\\":
                index += 1
            elif char == quote:
                quote = ""
        elif char == '"' or (char == "'" and (not prose_apostrophes or text[index - 1] in "([{,: \n\t")):
            quote = char
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
            if depth == 0:
                return index + 1
        index += 1
    return None


# What may come before the first call of a line: a bullet, a number, a call label (``Answer:``, ``Action:``), a
# backtick or an opening bracket. Prose ("I checked ...", "Thought: ...", "Summary:") may not.
_LINE_LEAD = re.compile(
    r"[ \t>*-]*(?:\d+[.)][ \t]*)?(?:[*_]*(?:final answer|answer|action|calls?|function calls?|tool calls?)[ \t]*[*_]*:"
    r"[*_]*[ \t]*)?[`\[ \t]*",
    re.IGNORECASE,
)
_CALL_NAME = re.compile(r"([A-Za-z_][\w.]*)\(")
_BETWEEN = re.compile(r"[ \t`]*(?:(?:,|;|\band\b)[ \t`]*)?")
# What may follow a line's calls when the calls must stand alone: closing brackets, backticks, punctuation.
_CLOSING = re.compile(r"[\s`\].,;!]*")


def scan_calls(
    text: str,
    names: Collection[str],
    parameter_order: Mapping[str, Sequence[str]] | None = None,
    *,
    alone: bool = False,
) -> tuple[list[FunctionCall], str]:
    """``(calls, the rest)``: Python-style calls of ``names`` that begin a line of ``text`` (after a bullet, a
    number, an ``Answer:``/``Action:`` label, a backtick or a bracket), several on a line separated by commas, and
    lines of them one after another. A call inside prose ("I checked get_weather(city='Paris') and ...",
    "Thought: f(a=1) was called before") is not one. ``alone``: the line must hold nothing after its calls but
    closing brackets and punctuation (a bracketed list may be followed by a remark), so that a summary line
    "- get_weather(city='Paris'): 18C" is not read as a call; without it a remark may follow ("f(a=1) - this
    books it"). The lines with calls are left out of the rest. A call of one of ``names`` that the literal-only
    call parser refuses is a ``CallParseError``; JSON's ``true``, ``false`` and ``null`` read as Python's. A
    namespaced name (``functions.get_weather``) counts as its last part when only that is one of ``names``."""
    calls: list[FunctionCall] = []
    kept: list[str] = []
    position = 0
    for line in re.finditer(r"^.*$", text, re.MULTILINE):
        if line.start() < position:
            continue
        cursor = _LINE_LEAD.match(text, line.start()).end()
        lead = text[line.start() : cursor]
        found: list[FunctionCall] = []
        while (match := _CALL_NAME.match(text, cursor)) is not None:
            name = match.group(1)
            short = name.rsplit(".", 1)[-1]
            if name not in names and short not in names:
                break
            end = closing_bracket(text, match.end() - 1)
            if end is None:
                raise CallParseError(f"the call of {name} is not closed")
            source = text[match.start() : end] if name in names else short + text[match.end() - 1 : end]
            found += parse_calls(f"[{source}]", parameter_order=parameter_order, json_constants=True)
            cursor = _BETWEEN.match(text, end).end()
        if not found:
            continue
        line_end = text.find("\n", cursor)
        line_end = len(text) if line_end < 0 else line_end
        after = text[cursor:line_end]
        bracketed = "[" in lead and after.lstrip(" `").startswith("]")
        if alone and not (_CLOSING.fullmatch(after) or bracketed):
            continue
        calls += found
        kept.append(text[position : line.start()])
        position = line_end
    kept.append(text[position:])
    return calls, "".join(kept).strip()


def _known(calls: list[FunctionCall], names: Collection[str] | None) -> list[FunctionCall]:
    if names is None or all(call.name in names for call in calls):
        return calls
    return []


# ---------------------------------------------------------------------------------------------------------------
# Tools described in the prompt (the text mode of a teacher)
# ---------------------------------------------------------------------------------------------------------------

TOOLS_AS_TEXT = """# Functions
You can call the functions listed below (JSON, OpenAI's function format).
{functions}

To call functions, answer with the calls alone, as a Python list of calls with keyword arguments and literal values:
[func_name1(param1='some text', param2=42), func_name2(flag=True, items=['a', 'b'])]
Write nothing else in a response that calls functions. Their outputs come back in the next user message.
When no more calls are needed, answer in plain text."""


def tools_prompt(tools: Sequence[Mapping[str, Any]]) -> str:
    """The functions and the call format, for a model that is not offered ``tools`` by its endpoint."""
    functions = [tool.get("function", tool) for tool in tools]
    listed = "\n".join(json.dumps(dict(function), ensure_ascii=False) for function in functions)
    return TOOLS_AS_TEXT.format(functions=listed)


OUTPUT_PREFIX = "Output of "
"""How a tool output starts when calls travel as text (``Output of f(a=1):``); the offline backend reads it back."""


def with_tools_as_text(
    messages: Sequence[Mapping[str, Any]], tools: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """The conversation for a model that reads its functions from the prompt: the functions appended to the
    system message (one is added when there is none), earlier calls written as the text the model is asked for
    (``[f(a=1)]``), their outputs as a user message (``Output of f(a=1):``; consecutive outputs in one), every
    content a string. No ``tool`` role and no ``tool_call_id`` is left: servers without tool support often refuse
    them (OpenAI-style validation, chat templates that allow only user and assistant)."""
    converted: list[dict[str, Any]] = []
    call_text: dict[str, str] = {}
    previous_role = None
    for message in messages:
        role = message.get("role")
        if role == "tool":
            label = call_text.get(message.get("tool_call_id") or "") or message.get("name") or "the call"
            output = f"{OUTPUT_PREFIX}{label}:\n{message.get('content') or ''}"
            if previous_role == "tool":  # the outputs of one response's calls share one user message
                converted[-1]["content"] += f"\n\n{output}"
            else:
                converted.append({"role": "user", "content": output})
        else:
            out = {key: value for key, value in message.items() if value is not None and key != "tool_calls"}
            calls = message.get("tool_calls") or []
            if calls:
                parsed = parse_tool_calls(calls)
                call_text.update({c.get("id") or "": format_call(p) for c, p in zip(calls, parsed, strict=True)})
                listed = format_calls(parsed)
                out["content"] = f"{out['content']}\n{listed}" if out.get("content") else listed
            out["content"] = out.get("content") or ""
            converted.append(out)
        previous_role = role
    description = tools_prompt(tools)
    if converted and converted[0].get("role") == "system":
        converted[0]["content"] = f"{converted[0]['content']}\n\n{description}".strip()
    else:
        converted.insert(0, {"role": "system", "content": description})
    return converted
