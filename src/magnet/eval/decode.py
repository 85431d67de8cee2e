"""Model output -> calls, read the way BFCL's prompting handlers read it, without evaluating anything.

BFCL decodes a prompting model's answer with ``ast`` and then ``eval``s parts of it (operators, lambdas) and,
when executing, the whole call text. Magnet never hands model text to ``eval``: Python answers go through
``magnet.llm.answers.decode_bfcl`` (BFCL's own clean-up, then ``parse_calls(lenient=True)``), which yields
literal values only; the synthesis reads a student's answers with it too. The calls are then written back as
canonical literal text (``format_call``) before BFCL's executor or checker sees them. Java and JavaScript
answers go through BFCL's own tree-sitter parsers, which only slice text. Outputs that BFCL would have
evaluated (``a=1+2``) are a decode error here, which BFCL treats like any other undecodable answer.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from typing import Any

from magnet.errors import CallParseError
from magnet.llm.answers import bfcl_wrap, decode_bfcl
from magnet.tools.calls import FunctionCall, format_call

LANGUAGES = ("Python", "Java", "JavaScript")
UNKNOWN_FUNCTION = "_magnet_unknown_function"


def decode_prompting(text: str, language: str = "Python") -> list[FunctionCall]:
    """The calls in a prompting-mode answer, or ``CallParseError`` when BFCL would not decode it either.

    Python: like BFCL's ``ast_parse`` (which strips ``[``, ``]`` and ``'`` from both ends and parses the rest),
    then literal values only (bare names read as strings, as BFCL reads them). Java and JavaScript: BFCL's
    tree-sitter parsers (values stay source strings, as BFCL's checker expects).
    """
    if not isinstance(text, str):
        raise CallParseError(f"expected the model's answer as text, got {type(text).__name__}")
    if language == "Python":
        return decode_bfcl(text)  # shared with the synthesis student, who writes the same answers
    wrapped = bfcl_wrap(text)
    if language not in LANGUAGES:
        raise CallParseError(f"unknown language {language!r}; choose from {LANGUAGES}")
    try:
        if language == "Java":
            from bfcl_eval.model_handler.parser.java_parser import parse_java_function_call as parse
        else:
            from bfcl_eval.model_handler.parser.js_parser import parse_javascript_function_call as parse
    except ImportError as error:
        raise CallParseError(
            f"{language} answers need BFCL's tree-sitter parsers: run `make install` (or pip install --no-deps "
            f"tree_sitter==0.21.3 tree-sitter-java==0.21.0 tree-sitter-javascript==0.21.4) ({error})"
        ) from None
    try:
        decoded = parse(wrapped[1:-1])
    except Exception as error:  # tree-sitter reports malformed code in several ways
        raise CallParseError(f"not a {language} call: {error}") from None
    return from_ast_form(decoded)


def from_ast_form(decoded: Any) -> list[FunctionCall]:
    """BFCL's decoded form ``[{name: {param: value}}]`` as calls."""
    if not isinstance(decoded, list):
        raise CallParseError(f"expected a list of calls, got {type(decoded).__name__}")
    calls = []
    for index, item in enumerate(decoded):
        if not isinstance(item, dict) or len(item) != 1:
            raise CallParseError(f"call #{index}: expected {{name: arguments}}, got {item!r:.80}")
        ((name, arguments),) = item.items()
        if not isinstance(arguments, dict):
            raise CallParseError(f"call #{index} ({name}): arguments are not a mapping")
        calls.append(FunctionCall(str(name), dict(arguments)))
    return calls


def to_ast_form(calls: Iterable[FunctionCall]) -> list[dict[str, dict[str, Any]]]:
    """Calls in the form BFCL's AST checker takes: ``[{name: {param: value}}]``."""
    return [{call.name: dict(call.arguments)} for call in calls]


def execution_strings(calls: Sequence[FunctionCall], callable_names: Collection[str]) -> list[str]:
    """Calls as the text BFCL's executor runs, one string per call.

    A call is written as literal text (``format_call``) only when its name is one BFCL's executor would bind to
    a method of the entry's classes; any other name (a builtin such as ``open``, a dotted path, a typo) becomes
    a call of an undefined name, which BFCL's executor reports as an error without running anything, just as it
    reports an unknown function. Arguments that have no literal text make the call an unknown-function call too.
    """
    strings = []
    for call in calls:
        if call.name in callable_names:
            try:
                strings.append(format_call(call))
                continue
            except (CallParseError, ValueError, RecursionError):  # ValueError: an integer of too many digits
                pass
        strings.append(f"{UNKNOWN_FUNCTION}()")
    return strings


def unknown_function_result(call: FunctionCall) -> str:
    """What BFCL's executor shows the model for a call of a name it cannot bind (a ``NameError``)."""
    root = call.name.split(".")[0]
    return f"Error during execution: name '{root}' is not defined"
