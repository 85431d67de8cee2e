"""Who answers during an evaluation: a model (local transformers or an OpenAI-compatible endpoint), or one of
two harness checks (``reference`` answers with the ground truth, ``silent`` never calls a function).

Every runner answers an ``AnswerRequest`` with a ``Completion`` in its tool format, and the evaluation decodes it
the same way whoever answered, so the reference runner exercises the same rendering, decoding, execution and
scoring as a model does:

* ``bfcl_prompt``: the conversation rendered by ``magnet.data.render`` (BFCL's prompting system prompt, calls as
  text ``[f(a=1)]``); the answer is text, decoded by ``magnet.eval.decode``.
* ``native``: the conversation and ``tools`` for the model's own chat template; the answer's tool calls are the
  calls. Endpoints that refuse ``.`` in function names (OpenAI's) get ``_`` instead, mapped back on the way out.

Model runners talk through ``magnet.llm`` (``OpenAITeacher`` / ``HFTeacher``): the synthesis teacher's client,
retry policy and request cache.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from magnet.data.model_record import recorded_tool_format
from magnet.data.render import TOOL_FORMATS, render
from magnet.errors import MagnetError
from magnet.eval.fingerprint import endpoint_fingerprint, local_fingerprint
from magnet.llm.client import Completion, Teacher
from magnet.tools.calls import FunctionCall, format_calls

logger = logging.getLogger(__name__)

SILENT_TEXT = "I cannot help with that using the functions I have."
DONE_TEXT = "The request is complete."


@dataclass(frozen=True)
class AnswerRequest:
    """One model step: the conversation so far as a Magnet row (``messages``, ``tools``, ``meta``), where it is
    in the entry, and the calls the ground truth expects now (read by the reference runner only)."""

    row: Mapping[str, Any]
    entry_id: str
    category: str
    turn: int = 0
    step: int = 0
    language: str = "Python"
    expected: tuple[FunctionCall, ...] | None = None
    expected_text: str | None = None


class Runner(Protocol):
    """Anything that answers evaluation steps."""

    name: str
    tool_format: str

    async def answer(self, request: AnswerRequest) -> Completion:
        """The answer to one step, in ``tool_format``."""
        ...


def _check_format(tool_format: str) -> str:
    if tool_format not in TOOL_FORMATS:
        raise MagnetError(f"unknown tool_format {tool_format!r}; choose from {TOOL_FORMATS}")
    return tool_format


@dataclass
class ReferenceRunner:
    """Answers every step with the ground truth: the turn's calls at its first step, then no call (which ends
    the turn); on a turn whose ground truth is empty (a missing function or parameter), no call at all. A
    harness that scores this runner below 100% has a bug."""

    tool_format: str = "bfcl_prompt"
    name: str = "reference"

    def __post_init__(self) -> None:
        _check_format(self.tool_format)

    async def answer(self, request: AnswerRequest) -> Completion:
        if request.step > 0 or not request.expected:
            return Completion(text=DONE_TEXT, model="reference")
        if self.tool_format == "native":
            return Completion(tool_calls=tuple(request.expected), model="reference")
        return Completion(text=request.expected_text or format_calls(request.expected), model="reference")


@dataclass
class SilentRunner:
    """Never calls a function: scores 0 where a call is expected and 100% on irrelevance."""

    tool_format: str = "bfcl_prompt"
    name: str = "silent"

    def __post_init__(self) -> None:
        _check_format(self.tool_format)

    async def answer(self, request: AnswerRequest) -> Completion:
        return Completion(text=SILENT_TEXT, model="silent")


def _dotless(tools: Sequence[Mapping[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Tools with ``.`` in names replaced by ``_``, and the map back to the original names."""
    renamed, back = [], {}
    for tool in tools:
        function = dict(tool.get("function", tool))
        name = function["name"]
        if "." in name:
            function["name"] = name.replace(".", "_")
            back[function["name"]] = name
        renamed.append({**tool, "function": function} if "function" in tool else function)
    return renamed, back


