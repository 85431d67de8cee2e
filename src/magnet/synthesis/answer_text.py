"""The parts of reading a step's answer that every parser shares.

Real models wrap what a step asks for: a reasoning block first (``<think>...</think>``, which may itself hold a
draft ``Answer:``), a preamble ("Sure! Here is ..."), Markdown labels (``**Answer:**``, ``**Category:**``), a
code fence, quotes, a closing remark. The step parsers (``magnet.synthesis.parsers``) find the content with these
helpers, so the tolerance lives in one place and every step gets the same:

* ``answer_body``: reasoning removed, and the answer's text when all of it sits in one code fence;
* ``labelled``: the value after ``Label:`` (emphasis, headings, backticks allowed; the value may sit on the next
  line), the last such line winning, since a draft comes before the final answer;
* ``leading_word``: the first word of an answer that should start with one of a few (``yes``/``no``);
* ``loose_values``: JSON values in an answer: strict JSON, JSON with trailing commas, or Python literals
  (single quotes, ``True``/``None``), alone or amid prose; nothing is evaluated.
"""

from __future__ import annotations

import ast
import json
import re
import warnings
from collections.abc import Sequence
from typing import Any

from magnet.llm.answers import closing_bracket, strip_reasoning

# An answer this long is a model stuck in a loop; parsing it further buys nothing.
MAX_LITERAL_TEXT = 200_000
MAX_EMBEDDED_ATTEMPTS = 40
_WHOLE_FENCE = re.compile(r"\A\s*```[A-Za-z0-9_+-]*[ \t]*\n?(.*?)\n?[ \t]*```\s*\Z", re.DOTALL)
_ANY_FENCE = re.compile(r"```[A-Za-z0-9_+-]*[ \t]*\n?(.*?)\n?[ \t]*```", re.DOTALL)
_EMPHASIS = "*_`\"'“”‘’ \t"


def answer_body(text: str) -> str:
    """The answer without reasoning blocks, and without the code fence when one fence holds all of it."""
    text = strip_reasoning(text or "").strip()
    fenced = _WHOLE_FENCE.match(text)
    return fenced.group(1).strip() if fenced else text


def unfenced(text: str) -> str:
    """``text`` with every code fence replaced by its content (a fence amid prose)."""
    return _ANY_FENCE.sub(lambda match: match.group(1), text)


def _label_pattern(names: Sequence[str]) -> re.Pattern[str]:
    """``Label:`` at the start of a line or after a sentence break, with Markdown around the label (``**Answer:**``,
    ``### Answer``, ``- Answer:``); names match with spaces, underscores or hyphens between words."""
    alternatives = "|".join(r"[ _-]?".join(re.escape(word) for word in name.split()) for name in names)
    return re.compile(
        rf"(?:^|(?<=[.!?]\s)|(?<=\s[-–—]\s)|(?<=[,;|]\s))[ \t>#*_-]*(?:{alternatives})[ \t]*[*_`]*[ \t]*:[*_`]*[ \t]*"
        rf"|^[ \t]*#{{1,6}}[ \t]*(?:{alternatives})[ \t]*$",  # a Markdown heading, the value below it
        re.IGNORECASE | re.MULTILINE,
    )


def labelled(names: Sequence[str], text: str, *, rest: bool = False) -> str | None:
    """The value after the last ``Name:`` label of ``text`` (any of ``names``); ``None`` when there is none.

    The value is the rest of the label's line, or the next non-empty line when the label ends its line; with
    ``rest`` it is everything after the label. Emphasis, backticks and quotes around a one-line value are removed.
    """
    matches = list(_label_pattern(names).finditer(text))
    if not matches:
        return None
    after = text[matches[-1].end() :]
    if rest:
        return after.strip()
    lines = after.split("\n")
    first = lines[0].strip()
    if not first.strip(_EMPHASIS):
        first = next((line.strip() for line in lines[1:] if line.strip()), "")
    return first.strip(_EMPHASIS).rstrip(".").strip(_EMPHASIS)


def strip_label(names: Sequence[str], text: str) -> str:
    """``text`` without a leading ``Name:`` label (``User:``, ``**User message:**``), which may end its line."""
    match = _label_pattern(names).match(text.lstrip())
    return text.lstrip()[match.end() :].strip() if match else text.strip()


