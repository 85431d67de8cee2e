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
import re
import string
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any, Generic, TypeVar

from magnet.errors import CallParseError, MagnetError, StepError
from magnet.llm.client import Completion, Teacher
from magnet.tools.calls import FunctionCall, format_calls, parse_calls
from magnet.tools.executor import type_problem
from magnet.tools.spec import FunctionSpec

R = TypeVar("R")

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


def parse_label(completion: Completion, inputs: LabelInputs) -> Label:
    """``Category: X`` / ``Tool class: Y``; X must be a known category or ``misc``."""
    category = re.search(r"^\s*Category:\s*(.+?)\s*$", completion.text, re.MULTILINE | re.IGNORECASE)
    tool_class = re.search(r"^\s*Tool class:\s*(.+?)\s*$", completion.text, re.MULTILINE | re.IGNORECASE)
    if not category or not tool_class:
        raise AnswerError("answer with two lines, 'Category: <category>' and 'Tool class: <tool class>'")
    value = category.group(1).strip().strip(".").replace(" ", "_")
    known = {name.lower(): name for name in (*CATEGORIES, "misc")}
    if value.lower() not in known:
        raise AnswerError(f"{value!r} is not in the category list (or misc)")
    return Label(known[value.lower()], tool_class.group(1).strip())


def parse_dependencies(completion: Completion, inputs: DependencyInputs) -> tuple[str, ...]:
    """``{"target": [candidates]}``; names must be candidates, never the target."""
    text = _strip_fence(completion.text).strip()
    match = re.search(r"\{.*\}", text, re.DOTALL)
    try:
        answer = json.loads(match.group(0) if match else text)
    except json.JSONDecodeError as error:
        raise AnswerError(f'not a JSON object ({error.msg}); answer {{"{inputs.target.name}": [...]}}') from None
    if (
        not isinstance(answer, dict)
        or inputs.target.name not in answer
        or not isinstance(answer[inputs.target.name], list)
    ):
        raise AnswerError(f'expected {{"{inputs.target.name}": [list of related candidate names]}}')
    names = {spec.name for spec in inputs.candidates}
    related = answer[inputs.target.name]
    unknown = [name for name in related if name not in names]
    if unknown:
        raise AnswerError(f"{unknown} are not among the candidates")
    return tuple(dict.fromkeys(related))


def parse_verdict(completion: Completion, inputs: NestedInputs) -> Verdict:
    """``yes`` or ``no`` on the first line, the reason on the second."""
    lines = [line.strip() for line in completion.text.strip().splitlines() if line.strip()]
    first = lines[0].lower().strip(".:! ") if lines else ""
    if first not in ("yes", "no"):
        raise AnswerError("the first line must be exactly 'yes' or 'no'")
    return Verdict(first == "yes", " ".join(lines[1:]))


def parse_query(completion: Completion, inputs: TranslateInputs) -> str:
    """The user's message: non-empty, and naming none of the round's functions."""
    text = completion.text.strip().strip('"').strip()
    if not text:
        raise AnswerError("the message is empty")
    named = [spec.name for spec in inputs.functions if re.search(rf"\b{re.escape(spec.name)}\b", text)]
    if named:
        raise AnswerError(f"the message names the function(s) {named}; describe the request without them")
    return text


def parse_forth(completion: Completion, inputs: TranslateInputs) -> tuple[FunctionCall, ...] | None:
    """``Answer: f(a=1), g(b=2)`` into calls of the candidate functions (``None`` for ``FINISH``)."""
    match = re.search(r"Answer:\s*(.*)\Z", completion.text.strip(), re.DOTALL)
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
    text = completion.text.strip()
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
    """One JSON value that fits the function's response schema (any JSON object when it has none)."""
    text = _strip_fence(completion.text).strip()
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise AnswerError(f"not a JSON value ({error.msg} at column {error.colno})") from None
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
    all; then ``StepError`` names the step and the last problem. Teacher failures (``TeacherError``) pass
    through: they were already retried by the teacher.
    """
    messages = step.messages(inputs)
    problem = ""
    for attempt in range(1, max_attempts + 1):
        completion = await teacher.complete(messages, step=step.name, context=inputs, **params)
        try:
            value = step.parse(completion, inputs)
            if validate is not None:
                await validate(value)
            return StepResult(value, completion, attempt)
        except AnswerError as error:
            problem = str(error)
            messages = [
                *messages,
                {"role": "assistant", "content": completion.text},
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
