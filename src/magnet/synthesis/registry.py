"""Which class executes each function of a graph: the pool's toolkits, and for spec-only functions (no class
implements them) toolkits simulated by the teacher. Translation, distillation and replay all build their
environments from this registry.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from magnet.errors import MagnetError
from magnet.llm.cache import RequestCache
from magnet.llm.client import Teacher
from magnet.synthesis.graph import FunctionGraph
from magnet.synthesis.simulate import Simulator
from magnet.tools.spec import FunctionSpec
from magnet.tools.toolkit import Toolkit


def toolkit_of(spec: FunctionSpec) -> str:
    """The registry name of the toolkit that executes ``spec``: its ``toolkit`` when it names one; else (a
    spec-only function from a plain OpenAI tools file) the simulated toolkit ``"<category>/<tool class>"``
    that groups the functions the graph labelled alike, so that an episode offers a function with its
    siblings and irrelevance rows can draw on the functions of other categories.

    Example:
        >>> toolkit_of(FunctionSpec("get_weather", "Weather now.", category="Weather", tool_class="Forecasts"))
        'Weather/Forecasts'
    """
    return spec.toolkit or f"{spec.category or 'misc'}/{spec.tool_class or 'misc'}"


def _executable(toolkits: Sequence[type[Toolkit]]) -> dict[str, type[Toolkit]]:
    if not toolkits:
        from magnet.tools.builtin import BUILTIN_TOOLKITS

        toolkits = BUILTIN_TOOLKITS
    return {klass.toolkit_name(): klass for klass in toolkits}


def spec_only_functions(graph: FunctionGraph, toolkits: Sequence[type[Toolkit]] = ()) -> list[FunctionSpec]:
    """The graph's functions that no executable toolkit implements (they need a ``Simulator``)."""
    known = _executable(toolkits)
    return [spec for spec in graph.specs if toolkit_of(spec) not in known]


def build_registry(
    graph: FunctionGraph, simulator: Simulator | None = None, toolkits: Sequence[type[Toolkit]] = ()
) -> dict[str, type[Toolkit]]:
    """``{toolkit name: class}`` for every toolkit of the graph's functions (named by ``toolkit_of``): the
    given executable toolkits (the builtin pool by default); functions of any other toolkit run through
    ``simulator``."""
    known = _executable(toolkits)
    registry: dict[str, type[Toolkit]] = {}
    spec_only: dict[str, list[str]] = {}
    for spec in graph.specs:
        name = toolkit_of(spec)
        if name in known:
            registry[name] = known[name]
        else:
            spec_only.setdefault(name, []).append(spec.name)
    if spec_only:
        if simulator is None:
            raise MagnetError(
                f"functions of toolkit(s) {sorted(spec_only)} have no implementation; "
                "pass a simulator (spec-only functions are executed by the teacher)"
            )
        for name, functions in spec_only.items():
            registry[name] = simulator.toolkit_class(name, functions)
    return registry


def registry_and_simulator(
    graph: FunctionGraph,
    toolkits: Sequence[type[Toolkit]],
    teacher: Teacher,
    *,
    store: str | Path | None = None,
    recorded_outputs: str | Path | None = None,
) -> tuple[dict[str, type[Toolkit]], Simulator | None]:
    """How the graph's functions execute: ``(registry, simulator)`` for ``Translator`` and distillation.

    Parameters
    ----------
    graph:
        The function graph the paths come from.
    toolkits:
        The pool's executable toolkit classes (``magnet.tools.pool.pool_toolkits``); empty: the builtin pool.
    teacher:
        Simulates the functions no toolkit implements.
    store:
        SQLite file keeping simulated outputs across runs (opened only when there are spec-only functions).
    recorded_outputs:
        SQLite file keeping the outputs of MCP servers' calls (``magnet.tools.mcp``), so that later stages and
        reruns replay them without a server (opened only when the pool has MCP servers).

    Returns
    -------
    The registry (``{toolkit name: class}``, see ``build_registry``) and the ``Simulator`` of the spec-only
    functions, or ``None`` when every function is executable.

    Example:
        >>> # registry, simulator = registry_and_simulator(graph, pool_toolkits("builtin"), OfflineTeacher())
    """
    spec_only = spec_only_functions(graph, toolkits)
    servers = [klass for klass in toolkits if hasattr(klass, "use_store")]
    if servers and recorded_outputs is not None:
        outputs = RequestCache(recorded_outputs)
        for klass in servers:
            klass.use_store(outputs)
    simulator = None
    if spec_only:
        simulator = Simulator(teacher, spec_only, store=RequestCache(store) if store is not None else None)
    return build_registry(graph, simulator, toolkits), simulator