def leading_word(text: str, words: Sequence[str]) -> tuple[str, str] | None:
    """``(word, the rest)`` when ``text`` starts with one of ``words`` standing alone (any case, Markdown emphasis,
    a leading ``Answer:``/``Verdict:`` label or list marker allowed; then the line's end or punctuation); else
    ``None``."""
    stripped = strip_label(("answer", "verdict", "final answer", "decision", "nested", "result", "judgement"), text)
    alternatives = "|".join(re.escape(word) for word in words)
    # The word must stand alone: "Yes, because", "**No**", "No - Error type"; not "No problem", "Yes/No".
    match = re.match(
        rf"^[\s>#*_`\"'(\[-]*({alternatives})\b(?!/)[*_`\"')\]]*(?=[ \t]*(?:$|[.,:;!–—-]))[\s.,:;!–—-]*",
        stripped,
        re.IGNORECASE | re.MULTILINE,
    )
    if not match:
        return None
    return match.group(1).lower(), stripped[match.end() :].strip()


# -- JSON values, loosely ---------------------------------------------------------------------------------------------

_CONSTANTS = {"true": True, "false": False, "null": None, "True": True, "False": False, "None": None}


def _python_literal(node: ast.expr) -> Any:
    """A literal node's value (JSON's and Python's constants both read); ``ValueError`` for anything else."""
    if isinstance(node, ast.Constant) and (node.value is None or isinstance(node.value, bool | int | float | str)):
        return node.value
    if isinstance(node, ast.Name) and node.id in _CONSTANTS:
        return _CONSTANTS[node.id]
    negative = isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub)
    if negative and isinstance(node.operand, ast.Constant) and type(node.operand.value) in (int, float):
        return -node.operand.value
    if isinstance(node, ast.List | ast.Tuple):
        return [_python_literal(item) for item in node.elts]
    if isinstance(node, ast.Dict):
        result = {}
        for key, value in zip(node.keys, node.values, strict=True):
            name = _python_literal(key) if key is not None else None
            if not isinstance(name, str):
                raise ValueError("a dict key that is not a string")
            result[name] = _python_literal(value)
        return result
    raise ValueError(f"not a literal: {type(node).__name__}")


def loose_json(text: str) -> Any:
    """One JSON value from ``text``: strict JSON; else without trailing commas; else as Python literals (single
    quotes, ``True``, ``None``, tuples as lists). ``ValueError`` (with JSON's message) when none reads it."""
    text = text.strip()
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as error:
        first_error = error
    except RecursionError:
        raise ValueError("the JSON is nested too deeply") from None
    except ValueError as error:  # NaN/Infinity, or an integer of thousands of digits
        raise ValueError(f"not a usable JSON value ({error})") from None
    for variant in (_without_trailing_commas(text), _without_trailing_commas(_without_comments(text))):
        try:
            return json.loads(variant, parse_constant=_refuse_constant)
        except (json.JSONDecodeError, RecursionError):
            continue
    if len(text) <= MAX_LITERAL_TEXT and text[:1] in "{[":
        try:
            with warnings.catch_warnings():  # model text is not code: "\_" is no escape worth a warning
                warnings.simplefilter("ignore")
                return _python_literal(ast.parse(text, mode="eval").body)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            pass
    raise ValueError(f"not a JSON value ({first_error.msg} at line {first_error.lineno} column {first_error.colno})")


def _without_trailing_commas(text: str) -> str:
    """``text`` without commas right before a closing bracket, outside strings (``[1, 2,]``)."""
    if not re.search(r",\s*[}\]]", text):
        return text
    out, quote, index = [], "", 0
    while index < len(text):
        char = text[index]
        if quote:
            if char == "\\":
                out.append(text[index : index + 2])
                index += 2
                continue
            if char == quote:
                quote = ""
        elif char in "\"'":
            quote = char
        elif char == "," and re.match(r"\s*[}\]]", text[index + 1 :]):
            index += 1
            continue
        out.append(char)
        index += 1
    return "".join(out)


def _without_comments(text: str) -> str:
    """``text`` without ``//`` comments after a line's JSON (a comment's slashes are outside any string)."""
    lines = []
    for line in text.split("\n"):
        for match in re.finditer(r"//", line):
            if line[: match.start()].count('"') % 2 == 0:
                line = line[: match.start()].rstrip()
                break
        lines.append(line)
    return "\n".join(lines)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed in JSON")


def loose_values(text: str, attempts: int = MAX_EMBEDDED_ATTEMPTS) -> list[Any]:
    """The JSON values in an answer, in order: the whole answer when it is one (``answer_body`` first), else
    every value that starts at a ``{`` or ``[`` amid prose (at most ``attempts`` tried; values inside a value
    found are not listed again)."""
    body = answer_body(text)
    try:
        return [loose_json(body)]
    except ValueError:
        pass
    values: list[Any] = []
    source = unfenced(body)
    position = 0
    for count, match in enumerate(re.finditer(r"[\[{]", source)):
        if count == attempts:
            break
        if match.start() < position:
            continue
        end = closing_bracket(source, match.start(), prose_apostrophes=True)
        if end is None:
            continue
        try:
            values.append(loose_json(source[match.start() : end]))
        except ValueError:
            continue
        position = end
    return values
