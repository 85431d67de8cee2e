"""LLM steps as data: a prompt template, typed inputs, and a parser of the answer into a typed result.

Each step of synthesis that asks a model something (labelling a function's category, judging dependencies and
nesting, back- and forth-translation, judging a student's turn, simulating a function's output) is a ``Step``:
its prompt is a text file under ``prompts/`` (the paper's rules, paraphrased), its inputs a dataclass, its
parser a function that turns the answer into a result or raises ``AnswerError`` saying what is wrong.
``run_step`` sends the prompt through any ``Teacher``; when the answer does not parse, the model is shown the
error and asked again, a bounded number of times, then the step fails with ``StepError``. The offline backend
(``magnet.synthesis.offline``) answers the same prompts in the same formats, so its answers go through the same
parsers.
"""

from __future__ import annotations

import json
import logging
import math
import re
import string
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any, Generic, TypeVar

from magnet.errors import CallParseError, MagnetError, StepError, TeacherError
from magnet.llm.client import Completion, Teacher
from magnet.tools.calls import FunctionCall, format_calls, parse_calls
from magnet.tools.executor import type_problem
from magnet.tools.spec import FunctionSpec

R = TypeVar("R")
logger = logging.getLogger(__name__)

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


def describe_function(spec: FunctionSpec) -> str:
    """A function as prompts show it: name, description, parameters (JSON Schema) and response schema."""
    return json.dumps(
        {"name": spec.name, "description": spec.description, "parameters": spec.parameters, "response": spec.response},
        ensure_ascii=False,
    )


@cache
def load_template(name: str) -> tuple[str, str]:
    """``(system, user)`` parts of ``prompts/<name>.txt`` (sections ``[system]`` and ``[user]``)."""
    text = resources.files("magnet.synthesis").joinpath("prompts", f"{name}.txt").read_text(encoding="utf-8")
    match = re.match(r"\s*\[system\]\n(.*?)\n\[user\]\n(.*)\Z", text, re.DOTALL)
    if not match:
        raise MagnetError(f"prompts/{name}.txt: expected a [system] section, then a [user] section")
    return match.group(1).strip(), match.group(2).strip()


# ---------------------------------------------------------------------------------------------------------------
# Inputs and results
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LabelInputs:
    """A function to label with a category and a tool class."""

    function: FunctionSpec


@dataclass(frozen=True)
class Label:
    """A category (one of ``CATEGORIES`` or ``misc``) and a free-text tool class."""

    category: str
    tool_class: str


@dataclass(frozen=True)
class DependencyInputs:
    """A target function and the candidates that may follow it."""

    target: FunctionSpec
    candidates: tuple[FunctionSpec, ...]


@dataclass(frozen=True)
class NestedInputs:
    """Two functions: is a parameter of ``second`` obtained from ``first``'s output?"""

    first: FunctionSpec
    second: FunctionSpec


@dataclass(frozen=True)
class Verdict:
    """A yes/no answer with the judge's reason."""

    yes: bool
    reason: str


@dataclass(frozen=True)
class TurnRecord:
    """One finished turn of an episode: the query, the calls made and their outputs (tool-message text)."""

    query: str
    calls: tuple[FunctionCall, ...] = ()
    outputs: tuple[str, ...] = ()


@dataclass(frozen=True)
class TranslateInputs:
    """What back- and forth-translation of one turn see.

    ``functions`` are this turn's functions; ``history`` the finished turns; ``split`` is ``""``, or for the turns
    around a Split: ``"miss_param"`` (leave out the value of the parameters in ``missing``), ``"supply_param"``
    (the next turn: give those values), ``"miss_func"`` (ask for what the withheld functions do);
    ``variant`` ``"parallel"`` asks for the same function with two or three argument sets. ``state`` is the
    environment state (values the offline backend may use); ``seed`` makes the offline backend's choices
    reproducible; ``query`` is the user message, for forth-translation.
    """

    functions: tuple[FunctionSpec, ...]
    history: tuple[TurnRecord, ...] = ()
    avoid: tuple[str, ...] = ()
    split: str = ""
    missing: tuple[str, ...] = ()
    variant: str = ""
    state: Mapping[str, Any] = field(default_factory=dict)
    seed: int = 0
    query: str = ""


