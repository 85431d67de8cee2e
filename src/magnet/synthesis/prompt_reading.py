"""Reading a rendered step prompt back: what the offline backend knows of a request is what the prompt says.

A model answers a step from its messages alone, so the offline backend does too: it finds the task from the system
prompt, then reads the sections of the user prompt (the functions listed as JSON lines, the conversation so far,
the records that exist, the split rule) into the step's input record. Whatever the prompt leaves out, the backend
does not know; a prompt that stops carrying what the step needs fails with ``PromptReadError`` naming the step
and the missing part, which fails the offline run.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from magnet.data.render import PYTHON_HINT
from magnet.errors import CallParseError, TeacherError
from magnet.llm.answers import closing_bracket
from magnet.synthesis.steps import (
    SPLIT_RULES,
    STEPS,
    VARIANT_RULES,
    DependencyInputs,
    LabelInputs,
    NestedInputs,
    SimulateInputs,
    TranslateInputs,
    TurnJudgeInputs,
    TurnRecord,
    load_template,
    read_nested_rules,
)
from magnet.tools.calls import FunctionCall, parse_calls
from magnet.tools.spec import FunctionSpec


class PromptReadError(TeacherError):
    """A prompt that lacks what its step needs (the offline backend's way of failing like a confused model)."""

    def __init__(self, step: str, detail: str):
        super().__init__(f"{step}: the prompt does not carry {detail}", cause="unreadable_prompt")


def step_of(system: str) -> str | None:
    """The step whose system prompt ``system`` is (by its first sentence), or ``None``."""
    for name in STEPS:
        first = load_template(name)[0].split("\n", 1)[0]
        if system.startswith(first):
            return name
    return None


def sections(step: str, text: str, headers: Sequence[str]) -> dict[str, str]:
    """The text under each of ``headers`` up to the next one. Headers are found in the template's order, each at
    the start of a line after the previous one, so that a description or an output quoting a header (a query
    saying "User message:") does not split the prompt."""
    positions = []
    start = 0
    for header in headers:
        match = re.compile(rf"^{re.escape(header)}", re.MULTILINE).search(text, start)
        if match is None:
            raise PromptReadError(step, f"the section {header.strip()!r}")
        positions.append((match.start(), header))
        start = match.end()
    found: dict[str, str] = {}
    for (index, header), following in zip(positions, [*positions[1:], (len(text), "")], strict=True):
        found[header] = text[index + len(header) : following[0]].strip()
    return found


def specs_of(items: Sequence[Any]) -> tuple[FunctionSpec, ...]:
    """Functions as a model is shown them (``describe_function`` objects or OpenAI tools), as specs; items that are
    not a function with a name are passed over."""
    specs = []
    for data in items:
        data = data.get("function", data) if isinstance(data, dict) else data
        if isinstance(data, dict) and isinstance(data.get("name"), str):
            specs.append(
                FunctionSpec(
                    data["name"],
                    data.get("description") or "",
                    data.get("parameters") or {"type": "object", "properties": {}},
                    data.get("response"),
                )
            )
    return tuple(specs)


def _literal_list(text: str, start: int) -> list[Any]:
    """The list literal (JSON, or Python's repr as BFCL's prompt writes it) that opens at ``start``, or ``[]``."""
    end = closing_bracket(text, start)
    if end is None:
        return []
    try:
        found = ast.literal_eval(text[start:end])
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        try:
            found = json.loads(text[start:end])
        except json.JSONDecodeError:
            return []
    return found if isinstance(found, list) else []


def read_functions(step: str, text: str) -> tuple[FunctionSpec, ...]:
    """Functions written one JSON object per line (``describe_function``, or OpenAI tools), or as one JSON list (BFCL's
    prompting-mode system prompt, which a student trained in that format is shown)."""
    objects = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                objects.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    if not objects:
        for match in re.finditer(r"\[\s*\{", text):
            found = _literal_list(text, match.start())
            objects = [  # BFCL's listing appends a Python hint to each description: not the function's own words
                {**item, "description": str(item.get("description") or "").removesuffix(PYTHON_HINT)}
                for item in found
                if isinstance(item, dict)
            ]
            if objects:
                break
    specs = specs_of(objects)
    if not specs:
        raise PromptReadError(step, "any function description")
    return specs


def _split_call_line(line: str) -> tuple[FunctionCall, str] | None:
    """``f(a=1) -> output``: the call, and the output after the first arrow that ends a whole call."""
    for match in re.finditer(r" -> ", line):
        try:
            [call] = parse_calls(f"[{line[: match.start()].strip()}]")
        except (CallParseError, ValueError):
            continue
        return call, line[match.end() :]
    return None


def read_history(text: str) -> tuple[TurnRecord, ...]:
    """The ``Round i: user: ...`` lines and their ``call -> output`` lines back into turns."""
    if text.strip() == "(none)":
        return ()
    turns: list[list[Any]] = []
    for line in text.splitlines():
        start = re.match(r"^Round \d+: user: ?(.*)$", line)
        if start:
            turns.append([start.group(1), [], []])
            continue
        if not turns:
            continue
        ran = _split_call_line(line.strip()) if line.startswith("  ") else None
        if ran is not None:
            turns[-1][1].append(ran[0])
            turns[-1][2].append(ran[1])
        elif not turns[-1][1]:
            turns[-1][0] += "\n" + line  # a query of several lines
    return tuple(TurnRecord(query, tuple(calls), tuple(outputs)) for query, calls, outputs in turns)


def read_state(text: str) -> dict[str, Any]:
    """The records as JSON; a prompt that cut them short gives the ``"key": value`` pairs it does show."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pairs = re.findall(r'"(\w+)":\s*("(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?|true|false|null)', text)
        return {"shown": [{key: json.loads(value)} for key, value in pairs]}


def _rule_values(rule: str, system: str) -> list[str] | None:
    """The ``$missing`` names a split rule was filled with, when ``system`` holds that rule."""
    if "$missing" not in rule:
        return [] if rule in system else None
    before, _, after = rule.partition("$missing")
    match = re.search(re.escape(before) + r"(.*?)" + re.escape(after[:25]), system)
    if not match:
        return None
    value = match.group(1)
    return [] if value == "one required parameter" else [name.strip() for name in value.split(",")]


def read_translate(step: str, system: str, user: str, seed: int) -> TranslateInputs:
    """Back- or forth-translation inputs from their prompts (``seed``: the request's sampling seed)."""
    if step == "back_translate":
        headers = ("Conversation so far", "[Last Round] calls and outputs:", "Functions of this round:")
        parts = sections(step, user, (*headers, "[Do not use these APIs]:", "Records that exist now"))
        history = read_history(parts["Conversation so far"].split("\n", 1)[-1])
        state_text = parts["Records that exist now"].split("\n", 1)[-1]
        split, missing = "", ()
        for name, rule in SPLIT_RULES.items():
            values = _rule_values(rule, system) if rule else None
            if values is not None:
                split, missing = name, tuple(values)
        variant = next((name for name, rule in VARIANT_RULES.items() if rule and rule in system), "")
        return TranslateInputs(
            functions=read_functions(step, parts["Functions of this round:"]),
            history=history,
            split=split,
            missing=missing,
            variant=variant,
            state=read_state(state_text),
            seed=seed,
            nested=read_nested_rules(system),
        )
    parts = sections(
        step,
        user,
        (
            "Conversation so far:",
            "[Reference Output] of the last round:",
            "Candidate functions:",
            "User message:",
            "[Outputs of this round]",
        ),
    )
    made = [ran for line in parts["[Outputs of this round]"].splitlines() if (ran := _split_call_line(line.strip()))]
    return TranslateInputs(
        functions=read_functions(step, parts["Candidate functions:"]),
        history=read_history(parts["Conversation so far:"]),
        query=parts["User message:"],
        seed=seed,
        round_calls=tuple(call for call, _ in made),
        round_outputs=tuple(output for _, output in made),
    )


def read_label(step: str, user: str) -> LabelInputs:
    """The function to label, from the labelling prompt."""
    parts = sections(step, user, ("Function:", "Description:", "Parameters:", "Returns:"))
    try:
        parameters, response = json.loads(parts["Parameters:"]), json.loads(parts["Returns:"])
    except json.JSONDecodeError:
        raise PromptReadError(step, "the parameters and response as JSON") from None
    return LabelInputs(FunctionSpec(parts["Function:"], parts["Description:"], parameters, response))


def read_dependency(step: str, user: str) -> DependencyInputs:
    """The target and the candidates, from the dependency judge's prompt."""
    parts = sections(step, user, ("Target function:", "Candidates:"))
    return DependencyInputs(
        read_functions(step, parts["Target function:"])[0], read_functions(step, parts["Candidates:"])
    )


def read_nested(step: str, user: str) -> NestedInputs:
    """The two functions of the nesting judge's prompt."""
    parts = sections(step, user, ("First function:", "Second function:"))
    return NestedInputs(
        read_functions(step, parts["First function:"])[0], read_functions(step, parts["Second function:"])[0]
    )


def _side(step: str, text: str) -> tuple[tuple[FunctionCall, ...], tuple[str, ...], str]:
    parts = sections(step, text, ("calls:", "outputs:", "text:"))
    try:
        calls = tuple(parse_calls(parts["calls:"]))
    except CallParseError:
        raise PromptReadError(step, "the calls of a turn in BFCL's text form") from None
    outputs = tuple(ran[1] for line in parts["outputs:"].splitlines() if (ran := _split_call_line(line.strip())))
    said = parts["text:"]
    return calls, outputs, "" if said == "(none)" else said


def read_turn_judge(step: str, user: str) -> TurnJudgeInputs:
    """Both turns, the functions, the conversation so far and the earlier outputs, from the turn judge's prompt."""
    parts = sections(
        step,
        user,
        (
            "Functions:",
            "Conversation so far:",
            "Outputs of earlier turns:",
            "User message:",
            "Reference turn:",
            "Assistant turn:",
        ),
    )
    functions = parts["Functions:"]
    reference_calls, reference_outputs, reference_text = _side(step, parts["Reference turn:"])
    candidate_calls, candidate_outputs, candidate_text = _side(step, parts["Assistant turn:"])
    earlier = parts["Outputs of earlier turns:"]
    return TurnJudgeInputs(
        query=parts["User message:"],
        reference_calls=reference_calls,
        reference_text=reference_text,
        candidate_calls=candidate_calls,
        candidate_text=candidate_text,
        specs=() if functions == "(not given)" else read_functions(step, functions),
        reference_outputs=reference_outputs,
        earlier_outputs=() if earlier == "(none)" else tuple(earlier.splitlines()),
        candidate_outputs=candidate_outputs,
        history=read_history(parts["Conversation so far:"]),
    )


def read_simulate(step: str, user: str) -> SimulateInputs:
    """The function and the call to simulate."""
    parts = sections(step, user, ("Function:", "Response schema:", "Earlier calls and outputs:", "Call:"))
    try:
        [call] = parse_calls(f"[{parts['Call:']}]")
    except (CallParseError, ValueError):
        raise PromptReadError(step, "the call to simulate") from None
    return SimulateInputs(read_functions(step, parts["Function:"])[0], call)


def read_step_inputs(step: str, messages: Sequence[Mapping[str, Any]], seed: int) -> Any:
    """The input record of ``step`` as its prompt (a system and a user message) states it."""
    system = next((str(m.get("content") or "") for m in messages if m.get("role") == "system"), "")
    user = next((str(m.get("content") or "") for m in messages if m.get("role") == "user"), "")
    if not user:
        raise PromptReadError(step, "a user message")
    if step in ("back_translate", "forth_translate"):
        return read_translate(step, system, user, seed)
    readers = {
        "label_category": read_label,
        "dependency_judge": read_dependency,
        "nested_judge": read_nested,
        "turn_judge": read_turn_judge,
        "simulate_output": read_simulate,
    }
    return readers[step](step, user)
