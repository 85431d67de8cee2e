"""The notebooks in examples/ run top to bottom on CPU (tiny model, offline backend), as a user would run them."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
NOTEBOOKS = sorted(EXAMPLES.glob("*.ipynb"))


def test_the_three_notebooks_are_there():
    assert [path.name for path in NOTEBOOKS] == [
        "01_synthesize_with_your_tools.ipynb",
        "02_train_sft_mdpo.ipynb",
        "03_evaluate_bfcl.ipynb",
    ]


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_a_notebook_executes(path, tmp_path, monkeypatch):
    monkeypatch.setenv("MAGNET_EXAMPLES_OUT", str(tmp_path))  # the kernel inherits it: outputs stay in tmp_path
    monkeypatch.setenv("TOKENIZERS_PARALLELISM", "false")
    notebook = nbformat.read(path, as_version=4)
    assert not any(cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code"), "commit it unexecuted"
    NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(EXAMPLES)}}
    ).execute()
    errors = [
        output
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
        if output.get("output_type") == "error"
    ]
    assert not errors
    assert any(tmp_path.iterdir()), "the notebook wrote nothing where it was told to"
