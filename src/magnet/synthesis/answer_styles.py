"""How the offline backend formats an answer: the same content, written the ways real models write it.

``teacher.style`` picks one: ``clean`` (the prompt's format to the letter), ``chatty`` (preambles, lowercase
labels, closing remarks, ``Yes, because ...``), ``markdown`` (``**Answer:**``, fences, bold verdicts),
``think`` (a reasoning block first, holding a draft answer), ``json`` (JSON call objects, Python dicts with
trailing commas, numbered error types, Python literals) or ``mixed`` (one of those five drawn per request).
Within a style a few variants are drawn per request. The draw is a hash of the request, so a style is
deterministic: the same request is always written the same way. What a writer writes, the step parsers must
read back to the same content; the offline run of each style is the check (``benchmarks/results.md``).
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from magnet.synthesis.parsers import ERROR_TYPES
from magnet.tools.calls import FunctionCall, format_call, format_calls

STYLES = ("clean", "chatty", "markdown", "think", "json", "mixed")
CONCRETE_STYLES = STYLES[:-1]


def request_digest(*parts: Any) -> int:
    """A stable number for a request (its messages, tools, parameters): what a style's draws start from."""
    text = json.dumps(parts, sort_keys=True, default=str, ensure_ascii=False)
    return int(hashlib.sha256(text.encode()).hexdigest()[:12], 16)


def _as_json_objects(calls: Sequence[FunctionCall]) -> str:
    objects = [{"name": call.name, "arguments": dict(call.arguments)} for call in calls]
    return json.dumps(objects[0] if len(objects) == 1 else objects, ensure_ascii=False)


