"""The house rules a maintainer checks by reading, checked here: the layers (tools -> llm/data ->
synthesis/train/eval -> cli), no import cycles between modules, and no module over 500 lines outside the builtin
toolkits (data, not logic)."""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx

SRC = Path(__file__).resolve().parents[1] / "src"
LAYERS = {
    "errors": 0,
    "files": 1,
    "heap": 1,
    "run_async": 1,
    "settings": 1,
    "tools": 2,
    "llm": 3,
    "data": 3,
    "synthesis": 4,
    "train": 4,
    "eval": 4,
    "run_summary": 4,
    "testing": 5,
    "config_reference": 5,
    "api": 5,
    "episode_eval": 5,
    "cli": 6,
}
"""A package may import only packages of lower layers (never a peer: synthesis, train and eval stand apart)."""

MAX_LINES = 500


def _modules() -> dict[str, Path]:
    return {
        ".".join(path.relative_to(SRC).with_suffix("").parts).removesuffix(".__init__"): path
        for path in sorted((SRC / "magnet").rglob("*.py"))
    }


def _imports(path: Path, top_level_only: bool) -> list[str]:
    """The ``magnet`` modules a file imports (everywhere, or at module level outside ``if TYPE_CHECKING``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = ast.walk(tree) if not top_level_only else iter(tree.body)
    names: list[str] = []
    for node in nodes:
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names += [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
    return [name for name in names if name.split(".")[0] == "magnet"]


def _package(module: str) -> str:
    return module.split(".")[1] if "." in module else ""


def test_every_package_has_a_layer():
    packages = {_package(module) for module in _modules()} - {""}
    assert packages <= set(LAYERS), f"give {sorted(packages - set(LAYERS))} a layer in LAYERS"


def test_packages_import_only_lower_layers():
    wrong = []
    for module, path in _modules().items():
        source = _package(module)
        if not source:  # magnet/__init__: the public names, loaded lazily
            continue
        for name in _imports(path, top_level_only=False):
            target = _package(name)
            if target and target != source and LAYERS[target] >= LAYERS[source]:
                wrong.append(f"{module} imports {name}")
    assert wrong == []


def test_no_import_cycles_between_modules():
    modules = _modules()
    graph = nx.DiGraph()
    for module, path in modules.items():
        for name in _imports(path, top_level_only=True):
            if name in modules and name != module:
                graph.add_edge(module, name)
    assert list(nx.simple_cycles(graph)) == []


def test_no_module_is_over_500_lines_outside_the_builtin_toolkits():
    long = {
        module: lines
        for module, path in _modules().items()
        if "tools.builtin" not in module and (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}
