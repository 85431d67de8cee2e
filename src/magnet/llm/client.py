"""Teachers: one protocol for every model Magnet asks something of.

``Teacher.complete(messages, tools=None, *, step, **params) -> Completion`` is all a synthesis step or an
evaluation runner needs. ``OpenAITeacher`` talks to any OpenAI-compatible endpoint (vLLM, SGLang, llama.cpp,
hosted APIs); ``HFTeacher`` (``magnet.llm.local``) runs a local transformers model; the offline backend
(``magnet.synthesis.offline``) answers every step deterministically with no model at all. Whatever the teacher,
requests go through the same cache and the same usage accounting, keyed by the step that made them.

``step`` names the synthesis step (for accounting and the cache's bookkeeping); every teacher, the offline
backend included, answers from the messages, the tools and the sampling parameters alone.

This module is the one place callers import teachers from; each part lives in a module of its own:
``magnet.llm.teacher`` (the protocol and ``Completion``), ``magnet.llm.caching_teacher`` (the cache, accounting
and tool-call modes every model-backed teacher shares), ``magnet.llm.wire`` (the chat-completions wire format)
and ``magnet.llm.openai_teacher`` (the endpoint client, its retries and refusals).
"""

from __future__ import annotations

from magnet.llm.caching_teacher import PROBE_MESSAGES, PROBE_TOOL, TOOL_CALL_MODES, CachingTeacher, read_answer
from magnet.llm.openai_teacher import LOCAL_HOSTS, RETRYABLE_CLIENT_STATUSES, OpenAITeacher
from magnet.llm.teacher import Completion, Teacher
from magnet.llm.wire import retry_after_seconds, to_openai_messages

__all__ = [
    "LOCAL_HOSTS",
    "PROBE_MESSAGES",
    "PROBE_TOOL",
    "RETRYABLE_CLIENT_STATUSES",
    "TOOL_CALL_MODES",
    "CachingTeacher",
    "Completion",
    "OpenAITeacher",
    "Teacher",
    "read_answer",
    "retry_after_seconds",
    "to_openai_messages",
]
