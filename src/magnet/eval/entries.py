"""BFCL's test entries as Magnet sees them: categories, single-turn entries, and the conversation row (messages,
tools, ``meta``) each entry starts from, in the form ``magnet.data.render`` renders for training too.

Function docs are listed to the model exactly as BFCL lists them (``meta.bfcl_docs``: BFCL's docs after its own
language pre-processing); ``tools`` (for the ``native`` format) are the same docs as JSON Schema.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from magnet.errors import CallParseError, MagnetError, SpecError, ToolkitError
from magnet.eval.decode import decode_prompting
from magnet.files import read_jsonl
from magnet.tools.bfcl import (
    BFCL_CLASSES,
    MULTI_TURN_CATEGORIES,
    bfcl_data_dir,
    bfcl_toolkit_class,
    load_multi_turn_entries,
    resolve_version,
)
from magnet.tools.calls import FunctionCall, parse_calls
from magnet.tools.spec import bfcl_schema_to_json_schema

MULTI_TURN = tuple(f"multi_turn_{name}" for name in MULTI_TURN_CATEGORIES)
NON_LIVE = ("simple", "multiple", "parallel", "parallel_multiple", "java", "javascript", "irrelevance")
LIVE = ("live_simple", "live_multiple", "live_parallel", "live_parallel_multiple", "live_irrelevance", "live_relevance")
SINGLE_TURN = NON_LIVE + LIVE
ALL_CATEGORIES = SINGLE_TURN + MULTI_TURN
RELEVANCE_ONLY = ("irrelevance", "live_irrelevance", "live_relevance")
# BFCL-v4 files renamed the non-live simple categories (bfcl-eval >= 2025.8.25; not installed here).
V4_FILE_NAMES = {"simple": "simple_python", "java": "simple_java", "javascript": "simple_javascript"}
COLLECTIONS: dict[str, tuple[str, ...]] = {
    "all": ALL_CATEGORIES,
    "multi_turn": MULTI_TURN,
    "single_turn": SINGLE_TURN,
    "live": LIVE,
    "non_live": NON_LIVE,
    "python": tuple(name for name in SINGLE_TURN if name not in ("java", "javascript")),
}


def resolve_categories(names: Iterable[str]) -> list[str]:
    """Category names and BFCL's collection names (``all``, ``multi_turn``, ``single_turn``, ``live``,
    ``non_live``, ``python``), expanded, deduplicated, in BFCL's order. Short multi-turn names (``base``) work."""
    wanted: set[str] = set()
    for name in names:
        name = name.strip()
        if name in COLLECTIONS:
            wanted.update(COLLECTIONS[name])
        elif name in ALL_CATEGORIES:
            wanted.add(name)
        elif f"multi_turn_{name}" in MULTI_TURN:
            wanted.add(f"multi_turn_{name}")
        else:
            raise MagnetError(
                f"unknown BFCL category {name!r}; choose from {list(COLLECTIONS)} or {list(ALL_CATEGORIES)}"
            )
    return [name for name in ALL_CATEGORIES if name in wanted]


def language_of(category: str) -> str:
    """The language BFCL decodes and checks a category's answers in."""
    return {"java": "Java", "javascript": "JavaScript"}.get(category, "Python")


@dataclass(frozen=True)
class SingleTurnEntry:
    """One single-turn BFCL entry: the user's messages, the function docs offered, and the possible answers
    (``None`` for the relevance categories, which BFCL scores by whether any call was made)."""

    id: str
    category: str
    messages: list[dict[str, Any]]
    functions: list[dict[str, Any]]
    possible_answer: list[dict[str, Any]] | None

    @property
    def language(self) -> str:
        return language_of(self.category)


