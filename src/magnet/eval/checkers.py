"""``bfcl_eval``'s own executor and checkers, used as BFCL uses them, with their two pitfalls handled.

* BFCL's executor keeps API instances in its module's globals under ``{model name}_{entry id}_{class}_instance``
  and never frees them: ``BFCLRollout`` gives every rollout a unique model name and deletes its instances when
  it closes, so rollouts never share state and memory does not grow with the number of entries.
* The AST checker imports BFCL's model registry (every provider SDK) only to ask whether a model's function
  names had ``.`` replaced by ``_``. Magnet maps names back itself, so the checker module is loaded with a stand-in
  registry that answers "no" (``ast_checker_module``); the checking code is BFCL's, unchanged.
"""

from __future__ import annotations

import copy
import functools
import importlib
import importlib.util
import inspect
import sys
import types
import uuid
from collections.abc import Sequence
from typing import Any

from magnet.errors import ToolkitError
from magnet.tools.bfcl import BFCL_CLASSES, SOURCE_PACKAGE, MultiTurnEntry

UTILS_MODULE = "bfcl_eval.eval_checker.multi_turn_eval.multi_turn_utils"
CHECKER_MODULE = "bfcl_eval.eval_checker.multi_turn_eval.multi_turn_checker"
AST_CHECKER_MODULE = "bfcl_eval.eval_checker.ast_eval.ast_checker"
MODEL_CONFIG_MODULE = "bfcl_eval.constants.model_config"


def _import(name: str) -> types.ModuleType:
    try:
        return importlib.import_module(name)
    except ImportError as error:
        raise ToolkitError(
            f"cannot import {name} ({error}); run `make install` (bfcl-eval==2025.8.6.2 --no-deps plus mpmath, "
            "tenacity and the tree-sitter parsers)"
        ) from None


def step_limit() -> int:
    """BFCL's ``MAXIMUM_STEP_LIMIT``: model steps per user turn before the entry is force-terminated."""
    return int(_import("bfcl_eval.constants.default_prompts").MAXIMUM_STEP_LIMIT)


@functools.cache
def callable_names(class_names: tuple[str, ...]) -> frozenset[str]:
    """The names BFCL's executor binds for these classes: every public method (held-out ones included)."""
    names: set[str] = set()
    for class_name in class_names:
        if class_name not in BFCL_CLASSES:
            raise ToolkitError(f"unknown BFCL class {class_name!r}; choose from {sorted(BFCL_CLASSES)}")
        module = _import(f"{SOURCE_PACKAGE}.{BFCL_CLASSES[class_name].module}")
        klass = getattr(module, class_name)
        names.update(name for name, _ in inspect.getmembers(klass, inspect.isfunction) if not name.startswith("_"))
    return frozenset(names)


class BFCLRollout:
    """One rollout of one multi-turn entry against BFCL's executor: execute steps, then score with BFCL's
    ``multi_turn_checker``. Use as a context manager (or call ``close``) so the instances are freed."""

    def __init__(self, entry: MultiTurnEntry):
        self.entry = entry
        self.model_name = f"magnet_{uuid.uuid4().hex}"
        self._utils = _import(UTILS_MODULE)

    def execute(self, call_strings: Sequence[str]) -> list[str]:
        """Run literal call strings (``decode.execution_strings``) in this rollout's instances; BFCL's result text."""
        results, _ = self._utils.execute_multi_turn_func_call(
            list(call_strings),
            self.entry.initial_config,
            self.entry.involved_classes,
            self.model_name,
            self.entry.id,
            long_context=self.entry.long_context,
            is_evaL_run=False,
        )
        return list(results)

    def score(self, decoded: list[list[list[str]]]) -> dict[str, Any]:
        """BFCL's verdict on the decoded steps of every turn (``{"valid": bool, ...error details}``).

        ``decoded`` holds, per turn, the non-empty steps' call strings, as BFCL's ``multi_turn_runner`` builds it.
        A rollout with fewer turns than the ground truth was force-terminated, which BFCL fails without checking.
        """
        if len(decoded) != len(self.entry.ground_truth):
            return {
                "valid": False,
                "error_message": f"Model was force-terminated during inference phase after {len(decoded)} of "
                f"{len(self.entry.ground_truth)} turns.",
                "error_type": "multi_turn:force_terminated",
            }
        checker = _import(CHECKER_MODULE)
        test_entry = {
            "id": self.entry.id,
            "initial_config": copy.deepcopy(self.entry.initial_config),
            "involved_classes": list(self.entry.involved_classes),
        }
        return checker.multi_turn_checker(
            decoded, self.entry.ground_truth, test_entry, self.entry.id.rsplit("_", 1)[0], self.model_name
        )

    def close(self) -> None:
        """Delete every instance BFCL's executor made for this rollout (inference, scoring, ground truth)."""
        namespace = self._utils.__dict__
        for key in [key for key in namespace if key.startswith(self.model_name)]:
            del namespace[key]

    def __enter__(self) -> BFCLRollout:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class _NoDotRewrite:
    """Stand-in for BFCL's model registry: no model had ``.`` in function names replaced by ``_``."""

    def __getitem__(self, model_name: str) -> types.SimpleNamespace:
        return types.SimpleNamespace(underscore_to_dot=False)


def load_with_registry(module_name: str, registry: Any) -> types.ModuleType:
    """A private copy of a ``bfcl_eval`` module that imports BFCL's model registry, loaded with ``registry``
    standing in for ``MODEL_CONFIG_MAPPING`` (``sys.modules`` is left as it was)."""
    spec = importlib.util.find_spec(module_name)
    if spec is None or spec.loader is None:
        raise ToolkitError(f"cannot find {module_name}; run `make install`")
    stand_in = types.ModuleType(MODEL_CONFIG_MODULE)
    stand_in.MODEL_CONFIG_MAPPING = registry
    saved = sys.modules.get(MODEL_CONFIG_MODULE)
    sys.modules[MODEL_CONFIG_MODULE] = stand_in
    try:
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        if saved is None:
            del sys.modules[MODEL_CONFIG_MODULE]
        else:
            sys.modules[MODEL_CONFIG_MODULE] = saved
    module.MODEL_CONFIG_MAPPING = registry
    return module


@functools.cache
def ast_checker_module() -> types.ModuleType:
    """BFCL's ``ast_checker`` module, with a registry in which no model rewrote ``.`` as ``_``."""
    _import("bfcl_eval.eval_checker.ast_eval.type_convertor.java_type_converter")
    return load_with_registry(AST_CHECKER_MODULE, _NoDotRewrite())


def ast_check(
    functions: list[dict[str, Any]],
    decoded: list[dict[str, dict[str, Any]]],
    possible_answer: list[dict[str, Any]],
    language: str,
    category: str,
) -> dict[str, Any]:
    """BFCL's AST checker on one single-turn answer (inputs are copied: the checker edits some in place)."""
    return ast_checker_module().ast_checker(
        copy.deepcopy(functions),
        copy.deepcopy(decoded),
        copy.deepcopy(possible_answer),
        language,
        category,
        "magnet",
    )
