"""One BFCL entry, run and scored: the multi-turn loop and the single-turn query.

Multi-turn (BFCL's ``inference_multi_turn_prompting``): each user turn is added to the conversation (a turn that
adds held-out functions gets BFCL's "I have updated some more functions" message, listing them); the model is
then asked again and again: an answer with calls is executed in the entry's BFCL instances and the results are
fed back; an answer with no decodable call ends the turn; more than BFCL's ``MAXIMUM_STEP_LIMIT`` executed steps
force-terminate the entry. The steps are then scored with BFCL's own ``multi_turn_checker``. An answer with
calls stays in the conversation as its decoded calls, rendered by the tool format (in ``bfcl_prompt``, canonical
call text, as the training data shows calls); BFCL keeps the raw text, which differs at most in spacing and quotes.

Single-turn: one answer, decoded, scored with BFCL's AST checker (or, for the relevance categories, by whether a
call was decoded).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from magnet.data.render import BFCL_FUNCTIONS_ADDED
from magnet.errors import CallParseError, TeacherError
from magnet.eval import checkers
from magnet.eval.decode import (
    UNKNOWN_FUNCTION,
    decode_prompting,
    execution_strings,
    to_ast_form,
    unknown_function_result,
)
from magnet.eval.entries import (
    SingleTurnEntry,
    expected_single_turn,
    expected_turn_calls,
    multi_turn_row,
    single_turn_row,
)
from magnet.eval.runners import AnswerRequest, Runner
from magnet.llm.client import Completion
from magnet.tools.bfcl import MultiTurnEntry
from magnet.tools.calls import FunctionCall


@dataclass
class StepRecord:
    """One model answer: what it wrote, the calls decoded from it (as executed), and what they returned."""

    text: str
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    decode_error: str | None = None
    results: list[str] = field(default_factory=list)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency: float = 0.0


def decode_answer(completion: Completion, tool_format: str, language: str) -> tuple[list[FunctionCall], str | None]:
    """The calls in an answer, or the reason there are none. ``native``: the answer's tool calls (text alone is
    no call); ``bfcl_prompt``: the text, decoded as BFCL decodes it, but with literals only. Calls holding a value
    that cannot be written back as text or JSON (an integer of more digits than Python converts) are no calls:
    the answer fails to decode, as it would in BFCL, instead of failing the harness later."""
    if tool_format == "native":
        if not completion.tool_calls:
            return [], "no tool call in the answer"
        calls = list(completion.tool_calls)
    else:
        try:
            calls = decode_prompting(completion.text, language)
        except CallParseError as error:
            return [], str(error)
        except (ValueError, RecursionError, MemoryError) as error:
            return [], f"the answer cannot be read ({type(error).__name__}: {str(error)[:200]})"
    problem = unwritable(calls)
    if problem:
        return [], problem
    return calls, None if calls else "no call in the answer"


def unwritable(calls: Sequence[FunctionCall]) -> str | None:
    """Why some call cannot be written as JSON (what the results file needs; an integer of more digits than Python
    converts fails call text as well), or None. Call text is not required: a Java answer may name a parameter
    ``from``, which no Python call text can hold; execution handles what it cannot write."""
    for call in calls:
        try:
            json.dumps(call.to_dict())
        except (ValueError, TypeError, RecursionError) as error:
            return f"{call.name}: a value cannot be written back ({type(error).__name__}: {str(error)[:200]})"
    return None


# Request failures that are the model's doing (its tool call is not JSON): a wrong answer, not an outage.
MODEL_FAULTS = ("malformed_tool_call",)


async def ask_runner(runner: Runner, request: AnswerRequest) -> tuple[Completion, str | None]:
    """The runner's answer, or an empty one and the reason when the model's answer could not be read. Other
    request failures propagate: the entry is not scored, and a rerun asks again."""
    try:
        return await runner.answer(request), None
    except TeacherError as error:
        if error.cause in MODEL_FAULTS:
            return Completion(), f"the answer could not be read: {error}"
        raise


def step_record(
    completion: Completion, tool_format: str, language: str, fault: str | None = None
) -> tuple[StepRecord, list[FunctionCall]]:
    """One answer as its results-file record and the calls to execute (none when it did not decode, or ``fault``
    says why it could not be read)."""
    calls, error = ([], fault) if fault else decode_answer(completion, tool_format, language)
    record = StepRecord(
        text=completion.text,
        tool_calls=[] if unwritable(completion.tool_calls) else [call.to_dict() for call in completion.tool_calls],
        decode_error=error,
        prompt_tokens=completion.prompt_tokens,
        completion_tokens=completion.completion_tokens,
        latency=completion.latency,
    )
    return record, calls


def _assistant_and_tool_messages(
    record: StepRecord, calls: list[FunctionCall], turn: int, step: int
) -> list[dict[str, Any]]:
    ids = [f"call_{turn}_{step}_{index}" for index in range(len(calls))]
    assistant = {
        "role": "assistant",
        "content": record.text or None,
        "tool_calls": [call.to_tool_call(call_id) for call, call_id in zip(calls, ids, strict=True)],
    }
    tools = [
        {"role": "tool", "tool_call_id": call_id, "name": call.name, "content": result}
        for call, call_id, result in zip(calls, ids, record.results, strict=True)
    ]
    return [assistant, *tools]


async def run_multi_turn(entry: MultiTurnEntry, runner: Runner) -> dict[str, Any]:
    """Run one multi-turn entry to the end and score it; the record written to the results file."""
    started = time.perf_counter()
    row = multi_turn_row(entry)
    messages: list[dict[str, Any]] = []
    allowed = checkers.callable_names(tuple(entry.involved_classes))
    limit = checkers.step_limit()
    turns: list[list[StepRecord]] = []
    force_terminated = False
    with checkers.BFCLRollout(entry) as rollout:
        for turn, turn_messages in enumerate(entry.question):
            if str(turn) in row["meta"]["missing"]["tools"]:
                turn_messages = [{"role": "user", "content": BFCL_FUNCTIONS_ADDED}]
            messages.extend(dict(message) for message in turn_messages)
            expected = expected_turn_calls(entry, turn)
            steps: list[StepRecord] = []
            executed = 0
            while True:
                request = AnswerRequest(
                    row={**row, "messages": list(messages)},
                    entry_id=entry.id,
                    category=entry.category,
                    turn=turn,
                    step=len(steps),
                    expected=expected,
                )
                completion, fault = await ask_runner(runner, request)
                record, calls = step_record(completion, runner.tool_format, "Python", fault)
                steps.append(record)
                if not calls:
                    messages.append({"role": "assistant", "content": record.text})
                    break
                record.calls = execution_strings(calls, allowed)
                results = rollout.execute(record.calls)
                record.results = [
                    unknown_function_result(call) if text == f"{UNKNOWN_FUNCTION}()" else result
                    for call, text, result in zip(calls, record.calls, results, strict=True)
                ]
                messages.extend(_assistant_and_tool_messages(record, calls, turn, len(steps) - 1))
                executed += 1
                if executed > limit:
                    force_terminated = True
                    break
            turns.append(steps)
            if force_terminated:
                break
        decoded = [[step.calls for step in steps if step.calls] for steps in turns]
        verdict = rollout.score(decoded)
    return {
        "id": entry.id,
        "category": entry.category,
        "valid": bool(verdict.get("valid")),
        "error_type": verdict.get("error_type"),
        "error": verdict.get("error_message"),
        "force_terminated": force_terminated,
        "turns": [[asdict(step) for step in steps] for steps in turns],
        "seconds": round(time.perf_counter() - started, 3),
    }


async def run_single_turn(entry: SingleTurnEntry, runner: Runner) -> dict[str, Any]:
    """Ask one single-turn entry and score the answer; the record written to the results file."""
    started = time.perf_counter()
    expected, expected_text = expected_single_turn(entry)
    request = AnswerRequest(
        row=single_turn_row(entry),
        entry_id=entry.id,
        category=entry.category,
        language=entry.language,
        expected=expected,
        expected_text=expected_text,
    )
    completion, fault = await ask_runner(runner, request)
    record, calls = step_record(completion, runner.tool_format, entry.language, fault)
    decoded = to_ast_form(calls)
    if entry.possible_answer is None:  # relevance categories: did the answer decode to at least one call?
        made_call = bool(calls)
        valid = made_call if entry.category == "live_relevance" else not made_call
        error_type = None if valid else ("relevance_error:decoder_failed" if not made_call else "irrelevance_error")
        error = None if valid else (record.decode_error or "a call was made where none should be")
    elif record.decode_error is not None:
        valid, error_type, error = False, "ast_decoder:decoder_failed", record.decode_error
    else:
        verdict = checkers.ast_check(entry.functions, decoded, entry.possible_answer, entry.language, entry.category)
        valid = bool(verdict["valid"])
        error_type = verdict.get("error_type")
        error = None if valid else "; ".join(str(item) for item in verdict.get("error", []))
    return {
        "id": entry.id,
        "category": entry.category,
        "valid": valid,
        "error_type": error_type,
        "error": error,
        "calls": decoded,
        "step": asdict(record),
        "seconds": round(time.perf_counter() - started, 3),
    }
