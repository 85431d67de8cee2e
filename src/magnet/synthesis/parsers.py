"""Step parsers: a teacher's answer to one step's prompt, read into the step's typed result.

Each parser takes the ``Completion`` and the step's inputs and returns the result, or raises ``AnswerError``
saying what is missing, which ``run_step`` shows to the model on the retry. They accept the ways strong open
models format answers (reasoning blocks, preambles, Markdown labels, fences, quotes, closing remarks, JSON or
Python literals; the shared parts are in ``magnet.synthesis.answer_text``) and refuse only answers that carry no
usable content. Where it matters they stay strict: a call is read with the literal-only call parser, a category
must be on the list, a simulated output must fit the response schema.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from magnet.errors import CallParseError, MagnetError
from magnet.llm.answers import decode_text_calls, scan_calls, strip_reasoning
from magnet.llm.answers import json_calls as json_calls_of
from magnet.llm.client import Completion
from magnet.synthesis.answer_text import answer_body, labelled, leading_word, loose_json, loose_values, strip_label
from magnet.tools.calls import FunctionCall
from magnet.tools.executor import type_problem

if TYPE_CHECKING:
    from magnet.synthesis.steps import (
        DependencyInputs,
        LabelInputs,
        NestedInputs,
        SimulateInputs,
        TranslateInputs,
        TurnJudgeInputs,
    )

# StableToolBench's (RapidAPI's) categories, which the paper cleaned to 49; "misc" is also allowed.
CATEGORIES = (
    "Advertising",
    "Artificial_Intelligence_Machine_Learning",
    "Business",
    "Business_Software",
    "Commerce",
    "Communication",
    "Cryptography",
    "Cybersecurity",
    "Data",
    "Database",
    "Devices",
    "eCommerce",
    "Education",
    "Email",
    "Energy",
    "Entertainment",
    "Events",
    "Finance",
    "Financial",
    "Food",
    "Gaming",
    "Health_and_Fitness",
    "Jobs",
    "Location",
    "Logistics",
    "Mapping",
    "Media",
    "Medical",
    "Monitoring",
    "Movies",
    "Music",
    "News_Media",
    "Other",
    "Payments",
    "Reward",
    "Science",
    "Search",
    "SMS",
    "Social",
    "Sports",
    "Storage",
    "Text_Analysis",
    "Tools",
    "Transportation",
    "Translation",
    "Travel",
    "Video_Images",
    "Visual_Recognition",
    "Weather",
)
ERROR_TYPES = (
    "nested_call_missing",
    "short_dependency",
    "long_dependency",
    "wrong_summary",
    "missed_function_or_params",
)
MAX_PARALLEL_PER_FUNCTION = 3
# A simulated output nested deeper than this is a model stuck in a loop, not a response; a tool class longer than
# this is a sentence, not a class name.
MAX_JSON_DEPTH = 64
MAX_TOOL_CLASS = 100


class AnswerError(MagnetError):
    """An answer that does not fit the step's format; the message is shown to the model on the retry."""


@dataclass(frozen=True)
class Label:
    """A category (one of ``CATEGORIES`` or ``misc``) and a free-text tool class."""

    category: str
    tool_class: str


@dataclass(frozen=True)
class Related:
    """The dependency judge's answer: the related candidates, and the names it gave that are not candidates
    (dropped; ``LLMJudge`` keeps them in ``dropped`` and ``build_graph`` warns with their count)."""

    names: tuple[str, ...]
    dropped: tuple[str, ...] = ()


@dataclass(frozen=True)
class Verdict:
    """A yes/no answer with the judge's reason."""

    yes: bool
    reason: str


@dataclass(frozen=True)
class TurnVerdict:
    """Whether the student's turn is right; if not, the paper's error type and a reason."""

    correct: bool
    error_type: str | None
    reason: str


