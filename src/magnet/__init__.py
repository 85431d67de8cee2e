"""Magnet: multi-turn tool-use data synthesis and training (after arXiv 2503.07826).

The public names; everything else lives in the subpackages (``magnet.tools``, ``magnet.data``, ...).
Dataset records import ``datasets`` and are loaded on first use, so ``import magnet`` stays fast.
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
