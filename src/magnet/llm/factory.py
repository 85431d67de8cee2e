"""The model ``TeacherSettings`` describe, with its request cache and usage tracker: the one place a teacher or a
student is built, for ``magnet synth``, its student, and the commands that ask a model.

The offline backend is not a model: it answers the synthesis prompts from what they state, so it lives in
``magnet.synthesis`` and the caller that wants it passes its class in (``offline=OfflineTeacher``); this layer
builds the endpoint and local models.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from magnet.errors import MagnetError
from magnet.llm.cache import RequestCache
from magnet.llm.client import TOOL_CALL_MODES, Teacher
from magnet.llm.settings import TeacherSettings
from magnet.llm.usage import Price, UsageTracker

DEFAULT_CACHE = "cache.sqlite"
"""The request cache's file name in the output folder when ``cache`` is not set."""


def make_teacher(
    settings: TeacherSettings,
    out: str | Path,
    usage: UsageTracker,
    *,
    offline: Callable[..., Teacher] | None = None,
) -> Teacher:
    """The teacher ``settings`` describe, its cache ``out/cache.sqlite`` unless ``settings.cache`` names one, its
    price (if set) added to ``usage``. ``offline`` builds ``kind: offline`` (``magnet.synthesis``'s
    ``OfflineTeacher``); without it that kind is an error."""
    if settings.tool_calls not in TOOL_CALL_MODES:
        raise MagnetError(f"teacher.tool_calls must be one of {list(TOOL_CALL_MODES)}, got {settings.tool_calls!r}")
    if settings.price is not None:
        if len(settings.price) != 2 or not settings.model:
            raise MagnetError("teacher.price is [prompt, completion] per million tokens, with teacher.model set")
        usage.prices[settings.model] = Price(*settings.price)
    if settings.kind == "offline":
        if offline is None:
            raise MagnetError("teacher.kind offline answers Magnet's synthesis prompts only; use openai or hf here")
        try:
            return offline(usage=usage, style=settings.style, tool_calls=settings.tool_calls)
        except ValueError as error:
            raise MagnetError(str(error)) from None
    if settings.style != "clean":
        raise MagnetError(f"teacher.style is for the offline backend only; a {settings.kind} model writes as it does")
    if not settings.model:
        raise MagnetError(f"--teacher {settings.kind} needs --model (teacher.model in a config)")
    cache_path = None if settings.no_cache else Path(settings.cache or Path(out) / DEFAULT_CACHE)
    params: dict[str, Any] = {} if settings.temperature is None else {"temperature": settings.temperature}
    if settings.max_tokens is not None:
        params["max_tokens"] = settings.max_tokens
    if settings.kind == "openai":
        from magnet.llm.client import OpenAITeacher

        teacher: Teacher = OpenAITeacher(
            settings.model,
            base_url=settings.base_url,
            api_key_env=settings.api_key_env,
            max_concurrency=settings.max_concurrency,
            timeout=settings.timeout,
            max_retries=settings.max_retries,
            cache=None,
            usage=usage,
            default_params=params,
            tool_calls=settings.tool_calls,
            http_client=settings.http_client,
        )
        return _with_cache(teacher, cache_path)
    if settings.kind == "hf":
        from magnet.llm.local import HFTeacher

        teacher = HFTeacher(settings.model, usage=usage, default_params=params, tool_calls=settings.tool_calls)
        return _with_cache(teacher, cache_path)
    raise MagnetError(f"teacher.kind must be offline, openai or hf, got {settings.kind!r}")


def _with_cache(teacher: Teacher, path: Path | None) -> Teacher:
    """The teacher with its request cache, opened only once the teacher is built and its settings checked: a
    refused setting (a missing API key) leaves no cache file behind."""
    if path is not None:
        teacher.cache = RequestCache(path)  # type: ignore[attr-defined]
    return teacher
