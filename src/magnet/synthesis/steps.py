"""LLM steps as data: a prompt template, typed inputs, and a parser of the answer into a typed result.

Each step of synthesis that asks a model something (labelling a function's category, judging dependencies and
nesting, back- and forth-translation, judging a student's turn, simulating a function's output) is a ``Step``:
its prompt is a text file under ``prompts/`` (the paper's rules, paraphrased), its inputs a dataclass, its
parser a function that turns the answer into a result or raises ``AnswerError`` saying what is wrong.
``run_step`` sends the prompt through any ``Teacher``; when the answer does not parse, the model is shown the
error and asked again, a bounded number of times, then the step fails with ``StepError``. The parsers live in
``magnet.synthesis.parsers``. A teacher sees the rendered messages only; the offline backend
(``magnet.synthesis.offline``) reads the same prompts and answers in the forms models write, so its answers go
through the same parsers.
"""

from __future__ import annotations

import json
import logging
import re
import string
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any, Generic, TypeVar

from magnet.errors import MagnetError, StepError, TeacherError
from magnet.llm.client import Completion, Teacher
from magnet.synthesis.parsers import (
    CATEGORIES,
    AnswerError,
    parse_dependencies,
    parse_forth,
    parse_label,
    parse_query,
    parse_simulated,
    parse_turn_verdict,
    parse_verdict,
)
from magnet.tools.calls import FunctionCall, format_calls
from magnet.tools.spec import FunctionSpec

R = TypeVar("R")
logger = logging.getLogger(__name__)


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
class TurnRecord:
    """One finished turn of an episode: the query, the calls made and their outputs (tool-message text)."""

    query: str
    calls: tuple[FunctionCall, ...] = ()
    outputs: tuple[str, ...] = ()


@dataclass(frozen=True)
class NestedLink:
    """An Insert: ``target`` takes a value (``parameters``, when the graph's schemas name them) from the output of
    ``source``, made earlier in the same turn (``same_turn``) or in an earlier one. The user never states it."""

    source: str
    target: str
    parameters: tuple[str, ...] = ()
    same_turn: bool = True

    def rule(self) -> str:
        """The back-translation rule that keeps the value implicit."""
        what = ", ".join(self.parameters) or "the input"
        where = "in this round" if self.same_turn else "in an earlier round"
        return (
            f"- Do NOT state the value of {what} of {self.target}: the assistant must take it from the output of "
            f'{self.source} {where}. Refer to it indirectly ("the one you just found").'
        )


NESTED_RULE = re.compile(
    r"^- Do NOT state the value of (?P<what>.+?) of (?P<target>\S+): the assistant must take it from the output of "
    r"(?P<source>\S+) in (?P<where>this round|an earlier round)\.",
    re.MULTILINE,
)


def read_nested_rules(system: str) -> tuple[NestedLink, ...]:
    """The ``NestedLink`` rules a back-translation system prompt holds (inverse of ``NestedLink.rule``)."""
    return tuple(
        NestedLink(
            match["source"],
            match["target"],
            () if match["what"] == "the input" else tuple(name.strip() for name in match["what"].split(",")),
            match["where"] == "this round",
        )
        for match in NESTED_RULE.finditer(system)
    )


