"""The student (the SFT model) as the negatives stage talks to it: in the tool format it was trained in.

A model trained in ``bfcl_prompt`` reads its functions from BFCL's system prompt and writes its calls as text
``[f(a=1)]``; offered ``tools`` through a chat template instead, it answers in a format it never saw, and its
wrong calls, the very material of the paper's negatives, come out as unreadable text. ``FormattedStudent``
renders each request the way training rendered the rows (``magnet.data.render``) and reads the answer with the
evaluation's decoder (``magnet.llm.answers.decode_bfcl``), so a student's answer counts as calls exactly when
BFCL's evaluation would count it.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from magnet.data.model_record import recorded_tool_format
from magnet.data.render import TOOL_FORMATS, render
from magnet.errors import CallParseError, MagnetError
from magnet.llm.answers import decode_bfcl
from magnet.llm.client import Completion, Teacher

logger = logging.getLogger(__name__)

DEFAULT_TOOL_FORMAT = "bfcl_prompt"
"""What the recipes train in (the paper's format), for a student whose folder records nothing."""


def student_tool_format(model: str | None, setting: str | None = None) -> tuple[str, str]:
    """``(tool format, where it came from)``: the setting when given, else the model folder's ``magnet.json``
    (a local folder, or a served model whose name is its folder, as vLLM names it), else ``bfcl_prompt``."""
    if setting:
        if setting not in TOOL_FORMATS:
            raise MagnetError(f"negatives.student_tool_format must be one of {list(TOOL_FORMATS)}, got {setting!r}")
        return setting, "negatives.student_tool_format"
    if model and Path(model).is_dir():
        recorded = recorded_tool_format(model)
        if recorded:
            return recorded, f"{Path(model) / 'magnet.json'}"
    return DEFAULT_TOOL_FORMAT, "default (no magnet.json found for the student)"


class FormattedStudent:
    """A ``Teacher`` that shows ``model`` each conversation in ``tool_format`` and reads its calls back.

    ``bfcl_prompt``: BFCL's system prompt lists the offered functions (any system text of the conversation, such
    as hint instructions, follows it, as training renders a row's system message), earlier calls are text, and
    the answer's calls are decoded as BFCL decodes them; an answer that does not decode is a text answer.
    ``native``: the conversation and ``tools`` as they are, for the model's own chat template. Empty system
    messages are dropped in both, so a hint-free rollout sees exactly what a training row showed.
    """

    def __init__(self, model: Teacher, tool_format: str = DEFAULT_TOOL_FORMAT):
        if tool_format not in TOOL_FORMATS:
            raise MagnetError(f"unknown student tool_format {tool_format!r}; choose from {list(TOOL_FORMATS)}")
        self.model = model
        self.tool_format = tool_format
        self.name = model.name
        self.usage = getattr(model, "usage", None)

    async def complete(
        self,
        messages: Sequence[Mapping[str, Any]],
        tools: Sequence[Mapping[str, Any]] | None = None,
        *,
        step: str = "default",
        **params: Any,
    ) -> Completion:
        """The student's answer, its calls decoded in its own format."""
        kept = [m for m in messages if not (m.get("role") == "system" and not str(m.get("content") or "").strip())]
        if self.tool_format == "native" or not tools:
            return await self.model.complete(kept, tools, step=step, **params)
        rendered, _ = render({"id": f"student-{step}", "messages": kept, "tools": list(tools)}, "bfcl_prompt")
        completion = await self.model.complete(rendered, None, step=step, **params)
        try:
            calls = decode_bfcl(completion.text)
        except CallParseError:
            return completion  # not calls, as BFCL would read it: the turn's text answer
        return dataclasses.replace(completion, text="", tool_calls=tuple(calls))

    def tool_call_report(self) -> dict[str, Any]:
        """How the student's calls travel (what a run report records)."""
        inner = getattr(self.model, "tool_call_report", None)
        return {"tool_format": self.tool_format, **(inner() if inner and self.tool_format == "native" else {})}

    async def aclose(self) -> None:
        """Close the model's connections, if it holds any."""
        if hasattr(self.model, "aclose"):
            await self.model.aclose()
