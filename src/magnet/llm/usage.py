"""Accounting: what a run asked of its models, per step, and what it cost.

Every teacher records into a ``UsageTracker``: requests sent, cache hits, retries and failures by cause,
prompt and completion tokens, time spent waiting, and (when prices are configured) cost. A run prints the
table at the end and saves the JSON beside its outputs, so a user sees where the money went.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from magnet.files import write_atomic


@dataclass(frozen=True)
class Price:
    """Price of one model in currency units per million tokens."""

    prompt_per_million: float
    completion_per_million: float

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        """Cost of one request."""
        return (prompt_tokens * self.prompt_per_million + completion_tokens * self.completion_per_million) / 1e6


@dataclass
class StepUsage:
    """Counters of one step (``back_translate``, ``turn_judge``, ...)."""

    requests: int = 0
    answered: int = 0
    cache_hits: int = 0
    retries: Counter = field(default_factory=Counter)
    failures: Counter = field(default_factory=Counter)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    cost: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (counters as dicts)."""
        return {
            "requests": self.requests,
            "answered": self.answered,
            "cache_hits": self.cache_hits,
            "retries": dict(self.retries),
            "failures": dict(self.failures),
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "seconds": round(self.seconds, 3),
            "cost": round(self.cost, 6),
        }

    def add(self, other: StepUsage) -> None:
        """Add another step's counters into this one."""
        self.requests += other.requests
        self.answered += other.answered
        self.cache_hits += other.cache_hits
        self.retries.update(other.retries)
        self.failures.update(other.failures)
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens
        self.seconds += other.seconds
        self.cost += other.cost


class UsageTracker:
    """Per-step usage of one run. Not thread-safe: record from the event loop (teachers do)."""

    def __init__(self, prices: Mapping[str, Price] | None = None):
        self.prices = dict(prices or {})
        self.steps: dict[str, StepUsage] = {}

    def step(self, name: str) -> StepUsage:
        """The counters of step ``name`` (created on first use)."""
        return self.steps.setdefault(name, StepUsage())

    def record_request(self, step: str) -> None:
        """A request was sent (each retry counts again)."""
        self.step(step).requests += 1

    def record_answer(self, step: str, model: str, prompt_tokens: int, completion_tokens: int, seconds: float) -> None:
        """A request was answered."""
        usage = self.step(step)
        usage.answered += 1
        usage.prompt_tokens += prompt_tokens
        usage.completion_tokens += completion_tokens
        usage.seconds += seconds
        price = self.prices.get(model)
        if price is not None:
            usage.cost += price.cost(prompt_tokens, completion_tokens)

    def record_cache_hit(self, step: str) -> None:
        """A request was answered from the cache (no request sent)."""
        self.step(step).cache_hits += 1

    def record_retry(self, step: str, cause: str) -> None:
        """An attempt failed with ``cause`` and will be retried."""
        self.step(step).retries[cause] += 1

    def record_failure(self, step: str, cause: str) -> None:
        """A request failed for good with ``cause`` (after its retries)."""
        self.step(step).failures[cause] += 1

    def merge(self, other: UsageTracker) -> None:
        """Add another tracker's counts, step by step (the usage of a run's parts, made in other processes)."""
        for name, usage in other.steps.items():
            self.step(name).add(usage)

    def total(self) -> StepUsage:
        """All steps added up."""
        total = StepUsage()
        for usage in self.steps.values():
            total.add(usage)
        return total

    def to_dict(self) -> dict[str, Any]:
        """``{"steps": {name: counters}, "total": counters}``."""
        return {
            "steps": {name: usage.to_dict() for name, usage in sorted(self.steps.items())},
            "total": self.total().to_dict(),
        }

    def save(self, path: str | Path) -> None:
        """Write ``to_dict()`` as JSON (written to a temporary file, then renamed: never half-written)."""
        write_atomic(path, json.dumps(self.to_dict(), indent=2) + "\n")

    def format_table(self) -> str:
        """A plain-text table, one row per step and a total, for the end of a run."""
        headers = [
            "step",
            "requests",
            "answered",
            "cache hits",
            "retries",
            "failures",
            "prompt tok",
            "completion tok",
            "cost",
        ]
        rows = []
        for name, usage in [*sorted(self.steps.items()), ("total", self.total())]:
            rows.append(
                [
                    name,
                    usage.requests,
                    usage.answered,
                    usage.cache_hits,
                    sum(usage.retries.values()),
                    ", ".join(f"{cause}={count}" for cause, count in sorted(usage.failures.items())) or "0",
                    usage.prompt_tokens,
                    usage.completion_tokens,
                    f"{usage.cost:.4f}" if self.prices else "-",
                ]
            )
        widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=True)]
        lines = [
            "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True))
            for row in [headers, *rows]
        ]
        lines.insert(1, "  ".join("-" * width for width in widths))
        return "\n".join(lines)