@dataclass(frozen=True)
class TranslateInputs:
    """What back- and forth-translation of one turn see.

    ``functions`` are this turn's functions; ``history`` the finished turns; ``split`` is ``""``, or for the turns
    around a Split: ``"miss_param"`` (leave out the value of the parameters in ``missing``), ``"supply_param"``
    (the next turn: give those values), ``"miss_func"`` (ask for what the withheld functions do);
    ``variant`` ``"parallel"`` asks for the same function with two or three argument sets. ``state`` is the
    environment state (shown to the teacher, cut to ``STATE_CHARACTERS``); ``query`` is the user message, for
    forth-translation. ``nested`` are the Insert links whose values the query must leave implicit;
    ``round_calls``/``round_outputs`` the calls forth-translation already made for this query and their outputs
    (it answers in rounds, so that a call can take a value from an earlier call's output). ``seed`` is not
    rendered: the translator sends it as the request's sampling seed, and the offline backend, reading a prompt
    back, puts that seed here.
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
    nested: tuple[NestedLink, ...] = ()
    round_calls: tuple[FunctionCall, ...] = ()
    round_outputs: tuple[str, ...] = ()


@dataclass(frozen=True)
class TurnJudgeInputs:
    """A student's turn against the reference turn of the same query.

    ``reference_outputs`` and ``candidate_outputs`` are the outputs of each side's calls in this turn,
    ``earlier_outputs`` those of the turns before: a wrong value found there is a short or a long dependency
    error. ``specs`` are the functions offered (an argument that only repeats a default is no error); ``history``
    the conversation before this turn (queries, calls and outputs). The prompt shows all of it: a judge, model or
    offline backend, reads nothing else.
    """

    query: str
    reference_calls: tuple[FunctionCall, ...]
    reference_text: str
    candidate_calls: tuple[FunctionCall, ...]
    candidate_text: str
    specs: tuple[FunctionSpec, ...] = ()
    reference_outputs: tuple[str, ...] = ()
    earlier_outputs: tuple[str, ...] = ()
    candidate_outputs: tuple[str, ...] = ()
    history: tuple[TurnRecord, ...] = ()


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


# About 3,500 tokens: the records of the two or three toolkits a path spans (the builtin ones take 1,000 to 5,500
# characters each). At 4,000 the records of a second toolkit were cut off, and a query could not name their ids.
STATE_CHARACTERS = 12000


def _state_text(state: Mapping[str, Any]) -> str:
    """The environment state for a prompt, compact JSON cut to ``STATE_CHARACTERS``."""
    text = json.dumps(state, ensure_ascii=False, default=str, separators=(",", ":"))
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
                    *(link.rule() for link in inputs.nested),
                )
                if rule
            ),
            "round": "\n".join(
                f"{call.to_text()} -> {output}"
                for call, output in zip(inputs.round_calls, inputs.round_outputs, strict=False)
            )
            or "(none)",
            "query": inputs.query,
            "state": _state_text(inputs.state),
        }
    if isinstance(inputs, TurnJudgeInputs):

        def side(calls: Sequence[FunctionCall], outputs: Sequence[str], text: str) -> str:
            ran = "\n".join(f"  {call.to_text()} -> {output}" for call, output in zip(calls, outputs, strict=False))
            return f"calls: {format_calls(calls)}\noutputs:\n{ran or '  (none)'}\ntext: {text or '(none)'}"

        return {
            "query": inputs.query,
            "history": _history_text(inputs.history),
            "functions": "\n".join(describe_function(spec) for spec in inputs.specs) or "(not given)",
            "earlier": "\n".join(inputs.earlier_outputs) or "(none)",
            "reference": side(inputs.reference_calls, inputs.reference_outputs, inputs.reference_text),
            "candidate": side(inputs.candidate_calls, inputs.candidate_outputs, inputs.candidate_text),
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
# Steps
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step(Generic[R]):
    """One LLM step: its name (used for accounting and caching), its prompt file, its parser, and sampling
    parameters it always runs with (a judge's ``temperature: 0``, whatever the teacher's own temperature)."""

    name: str
    parse: Callable[[Completion, Any], R]
    template: str = ""
    params: Mapping[str, Any] = field(default_factory=dict)

    def messages(self, inputs: Any) -> list[dict[str, Any]]:
        """The prompt for ``inputs``: the template's system and user parts, filled in."""
        system, user = load_template(self.template or self.name)
        values = _template_values(inputs)
        return [
            {"role": "system", "content": string.Template(system).safe_substitute(values)},
            {"role": "user", "content": string.Template(user).safe_substitute(values)},
        ]


# Judging and labelling are classifications: the same question gets the same verdict, at any teacher temperature.
GREEDY = {"temperature": 0.0}
LABEL = Step("label_category", parse_label, params=GREEDY)
DEPENDENCY = Step("dependency_judge", parse_dependencies, params=GREEDY)
NESTED = Step("nested_judge", parse_verdict, params=GREEDY)
BACK_TRANSLATE = Step("back_translate", parse_query)
FORTH_TRANSLATE = Step("forth_translate", parse_forth)
TURN_JUDGE = Step("turn_judge", parse_turn_verdict, params=GREEDY)
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
    through. Teacher failures (``TeacherError``) pass through: they were already retried by the teacher. The step's
    own ``params`` override the caller's.
    """
    messages = step.messages(inputs)
    params = {**params, **step.params}
    problem = ""
    for attempt in range(1, max_attempts + 1):
        completion = await teacher.complete(messages, step=step.name, **params)
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
