"""Magnet: multi-turn tool-use data synthesis and training (after arXiv 2503.07826).

The whole pipeline in a notebook (each call is the code path of the matching command; see ``magnet.api``)::

    import magnet

    class Weather(magnet.Toolkit):               # your own tools: public methods with type hints and docstrings
        def get_forecast(self, city: str, days: int = 3) -> dict:
            '''Forecast for a city. ...'''

    report = magnet.synthesize(out="runs/nb/synth", toolkits=[Weather, *magnet.BUILTIN_TOOLKITS])
    magnet.build_tiny_model("runs/nb/model")             # or a real model's folder / hub id
    magnet.train_sft("recipes/tiny/sft.yaml", model_name_or_path="runs/nb/model",
                     datasets=["runs/nb/synth/datasets/sft"], output_dir="runs/nb/sft")
    magnet.train_mdpo("recipes/tiny/mdpo.yaml", model_name_or_path="runs/nb/sft",
                      datasets=["runs/nb/synth/datasets/preference"], output_dir="runs/nb/mdpo")
    print(magnet.evaluate("runs/nb/mdpo", out="runs/nb/eval", categories="multi_turn_base", limit=5).markdown)

The names below are the public API; everything else lives in the subpackages (``magnet.tools``, ``magnet.data``,
``magnet.synthesis``, ``magnet.train``, ``magnet.eval``). Names that need datasets, torch or transformers are
loaded on first use, so ``import magnet`` stays fast.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from magnet.errors import CallParseError, DatasetError, ExecutionError, MagnetError, SpecError, ToolkitError
from magnet.tools.calls import FunctionCall, format_calls, parse_calls, parse_tool_calls
from magnet.tools.executor import CallResult, Environment
from magnet.tools.spec import FunctionSpec, load_bfcl_func_docs, load_openai_tools, spec_from_callable
from magnet.tools.toolkit import Toolkit, error, function

__version__ = "0.1.0"

_LAZY = {
    "synthesize": "magnet.api",
    "train_sft": "magnet.api",
    "train_mdpo": "magnet.api",
    "evaluate": "magnet.api",
    "SynthConfig": "magnet.synthesis.config",
    "EvalSettings": "magnet.eval.settings",
    "TeacherSettings": "magnet.llm.settings",
    "pool_specs": "magnet.tools.pool",
    "pool_toolkits": "magnet.tools.pool",
    "build_tiny_model": "magnet.testing",
    "SFTRow": "magnet.data.schema",
    "PreferenceRow": "magnet.data.schema",
    "Message": "magnet.data.schema",
    "sft_dataset": "magnet.data.schema",
    "preference_dataset": "magnet.data.schema",
    "BUILTIN_TOOLKITS": "magnet.tools.builtin",
    "bfcl_toolkits": "magnet.tools.bfcl",
}

__all__ = [
    "CallParseError",
    "CallResult",
    "DatasetError",
    "Environment",
    "ExecutionError",
    "FunctionCall",
    "FunctionSpec",
    "MagnetError",
    "SpecError",
    "Toolkit",
    "ToolkitError",
    "__version__",
    "error",
    "format_calls",
    "function",
    "load_bfcl_func_docs",
    "load_openai_tools",
    "parse_calls",
    "parse_tool_calls",
    "spec_from_callable",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'magnet' has no attribute {name!r}")