def load_single_turn_entries(category: str, *, version: str | None = None) -> list[SingleTurnEntry]:
    """The entries of one single-turn category, in BFCL's file order, with their possible answers."""
    if category not in SINGLE_TURN:
        raise MagnetError(f"unknown single-turn category {category!r}; choose from {list(SINGLE_TURN)}")
    version = resolve_version(version)
    data = bfcl_data_dir()
    name = f"BFCL_{version}_{V4_FILE_NAMES.get(category, category) if version == 'v4' else category}.json"
    if not (data / name).is_file():
        raise ToolkitError(f"{data / name}: not in the installed bfcl-eval")
    answers: dict[str, Any] = {}
    if category not in RELEVANCE_ONLY:
        answers = {
            row["id"]: row["ground_truth"]
            for row in read_jsonl(data / "possible_answer" / name, "answers", ToolkitError)
        }
    entries = []
    for row in read_jsonl(data / name, "questions", ToolkitError):
        if category not in RELEVANCE_ONLY and row["id"] not in answers:
            raise ToolkitError(f"{data / 'possible_answer' / name}: no possible answer for {row['id']}")
        entries.append(
            SingleTurnEntry(
                id=row["id"],
                category=category,
                messages=[dict(message) for message in row["question"][0]],
                functions=row["function"],
                possible_answer=answers.get(row["id"]),
            )
        )
    return entries


def listed_docs(functions: list[dict[str, Any]], category: str) -> list[dict[str, Any]]:
    """The docs as BFCL lists them in its prompt for ``category`` (its language hint and, for Java and
    JavaScript, its type rewriting), by BFCL's own ``func_doc_language_specific_pre_processing``."""
    try:
        from bfcl_eval.model_handler.utils import func_doc_language_specific_pre_processing
    except ImportError as error:
        raise ToolkitError(
            f"BFCL's prompt helpers do not import ({error}); run `make install` (tenacity and the tree-sitter "
            "parsers beside bfcl-eval)"
        ) from None
    return func_doc_language_specific_pre_processing(copy.deepcopy(functions), category)


def doc_to_tool(doc: Mapping[str, Any], where: str) -> dict[str, Any]:
    """A BFCL func doc as an OpenAI function tool (JSON Schema types). Schemas BFCL ships with loose ends (a
    ``required`` name missing from ``properties``) are kept as they are: this is evaluation data, not training."""
    parameters = doc.get("parameters") or {"type": "dict", "properties": {}}
    try:
        schema = bfcl_schema_to_json_schema(copy.deepcopy(dict(parameters)), "$.parameters", where)
    except SpecError as error:
        raise ToolkitError(f"{where}: function {doc.get('name')!r}: {'; '.join(error.problems)}") from None
    return {
        "type": "function",
        "function": {"name": doc["name"], "description": doc.get("description", ""), "parameters": schema},
    }


def single_turn_row(entry: SingleTurnEntry) -> dict[str, Any]:
    """The conversation an answer to ``entry`` starts from."""
    docs = listed_docs(entry.functions, entry.category)
    return {
        "id": entry.id,
        "messages": entry.messages,
        "tools": [doc_to_tool(doc, entry.id) for doc in docs],
        "meta": {"bfcl_docs": {doc["name"]: doc for doc in docs}},
    }


@functools.cache
def _class_docs(class_name: str) -> tuple[dict[str, Any], ...]:
    """BFCL's raw func docs of one class, read once per process (callers copy before changing them)."""
    path = bfcl_data_dir() / "multi_turn_func_doc" / BFCL_CLASSES[class_name].doc_file
    return tuple(read_jsonl(path, "function docs", ToolkitError))


def multi_turn_row(entry: Any) -> dict[str, Any]:
    """The tools of a multi-turn entry (its classes' functions, held-out ones withheld until their turn), with
    no messages yet: the evaluation loop appends them turn by turn."""
    raw_docs = [doc for name in entry.involved_classes for doc in _class_docs(name)]
    held_out = {str(turn): list(names) for turn, names in (entry.missed_function or {}).items()}
    withheld = {name for names in held_out.values() for name in names}
    # BFCL adds its language hint to the docs offered from the start only; held-out docs are listed as shipped.
    offered = [doc for doc in raw_docs if doc["name"] not in withheld]
    docs = {doc["name"]: doc for doc in listed_docs(offered, entry.category)}
    docs.update({doc["name"]: copy.deepcopy(doc) for doc in raw_docs if doc["name"] in withheld})
    tools = {spec.name: spec.to_tool() for name in entry.involved_classes for spec in bfcl_toolkit_class(name).specs()}
    return {
        "id": entry.id,
        "messages": [],
        "tools": [tool for name, tool in tools.items() if name not in withheld],
        "meta": {
            "bfcl_docs": docs,
            "missing": {"tools": {turn: [tools[name] for name in names] for turn, names in held_out.items()}},
        },
    }


