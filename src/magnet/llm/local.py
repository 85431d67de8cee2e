"""``HFTeacher``: a local transformers model as a teacher (the student in the negatives stage, or a fully
local run on a GPU).

Requests from concurrent synthesis tasks are gathered into batches (left-padded, one ``generate`` per batch of
identical sampling parameters) and generated in a worker thread, so the event loop keeps serving other work.
Prompts are rendered with the tokenizer's chat template (``tools`` included when the template renders them; else,
with ``tool_calls`` ``auto`` or ``text``, the functions are described in the prompt); Qwen2.5-style ``<tool_call>``
blocks and calls written as text in the answer become tool calls. An answer with a ``<tool_call>`` block that does
not parse fails as a whole (``TeacherError``, cause ``malformed_tool_call``), as an endpoint's answer with
unreadable tool-call arguments does and as vLLM's Hermes parser voids it: a local and a served model are scored
by one rule.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from magnet.errors import TeacherError
from magnet.llm.cache import RequestCache
from magnet.llm.client import PROBE_MESSAGES, PROBE_TOOL, CachingTeacher, Completion
from magnet.llm.usage import UsageTracker
from magnet.tools.calls import parse_tagged_tool_calls

MALFORMED = "malformed_tool_call"
"""The failure cause of an answer whose tool call does not parse, as an endpoint reports it (``magnet.llm.wire``)."""
GENERATION_KEYS = ("temperature", "top_p", "max_tokens", "seed")


WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".gguf", ".json")


WEIGHT_FILES = ("*.safetensors", "*.bin", "*.pt", "*.gguf")
TOKENIZERS = ("tokenizer.json", "tokenizer.model", "vocab.json", "tokenizer_config.json")


def model_folder_problem(folder: str | Path) -> str | None:
    """Why ``folder`` is not a local transformers model folder or PEFT adapter folder (missing, or without config,
    weights or tokenizer), or None: checked before loading, so that a wrong folder is one line, not a loader's
    traceback."""
    path = Path(folder)
    if not path.is_dir():
        return f"{folder}: {'not a folder' if path.exists() else 'no such model folder'}"
    lacks = [
        what
        for what, patterns in (
            ("config.json", ("config.json", "adapter_config.json")),  # a PEFT adapter names its base model
            ("weights", WEIGHT_FILES),
            ("tokenizer", TOKENIZERS),
        )
        if not any(next(path.glob(pattern), None) for pattern in patterns)
    ]
    if lacks:
        return (
            f"{folder}: not a model folder (no {', no '.join(lacks)}); give the output_dir of recipes/sft.py or "
            "recipes/mdpo.py, magnet tiny-model's --out, or any transformers model folder"
        )
    return None


def weights_fingerprint(model: str | Path) -> str:
    """A short hash of a local model folder's weight and config files (relative name, size, modification time);
    the name itself for a hub id, whose revision the hub pins."""
    folder = Path(model)
    if not folder.is_dir():
        return "hub"
    entries = sorted(
        (str(path.relative_to(folder)), stat.st_size, stat.st_mtime_ns)
        for path in folder.rglob("*")
        if path.is_file() and path.suffix in WEIGHT_SUFFIXES
        for stat in (path.stat(),)
    )
    return hashlib.sha256(json.dumps(entries).encode()).hexdigest()[:16]


@dataclass
class _Pending:
    prompt: str
    params: dict[str, Any]
    step: str
    future: asyncio.Future


class HFTeacher(CachingTeacher):
    """A local causal LM answering through its chat template, with batched generation.

    Parameters
    ----------
    model_path:
        A local folder (or, on a machine with hub access, a hub id).
    batch_size:
        Most prompts generated together.
    batch_wait:
        Seconds the batcher waits for more requests before generating a partial batch.
    max_new_tokens:
        Default generation length (``max_tokens`` in a request overrides it).
    """

    def __init__(
        self,
        model_path: str | Path,
        *,
        batch_size: int = 8,
        batch_wait: float = 0.01,
        max_new_tokens: int = 512,
        device: str | None = None,
        dtype: str = "auto",
        cache: RequestCache | None = None,
        usage: UsageTracker | None = None,
        default_params: Mapping[str, Any] | None = None,
        tool_calls: str = "auto",
    ):
        super().__init__(cache=cache, usage=usage, default_params=default_params, tool_calls=tool_calls)
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.model = str(model_path)
        self.name = f"hf:{Path(str(model_path)).name}"
        self.batch_size = batch_size
        self.batch_wait = batch_wait
        self.max_new_tokens = max_new_tokens
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(model_path, padding_side="left")
            self.lm = AutoModelForCausalLM.from_pretrained(model_path, dtype=dtype)
        except OSError as error:
            raise TeacherError(
                f"HFTeacher: cannot load a model from {model_path!r} ({error})", cause="configuration"
            ) from None
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self._identity = f"{self.model}#{weights_fingerprint(self.model)}"
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.lm.to(self.device).eval()
        # (event loop, its request queue, its batcher task): queues and tasks belong to one loop.
        self._batching: tuple[asyncio.AbstractEventLoop, asyncio.Queue, asyncio.Task] | None = None

    def cache_identity(self) -> str:
        """The model folder with a fingerprint of its weights (names, sizes, modification times): a checkpoint
        retrained into the same folder must not get the old model's cached answers."""
        return self._identity

    def render(self, messages: list[Mapping[str, Any]], tools: list[Mapping[str, Any]] | None) -> str:
        """The prompt text: the chat template with the generation prompt (and ``tools`` when given)."""
        cleaned = [{k: v for k, v in message.items() if v is not None} for message in messages]
        return self.tokenizer.apply_chat_template(
            cleaned, tools=tools or None, tokenize=False, add_generation_prompt=True
        )

    async def _detect_tool_calls(self) -> tuple[str, str]:
        """``native`` when the chat template renders tools (the prompt grows when one is offered), else ``text``."""
        probe = [dict(message) for message in PROBE_MESSAGES]
        try:
            with_tool = self.render(probe, [PROBE_TOOL])
        except Exception as error:  # a template that cannot take tools at all
            return "text", f"the chat template fails with tools ({type(error).__name__}: {error})"
        if with_tool == self.render(probe, None):
            return "text", "the chat template ignores tools"
        return "native", "the chat template renders tools"

    async def _request(
        self,
        messages: list[Mapping[str, Any]],
        tools: list[Mapping[str, Any]] | None,
        params: dict[str, Any],
        step: str,
    ) -> Completion:
        unknown = sorted(set(params) - set(GENERATION_KEYS))
        if unknown:
            raise TeacherError(
                f"{self.name}: unsupported generation parameter(s) {unknown}; use {list(GENERATION_KEYS)}",
                cause="configuration",
            )
        loop = asyncio.get_running_loop()
        if self._batching is None or self._batching[0] is not loop:
            queue: asyncio.Queue = asyncio.Queue()
            self._batching = (loop, queue, loop.create_task(self._batcher(queue)))
        queue = self._batching[1]
        pending = _Pending(self.render(messages, tools), params, step, loop.create_future())
        self.usage.record_request(step)
        await queue.put(pending)
        return await pending.future

    async def _batcher(self, queue: asyncio.Queue) -> None:
        """Gather requests into batches of identical sampling parameters and generate them off the loop."""
        while True:
            batch = [await queue.get()]
            deadline = time.perf_counter() + self.batch_wait
            while len(batch) < self.batch_size:
                remaining = deadline - time.perf_counter()
                if remaining <= 0:
                    break
                try:
                    batch.append(await asyncio.wait_for(queue.get(), remaining))
                except TimeoutError:
                    break
            groups: dict[str, list[_Pending]] = {}
            for position, item in enumerate(batch):
                sampling = float(item.params.get("temperature") or 0) > 0
                # Greedy decoding ignores the seed, so requests that differ only in it share a batch.
                shown = {k: v for k, v in item.params.items() if k != "seed" or sampling}
                key = json.dumps(shown, sort_keys=True, default=str)
                if item.params.get("seed") is not None and sampling:
                    key += f"#{position}"  # seeded sampling alone: its draws must not depend on batch neighbours
                groups.setdefault(key, []).append(item)
            for group in groups.values():
                started = time.perf_counter()
                try:
                    completions = await asyncio.to_thread(self._generate, [p.prompt for p in group], group[0].params)
                except Exception as error:  # a generation bug fails these requests, not the batcher
                    for item in group:
                        self.usage.record_failure(item.step, "generation_error")
                        if not item.future.done():
                            item.future.set_exception(
                                TeacherError(f"{self.name}: generation failed ({error})", cause="generation_error")
                            )
                    continue
                seconds = time.perf_counter() - started
                for item, completion in zip(group, completions, strict=True):
                    if isinstance(completion, TeacherError):
                        self.usage.record_failure(item.step, completion.cause)
                        if not item.future.done():
                            item.future.set_exception(completion)
                        continue
                    self.usage.record_answer(
                        item.step, self.model, completion.prompt_tokens, completion.completion_tokens, seconds
                    )
                    if not item.future.done():
                        item.future.set_result(completion)

    def _generate(self, prompts: list[str], params: Mapping[str, Any]) -> list[Completion | TeacherError]:
        import torch

        encoded = self.tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
        encoded = {key: value.to(self.device) for key, value in encoded.items()}
        temperature = float(params.get("temperature", 0.0) or 0.0)
        options: dict[str, Any] = {
            "max_new_tokens": int(params.get("max_tokens") or self.max_new_tokens),
            "do_sample": temperature > 0,
            "pad_token_id": self.tokenizer.pad_token_id,
            "eos_token_id": self.tokenizer.eos_token_id,
        }
        if temperature > 0:
            options.update(temperature=temperature, top_p=float(params.get("top_p", 1.0)))
        if params.get("seed") is not None:
            torch.manual_seed(int(params["seed"]))
        started = time.perf_counter()
        with torch.no_grad():
            output = self.lm.generate(**encoded, **options)
        latency = time.perf_counter() - started
        prompt_length = encoded["input_ids"].shape[1]
        completions = []
        for row, prompt_ids in zip(output, encoded["attention_mask"], strict=True):
            new_tokens = row[prompt_length:]
            finished = bool((new_tokens == self.tokenizer.eos_token_id).any())
            if finished:
                new_tokens = new_tokens[: int((new_tokens == self.tokenizer.eos_token_id).nonzero()[0]) + 1]
            new_tokens = new_tokens[new_tokens != self.tokenizer.pad_token_id]
            raw = self.tokenizer.decode(new_tokens, skip_special_tokens=True)
            text, calls, problems = parse_tagged_tool_calls(raw)
            if problems:  # one rule with an endpoint (and vLLM's Hermes parser): a malformed call voids the answer
                completions.append(
                    TeacherError(f"{self.name}: a malformed tool call: {'; '.join(problems)}", cause=MALFORMED)
                )
                continue
            completions.append(
                Completion(
                    text=text if calls else raw.strip(),
                    tool_calls=tuple(calls),
                    prompt_tokens=int(prompt_ids.sum()),
                    completion_tokens=len(new_tokens),
                    latency=latency,
                    finish_reason=("tool_calls" if calls else "stop") if finished else "length",
                    model=self.model,
                )
            )
        return completions
