"""The README runs as written: every Python and shell block, in order, in one scratch folder (blocks use what the
earlier ones wrote, as a reader's would), with the smaller limits a user would type on a small machine injected
into the heavy commands. A block that needs a GPU or a served model says so in a ``readme-test: skip`` comment,
with the reason."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
SKIP = re.compile(r"<!-- readme-test: skip \((?P<reason>[^)]+)\) -->\s*$")
FENCE = re.compile(r"^```(?P<lang>\w*)\s*$")

# (what the README says, what the test types instead): the same command with the limits of a 2-core CI machine.
LIMITS = [
    ('paths={"walks_per_function": 1}', 'paths={"walks_per_function": 1, "limit": 30}'),
    ("max_steps=20", "max_steps=2"),
    ("--out runs/tour ", "--out runs/tour --paths.walks_per_function 1 --paths.limit 30 "),
    # before the generic multi_turn limit below, which would change the line first
    (
        "--model runs/demo/sft --categories multi_turn --limit 20",
        "--model runs/demo/sft --categories multi_turn_base --limit 1 --max-new-tokens 8",
    ),
    ("--categories multi_turn --limit 20", "--categories multi_turn --limit 2"),
    ("--walks-per-function 10 \\", "--walks-per-function 1 --n 20 \\"),
    (
        "--single 80 --parallel 50 --multiple 50 --irrelevance 50",
        "--single 8 --parallel 4 --multiple 4 --irrelevance 4",
    ),
    ("--out episodes/ ", "--out episodes/ --limit 20 "),
    (
        "--config recipes/synth/offline-builtin.yaml --out runs/synth ",
        "--config recipes/synth/offline-builtin.yaml --out runs/synth --paths.walks_per_function 1 --paths.limit 20 "
        "--paths.single 30 --paths.parallel 8 --paths.multiple 8 --paths.irrelevance 8 ",
    ),
    ("--datasets runs/tour/datasets/sft", "--datasets runs/tour/datasets/sft --max_steps 2 --save_strategy no"),
    (
        "--model runs/demo/sft       #",
        "--model runs/demo/sft --categories simple,irrelevance --limit 1 --max-new-tokens 8 #",
    ),
    ("--runner reference          #", "--runner reference --categories simple,multi_turn_base --limit 2 #"),
    ("simple_7   #", "simple_7 --max-new-tokens 8 #"),  # the settings of the line above's run: it resumes there
]


def readme_blocks(text: str) -> list[tuple[int, str, str, str | None]]:
    """``(line, language, code, skip reason)`` of every fenced block."""
    lines = text.splitlines()
    blocks, index = [], 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if opening and opening["lang"]:
            end = next(i for i in range(index + 1, len(lines)) if lines[i].startswith("```"))
            previous = next((lines[i] for i in range(index - 1, -1, -1) if lines[i].strip()), "")
            skip = SKIP.match(previous)
            blocks.append((index + 1, opening["lang"], "\n".join(lines[index + 1 : end]), skip and skip["reason"]))
            index = end
        index += 1
    return blocks


BLOCKS = [block for block in readme_blocks(README.read_text(encoding="utf-8")) if block[1] in ("python", "bash")]


def with_limits(code: str) -> str:
    for said, typed in LIMITS:
        code = code.replace(said, typed)
    return code


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Path:
    """A folder laid out like the repository root for the blocks: its recipes, examples and virtual environment."""
    folder = tmp_path_factory.mktemp("readme")
    for name in ("recipes", "examples"):
        (folder / name).symlink_to(ROOT / name)
    (folder / ".venv").symlink_to(sys.prefix)  # the environment the tests run in
    return folder


def test_every_block_either_runs_or_says_why_not():
    assert len(BLOCKS) >= 10
    runnable = [block for block in BLOCKS if block[3] is None]
    assert {lang for _, lang, _, _ in runnable} == {"python", "bash"}
    for said, _typed in LIMITS:  # a limit whose text left the README would silently stop limiting
        assert any(said in code for _, _, code, skip in runnable if skip is None), said


@pytest.mark.slow
@pytest.mark.parametrize(("line", "lang", "code", "skip"), BLOCKS, ids=[f"README.md:{block[0]}" for block in BLOCKS])
def test_the_readme_block_runs(scratch, line, lang, code, skip):
    if skip:
        pytest.skip(skip)
    env = {**os.environ, "PATH": f"{scratch / '.venv' / 'bin'}{os.pathsep}{os.environ['PATH']}", "OMP_NUM_THREADS": "1"}
    env["HF_DATASETS_DISABLE_PROGRESS_BARS"] = env["TQDM_DISABLE"] = "1"
    command = [sys.executable, "-c", with_limits(code)] if lang == "python" else ["bash", "-e", "-c", with_limits(code)]
    done = subprocess.run(command, cwd=scratch, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, f"README.md:{line} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