@dataclass(frozen=True)
class TurnJudgeInputs:
    """A student's turn against the reference turn of the same query.

    ``reference_outputs`` are the outputs of the reference calls of this turn, ``earlier_outputs`` those of
    the turns before: a wrong value found there is a short or a long dependency error.
    """

    query: str
    reference_calls: tuple[FunctionCall, ...]
    reference_text: str
    candidate_calls: tuple[FunctionCall, ...]
    candidate_text: str
    specs: tuple[FunctionSpec, ...] = ()
    reference_outputs: tuple[str, ...] = ()
    earlier_outputs: tuple[str, ...] = ()


@dataclass(frozen=True)
class HintedTurnInputs:
    """Where an assistant stands within one turn of a hinted rollout (what the offline backend follows).

    ``pending_calls`` are the hinted calls not made yet; ``outputs`` the tool outputs seen since the query;
    ``split`` and ``missing`` describe a Split turn (the missing parameter or function names).
    """

    query: str
    pending_calls: tuple[FunctionCall, ...] = ()
    outputs: tuple[str, ...] = ()
    split: str = ""
    missing: tuple[str, ...] = ()


@dataclass(frozen=True)
class TurnVerdict:
    """Whether the student's turn is right; if not, the paper's error type and a reason."""

    correct: bool
    error_type: str | None
    reason: str


@dataclass(frozen=True)
class SimulateInputs:
    """A call to a spec-only function, with earlier answers of the same function as examples."""

    function: FunctionSpec
    call: FunctionCall
    examples: tuple[tuple[FunctionCall, Any], ...] = ()


# ---------------------------------------------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------------------------------------------


def _history_text(history: Sequence[TurnRecord]) -> str:
    lines = []
    for index, turn in enumerate(history):
        lines.append(f"Round {index}: user: {turn.query}")
        for call, output in zip(turn.calls, turn.outputs, strict=False):
            lines.append(f"  {call.to_text()} -> {output}")
    return "\n".join(lines) or "(none)"


def _last_round_text(history: Sequence[TurnRecord]) -> str:
    if not history or not history[-1].calls:
        return "(none)"
    last = history[-1]
    return "\n".join(f"{call.to_text()} -> {output}" for call, output in zip(last.calls, last.outputs, strict=False))


SPLIT_RULES = {
    "": "",
    "miss_param": "- This round is special: do NOT give the value for $missing, so that the assistant must ask "
    "for it; give everything else.",
    "supply_param": "- This round answers the assistant's question: give only the value for $missing that the "
    "last message left out, briefly.",
    "miss_func": "- This round is special: ask for something the listed functions would do; the assistant will find "
    "it has no such function.",
}
VARIANT_RULES = {
    "": "",
    "parallel": "- Ask for the same thing for two or three different values in one message, so that the same "
    "function is called several times at once.",
}


STATE_CHARACTERS = 4000


def _state_text(state: Mapping[str, Any]) -> str:
    """The environment state for a prompt, cut to ``STATE_CHARACTERS`` (enough for the ids a query needs)."""
    text = json.dumps(state, ensure_ascii=False, default=str)
    return text if len(text) <= STATE_CHARACTERS else text[:STATE_CHARACTERS] + " ... (truncated)"


def _template_values(inputs: Any) -> dict[str, str]:
    if isinstance(inputs, LabelInputs):
        spec = inputs.function
        return {
            "categories": ", ".join(CATEGORIES),
            "name": spec.name,
            "description": spec.description,
            "parameters": json.dumps(spec.parameters),
            "response": json.dumps(spec.response),
        }
    if isinstance(inputs, DependencyInputs):
        return {
            "target": describe_function(inputs.target),
            "candidates": "\n".join(describe_function(spec) for spec in inputs.candidates),
        }
    if isinstance(inputs, NestedInputs):
        return {"first": describe_function(inputs.first), "second": describe_function(inputs.second)}
    if isinstance(inputs, TranslateInputs):
        return {
            "history": _history_text(inputs.history),
            "last_round": _last_round_text(inputs.history),
            "functions": "\n".join(describe_function(spec) for spec in inputs.functions),
            "avoid": ", ".join(inputs.avoid) or "(none)",
            "split_rule": "\n".join(
                rule
                for rule in (
                    string.Template(SPLIT_RULES.get(inputs.split, "")).safe_substitute(
                        missing=", ".join(inputs.missing) or "one required parameter"
                    ),
                    VARIANT_RULES.get(inputs.variant, ""),
                )
                if rule
            ),
            "query": inputs.query,
            "state": _state_text(inputs.state),
        }
    if isinstance(inputs, TurnJudgeInputs):

        def side(calls: Sequence[FunctionCall], text: str) -> str:
            return f"calls: {format_calls(calls)}\ntext: {text or '(none)'}"

        return {
            "query": inputs.query,
            "reference": side(inputs.reference_calls, inputs.reference_text),
            "candidate": side(inputs.candidate_calls, inputs.candidate_text),
        }
    if isinstance(inputs, SimulateInputs):
        examples = "\n".join(f"{call.to_text()} -> {json.dumps(output)}" for call, output in inputs.examples)
        return {
            "function": describe_function(inputs.function),
            "response": json.dumps(inputs.function.response),
            "examples": examples or "(none)",
            "call": inputs.call.to_text(),
        }
    raise TypeError(f"no template values for {type(inputs).__name__}")


