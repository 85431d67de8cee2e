"""BFCL-v3's multi-turn classes as Magnet toolkits (needs ``bfcl-eval``: ``make install`` adds it).

The eight executable classes of BFCL's multi-turn categories (file system, math, messaging, posting, tickets,
trading, travel, vehicle) wrapped as ``Toolkit``s: specs come from BFCL's own func docs, execution runs BFCL's
own methods on BFCL's own instances, and ``load_state`` is BFCL's ``_load_scenario`` (``long_context`` included).

These classes are the **evaluation** pool. Training on them contaminates BFCL scores, so a toolkit from here is
marked ``evaluation_only`` unless it was loaded with ``for_training=True``, which is logged. Names and
descriptions can be rewritten (the paper rewrote them before training on them): the model then sees the new
names and the calls are dispatched to the original methods.
"""

from __future__ import annotations

import copy
import functools
import importlib
import importlib.resources
import inspect
import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from magnet.errors import SpecError, ToolkitError
from magnet.tools.executor import Environment
from magnet.tools.spec import FunctionSpec, load_bfcl_func_docs
from magnet.tools.toolkit import Toolkit

logger = logging.getLogger(__name__)

SOURCE_PACKAGE = "bfcl_eval.eval_checker.multi_turn_eval.func_source_code"


@dataclass(frozen=True)
class BFCLClassInfo:
    """Where one BFCL class lives, and the category and tool class Magnet gives it."""

    module: str
    doc_file: str
    category: str
    tool_class: str
    stateless: bool = False


BFCL_CLASSES: dict[str, BFCLClassInfo] = {
    "GorillaFileSystem": BFCLClassInfo(
        "gorilla_file_system", "gorilla_file_system.json", "File System", "File system tool"
    ),
    "MathAPI": BFCLClassInfo("math_api", "math_api.json", "Mathematics", "Math tool", stateless=True),
    "MessageAPI": BFCLClassInfo("message_api", "message_api.json", "Communication", "Messaging tool"),
    "TwitterAPI": BFCLClassInfo("posting_api", "posting_api.json", "Social Media", "Social posting tool"),
    "TicketAPI": BFCLClassInfo("ticket_api", "ticket_api.json", "Customer Support", "Ticketing tool"),
    "TradingBot": BFCLClassInfo("trading_bot", "trading_bot.json", "Finance", "Stock trading tool"),
    "TravelAPI": BFCLClassInfo("travel_booking", "travel_booking.json", "Travel", "Travel booking tool"),
    "VehicleControlAPI": BFCLClassInfo("vehicle_control", "vehicle_control.json", "Automotive", "Vehicle control tool"),
}

MULTI_TURN_CATEGORIES = ("base", "miss_func", "miss_param", "long_context")


def _require_bfcl() -> None:
    try:
        importlib.import_module(SOURCE_PACKAGE)
    except ImportError as error:
        raise ToolkitError(
            "bfcl-eval is not installed: run `make install`, or "
            "`pip install --no-deps bfcl-eval==2025.8.6.2 mpmath` (BFCL-v3 data; later releases ship v4) "
            f"({error})"
        ) from None


def bfcl_data_dir() -> Path:
    """The ``data`` folder of the installed ``bfcl_eval``."""
    _require_bfcl()
    return Path(str(importlib.resources.files("bfcl_eval") / "data"))


def bfcl_versions() -> list[str]:
    """The BFCL data versions the installed package ships (``v3`` up to 2025.8.6.2, ``v4`` after)."""
    data = bfcl_data_dir()
    return sorted({version for version in ("v3", "v4") if any(data.glob(f"BFCL_{version}_multi_turn_*.json"))})


def resolve_version(version: str | None) -> str:
    available = bfcl_versions()
    if version is None:
        if not available:
            raise ToolkitError(f"no BFCL multi-turn data found in {bfcl_data_dir()}")
        return "v3" if "v3" in available else available[-1]
    if version not in available:
        raise ToolkitError(
            f"BFCL {version} data is not in the installed bfcl-eval (it has {available}); "
            "bfcl-eval==2025.8.6.2 ships v3, later releases v4"
        )
    return version


@dataclass(frozen=True)
class MultiTurnEntry:
    """One BFCL multi-turn test entry with its ground truth (per turn, a list of call strings)."""

    id: str
    category: str
    question: list[list[dict[str, Any]]]
    initial_config: dict[str, Any]
    involved_classes: list[str]
    ground_truth: list[list[str]]
    missed_function: dict[str, list[str]]
    raw: dict[str, Any]

    @property
    def long_context(self) -> bool:
        """Whether BFCL loads this entry's state with ``long_context=True`` (as its checker decides)."""
        return "long_context" in self.category or "composite" in self.category


