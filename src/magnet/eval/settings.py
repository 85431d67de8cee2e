"""``EvalSettings``: what ``magnet eval bfcl`` evaluates and how, declared once (YAML via ``--config``, a flag per
field, ``magnet.evaluate_from_settings`` in Python), and the runner they describe."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from magnet.errors import MagnetError
from magnet.eval.bfcl import evaluate_bfcl
from magnet.eval.runners import ReferenceRunner, Runner, SilentRunner, endpoint_runner, trained_model_runner
from magnet.llm.cache import RequestCache
from magnet.llm.local import model_folder_problem


def comma_list(text: str) -> list[str]:
    """A comma-separated setting (``categories``, ``ids``) as a list."""
    return [name.strip() for name in text.split(",") if name.strip()]


@dataclass
class RunnerSettings:
    """What answers and how it is asked, the same for ``magnet eval bfcl`` and ``magnet eval episodes``: exactly
    one of ``model``, ``endpoint`` or ``runner``."""

    model: str | None = field(
        default=None, metadata={"help": "A local model folder (transformers), e.g. the output of recipes/mdpo.py."}
    )
    endpoint: str | None = field(
        default=None, metadata={"help": "An OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1 (vLLM)."}
    )
    served_model: str | None = field(
        default=None, metadata={"help": "With endpoint: the model name the endpoint serves."}
    )
    runner: Literal["reference", "silent"] | None = field(
        default=None, metadata={"help": "Harness checks instead of a model: reference (the ground truth) or silent."}
    )
    tool_format: Literal["bfcl_prompt", "native"] | None = field(
        default=None,
        metadata={
            "help": "How tools and calls are shown; None: the format in the model's magnet.json, else bfcl_prompt."
        },
    )
    tool_calls: Literal["auto", "native", "text"] = field(
        default="auto",
        metadata={
            "help": "With tool_format native: calls through the endpoint's tools (native), described in the prompt "
            "and read from the answer (text), or found out once (auto)."
        },
    )
    max_new_tokens: int = field(default=1024, metadata={"help": "Longest answer per step."})
    batch_size: int = field(default=8, metadata={"help": "With model: prompts generated together."})
    api_key_env: str = field(
        default="OPENAI_API_KEY", metadata={"help": "With endpoint: the environment variable holding the API key."}
    )
    cache: str | None = field(default=None, metadata={"help": "Request cache file (answers reused on a rerun)."})
    overwrite: bool = field(default=False, metadata={"help": "Discard results already in out."})


@dataclass
class EvalSettings(RunnerSettings):
    """One BFCL evaluation: the runner's settings, and which entries."""

    categories: str = field(
        default="all",
        metadata={
            "help": "Comma-separated categories or collections: all, multi_turn, single_turn, live, non_live, python, "
            "or names such as simple, live_multiple, multi_turn_base."
        },
    )
    limit: int | None = field(default=None, metadata={"help": "Only the first N entries of each category."})
    ids: str = field(
        default="",
        metadata={"help": "Only these entries, comma-separated (e.g. simple_3,multi_turn_base_1): BFCL's --run-ids."},
    )
    bfcl_version: Literal["v3", "v4"] | None = field(
        default=None, metadata={"help": "BFCL data version (None: v3 when installed)."}
    )
    out: str | None = field(default=None, metadata={"help": "Output folder (None: runs/eval/<model name>)."})
    concurrency: int = field(default=8, metadata={"help": "Entries in flight at once."})

    def category_names(self) -> list[str]:
        """``categories`` as a list."""
        return comma_list(self.categories)


@dataclass
class EpisodeEvalSettings(RunnerSettings):
    """One held-out evaluation: the runner's settings, and the synth run and split."""

    synth: str = field(default="", metadata={"help": "A magnet synth output folder (it holds datasets/held_out.json)."})
    split: Literal["test", "holdout"] = field(
        default="test",
        metadata={"help": "test (the SFT test split's episodes) or holdout (datasets.holdout_toolkits' episodes)."},
    )
    limit: int | None = field(default=None, metadata={"help": "Only the first N episodes of the split."})
    step_limit: int | None = field(
        default=None,
        metadata={
            "help": "Responses with calls a turn may take before it is force-terminated (None: BFCL's 20); lower "
            "bounds what a looping model costs."
        },
    )
    out: str | None = field(default=None, metadata={"help": "Output folder (None: <synth>/eval/<split>/<model name>)."})
    concurrency: int = field(default=8, metadata={"help": "Episodes in flight at once."})


def runner_from_settings(settings: RunnerSettings) -> Runner:
    """The runner the settings describe: a local model, an endpoint, or a harness check."""
    chosen = [name for name in ("model", "endpoint", "runner") if getattr(settings, name)]
    if len(chosen) != 1:
        raise MagnetError("give exactly one of --model PATH, --endpoint URL or --runner reference|silent")
    if settings.endpoint and not settings.served_model:
        raise MagnetError("--endpoint needs --served-model, the model name the endpoint serves")
    cache = RequestCache(settings.cache) if settings.cache else None
    if settings.model:
        problem = model_folder_problem(settings.model)
        if problem:
            raise MagnetError(f"--model {problem}")
        return trained_model_runner(
            settings.model,
            tool_format=settings.tool_format,
            max_new_tokens=settings.max_new_tokens,
            batch_size=settings.batch_size,
            cache=cache,
            tool_calls=settings.tool_calls,
        )
    tool_format = settings.tool_format or "bfcl_prompt"
    if settings.endpoint:
        return endpoint_runner(
            str(settings.served_model),
            settings.endpoint,
            tool_format=tool_format,
            api_key_env=settings.api_key_env,
            max_concurrency=settings.concurrency,
            max_tokens=settings.max_new_tokens,
            cache=cache,
            tool_calls=settings.tool_calls,
        )
    return (ReferenceRunner if settings.runner == "reference" else SilentRunner)(tool_format=tool_format)


def default_out(runner: Runner) -> Path:
    """``runs/eval/<model name>``: where a run goes when ``out`` is not set."""
    return Path("runs") / "eval" / Path(str(runner.name).split(":")[-1]).name


def evaluate_from_settings(settings: EvalSettings, *, progress: bool = True, runner: Runner | None = None):
    """Evaluate what ``settings`` describe on BFCL (``evaluate_bfcl``), results under ``settings.out``; ``runner``
    (a ``Runner`` built in Python, e.g. ``endpoint_runner``) takes the place of model, endpoint and runner."""
    runner = runner or runner_from_settings(settings)
    return evaluate_bfcl(
        runner,
        settings.out or default_out(runner),
        categories=settings.category_names(),
        limit=settings.limit,
        ids=comma_list(settings.ids),
        version=settings.bfcl_version,
        concurrency=settings.concurrency,
        overwrite=settings.overwrite,
        progress=progress,
    )
