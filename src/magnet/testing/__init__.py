"""Tiny offline models for tests, the demo and examples: a real tokenizer and a real (random) Qwen2 model; and a
real OpenAI-compatible server (``transformers serve``) for a real small model (``magnet.llm.smollm2``).

No hub access: the tokenizer is a byte-level BPE trained here on a small corpus, with Qwen2.5's special tokens
and the stock Qwen2.5 chat template that TRL ships (so TRL recognises it and swaps in its training variant);
the model is a 2-layer Qwen2 with random weights. Everything a GPU run does with Qwen2.5-Coder runs on it.

``magnet.testing.loopback`` holds a scripted OpenAI-compatible server with fault injection (it needs ``aiohttp``,
the ``testing`` extra); it is not imported here, so this package imports without it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

QWEN_SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
QWEN_TOOL_TOKENS = ["<tool_call>", "</tool_call>", "<tool_response>", "</tool_response>"]


def qwen2_5_chat_template() -> str:
    """The stock Qwen2.5 chat template, exactly as TRL ships it (``trl/chat_templates/qwen2_5.jinja``)."""
    from trl.chat_template_utils import qwen2_5_chat_template as template

    return template


def _corpus() -> list[str]:
    from magnet.tools.builtin import BUILTIN_TOOLKITS

    template = qwen2_5_chat_template()
    tools = [spec.to_tool() for klass in BUILTIN_TOOLKITS for spec in klass.specs()]
    lines = [template, *(json.dumps(tool) for tool in tools)]
    lines += [json.dumps({"name": tool["function"]["name"], "arguments": {"id": i}}) for i, tool in enumerate(tools)]
    lines += ["You are an expert in composing functions. [get_event(event_id='evt-0001')]"] * 4
    return lines


def build_tiny_tokenizer(vocab_size: int = 800):
    """A byte-level BPE tokenizer with Qwen2.5's special tokens and chat template (encodes any text, no UNK)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    backend.train_from_iterator(
        _corpus(),
        trainers.BpeTrainer(
            vocab_size=vocab_size,
            special_tokens=QWEN_SPECIAL_TOKENS,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        ),
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=["<|im_start|>"],
        model_max_length=32768,
    )
    tokenizer.add_tokens(QWEN_TOOL_TOKENS)
    tokenizer.chat_template = qwen2_5_chat_template()
    return tokenizer


def build_tiny_model(
    output_dir: str | Path, *, seed: int = 0, hidden_size: int = 64, layers: int = 2, vocab_size: int = 800
) -> Path:
    """Save a tiny Qwen2 model and its tokenizer to ``output_dir`` (loadable with ``from_pretrained``)."""
    import torch
    from transformers import GenerationConfig, Qwen2Config, Qwen2ForCausalLM

    output = Path(output_dir)
    output.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tiny_tokenizer(vocab_size)
    tokenizer.save_pretrained(output)
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=2 * hidden_size,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=32768,
        tie_word_embeddings=True,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(config)
    model.generation_config = GenerationConfig(eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    model.save_pretrained(output)
    return output


@contextlib.contextmanager
def transformers_server(
    model_dir: str | Path, *, port: int | None = None, timeout: float = 300.0, log: str | Path | None = None
) -> Iterator[str]:
    """``transformers serve`` (transformers' own OpenAI-compatible server) for ``model_dir`` on 127.0.0.1, started
    for the block and stopped after it; yields the base URL (``http://127.0.0.1:PORT/v1``). The served model's
    name is ``str(model_dir)``.

    A real server for tests and benchmarks that must meet what a served model really answers. Its hub cache
    folder is made to exist (``/v1/models`` fails without one) and the hub is never asked (``HF_HUB_OFFLINE``).
    It answers one request at a time; a request its client abandoned keeps generating, so send ``max_tokens``.
    """
    executable = shutil.which("transformers", path=str(Path(sys.executable).parent)) or shutil.which("transformers")
    if executable is None:
        raise RuntimeError("transformers serve is not installed (pip install 'transformers[serving]')")
    port = port or _free_port()
    with tempfile.TemporaryDirectory(prefix="magnet-serve-") as home:
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": home, "TOKENIZERS_PARALLELISM": "false"}
        output = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115  (closed below)
        command = [executable, "serve", str(model_dir), "--host", "127.0.0.1", "--port", str(port), "--device", "cpu"]
        process = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT)
        try:
            _wait_healthy(process, f"http://127.0.0.1:{port}/health", timeout)
            yield f"http://127.0.0.1:{port}/v1"
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if log:
                output.close()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_healthy(process: subprocess.Popen, url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"transformers serve exited with {process.returncode} before it answered {url}")
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.5)
    raise RuntimeError(f"transformers serve did not answer {url} within {timeout:g} s")