def load_multi_turn_entries(category: str, *, version: str | None = None) -> list[MultiTurnEntry]:
    """The entries and ground truth of one BFCL multi-turn category (``base``, ``miss_func``, ...)."""
    if category not in MULTI_TURN_CATEGORIES:
        raise ToolkitError(f"unknown multi-turn category {category!r}; choose from {MULTI_TURN_CATEGORIES}")
    version = resolve_version(version)
    data = bfcl_data_dir()
    name = f"BFCL_{version}_multi_turn_{category}.json"
    questions = [json.loads(line) for line in (data / name).read_text().splitlines() if line.strip()]
    answers = {
        row["id"]: row["ground_truth"]
        for row in map(json.loads, (data / "possible_answer" / name).read_text().splitlines())
    }
    return [
        MultiTurnEntry(
            id=row["id"],
            category=f"multi_turn_{category}",
            question=row["question"],
            initial_config=row.get("initial_config", {}),
            involved_classes=row["involved_classes"],
            ground_truth=answers[row["id"]],
            missed_function=row.get("missed_function", {}),
            raw=row,
        )
        for row in questions
    ]


def _jsonable(value: Any, ancestors: frozenset[int] = frozenset()) -> Any:
    """A JSON snapshot of BFCL state: objects become dicts of their public attributes; back-references to an
    enclosing object (a directory's ``parent``) are cut."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if id(value) in ancestors:
        return "<parent>"
    inner = ancestors | {id(value)}
    if isinstance(value, Mapping):
        return {str(key): _jsonable(item, inner) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [_jsonable(item, inner) for item in value]
        return sorted(items, key=repr) if isinstance(value, set | frozenset) else items
    if hasattr(value, "__dict__"):
        return {key: _jsonable(item, inner) for key, item in vars(value).items() if not key.startswith("_")}
    return repr(value)


@functools.cache
def _func_docs(class_name: str) -> tuple[FunctionSpec, ...]:
    """BFCL's func docs of one class, read once per process (they are package data)."""
    return tuple(load_bfcl_func_docs(bfcl_data_dir() / "multi_turn_func_doc" / BFCL_CLASSES[class_name].doc_file))


@functools.cache
def _signature_order(class_name: str) -> dict[str, tuple[str, ...]]:
    """Parameter names in signature order for every public method of a BFCL class (read once per process)."""
    module = importlib.import_module(f"{SOURCE_PACKAGE}.{BFCL_CLASSES[class_name].module}")
    klass = getattr(module, class_name)
    return {
        name: tuple(parameter for parameter in inspect.signature(method).parameters if parameter != "self")
        for name, method in inspect.getmembers(klass, inspect.isfunction)
        if not name.startswith("_")
    }


class BFCLToolkit(Toolkit):
    """Base of the generated BFCL toolkits: delegates to an instance of the BFCL class ``bfcl_class``."""

    bfcl_class: ClassVar[str] = ""
    evaluation_only: ClassVar[bool] = True
    rename: ClassVar[dict[str, str]] = {}
    redescribe: ClassVar[dict[str, str]] = {}

    def __init__(self, state: Mapping[str, Any] | None = None, *, long_context: bool = False):
        info = BFCL_CLASSES[self.bfcl_class]
        module = importlib.import_module(f"{SOURCE_PACKAGE}.{info.module}")
        self.long_context = long_context
        self._factory = getattr(module, self.bfcl_class)
        self.instance = self._factory()
        self.data = {}
        self.load_state(state or {})

    @classmethod
    def toolkit_name(cls) -> str:
        return cls.bfcl_class

    def load_state(self, state: Mapping[str, Any]) -> None:
        """BFCL's ``_load_scenario`` on a fresh instance (stateless classes are left as built, like BFCL does)."""
        self.instance = self._factory()
        if not BFCL_CLASSES[self.bfcl_class].stateless:
            self.instance._load_scenario(copy.deepcopy(dict(state)), long_context=self.long_context)

    def state(self) -> dict[str, Any]:
        """Public attributes of the BFCL instance, as JSON (what BFCL's state checker compares)."""
        return _jsonable(self.instance)

    @classmethod
    def function_names(cls) -> list[str]:
        return [spec.name for spec in cls.specs()]

    @classmethod
    def original_name(cls, name: str) -> str:
        """The BFCL method behind a (possibly rewritten) function name."""
        reverse = {new: old for old, new in cls.rename.items()}
        return reverse.get(name, name)

    @classmethod
    def specs(cls) -> list[FunctionSpec]:
        cached = cls.__dict__.get("_magnet_specs")
        if cached is not None:
            return list(cached)
        info = BFCL_CLASSES[cls.bfcl_class]
        specs = []
        for spec in _func_docs(cls.bfcl_class):
            specs.append(
                FunctionSpec(
                    name=cls.rename.get(spec.name, spec.name),
                    description=cls.redescribe.get(spec.name, spec.description),
                    parameters=spec.parameters,
                    response=spec.response,
                    category=info.category,
                    tool_class=info.tool_class,
                    toolkit=cls.bfcl_class,
                )
            )
        cls._magnet_specs = tuple(specs)
        return specs

    @classmethod
    def spec(cls, name: str) -> FunctionSpec | None:
        """The spec of function ``name`` (by its possibly rewritten name), or None."""
        by_name = cls.__dict__.get("_magnet_spec_index")
        if by_name is None:
            by_name = cls._magnet_spec_index = {spec.name: spec for spec in cls.specs()}
        return by_name.get(name)

    @classmethod
    def parameter_order(cls) -> dict[str, list[str]]:
        """Parameter names in the Python signature's order, per function (binds positional arguments)."""
        order = _signature_order(cls.bfcl_class)
        return {spec.name: list(order[cls.original_name(spec.name)]) for spec in cls.specs()}

    def dispatch(self, name: str):
        if self.spec(name) is None:
            raise ToolkitError(f"{self.bfcl_class} has no function {name!r}")
        return getattr(self.instance, self.original_name(name))