# ---------------------------------------------------------------------------------------------------------------
# Parsers
# ---------------------------------------------------------------------------------------------------------------


def _strip_fence(text: str) -> str:
    match = re.match(r"^\s*```[A-Za-z]*\s*\n?(.*?)\n?```\s*$", text, re.DOTALL)
    return match.group(1) if match else text


def _answer_text(completion: Completion) -> str:
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


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed in JSON")


def _load_json(text: str) -> Any:
    """One JSON value; anything ``json.loads`` refuses (or cannot handle) is an ``AnswerError`` saying why."""
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as error:
        raise AnswerError(f"not a JSON value ({error.msg} at line {error.lineno} column {error.colno})") from None
    except ValueError as error:  # NaN/Infinity, or an integer of thousands of digits
        raise AnswerError(f"not a usable JSON value ({error})") from None
    except RecursionError:
        raise AnswerError("the JSON is nested too deeply") from None


def _embedded_json(text: str, attempts: int = 20) -> list[Any]:
    """The JSON values that start at a ``{`` or ``[`` of ``text`` (a value inside prose is common), in order,
    trying at most ``attempts`` positions."""
    decoder = json.JSONDecoder(parse_constant=_refuse_constant)
    values = []
    for index, match in enumerate(re.finditer(r"[\[{]", text)):
        if index == attempts:
            break
        try:
            values.append(decoder.raw_decode(text, match.start())[0])
        except (ValueError, RecursionError):
            continue
    return values


def _json_problem(value: Any, where: str = "output") -> str | None:
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


def _labelled_line(name: str, text: str) -> str | None:
    """The value of a ``Name: value`` line (or of the line after ``Name:``), Markdown emphasis allowed."""
    pattern = rf"^[ \t>#*_-]*{name}[ \t]*[*_]*[ \t]*:[ \t]*(?:\n[ \t]*)?(.*?)[ \t]*$"
    match = re.search(pattern, text, re.MULTILINE | re.IGNORECASE)
    return match.group(1).strip("*_`\"' \t.") if match else None


def parse_label(completion: Completion, inputs: LabelInputs) -> Label:
    """``Category: X`` / ``Tool class: Y``; X must be a known category or ``misc``, Y a short class name."""
    text = _answer_text(completion)
    category = _labelled_line("Category", text)
    tool_class = _labelled_line("Tool class", text)
    if not category or not tool_class:
        raise AnswerError("answer with two lines, 'Category: <category>' and 'Tool class: <tool class>'")
    value = category.replace(" ", "_")
    known = {name.lower(): name for name in (*CATEGORIES, "misc")}
    if value.lower() not in known:
        raise AnswerError(f"{value[:60]!r} is not in the category list (or misc)")
    if len(tool_class) > MAX_TOOL_CLASS:
        raise AnswerError(f"the tool class is {len(tool_class)} characters; give a short name (a few words)")
    return Label(known[value.lower()], tool_class)


def _related_name(item: Any) -> str | None:
    """A candidate name from one item of a dependency answer: a name, or an object with a ``name`` (``None``
    when the object says ``"related": false``); a ``ValueError`` for anything else."""
    if isinstance(item, str):
        return item
    if isinstance(item, dict) and isinstance(item.get("name"), str):
        related = item.get("related", True)
        if not isinstance(related, bool):
            raise ValueError(f'"related" must be true or false, got {_brief(related)}')
        return item["name"] if related else None
    raise ValueError(f'{_brief(item)} is neither a name nor an object with a "name"')


