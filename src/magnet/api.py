"""The whole pipeline from Python, one call per step: what a notebook uses.

    import magnet
    report = magnet.synthesize(out="runs/nb/synth", toolkits=[MyTools], paths={"walks_per_function": 3})
    magnet.train_sft("recipes/tiny/sft.yaml", model_name_or_path="runs/nb/model",
                     datasets=["runs/nb/synth/datasets/sft"], output_dir="runs/nb/sft")
    magnet.train_mdpo("recipes/tiny/mdpo.yaml", model_name_or_path="runs/nb/sft",
                      datasets=["runs/nb/synth/datasets/preference"], output_dir="runs/nb/mdpo")
    result = magnet.evaluate("runs/nb/mdpo", out="runs/nb/eval", categories="simple,multi_turn_base", limit=5)

Each call is the code path of the matching command (``magnet synth``, ``recipes/sft.py``, ``recipes/mdpo.py``,
``magnet eval bfcl``) with the same configuration files, so what works here works under ``accelerate launch`` on
a GPU cluster. Training here runs in this process (one device); launch the recipes for several GPUs.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from magnet.errors import MagnetError


def synthesize(
    config: str | Path | None = None,
    *,
    toolkits: Sequence[type] = (),
    progress: bool = True,
    **settings: Any,
) -> dict[str, Any]:
    """Run ``magnet synth``: from a pool of functions to HF datasets (SFT and preference), resuming what a previous
    run into the same ``out`` left. Returns the run report (also written as ``report.json`` / ``report.md``).

    ``config`` is a synth YAML (recipes/synth/*.yaml); ``settings`` override its fields, sections as mappings
    (``paths={"single": 100}``, ``teacher={"kind": "openai", "model": ...}``, ``out="runs/x"``). ``toolkits``:
    ``magnet.Toolkit`` subclasses that form the pool instead of ``pool`` (e.g. a class defined in a notebook).
    """
    from magnet.synthesis.config import load_config
    from magnet.synthesis.synth import run_synth

    loaded = load_config(config, values=settings)
    return run_synth(loaded, progress=progress, toolkits=toolkits, report_checks=synth_report_checks(loaded))


def synth_report_checks(config: Any) -> tuple:
    """The checks a synth report runs beyond synthesis: the contamination check against BFCL (the paper's
    Appendix C) when the pool was allowed BFCL's classes."""
    if not config.allow_bfcl:
        return ()
    from magnet.eval.contamination import synth_contamination

    return (synth_contamination,)


def _recipe_arguments(config: str | Path | None, overrides: Mapping[str, Any]) -> list[str]:
    """Command-line arguments for a recipe's parser: ``--config`` and one flag per override (lists as several
    values, booleans as true/false), exactly what a user would type after ``recipes/sft.py``."""
    arguments = ["--config", str(config)] if config is not None else []
    for name, value in overrides.items():
        values = value if isinstance(value, list | tuple) else [value]
        arguments.append(f"--{name}")
        arguments.extend(
            str(item).lower() if isinstance(item, bool) else json.dumps(item) if isinstance(item, dict) else str(item)
            for item in values
        )
    return arguments


def _parse_recipe(config_classes: tuple, config: str | Path | None, overrides: Mapping[str, Any]) -> tuple:
    from trl import TrlParser

    if config is not None and not Path(config).is_file():
        raise MagnetError(f"{config}: no such recipe file")
    try:
        return TrlParser(config_classes).parse_args_and_config(_recipe_arguments(config, overrides))
    except SystemExit:  # argparse reports a bad value on stderr and exits; a notebook needs an exception
        raise MagnetError(f"recipe {config}: bad setting among {sorted(overrides)} (see the message above)") from None
    except ValueError as error:  # unknown settings (TRL's parser lists them)
        raise MagnetError(f"recipe {config}: bad setting ({error})") from None


def train_sft(config: str | Path | None = None, **overrides: Any) -> dict[str, Any]:
    """Run the SFT recipe (``recipes/sft.py``) in this process: ``config`` is its YAML, ``overrides`` any field
    of ``ScriptArguments``, ``MagnetSFTConfig`` (trl.SFTConfig) or ``trl.ModelConfig``. Resumes from the last
    checkpoint in ``output_dir``; returns the training metrics."""
    from trl import ModelConfig

    from magnet.train.config import MagnetSFTConfig, ScriptArguments
    from magnet.train.sft import run_sft

    return run_sft(*_parse_recipe((ScriptArguments, MagnetSFTConfig, ModelConfig), config, overrides))


def train_mdpo(config: str | Path | None = None, **overrides: Any) -> dict[str, Any]:
    """Run the mDPO recipe (``recipes/mdpo.py``) in this process: ``config`` is its YAML, ``overrides`` any field
    of ``ScriptArguments``, ``MDPOConfig`` (trl.DPOConfig) or ``trl.ModelConfig``. Returns the training metrics."""
    from trl import ModelConfig

    from magnet.train.config import MDPOConfig, ScriptArguments
    from magnet.train.mdpo import run_mdpo

    return run_mdpo(*_parse_recipe((ScriptArguments, MDPOConfig, ModelConfig), config, overrides))


def evaluate(model: Any, out: str | Path, *, progress: bool = True, **settings: Any) -> Any:
    """Evaluate on BFCL as ``magnet eval bfcl`` does: ``model`` is a local model folder (its ``magnet.json``
    gives the tool format it was trained with), ``"reference"`` / ``"silent"`` (the harness checks), or a
    ``magnet.eval.runners`` runner (e.g. ``endpoint_runner`` for vLLM). ``settings`` are ``magnet eval bfcl``'s
    (``magnet.eval.settings.EvalSettings``: ``categories`` as a string or a list, ``limit``, ``tool_format``,
    ``max_new_tokens``, ``concurrency``...). Returns the ``EvaluationResult`` (``.scores``, ``.markdown``), written
    under ``out`` and resumable."""
    from magnet.eval.settings import EvalSettings, evaluate_from_settings
    from magnet.settings import load_settings

    for joined in ("categories", "ids"):  # a list, as Python callers write it, or the flag's comma-joined string
        if not isinstance(settings.get(joined, ""), str):
            settings[joined] = ",".join(settings[joined])
    runner = None
    if model in ("reference", "silent"):
        settings["runner"] = model
    elif isinstance(model, str | Path):
        settings["model"] = str(model)
    else:
        runner = model
    chosen = load_settings(EvalSettings, None, values={**settings, "out": str(out)}, what="evaluation settings")
    return evaluate_from_settings(chosen, progress=progress, runner=runner)
