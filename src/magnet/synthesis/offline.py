"""The offline backend: a deterministic teacher that reads prompts as a model does, with no model.

``OfflineTeacher`` is a ``Teacher`` (a ``CachingTeacher``, so requests go through the same text-mode rendering,
reasoning stripping and call decoding as a served model's). It sees the rendered messages and tools only: it finds
the task from the system prompt, reads the prompt's sections back (``magnet.synthesis.prompt_reading``), decides
by rules, and writes the answer in a ``teacher.style`` (``magnet.synthesis.answer_styles``): clean, chatty,
markdown, think, json or mixed. The rules: labels from the words of the function's name and description; the
schema judge for dependencies (output fields matched to parameters by name and type); queries from templates over
the functions' descriptions and values drawn from the records the prompt shows; calls read back from the query
(values stated in it, or found in the earlier outputs it refers to); exact hint following in rollouts;
comparison with the reference for the turn judge; schema-shaped outputs for simulated execution.

A prompt that stops carrying what a step needs fails the run (``PromptReadError``); a query that stops stating a
value leaves its call without it, and the call is refused. What it produces is labelled ``teacher: offline``. The
same request always gives the same answer; a request's sampling ``seed`` (translation sends one per turn attempt)
changes the values it draws, as it would a model's sample.

The teacher is here; what it answers for each step is in ``offline_graph_steps`` (labels, dependency and nested
judgements), ``offline_planning`` and ``offline_translation`` (translation), ``offline_turn_judge``,
``offline_simulation`` and ``offline_rollouts``, all re-exported here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from magnet.llm.cache import RequestCache
from magnet.llm.client import CachingTeacher, Completion
from magnet.llm.usage import UsageTracker
from magnet.synthesis.answer_styles import STYLES, AnswerWriter, request_digest
from magnet.synthesis.distill import hint_system_prompt
from magnet.synthesis.offline_graph_steps import CATEGORY_WORDS, answer_dependencies, answer_label, answer_nested
from magnet.synthesis.offline_planning import SYNTHETIC_STRINGS, plan_turn
from magnet.synthesis.offline_rollouts import _content, answer_rollout
from magnet.synthesis.offline_simulation import answer_simulation, simulated_output
from magnet.synthesis.offline_translation import answer_back_translation, calls_in_request, next_calls
from magnet.synthesis.offline_turn_judge import answer_turn_judge, value_in
from magnet.synthesis.prompt_reading import PromptReadError, read_functions, read_step_inputs, specs_of, step_of

__all__ = [
    "CATEGORY_WORDS",
    "OFFLINE_NAME",
    "SYNTHETIC_STRINGS",
    "OfflineTeacher",
    "answer_back_translation",
    "answer_dependencies",
    "answer_label",
    "answer_nested",
    "answer_rollout",
    "answer_simulation",
    "answer_turn_judge",
    "calls_in_request",
    "plan_turn",
    "simulated_output",
    "value_in",
]

OFFLINE_NAME = "offline"


class OfflineTeacher(CachingTeacher):
    """The offline backend as a ``Teacher``: it reads the request's messages and tools, decides by rules and
    writes in ``style`` (see ``magnet.synthesis.answer_styles.STYLES``). ``tool_calls``: ``native`` (calls as
    ``tool_calls``, the default) or ``text`` (tools described in the prompt, calls written in the answer)."""

    name = OFFLINE_NAME
    model = OFFLINE_NAME

    def __init__(
        self,
        usage: UsageTracker | None = None,
        *,
        style: str = "clean",
        tool_calls: str = "auto",
        cache: RequestCache | None = None,
    ):
        if style not in STYLES:
            raise ValueError(f"teacher.style must be one of {list(STYLES)}, got {style!r}")
        super().__init__(cache=cache, usage=usage, tool_calls=tool_calls)
        self.style = style

    async def _request(
        self,
        messages: list[Mapping[str, Any]],
        tools: list[Mapping[str, Any]] | None,
        params: dict[str, Any],
        step: str,
    ) -> Completion:
        self.usage.record_request(step)
        try:
            completion = self._answer(messages, tools, params)
        except PromptReadError:
            self.usage.record_failure(step, "unreadable_prompt")
            raise
        self.usage.record_answer(step, OFFLINE_NAME, 0, 0, 0.0)
        return completion

    def _answer(
        self, messages: list[Mapping[str, Any]], tools: list[Mapping[str, Any]] | None, params: Mapping[str, Any]
    ) -> Completion:
        writer = AnswerWriter.for_request(self.style, request_digest(messages, tools, params))
        system = next((_content(m) for m in messages if m.get("role") == "system"), "")
        task = step_of(system)
        if task is None:
            if not system.startswith(hint_system_prompt().split("\n", 1)[0]) and not tools:
                raise PromptReadError("request", "a system prompt of a known step")
            specs = specs_of(tools) if tools else read_functions("rollout", system)
            calls, text = answer_rollout(messages, specs)
            if not calls:
                return Completion(text=writer.reply(text), finish_reason="stop", model=OFFLINE_NAME)
            if tools:
                return Completion(tool_calls=tuple(calls), finish_reason="tool_calls", model=OFFLINE_NAME)
            return Completion(text=writer.text_calls(calls), finish_reason="stop", model=OFFLINE_NAME)
        inputs = read_step_inputs(task, messages, int(params.get("seed") or 0))
        return Completion(text=self._text(task, inputs, writer), finish_reason="stop", model=OFFLINE_NAME)

    @staticmethod
    def _text(task: str, inputs: Any, writer: AnswerWriter) -> str:
        if task == "label_category":
            return writer.label(*answer_label(inputs))
        if task == "dependency_judge":
            return writer.dependencies(inputs.target.name, answer_dependencies(inputs))
        if task == "nested_judge":
            return writer.verdict(*answer_nested(inputs))
        if task == "back_translate":
            return writer.query(answer_back_translation(inputs))
        if task == "forth_translate":
            calls = next_calls(inputs)
            if not calls:
                return writer.finish("the message asks for none of the candidate functions.")
            return writer.calls(calls, "the request maps onto these calls.")
        if task == "turn_judge":
            return writer.turn_verdict(*answer_turn_judge(inputs))
        return writer.simulated(answer_simulation(inputs))