def multi_turn_entries(category: str, *, version: str | None = None) -> list[Any]:
    """The entries of one multi-turn category (``multi_turn_base`` ...), with their ground truth."""
    return load_multi_turn_entries(category.removeprefix("multi_turn_"), version=version)


def expected_turn_calls(entry: Any, turn: int) -> tuple[FunctionCall, ...]:
    """A multi-turn entry's ground-truth calls for one turn, positional arguments bound to their names."""
    order: dict[str, list[str]] = {}
    for name in entry.involved_classes:
        order.update(bfcl_toolkit_class(name).parameter_order())
    calls = []
    for text in entry.ground_truth[turn]:
        calls.extend(parse_calls(text, parameter_order=order))
    return tuple(calls)


def _choose(options: Any) -> tuple[Any, bool]:
    """The first acceptable value of a possible-answer list; ``(None, False)`` when leaving the parameter out is
    acceptable (BFCL writes that as ``""`` among the options; a few answers list a parameter the doc lacks)."""
    options = options if isinstance(options, list) else [options]
    if not options or "" in options:
        return None, False
    return _concrete(options[0]), True


def _concrete(value: Any) -> Any:
    if isinstance(value, dict):
        chosen = {key: _choose(options) for key, options in value.items()}
        return {key: item for key, (item, keep) in chosen.items() if keep}
    if isinstance(value, list):
        return [_concrete(item) for item in value]
    return value


def expected_single_turn(entry: SingleTurnEntry) -> tuple[tuple[FunctionCall, ...], str | None]:
    """One answer the possible answers accept (the reference runner's), and its source text for Java and
    JavaScript, where values are source code rather than Python literals. Relevance entries: any call of the
    first function with its required parameters (BFCL checks only that a call was made); irrelevance: none."""
    if entry.category in ("irrelevance", "live_irrelevance"):
        return (), None
    if entry.possible_answer is None:
        doc = entry.functions[0]
        properties = (doc.get("parameters") or {}).get("properties") or {}
        required = (doc.get("parameters") or {}).get("required") or []
        placeholder = {"integer": 1, "float": 1.0, "number": 1.0, "boolean": True, "array": [], "dict": {}}
        arguments = {name: placeholder.get((properties.get(name) or {}).get("type"), "x") for name in required}
        return (FunctionCall(doc["name"], arguments),), None
    docs = {doc["name"]: doc for doc in entry.functions}
    calls = []
    for answer in entry.possible_answer:
        ((name, parameters),) = answer.items()
        required = set(((docs.get(name) or {}).get("parameters") or {}).get("required") or ())
        arguments = {}
        for parameter, options in parameters.items():
            options = options if isinstance(options, list) else [options]
            given = [option for option in options if option != ""]
            if given and (parameter in required or "" not in options):
                arguments[parameter] = _concrete(given[0])
            elif parameter in required:  # required, and the only answer is an empty string
                arguments[parameter] = ""
        calls.append(FunctionCall(name, arguments))
    if entry.language == "Python":
        return tuple(calls), None
    text = "[" + ", ".join(_source_call(call, docs.get(call.name) or {}, entry.language) for call in calls) + "]"
    try:  # native answers carry what BFCL's parser reads from the text: source strings, quotes stripped
        return tuple(decode_prompting(text, entry.language)), text
    except CallParseError:
        return tuple(calls), text


def _source_call(call: FunctionCall, doc: Mapping[str, Any], language: str) -> str:
    """A call in Java or JavaScript source, each value written for its parameter's BFCL type."""
    from magnet.eval.source import java_source, js_source

    properties = (doc.get("parameters") or {}).get("properties") or {}
    write = java_source if language == "Java" else js_source
    parts = []
    for name, value in call.arguments.items():
        schema = properties.get(name) or {}
        nested = (schema.get("items") or {}).get("type")
        parts.append(f"{name}={write(value, schema.get('type', 'any'), nested)}")
    return f"{call.name}({', '.join(parts)})"