def _validate_rewrite(class_name: str, rewrite: Mapping[str, Any], known: set[str]) -> tuple[dict, dict]:
    rename: dict[str, str] = {}
    redescribe: dict[str, str] = {}
    problems = []
    for original, change in rewrite.items():
        if original not in known:
            continue
        if not isinstance(change, Mapping) or not set(change) <= {"name", "description"}:
            problems.append(f"rewrite[{original!r}]: expected {{'name': ..., 'description': ...}}, got {change!r:.80}")
            continue
        if "name" in change:
            rename[original] = change["name"]
        if "description" in change:
            redescribe[original] = change["description"]
    clashes = sorted(new for new in rename.values() if new in known - set(rename))
    if clashes:
        problems.append(f"{class_name}: rewritten name(s) {clashes} collide with existing BFCL function names")
    if problems:
        raise SpecError(problems)
    return rename, redescribe


def bfcl_toolkit_class(
    class_name: str, *, rewrite: Mapping[str, Mapping[str, str]] | None = None, for_training: bool = False
) -> type[BFCLToolkit]:
    """A ``Toolkit`` class for one BFCL multi-turn class.

    Parameters
    ----------
    class_name:
        One of ``BFCL_CLASSES`` (e.g. ``"GorillaFileSystem"``).
    rewrite:
        ``{original function name: {"name": new name, "description": new description}}``; functions of
        other classes are ignored, so one mapping can serve all eight classes.
    for_training:
        Mark the toolkit usable for training data (logged as a contamination risk). Default: evaluation only.
    """
    _require_bfcl()
    if class_name not in BFCL_CLASSES:
        raise ToolkitError(f"unknown BFCL class {class_name!r}; choose from {sorted(BFCL_CLASSES)}")
    known = {spec.name for spec in type("_Probe", (BFCLToolkit,), {"bfcl_class": class_name}).specs()}
    rename, redescribe = _validate_rewrite(class_name, rewrite or {}, known)
    if for_training:
        logger.warning(
            "BFCL class %s loaded for TRAINING: BFCL is the evaluation benchmark, so scores of a model trained on "
            "it are contaminated (opted in with for_training=True)",
            class_name,
        )
    return type(
        class_name,
        (BFCLToolkit,),
        {
            "bfcl_class": class_name,
            "evaluation_only": not for_training,
            "rename": rename,
            "redescribe": redescribe,
            "category": BFCL_CLASSES[class_name].category,
            "tool_class": BFCL_CLASSES[class_name].tool_class,
            "__doc__": f"BFCL's {class_name} as a Magnet toolkit.",
        },
    )


def bfcl_toolkits(
    classes: Iterable[str] | None = None,
    *,
    rewrite: Mapping[str, Mapping[str, str]] | None = None,
    for_training: bool = False,
) -> list[type[BFCLToolkit]]:
    """Toolkit classes for the given BFCL classes (default: all eight); see ``bfcl_toolkit_class``."""
    return [bfcl_toolkit_class(name, rewrite=rewrite, for_training=for_training) for name in classes or BFCL_CLASSES]


def bfcl_environment(
    entry: MultiTurnEntry, *, rewrite: Mapping[str, Mapping[str, str]] | None = None, time_limit: float = 10.0
) -> Environment:
    """A fresh environment for one BFCL entry: its involved classes loaded from its ``initial_config``, with
    ``long_context`` as BFCL's checker sets it for the entry's category, and no type checks (BFCL has none)."""
    toolkits = [
        bfcl_toolkit_class(name, rewrite=rewrite)(entry.initial_config.get(name, {}), long_context=entry.long_context)
        for name in entry.involved_classes
    ]
    return Environment(toolkits, time_limit=time_limit, check_types=False)
