"""``TeacherSettings``: which model answers and how it is asked, declared once for every caller.

``magnet synth``'s ``teacher`` section and its student (``negatives.student``), and the ``--teacher.*`` flags of the
commands that ask a model (``magnet label``, ``graph build``, ``translate``) are all this dataclass; the flags are
generated from its fields (``magnet.settings``), the model is built from it by ``magnet.llm.factory``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from magnet.errors import MagnetError

TeacherKind = Literal["offline", "openai", "hf"]
ToolCallMode = Literal["auto", "native", "text"]
HttpClient = Literal["auto", "aiohttp", "openai", "httpx"]
AnswerStyle = Literal["clean", "chatty", "markdown", "think", "json", "mixed"]


@dataclass
class TeacherSettings:
    """Which model answers: ``offline`` (no model), ``openai`` (any OpenAI-compatible endpoint) or ``hf``."""

    kind: TeacherKind = field(
        default="offline",
        metadata={
            "help": "offline (rules, no model), openai (any OpenAI-compatible endpoint) or hf (local).",
            "aliases": ["--teacher"],
        },
    )
    model: str | None = field(
        default=None,
        metadata={"help": "Model name the endpoint serves, or a local path / hub id for hf.", "aliases": ["--model"]},
    )
    base_url: str | None = field(
        default=None,
        metadata={
            "help": "Endpoint URL, e.g. http://127.0.0.1:8000/v1 (vLLM); None: OpenAI's.",
            "aliases": ["--base-url"],
        },
    )
    api_key_env: str = field(
        default="OPENAI_API_KEY",
        metadata={"help": "Environment variable holding the API key (never a file).", "aliases": ["--api-key-env"]},
    )
    max_concurrency: int = field(
        default=16, metadata={"help": "Requests in flight at once.", "aliases": ["--max-concurrency"]}
    )
    http_client: HttpClient = field(
        default="auto",
        metadata={
            "help": "openai only: how requests cross the wire: aiohttp (least client CPU per request), openai (the "
            "openai client on aiohttp, for its environment settings), httpx (the openai client on httpx) or auto "
            "(aiohttp where installed, else httpx).",
            "aliases": ["--http-client"],
        },
    )
    timeout: float = field(
        default=60.0,
        metadata={"help": "Seconds before a request is abandoned and retried.", "aliases": ["--timeout"]},
    )
    max_retries: int = field(
        default=6,
        metadata={
            "help": "Retries of a failed request (429, 5xx, timeouts, malformed answers).",
            "aliases": ["--max-retries"],
        },
    )
    temperature: float | None = field(
        default=None,
        metadata={"help": "Sampling temperature (None: the endpoint's default).", "aliases": ["--temperature"]},
    )
    max_tokens: int | None = field(
        default=None,
        metadata={
            "help": "Longest answer per request in tokens (None: the endpoint's default).",
            "aliases": ["--max-tokens"],
        },
    )
    cache: str | None = field(
        default=None,
        metadata={
            "help": "Request cache (SQLite); default cache.sqlite in the output folder (.magnet/ for single "
            "commands): a rerun never pays twice.",
            "aliases": ["--cache"],
        },
    )
    no_cache: bool = field(
        default=False,
        metadata={"help": "Send every request, even one answered before.", "aliases": ["--no-cache"]},
    )
    tool_calls: ToolCallMode = field(
        default="auto",
        metadata={
            "help": "How calls travel: native (the endpoint's tools), text (tools in the prompt, calls read from "
            "the text) or auto (found out once per run; recorded in the report; native for offline).",
            "aliases": ["--tool-calls"],
        },
    )
    style: AnswerStyle = field(
        default="clean",
        metadata={
            "help": "offline only: how its answers are formatted, clean, chatty, markdown, think, json or mixed "
            "(one drawn per request); the content is the same, so every style must give the same data.",
            "aliases": ["--style"],
        },
    )
    price: list[float] | None = field(
        default=None,
        metadata={
            "help": "Price per million prompt and completion tokens, [prompt, completion], to report the cost.",
            "aliases": ["--price"],
        },
    )

    def __post_init__(self) -> None:
        if self.max_concurrency < 1 or self.max_retries < 0 or self.timeout <= 0:
            raise MagnetError("max_concurrency must be at least 1, max_retries at least 0 and timeout above 0")