def answer_text(completion: Completion) -> str:
    """The answer's text (``""`` for none); text that cannot be written as UTF-8 (a lone surrogate) is refused."""
    text = completion.text
    if text is None:
        return ""
    if not isinstance(text, str):
        raise AnswerError(f"expected a text answer, got {type(text).__name__}")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise AnswerError(
            f"the answer has an invalid character (a lone surrogate) at position {error.start}; write plain text"
        ) from None
    return text


def _json_type(value: Any) -> str:
    """JSON's name for the type of a parsed value (``null``, ``boolean``, ``number``, ``string``, ...)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return {str: "string", list: "array", dict: "object"}.get(type(value), type(value).__name__)


def _brief(value: Any, limit: int = 60) -> str:
    """A short repr of part of an answer, for an error message (a deeply nested one is not printed)."""
    try:
        text = repr(value)
    except RecursionError:
        return f"a deeply nested {type(value).__name__}"
    return text if len(text) <= limit else text[:limit] + "..."


def json_problem(value: Any, where: str = "output") -> str | None:
    """Why a parsed JSON value cannot be kept: nested deeper than ``MAX_JSON_DEPTH``, a non-finite number, or a
    string that is not valid Unicode. Walked without recursion, since the value may be deep."""
    stack = [(value, where, 0)]
    while stack:
        item, path, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            return f"{where} is nested more than {MAX_JSON_DEPTH} levels deep"
        if isinstance(item, float) and not math.isfinite(item):
            return f"{path}: {item} is not a finite number"
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return f"{path}: a string with an invalid character (a lone surrogate)"
        elif isinstance(item, dict):
            for key, child in item.items():
                stack.append((key, f"{path} (a key)", depth + 1))
                stack.append((child, f"{path}.{key}", depth + 1))
        elif isinstance(item, list):
            stack.extend((child, f"{path}[{index}]", depth + 1) for index, child in enumerate(item))
    return None


# -- labels -----------------------------------------------------------------------------------------------------------


def _category_key(text: str) -> str:
    """A category name reduced to letters and digits (``Health & Fitness``, ``health_and_fitness`` alike)."""
    return re.sub(r"[^a-z0-9]", "", text.lower().replace("&", "and"))


KNOWN_CATEGORIES = {_category_key(name): name for name in (*CATEGORIES, "misc")}


def _table_cell(name: str, text: str) -> str | None:
    """The value beside ``name`` in a Markdown table row (``| Category | Weather |``)."""
    pattern = r"^\|[ \t*_`]*" + r"[ _-]?".join(name.split()) + r"[ \t*_`]*\|[ \t]*(.+?)[ \t]*\|"
    match = re.search(pattern, text, re.IGNORECASE | re.MULTILINE)
    return match.group(1).strip(" *_`") if match else None


def parse_label(completion: Completion, inputs: LabelInputs) -> Label:
    """``Category: X`` / ``Tool class: Y`` (or a JSON object with those keys); X must be a known category or
    ``misc`` (any case, spaces for underscores, a parenthesised remark after it), Y a short class name."""
    text = answer_body(answer_text(completion))
    category = labelled(("category",), text) or _table_cell("category", text)
    tool_class = labelled(("tool class",), text) or _table_cell("tool class", text) or labelled(("class",), text)
    if category is None or tool_class is None:
        found = [value for value in loose_values(text) if isinstance(value, dict)]
        if found:
            keys = {re.sub(r"[^a-z]", "", str(key).lower()): value for key, value in found[0].items()}
            category = category or str(keys.get("category") or "") or None
            tool_class = tool_class or str(keys.get("toolclass") or keys.get("class") or "") or None
    if not category or not tool_class:
        raise AnswerError("answer with two lines, 'Category: <category>' and 'Tool class: <tool class>'")
    # "Weather (forecasts)", "Finance — it moves money", "Location, Tool class: ...": the name comes first.
    name = re.split(r"\s+[—–-]\s+|[,;|]\s*|\s*\(", category, maxsplit=1)[0].strip(" *_`\"'“”.")
    if _category_key(name) not in KNOWN_CATEGORIES:
        raise AnswerError(f"{name[:60]!r} is not in the category list (or misc)")
    tool_class = re.split(r"\s*[;|,]\s*(?=[\w ]{1,20}:)", tool_class)[0].strip(" *_`\"'“”.")  # "X; Class: y"
    if len(tool_class) > MAX_TOOL_CLASS:
        raise AnswerError(f"the tool class is {len(tool_class)} characters; give a short name (a few words)")
    return Label(KNOWN_CATEGORIES[_category_key(name)], tool_class)


# -- the dependency judge ---------------------------------------------------------------------------------------------


def _related_name(item: Any) -> str | None:
    """A candidate name from one item of a dependency answer: a name, or an object with a ``name`` (``None``
    when the object says ``"related": false``); a ``ValueError`` for anything else."""
    if isinstance(item, str):
        return item.strip()
    if isinstance(item, dict):
        name = next((item[key] for key in ("name", "function", "candidate") if isinstance(item.get(key), str)), None)
        if name is not None:
            related = item.get("related", True)
            if not isinstance(related, bool):
                raise ValueError(f'"related" must be true or false, got {_brief(related)}')
            return name if related else None
    raise ValueError(f'{_brief(item)} is neither a name nor an object with a "name"')


# What models write in a list for "nothing" (["none"]): not a name to drop and count.
PLACEHOLDERS = ("", "none", "n/a", "null", "nothing", "-")


def _target_entry(value: Any, target: str) -> Any:
    """The related list for ``target`` in one decoded value: ``{target: [...]}``, or an object (or a list of
    objects) ``{"function": target, "dependencies": [...]}``; ``None`` when the value holds no answer for it."""
    if isinstance(value, dict):
        if target in value:
            return value[target]
        keys = [key for key in value if key in ("related", "dependencies", "related_functions", "related_candidates")]
        if len(value) == 1 and keys:  # {"related": [...]}: the target left implicit
            return value[keys[0]]
        if value.get("function", value.get("name", value.get("target"))) == target:
            return next(
                (value[key] for key in ("dependencies", "related", "candidates", "followers") if key in value), None
            )
    if isinstance(value, list) and value and all(isinstance(item, dict) for item in value):
        for item in value:
            entry = _target_entry(item, target)
            if entry is not None:
                return entry
    return None


def parse_dependencies(completion: Completion, inputs: DependencyInputs) -> Related:
    """``{"target": [candidates]}``, in JSON or Python literals, amid prose or in a fence.

    Also accepted: objects with a ``name`` instead of names (one with ``"related": false`` is left out), a list of
    ``{"function": ..., "dependencies": [...]}`` objects (the target's counts), and, when it is the whole answer, a
    bare list. Inside prose only an answer keyed by the target counts (a bare list there is as likely the
    candidates repeated). The target among its own followers is left out; a name that is not a candidate is
    dropped and reported in ``Related.dropped`` (a placeholder such as ``"none"`` is nothing).
    """
    target = inputs.target.name
    expected = f'answer {{"{target}": ["candidate_name", ...]}} with the related candidates\' names ([] if none)'
    text = answer_text(completion)
    body = answer_body(text)
    try:
        values, problem = [loose_json(body)], ""
    except ValueError as error:  # prose around the JSON, or no JSON at all
        values, problem = loose_values(text), str(error).replace("JSON value", "JSON object")
    # The last answer keyed by the target wins ("at first I thought {...}, but on reflection {...}").
    related = next((e for e in (_target_entry(v, target) for v in reversed(values)) if e is not None), None)
    if related is None:
        whole = values[0] if not problem else None  # a bare list counts only as the whole answer
        if isinstance(whole, list) and not any(isinstance(item, dict) and "dependencies" in item for item in whole):
            related = whole
        elif isinstance(whole, dict):
            raise AnswerError(f"the object has no key {target!r} (keys: {list(whole)[:5]}); {expected}")
        elif not problem:
            raise AnswerError(f"got a JSON {_json_type(whole)}, not an object; {expected}")
        else:
            raise AnswerError(f"{problem}; {expected}")
    if isinstance(related, dict):  # {"g": true, "h": "takes the id", "k": "no"}: the keys, unless said no
        related = [name for name, why in related.items() if not _says_no(why)]
    if not isinstance(related, list):
        raise AnswerError(f"the value of {target!r} is a JSON {_json_type(related)}, not a list; {expected}")
    names, bad = [], []
    for item in related:
        try:
            name = _related_name(item)
        except ValueError as error:
            bad.append(str(error))
            continue
        if name is not None:
            names.append(name)
    if bad:
        raise AnswerError(f"{'; '.join(bad[:3])}; {expected}")
    names = [name for name in names if name.strip().lower() not in PLACEHOLDERS]
    candidates = {spec.name for spec in inputs.candidates if spec.name != target}
    resolved = [(name, _candidate_name(name, candidates | {target})) for name in names]
    kept = tuple(dict.fromkeys(found for _, found in resolved if found in candidates))
    dropped = tuple(dict.fromkeys(name[:60] for name, found in resolved if found is None))
    if dropped and not kept:  # every name wrong: the answer is no judgement, not "nothing related"
        raise AnswerError(f"{list(dropped)[:10]} are not among the candidates; {expected}")
    return Related(kept, dropped)


def _says_no(value: Any) -> bool:
    """Whether a value beside a candidate's name says it is not related (``false``, ``"no"``, ``"not related"``)."""
    if value is None or value is False:
        return True
    return isinstance(value, str) and re.match(r"\s*(?:no|not|false|unrelated|none)\b", value, re.I) is not None


def _candidate_name(name: str, known: set[str]) -> str | None:
    """The function a name given by the judge means: as written, or without backticks, ``()``, a namespace, a
    remark in parentheses, or another case; ``None`` when it is none of ``known``."""
    cleaned = re.sub(r"\s*\(.*\)\s*$", "", name.strip().strip("`'\"*")).strip().rsplit(".", 1)[-1]
    for candidate in (name, cleaned):
        if candidate in known:
            return candidate
    lowered = {item.lower(): item for item in known}
    return lowered.get(cleaned.lower())


# -- yes/no judges ----------------------------------------------------------------------------------------------------


def _yes_no(text: str) -> tuple[bool, str]:
    """``(yes, the rest)`` from an answer whose last ``Answer:``/``Verdict:`` label says yes or no, or that starts
    with a yes or no standing alone (after reasoning, emphasis), or says "the answer is yes", or is a JSON object
    with a ``verdict``. A label wins over a first word: "No problem! ... Answer: yes" is a yes."""
    body = answer_body(text)
    pattern = _label_line_pattern()
    labels = list(pattern.finditer(body))
    if labels:
        found = leading_word(labels[-1].group(1), ("yes", "no"))
        if found is not None:
            rest = f"{found[1]}\n{body[labels[-1].end() :]}".strip()
            return found[0] == "yes", rest
    found = leading_word(body, ("yes", "no"))
    if found is not None:
        return found[0] == "yes", found[1]
    stated = re.search(r"\b(?:answer|verdict) is\W{0,3}(yes|no)\b[\W]*", body, re.IGNORECASE)
    if stated:
        return stated.group(1).lower() == "yes", body[stated.end() :].strip()
    for value in loose_values(body):  # {"verdict": "no", "error_type": ..., "reason": ...}
        word = value.get("verdict", value.get("answer")) if isinstance(value, dict) else None
        if isinstance(word, str) and word.strip().lower() in ("yes", "no"):
            details = "\n".join(f"{key.replace('_', ' ')}: {item}" for key, item in value.items())
            return word.strip().lower() == "yes", details
    raise AnswerError("start the answer with 'yes' or 'no'")


def _label_line_pattern() -> re.Pattern[str]:
    """An ``Answer:``/``Verdict:`` label at the start of a line, Markdown allowed, and the rest of its line."""
    return re.compile(
        r"^[ \t>#*_-]*(?:final answer|answer|verdict|nested)[ \t]*[*_`]*[ \t]*:[*_`]*[ \t]*(.*)$",
        re.IGNORECASE | re.MULTILINE,
    )


def parse_verdict(completion: Completion, inputs: NestedInputs) -> Verdict:
    """``yes`` or ``no`` first (``Yes, because ...``, ``**No**``, ``Answer: yes``), the reason after it."""
    yes, rest = _yes_no(answer_text(completion))
    reason = labelled(("reason",), rest) or rest
    reason = re.sub(r"^(?:because|since|as)\b[\s,:]*", "", reason.strip(), flags=re.IGNORECASE)
    return Verdict(yes, " ".join(reason.split()))


def _error_type(value: str) -> str | None:
    """One of ``ERROR_TYPES`` from what a judge wrote after ``Error type:``: backticks, emphasis, spaces or
    hyphens for underscores, a number (its place in the prompt's list) before or instead of the name."""
    cleaned = value.strip(" *_`\"'“”.").lower()
    number = re.match(r"^\(?([1-9])[.):]?\s*", cleaned)
    words = re.sub(r"[\s-]+", "_", cleaned[number.end() :] if number else cleaned).strip("_`*")
    for name in ERROR_TYPES:
        if words.startswith(name) or words.replace("`", "").startswith(name):
            return name
    if number and not words and int(number.group(1)) <= len(ERROR_TYPES):
        return ERROR_TYPES[int(number.group(1)) - 1]
    close = difflib.get_close_matches(words.split(".")[0][:40], ERROR_TYPES, n=1, cutoff=0.85)  # a typo
    return close[0] if close else None


def parse_turn_verdict(completion: Completion, inputs: TurnJudgeInputs) -> TurnVerdict:
    """``yes``, or ``no`` with ``Error type:`` (one of ``ERROR_TYPES``) and ``Reason:``, on lines of their own or
    on one line (``No - Error type: long dependency``)."""
    yes, rest = _yes_no(answer_text(completion))
    if yes:
        return TurnVerdict(True, None, "")
    value = labelled(("error type",), rest)
    error_type = _error_type(value) if value else None
    if error_type is None:  # no label: a type named once in the reason, and not denied, is the answer
        named = {
            name
            for name in ERROR_TYPES
            for match in re.finditer(name.replace("_", r"[ _-]"), rest, re.IGNORECASE)
            if not re.search(r"\b(?:not|n't|rather than|instead of|nor)\b[^.]{0,20}$", rest[: match.start()], re.I)
        }
        error_type = named.pop() if len(named) == 1 else None
    if error_type is None:
        raise AnswerError(f"after 'no', give 'Error type: <one of {', '.join(ERROR_TYPES)}>'")
    reason = labelled(("reason",), rest) or ""
    return TurnVerdict(False, error_type, reason)


# -- translation ------------------------------------------------------------------------------------------------------

QUERY_LABELS = ("user message", "user's message", "user", "message", "query", "next user message", "request")
_NOTE = re.compile(
    r"\s*(?:[*_]*\(\s*(?:note|nb|n\.b\.)\s*[:.-](.*?)\)[*_]*|\n\s*[*_]*(?:note|nb)[*_]*\s*:(.*))\s*\Z", re.I | re.S
)
# A note is the model's about the message ("the ids come from earlier outputs"), not the user's ("in Celsius").
_ABOUT_THE_MESSAGE = re.compile(
    r"\b(?:message|function|functions|parameter|assistant|user|round|output|outputs|indirectly|earlier|previous|"
    r"request|refers?|referr\w*|motivat\w*|api)\b",
    re.I,
)
# A model that refused to play the user (not a user who says sorry), or wrote the assistant's reply as well.
_REFUSAL = re.compile(
    r"^(?:(?:I'?m|I am)?\s*sorry,?\s*(?:but\s+)?I\s+(?:can(?:no|')t|can not|won't|will not|am unable|'m unable)"
    r"|I\s+(?:can(?:no|')t|won't|will not)\s+(?:help|assist|write|do|comply|provide|create|generate)|As an AI)\b",
    re.I,
)
_REPLY = re.compile(r"\n\s*[*_]*(?:assistant|AI)[*_]*\s*:.*\Z", re.I | re.S)
_QUOTES = (('"', '"'), ("“", "”"), ("'", "'"), ("‘", "’"))
# A first paragraph that introduces the message ("Here is the user's next message:", "**User's next message:**").
_PREAMBLE = re.compile(r"\b(?:message|user|here(?:'s| is)|query|request)\b[^\n]*:[*_ ]*\Z", re.I)


def _unquoted(text: str) -> str:
    for _ in range(3):
        text = text.strip()
        pair = next((p for p in _QUOTES if len(text) > 1 and text.startswith(p[0]) and text.endswith(p[1])), None)
        if pair is None:
            return text
        text = text[len(pair[0]) : -len(pair[1])]
    return text.strip()


def _leaked(name: str, text: str) -> bool:
    """Whether a query names a function: an identifier-like name (``get_balance``, ``Bank.transfer``) anywhere,
    a plain-word name only when written as code (``transfer()``, `` `transfer` ``), since "transfer" is English."""
    escaped = re.escape(name)
    if not re.fullmatch(r"[a-z]+", name):
        return re.search(rf"(?<![\w.]){escaped}(?![\w])", text) is not None
    return re.search(rf"`{escaped}`|(?<![\w.]){escaped}\(", text, re.IGNORECASE) is not None


def parse_query(completion: Completion, inputs: TranslateInputs) -> str:
    """The user's message, without a label (``User:``, ``**User message:**``), a preamble line ending in ``:``,
    wrapping quotes or a trailing ``(Note: ...)``; non-empty, and naming none of the round's functions."""
    text = answer_body(answer_text(completion))
    text = strip_label(QUERY_LABELS, text)
    text = re.split(r"\n[ \t]*(?:-{3,}|\*{3,}|_{3,})[ \t]*(?:\n|\Z)", text)[0]  # a footer below a rule
    paragraphs = [part for part in re.split(r"\n\s*\n", text) if part.strip()]
    if len(paragraphs) > 1 and _PREAMBLE.search(paragraphs[0].strip()):
        text = strip_label(QUERY_LABELS, "\n\n".join(paragraphs[1:]))
        paragraphs = paragraphs[1:]
    if len(paragraphs) > 1 and _unquoted(paragraphs[0]) != paragraphs[0].strip():
        text = paragraphs[0]  # the message quoted whole, then the model explaining it
    lines = text.strip().split("\n")
    if all(line.startswith(">") for line in lines):  # the message as a block quote
        text = "\n".join(line[1:].strip() for line in lines)
    text = _unquoted(_REPLY.sub("", text))
    note = _NOTE.search(text)
    if note and _ABOUT_THE_MESSAGE.search(note.group(1) or note.group(2) or ""):
        text = text[: note.start()]
    text = _unquoted(text)
    if not text:
        raise AnswerError("the message is empty")
    if _REFUSAL.match(text):
        raise AnswerError("that is a refusal, not the user's message; write what the user says")
    named = [spec.name for spec in inputs.functions if _leaked(spec.name, text)]
    if named:
        raise AnswerError(f"the message names the function(s) {named}; describe the request without them")
    return text


def calls_in_text(text: str, specs: Mapping[str, Any]) -> list[FunctionCall]:
    """The calls written in ``text``, in order: a JSON call object or list of them, or Python-style calls of the
    functions in ``specs`` that begin its lines (``scan_calls``: in a list, one per line, in backticks, followed
    by a period or a remark; positional arguments bound in the order of the function's parameters). A call of one
    of them that the literal-only call parser refuses is a ``CallParseError``."""
    body = answer_body(text)
    json_first = body.startswith("{") or body.startswith("[{")
    named = re.search(r"[\"']name[\"']\s*:", text) is not None  # no call object without a "name" key
    json_calls = (
        next((calls for value in loose_values(text) if (calls := json_calls_of(value))), None) if named else None
    )
    if json_first and json_calls:
        return json_calls
    order = {name: list(spec.properties) for name, spec in specs.items()}
    calls, _rest = scan_calls(text, set(specs), parameter_order=order)
    if calls:
        return calls
    if json_calls:
        return json_calls
    # Calls of functions that are not candidates: found so that the answer can be told which they are.
    return [call for call in _loose_calls(text) if call.name not in specs]


def _loose_calls(text: str) -> list[FunctionCall]:
    try:
        return decode_text_calls(text)[0]
    except CallParseError:
        return []


def _first_block(text: str) -> str:
    """``text`` up to its first blank line outside a code fence."""
    lines, fenced = [], False
    for line in text.split("\n"):
        if line.strip().startswith("```"):
            fenced = not fenced
        elif not line.strip() and not fenced and lines:
            break
        lines.append(line)
    return "\n".join(lines)


def parse_forth(completion: Completion, inputs: TranslateInputs) -> tuple[FunctionCall, ...] | None:
    """The calls after the (last) ``Answer:`` label, ``f(a=1), g(b=2)`` in any of the forms models write them
    (``None`` for ``FINISH``); they must be calls of the candidate functions with their required parameters."""
    text = strip_reasoning(answer_text(completion))
    answer = labelled(("answer", "final answer", "calls", "function calls"), text, rest=True)
    unlabelled = answer is None
    # The label's block only: a remark a blank line below ("get_forecast(...) could follow") is no call.
    answer = answer_body(text) if answer is None else _first_block(answer)
    if re.match(r"^[\s*_`\"'\[]*FINISH\b", answer) or answer.strip(" *_`'\".").lower() == "finish":
        return None
    names = {spec.name: spec for spec in inputs.functions}
    try:
        calls = calls_in_text(answer, names)
    except CallParseError as error:
        raise AnswerError(str(error)) from None
    if not calls and unlabelled:
        raise AnswerError("end with a line 'Answer: f(a=\"x\"), g(...)' (or 'Answer: FINISH')")
    if not calls:
        raise AnswerError("no calls in the answer; write 'Answer: FINISH' if none can be made")
    problems = [f"{call.name} is not a candidate function" for call in calls if call.name not in names]
    for name in names:
        count = sum(call.name == name for call in calls)
        if count > MAX_PARALLEL_PER_FUNCTION:
            problems.append(f"{name} is called {count} times; at most {MAX_PARALLEL_PER_FUNCTION}")
    for call in calls:
        spec = names.get(call.name)
        if spec is None:
            continue
        missing = [p for p in spec.required if p not in call.arguments]
        unknown = [p for p in call.arguments if p not in spec.properties]
        if missing:
            problems.append(f"{call.name} lacks required {missing}")
        if unknown:
            problems.append(f"{call.name} has no parameter(s) {unknown}")
    if problems:
        raise AnswerError("; ".join(problems))
    return tuple(calls)


# -- simulated outputs ------------------------------------------------------------------------------------------------


def _schema_problem(value: Any, schema: Mapping[str, Any]) -> str | None:
    problem = json_problem(value) or type_problem(value, schema, "output")
    if problem is None and isinstance(value, dict) and isinstance(schema.get("required"), list):
        missing = [key for key in schema["required"] if key not in value]
        if missing:
            problem = f"output lacks required {missing}"
    return problem


def parse_simulated(completion: Completion, inputs: SimulateInputs) -> Any:
    """One JSON value (or Python literal) that fits the function's response schema (any JSON object when it has
    none), with finite numbers, valid Unicode and at most ``MAX_JSON_DEPTH`` levels of nesting; prose or a note
    around it is ignored."""
    text = answer_text(completion)
    schema = inputs.function.response or {"type": "object"}
    try:
        values = [loose_json(answer_body(text))]
    except ValueError as error:
        values = loose_values(text)
        if not values:
            raise AnswerError(str(error)) from None
    problems = []
    for value in values:
        problem = _schema_problem(value, schema)
        if problem is None:
            return value
        problems.append(problem)
    first = problems[0]
    raise AnswerError(first if "nested" in first or "finite" in first else f"does not fit the response schema: {first}")