@dataclass(frozen=True)
class AnswerWriter:
    """Writes one request's answer in ``style`` (``mixed`` resolved with ``digest``)."""

    style: str
    digest: int

    @classmethod
    def for_request(cls, style: str, digest: int) -> AnswerWriter:
        """The writer of one request: ``mixed`` draws a concrete style from the request's digest."""
        if style not in STYLES:
            raise ValueError(f"unknown answer style {style!r}; use one of {list(STYLES)}")
        if style == "mixed":
            style = CONCRETE_STYLES[digest % len(CONCRETE_STYLES)]
        return cls(style, digest)

    def _variant(self, count: int) -> int:
        return random.Random(self.digest).randrange(count)

    # -- calls --------------------------------------------------------------------------------------------------------

    def calls(self, calls: Sequence[FunctionCall], thought: str) -> str:
        """Forth-translation: a thought, then the calls after ``Answer:``."""
        listed = ", ".join(format_call(call) for call in calls)
        variant = self._variant(3)
        if self.style == "chatty":
            return [
                f"Sure! Let me map the request onto the functions.\n\nThought: {thought}\nanswer: {listed}.\n\n"
                "These calls cover everything the user asked for.",
                f"Thought: {thought} I double-checked the required parameters.\nAnswer: {listed}\n"
                "Let me know if you want different values.",
                f"Okay.\nThought: {thought}\nAnswer: {listed} (all values come from the message or earlier outputs)",
            ][variant]
        if self.style == "markdown":
            lines = "\n".join(format_call(call) for call in calls)
            return [
                f"**Thought:** {thought}\n\n**Answer:** {listed}",
                f"Thought: {thought}\n\nAnswer:\n```python\n{lines}\n```",
                f"Thought: {thought}\nAnswer: `{listed}`",
            ][variant]
        if self.style == "think":
            return (
                f"<think>\nThe message asks for {len(calls)} call(s). First draft:\nAnswer: FINISH\nNo: the "
                f"candidate functions can do it.\n</think>\nThought: {thought}\nAnswer: {listed}"
            )
        if self.style == "json":
            return f"Thought: {thought}\nAnswer: {_as_json_objects(calls)}"
        return f"Thought: {thought}\nAnswer: {listed}"

    def finish(self, thought: str) -> str:
        """Forth-translation with nothing to call."""
        if self.style == "markdown":
            return f"**Thought:** {thought}\n\n**Answer:** FINISH"
        if self.style == "chatty":
            return f"Thought: {thought}\nanswer: FINISH."
        return f"Thought: {thought}\nAnswer: FINISH"

    def text_calls(self, calls: Sequence[FunctionCall]) -> str:
        """A response that calls functions, for a teacher whose calls travel as text."""
        listed = format_calls(calls)
        if self.style == "chatty":
            return [f"Sure, let me do that.\n{listed}\nI'll report back once it's done.", f"Let me check: {listed}"][
                self._variant(2)
            ]
        if self.style == "markdown":
            return f"```python\n{listed}\n```"
        if self.style == "think":
            return f"<think>\nI should call {calls[0].name} now. Answer: not yet.\n</think>\n{listed}"
        if self.style == "json":
            return _as_json_objects(calls)
        return listed

    # -- the user's message --------------------------------------------------------------------------------------------

    def query(self, text: str) -> str:
        """Back-translation: the user's message."""
        variant = self._variant(3)
        if self.style == "chatty":
            return [
                f"User: {text}",
                f"Here's the user's next message:\n\n{text}\n\n(Note: earlier results are referred to indirectly.)",
                f"User: {text} (Note: the message keeps the function names out.)",
            ][variant]
        if self.style == "markdown":
            return [f"**User message:** {text}", f"**User message:**\n\n{text}", f'"{text}"'][variant]
        if self.style == "think":
            return f"<think>\nI must not name the functions. Draft: User: ...\n</think>\n\n{text}"
        if self.style == "json":
            return f"“{text}”"
        return text

    # -- judges -------------------------------------------------------------------------------------------------------

    def dependencies(self, target: str, related: Sequence[str]) -> str:
        """The dependency judge: the candidates related to ``target``."""
        plain = json.dumps({target: list(related)})
        if self.style == "chatty":
            return (
                f"Looking at what {target} returns, here is my assessment:\n\n{plain}\n\n"
                'The other candidates take none of its output fields (e.g. {"id": ...}).'
            )
        if self.style == "markdown":
            return f"```json\n{json.dumps({target: list(related)}, indent=2)}\n```"
        if self.style == "think":
            return f"<think>\nWhich candidates use {target}'s output? Answer: {{}}\n</think>\n{plain}"
        if self.style == "json":
            if not related:  # models write a placeholder rather than an empty list; the parser drops it
                return json.dumps([{"function": target, "dependencies": ["none"]}], indent=2)
            names = ", ".join(repr(name) for name in [*related, target])  # the target itself is left out
            return [f"{{'{target}': [{names},],}}", json.dumps([{"function": target, "dependencies": related}])][
                self._variant(2)
            ]
        return plain

    def verdict(self, yes: bool, reason: str) -> str:
        """A yes/no judge: the verdict, then the reason."""
        word = "yes" if yes else "no"
        if self.style == "chatty":
            return f"{word.capitalize()}, because {reason}"
        if self.style == "markdown":
            return f"**{word.capitalize()}**\n\n{reason}"
        if self.style == "think":
            return f"<think>\nLet me check the parameters. Answer: maybe.\n</think>\n{word}\n{reason}"
        if self.style == "json":
            return f"Answer: {word}\nReason: {reason}"
        return f"{word}\n{reason}"

    def turn_verdict(self, error_type: str | None, reason: str) -> str:
        """The turn judge: ``yes``, or ``no`` with the error type and a reason."""
        if error_type is None:
            return {
                "chatty": "Yes, the assistant's turn does what the reference does.",
                "markdown": "**Yes**",
                "think": "<think>\nSame calls, same facts.\n</think>\nyes",
                "json": "Answer: yes",
            }.get(self.style, "yes")
        spaced = error_type.replace("_", " ")
        if self.style == "chatty":
            return f"No - Error type: {spaced}. Reason: {reason}"
        if self.style == "markdown":
            return f"**No**\n\n**Error type:** `{error_type}`\n**Reason:** {reason}"
        if self.style == "think":
            return f"<think>\nThey differ. Answer: yes?\n</think>\nno\nError Type: {error_type}\nReason: {reason}"
        if self.style == "json":
            number = ERROR_TYPES.index(error_type) + 1
            return f"Answer: no\nError type: {number}. {error_type}\nReason: {reason}"
        return f"no\nError type: {error_type}\nReason: {reason}"

    def label(self, category: str, tool_class: str) -> str:
        """The labelling step: category and tool class."""
        if self.style == "chatty":
            return f"Category: {category.replace('_', ' ')} ({tool_class.lower()})\nTool class: {tool_class}"
        if self.style == "markdown":
            return f"**Category:** {category}\n**Tool class:** {tool_class}"
        if self.style == "think":
            return (
                f"<think>\nWhat does it do? Category: misc?\n</think>\nCategory: {category}\nTool class: {tool_class}"
            )
        if self.style == "json":
            return f'Category: "{category}"\nTool class: "{tool_class}"'
        return f"Category: {category}\nTool class: {tool_class}"

    # -- simulated outputs and replies -------------------------------------------------------------------------------

    def simulated(self, value: Any) -> str:
        """A simulated function output."""
        plain = json.dumps(value, ensure_ascii=False)
        if self.style == "chatty":
            return f"Here is the simulated output:\n\n{plain}\n\nNote: the values are consistent with the arguments."
        if self.style == "markdown":
            return f"```json\n{json.dumps(value, indent=2, ensure_ascii=False)}\n```"
        if self.style == "think":
            return f"<think>\nThe schema wants an object: {{}}\n</think>\n{plain}"
        if self.style == "json":
            return repr(value)  # Python literals: single quotes, True, None
        return plain

    def reply(self, text: str) -> str:
        """The assistant's closing text in a rollout."""
        if self.style == "chatty":
            return f"{text} Let me know if there's anything else I can help with!"
        if self.style == "markdown":
            return f"Here's what I found:\n\n- {text}"
        if self.style == "think":
            return f"<think>\nSummarise the outputs for the user.\n</think>\n{text}"
        return text