def parse_dependencies(completion: Completion, inputs: DependencyInputs) -> tuple[str, ...]:
    """``{"target": [candidates]}``; names must be candidates, never the target.

    Also accepted: objects with a ``name`` instead of names (``[{"name": "g", "reason": "..."}]``; one with
    ``"related": false`` is left out), and, when it is the whole answer, a bare list of either. Inside prose only
    the object with the target key counts.
    """
    target = inputs.target.name
    expected = f'answer {{"{target}": ["candidate_name", ...]}} with the related candidates\' names ([] if none)'
    text = _strip_fence(_answer_text(completion)).strip()
    try:
        answer = _load_json(text)
    except AnswerError as error:
        # Prose around the JSON: only the object with the target key counts. A bare list inside prose is as
        # likely the candidates repeated ("of ["a", "b"], none ...") as an answer.
        keyed = [value for value in _embedded_json(text) if isinstance(value, dict) and target in value]
        if not keyed:
            raise AnswerError(f"{str(error).replace('JSON value', 'JSON object')}; {expected}") from None
        answer = keyed[0]
    if isinstance(answer, dict) and target in answer:
        related = answer[target]
    elif isinstance(answer, list):
        related = answer
    elif isinstance(answer, dict):
        raise AnswerError(f"the object has no key {target!r} (keys: {list(answer)[:5]}); {expected}")
    else:
        raise AnswerError(f"got a JSON {_json_type(answer)}, not an object; {expected}")
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
    candidates = {spec.name for spec in inputs.candidates}
    unknown = [name[:60] for name in names if name not in candidates]
    if unknown:
        raise AnswerError(f"{unknown[:10]} are not among the candidates")
    return tuple(dict.fromkeys(names))


def parse_verdict(completion: Completion, inputs: NestedInputs) -> Verdict:
    """``yes`` or ``no`` on the first line, the reason on the second."""
    lines = [line.strip() for line in _answer_text(completion).strip().splitlines() if line.strip()]
    first = lines[0].lower().strip(".:! ") if lines else ""
    if first not in ("yes", "no"):
        raise AnswerError("the first line must be exactly 'yes' or 'no'")
    return Verdict(first == "yes", " ".join(lines[1:]))


def parse_query(completion: Completion, inputs: TranslateInputs) -> str:
    """The user's message: non-empty, and naming none of the round's functions."""
    text = _answer_text(completion).strip().strip('"').strip()
    if not text:
        raise AnswerError("the message is empty")
    named = [spec.name for spec in inputs.functions if re.search(rf"\b{re.escape(spec.name)}\b", text)]
    if named:
        raise AnswerError(f"the message names the function(s) {named}; describe the request without them")
    return text


def parse_forth(completion: Completion, inputs: TranslateInputs) -> tuple[FunctionCall, ...] | None:
    """``Answer: f(a=1), g(b=2)`` into calls of the candidate functions (``None`` for ``FINISH``)."""
    match = re.search(r"Answer:\s*(.*)\Z", _answer_text(completion).strip(), re.DOTALL)
    if not match:
        raise AnswerError("end with a line 'Answer: f(a=\"x\"), g(...)' (or 'Answer: FINISH')")
    answer = _strip_fence(match.group(1)).strip()
    if answer.upper().startswith("FINISH"):
        return None
    try:
        calls = parse_calls(answer if answer.startswith("[") else f"[{answer}]")
    except CallParseError as error:
        raise AnswerError(str(error)) from None
    if not calls:
        raise AnswerError("no calls in the answer; write 'Answer: FINISH' if none can be made")
    names = {spec.name: spec for spec in inputs.functions}
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


def parse_turn_verdict(completion: Completion, inputs: TurnJudgeInputs) -> TurnVerdict:
    """``yes``, or ``no`` with ``Error type:`` (one of ``ERROR_TYPES``) and ``Reason:``."""
    text = _answer_text(completion).strip()
    first = text.splitlines()[0].strip().lower().strip(".:! ") if text else ""
    if first == "yes":
        return TurnVerdict(True, None, "")
    if first != "no":
        raise AnswerError("the first line must be exactly 'yes' or 'no'")
    kind = re.search(r"Error type:\s*([A-Za-z_ ]+)", text)
    reason = re.search(r"Reason:\s*(.+)", text)
    error_type = kind.group(1).strip().lower().replace(" ", "_") if kind else ""
    if error_type not in ERROR_TYPES:
        raise AnswerError(f"after 'no', give 'Error type: <one of {', '.join(ERROR_TYPES)}>'")
    return TurnVerdict(False, error_type, reason.group(1).strip() if reason else "")


