"""The offline backend as the assistant of a rollout: it reads the conversation's messages (tool outputs as
``tool`` messages or as text), follows a ``[Hint]`` exactly, or else makes the calls the user's message asks for,
and summarises the outputs when no call is left.

Kept apart from the step answerers because a rollout has no step prompt: it is a conversation, read message by
message.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from magnet.llm.answers import OUTPUT_PREFIX, decode_text_calls
from magnet.synthesis.distill import CORRECTION_NOTE
from magnet.synthesis.offline_planning import _parsed_outputs
from magnet.synthesis.offline_translation import WAITING, _sentence, calls_in_request
from magnet.synthesis.prompt_reading import PromptReadError
from magnet.synthesis.steps import TurnRecord
from magnet.tools.calls import FunctionCall, parse_calls, parse_tool_calls
from magnet.tools.spec import FunctionSpec


def _content(message: Mapping[str, Any]) -> str:
    return str(message.get("content") or "")


def _is_output(message: Mapping[str, Any]) -> bool:
    """A tool output: a ``tool`` message, or (calls as text) a user message that starts ``Output of``."""
    return message.get("role") == "tool" or (
        message.get("role") == "user" and _content(message).startswith(OUTPUT_PREFIX)
    )


def _outputs(message: Mapping[str, Any]) -> list[str]:
    if message.get("role") == "tool":
        return [_content(message)]
    parts = re.split(rf"(?:^|\n\n)(?={re.escape(OUTPUT_PREFIX)})", _content(message))
    return [part.split(":\n", 1)[-1] for part in parts if part]


def _made_calls(message: Mapping[str, Any]) -> list[FunctionCall]:
    if message.get("tool_calls"):
        return parse_tool_calls(message["tool_calls"])
    return decode_text_calls(_content(message))[0] if message.get("role") == "assistant" else []


def _hint(query: str) -> str | None:
    match = re.search(r"\[Hint\]:\s*(.*)\Z", query.strip(), re.DOTALL)
    return match.group(1).strip() if match else None


def _asked_for(query: str, specs: Sequence[FunctionSpec]) -> list[str]:
    """The required values a request leaves out: of the functions whose description it paraphrases, the
    required parameters it does not mention."""
    missing = []
    for spec in specs:
        if _sentence(spec) in query:
            missing += [name for name in spec.required if name.replace("_", " ") not in query]
    return list(dict.fromkeys(missing))


def _summary(outputs: Sequence[str]) -> str:
    facts = []
    for output in _parsed_outputs(outputs):
        if isinstance(output, Mapping):
            if "error" in output:
                facts.append(f"the request failed: {output['error']}")
                continue
            scalars = [f"{k.replace('_', ' ')} {v}" for k, v in output.items() if not isinstance(v, Mapping | list)]
            lists = [f"{len(v)} {k.replace('_', ' ')}" for k, v in output.items() if isinstance(v, list)]
            facts.append(", ".join((scalars + lists)[:6]))
    return "Done: " + "; ".join(fact for fact in facts if fact) + "." if facts else "Done."


def _scalars(value: Any) -> list[Any]:
    if isinstance(value, Mapping):
        return [item for inner in value.values() for item in _scalars(inner)]
    if isinstance(value, list | tuple):
        return [item for inner in value for item in _scalars(inner)]
    return [value]


def _can_write(call: FunctionCall, seen: str) -> bool:
    """Whether every value of ``call`` is in the conversation already (a booleans, ``None`` and one-character
    values aside): a model cannot write a value it has not seen, so a call whose value an earlier call of the turn
    will return waits for that output."""
    for value in _scalars(dict(call.arguments)):
        if isinstance(value, bool) or value is None:
            continue
        text = str(value) if isinstance(value, str) else json.dumps(value)
        if len(text) > 1 and text not in seen:
            return False
    return True


def answer_rollout(
    messages: Sequence[Mapping[str, Any]], specs: Sequence[FunctionSpec]
) -> tuple[list[FunctionCall], str]:
    """``(the next calls, or none and the text to answer)`` for the assistant of a rollout, from the messages.

    With a ``[Hint]`` after the user's message: the hinted calls not made yet, as many in one response as are
    independent (the first pending call, and each next one whose values the conversation already shows: a value
    only an output can give waits for it), as the system prompt asks; on ``miss function``, say so; on ``missed
    params``, ask for what the message leaves out. Without a hint: the calls the message asks for, read as
    forth-translation reads a query. When no call is left, a summary of the outputs since the message.

    A correction after some outputs (``CORRECTION_NOTE`` with a hint: the calls were wrong) replaces the hint: the
    calls it names that were not made right yet come next, and the summary leaves the failed calls out.
    """
    users = [i for i, m in enumerate(messages) if m.get("role") == "user" and not _is_output(m)]
    corrections = [i for i in users if _content(messages[i]).startswith(CORRECTION_NOTE)]
    last = max((i for i in users if i not in corrections), default=None)
    if last is None:
        raise PromptReadError("rollout", "a user message")
    query = _content(messages[last])
    made = [call for message in messages[last + 1 :] for call in _made_calls(message)]
    outputs = [output for message in messages[last + 1 :] if _is_output(message) for output in _outputs(message)]
    hint = _hint(query)
    corrected = bool(corrections) and corrections[-1] > last
    if corrected:
        hint = _hint(_content(messages[corrections[-1]]))
    if hint == "miss function":
        return [], "I cannot do that: none of the functions I have can do it."
    if hint == "missed params":
        asked = ", ".join(name.replace("_", " ") for name in _asked_for(query, specs)) or "a required detail"
        return [], f"To do that I need the {asked}. Could you tell me?"
    if hint is not None:
        try:
            wanted = parse_calls(hint)
        except ValueError:
            raise PromptReadError("rollout", "a hint in BFCL's call form") from None
    else:
        earlier = [m for m in messages[:last] if _is_output(m)]
        history = (TurnRecord("", (), tuple(o for m in earlier for o in _outputs(m))),)
        wanted = calls_in_request(query, specs, history, outputs, made)
    pending = list(wanted)
    for call in made:
        if call in pending:
            pending.remove(call)
    # A call whose value an output of this turn must give, and none has yet, cannot be written (yet).
    pending = [call for call in pending if not any(value is WAITING for value in call.arguments.values())]
    if not pending or len(made) >= len(wanted) + 2:
        if corrected:  # the answer is about the right calls' outputs, not the wrong ones'
            outputs = [output for call, output in zip(made, outputs, strict=False) if call in wanted]
        return [], _summary(outputs)
    shown = [_content(m) + json.dumps(m.get("tool_calls") or "") for m in messages if m.get("role") != "system"]
    seen = "\n".join(shown).replace(f"[Hint]: {hint}", "")
    batch = [pending[0]]
    for call in pending[1:]:
        if not _can_write(call, seen):
            break
        batch.append(call)
    return batch, ""
