"""The examples in the library's docstrings run, and show what they print: a stale example is a failing test."""

from __future__ import annotations

import doctest
import importlib
import importlib.util
import pkgutil
from pathlib import Path

import pytest

import magnet

MODULES = sorted(
    info.name
    for info in pkgutil.walk_packages(magnet.__path__, "magnet.")
    if ">>>" in Path(importlib.util.find_spec(info.name).origin or "").read_text(encoding="utf-8", errors="ignore")
)


def test_the_library_has_examples():
    assert {"magnet.tools.calls", "magnet.train.mdpo", "magnet.synthesis.graph"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    results = doctest.testmod(importlib.import_module(name), report=True, optionflags=doctest.ELLIPSIS)
    assert results.failed == 0, f"{name}: {results.failed} of {results.attempted} examples fail"