def parse_simulated(completion: Completion, inputs: SimulateInputs) -> Any:
    """One JSON value that fits the function's response schema (any JSON object when it has none), with finite
    numbers, valid Unicode and at most ``MAX_JSON_DEPTH`` levels of nesting."""
    value = _load_json(_strip_fence(_answer_text(completion)).strip())
    problem = _json_problem(value)
    if problem:
        raise AnswerError(problem)
    schema = inputs.function.response or {"type": "object"}
    problem = type_problem(value, schema, "output")
    if problem:
        raise AnswerError(f"does not fit the response schema: {problem}")
    if isinstance(value, dict) and isinstance(schema.get("required"), list):
        missing = [key for key in schema["required"] if key not in value]
        if missing:
            raise AnswerError(f"does not fit the response schema: output lacks required {missing}")
    return value


# ---------------------------------------------------------------------------------------------------------------
# Steps
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step(Generic[R]):
    """One LLM step: its name (used for accounting and caching), its prompt file and its parser."""

    name: str
    parse: Callable[[Completion, Any], R]
    template: str = ""

    def messages(self, inputs: Any) -> list[dict[str, Any]]:
        """The prompt for ``inputs``: the template's system and user parts, filled in."""
        system, user = load_template(self.template or self.name)
        values = _template_values(inputs)
        return [
            {"role": "system", "content": string.Template(system).safe_substitute(values)},
            {"role": "user", "content": string.Template(user).safe_substitute(values)},
        ]


LABEL = Step("label_category", parse_label)
DEPENDENCY = Step("dependency_judge", parse_dependencies)
NESTED = Step("nested_judge", parse_verdict)
BACK_TRANSLATE = Step("back_translate", parse_query)
FORTH_TRANSLATE = Step("forth_translate", parse_forth)
TURN_JUDGE = Step("turn_judge", parse_turn_verdict)
SIMULATE = Step("simulate_output", parse_simulated)
STEPS = {step.name: step for step in (LABEL, DEPENDENCY, NESTED, BACK_TRANSLATE, FORTH_TRANSLATE, TURN_JUDGE, SIMULATE)}


def _parser_failure(step: Step[Any], attempt: int, error: Exception) -> str:
    """Log a parser's unexpected exception and say, for the model, what went wrong."""
    logger.warning(
        "%s: the parser failed on attempt %d (%s: %s); treating the answer as unusable",
        step.name,
        attempt,
        type(error).__name__,
        error,
    )
    logger.debug("%s: parser traceback", step.name, exc_info=error)
    return f"it could not be read in the required format ({type(error).__name__}: {str(error)[:200]})"


@dataclass(frozen=True)
class StepResult(Generic[R]):
    """A parsed answer, the completion it came from, and how many attempts it took."""

    value: R
    completion: Completion
    attempts: int


async def run_step(
    teacher: Teacher,
    step: Step[R],
    inputs: Any,
    *,
    max_attempts: int = 3,
    validate: Callable[[R], Awaitable[None]] | None = None,
    **params: Any,
) -> StepResult[R]:
    """Ask ``teacher`` the step's question about ``inputs`` and parse the answer.

    A parse failure, or an ``AnswerError`` from ``validate`` (e.g. a call that fails when executed), is shown to
    the model ("your answer could not be used: ...") and the question asked again, up to ``max_attempts`` in
    all; then ``StepError`` names the step and the last problem. Any other exception from the parser (a parser
    bug an odd answer ran into) is logged and counts as such a failure; other exceptions from ``validate`` pass
    through. Teacher failures (``TeacherError``) pass through: they were already retried by the teacher.
    """
    messages = step.messages(inputs)
    problem = ""
    for attempt in range(1, max_attempts + 1):
        completion = await teacher.complete(messages, step=step.name, context=inputs, **params)
        try:
            value = step.parse(completion, inputs)
        except AnswerError as error:
            problem = str(error)
        except TeacherError:
            raise
        except Exception as error:  # a parser that breaks on an odd answer costs one retry, never the stage
            problem = _parser_failure(step, attempt, error)
        else:
            try:
                if validate is not None:
                    await validate(value)
                return StepResult(value, completion, attempt)
            except AnswerError as error:
                problem = str(error)
        messages = [
            *messages,
            {"role": "assistant", "content": completion.text or ""},
            {
                "role": "user",
                "content": f"Your answer could not be used: {problem}. Answer again, in the required format.",
            },
        ]
    raise StepError(
        f"{step.name}: no usable answer after {max_attempts} attempts (last problem: {problem})",
        step=step.name,
        attempts=max_attempts,
    )