@dataclass
class ModelRunner:
    """A model behind a ``magnet.llm`` teacher, shown the conversation in ``tool_format``.

    Parameters
    ----------
    teacher:
        ``OpenAITeacher`` (vLLM, SGLang, hosted APIs) or ``HFTeacher`` (local transformers, batched).
    tool_format:
        ``bfcl_prompt`` (BFCL's prompting mode, the paper's) or ``native`` (tools + tool calls).
    params:
        Generation parameters for every request (default greedy: ``temperature`` 0).
    dotless_names:
        Send ``.`` in function names as ``_`` (OpenAI's API refuses dots) and map them back.
    """

    teacher: Teacher
    tool_format: str = "bfcl_prompt"
    params: dict[str, Any] = field(default_factory=lambda: {"temperature": 0.0})
    dotless_names: bool = False
    fingerprint: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        _check_format(self.tool_format)
        self.name = getattr(self.teacher, "name", "model")
        if self.fingerprint is None:  # a teacher built in Python: its name and how it is asked
            self.fingerprint = {"model": self.name, "generation": {"tool_format": self.tool_format, **self.params}}

    async def answer(self, request: AnswerRequest) -> Completion:
        messages, tools = render(request.row, self.tool_format)
        back: dict[str, str] = {}
        if tools and self.dotless_names:
            tools, back = _dotless(tools)
        completion = await self.teacher.complete(messages, tools or None, step="eval", **self.params)
        if back and completion.tool_calls:
            calls = tuple(FunctionCall(back.get(c.name, c.name), c.arguments) for c in completion.tool_calls)
            completion = dataclasses.replace(completion, tool_calls=calls)
        return completion


def local_runner(
    model_path: str,
    *,
    tool_format: str = "bfcl_prompt",
    max_new_tokens: int = 512,
    batch_size: int = 8,
    dtype: str = "auto",
    device: str | None = None,
    cache: Any = None,
    tool_calls: str = "auto",
) -> ModelRunner:
    """A local transformers model (a folder, or a hub id where the hub is reachable), batched generation.
    ``tool_calls`` matters in the ``native`` format only (``bfcl_prompt`` offers no tools): see ``HFTeacher``."""
    from magnet.llm.local import HFTeacher

    teacher = HFTeacher(
        model_path,
        batch_size=batch_size,
        max_new_tokens=max_new_tokens,
        dtype=dtype,
        device=device,
        cache=cache,
        tool_calls=tool_calls,
    )
    generation = {"tool_format": tool_format, "temperature": 0.0, "max_new_tokens": max_new_tokens}
    if tool_format == "native":
        generation["tool_calls"] = tool_calls
    return ModelRunner(
        teacher,
        tool_format=tool_format,
        params={"temperature": 0.0},
        fingerprint=local_fingerprint(model_path, generation),
    )


def trained_model_runner(model_path: str, *, tool_format: str | None = None, **options: Any) -> ModelRunner:
    """``local_runner`` for a model folder in the tool format it was trained with (``magnet.json``, written by the
    recipes), unless ``tool_format`` says otherwise, which is logged when the two differ; ``bfcl_prompt`` for a
    model Magnet did not train. ``options`` go to ``local_runner``."""
    recorded = recorded_tool_format(model_path)
    if tool_format and recorded and tool_format != recorded:
        logger.warning(
            "--tool-format %s differs from the %s the model was trained with (magnet.json)", tool_format, recorded
        )
    return local_runner(str(model_path), tool_format=tool_format or recorded or "bfcl_prompt", **options)


def endpoint_runner(
    model: str,
    base_url: str,
    *,
    tool_format: str = "bfcl_prompt",
    api_key_env: str = "OPENAI_API_KEY",
    max_concurrency: int = 16,
    max_tokens: int | None = None,
    cache: Any = None,
    tool_calls: str = "auto",
) -> ModelRunner:
    """A model behind an OpenAI-compatible endpoint (vLLM, SGLang, hosted APIs). ``tool_calls`` matters in the
    ``native`` format only (``bfcl_prompt`` offers no tools): see ``OpenAITeacher``."""
    from magnet.llm.client import OpenAITeacher

    teacher = OpenAITeacher(
        model,
        base_url=base_url,
        api_key_env=api_key_env,
        max_concurrency=max_concurrency,
        cache=cache,
        tool_calls=tool_calls,
    )
    params: dict[str, Any] = {"temperature": 0.0}
    if max_tokens:
        params["max_tokens"] = max_tokens
    generation = {
        "tool_format": tool_format,
        **params,
        **({"tool_calls": tool_calls} if tool_format == "native" else {}),
    }
    return ModelRunner(
        teacher,
        tool_format=tool_format,
        params=params,
        dotless_names=True,
        fingerprint=endpoint_fingerprint(base_url, model, generation),
    )


def runner_fingerprint(runner: Runner) -> dict[str, Any]:
    """What a runner evaluates (``magnet.eval.fingerprint``); a harness check is its name."""
    return getattr(runner, "fingerprint", None) or {"runner": runner.name}
