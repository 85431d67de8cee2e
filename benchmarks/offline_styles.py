"""``recipes/synth/offline-builtin.yaml`` once per offline answer style: the funnel and the datasets.

The styles write the same content in the forms real models use (``magnet.synthesis.answer_styles``), so every
count must match ``clean``: paths -> episodes -> positives -> pairs, and SFT rows. A style whose counts fall short
means a parser that drops content a model would have given. ``mixed`` runs twice, once with calls as text
(``teacher.tool_calls: text``: the hinted rollouts' calls written in the answer and decoded from it). Prints
counts, the ratio of each to ``clean``, the share of episodes identical to clean's and the wall time; never part
of the tests' pass/fail. The assistant's closing replies keep their style's formatting (a preamble, a bullet), as
a real model's would; the episodes (queries, calls, outputs) must not differ at all.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from magnet.synthesis.config import load_config
from magnet.synthesis.pipeline import read_records
from magnet.synthesis.synth import run_synth

RECIPE = Path(__file__).resolve().parent.parent / "recipes" / "synth" / "offline-builtin.yaml"
RUNS = [
    ("clean", "native"),
    ("chatty", "native"),
    ("markdown", "native"),
    ("think", "native"),
    ("json", "native"),
    ("mixed", "native"),
    ("mixed", "text"),
]


def _episodes(out: Path) -> dict[str, str]:
    """Each episode's content (queries, calls, outputs of every turn) by id: what every style must agree on."""
    return {
        record["id"]: json.dumps([[t["query"], t["calls"], t["outputs"]] for t in record["turns"]], sort_keys=True)
        for record in read_records(out / "episodes")
    }


def _counts(out: Path) -> dict[str, int]:
    report = json.loads((out / "report.json").read_text())
    stages = report["stages"]
    return {
        "paths": stages["translate"]["inputs"],
        "episodes": stages["translate"]["accepted"],
        "positives": stages["positives"]["accepted"],
        "pairs": stages["negatives"]["accepted"],
        "sft_rows": report["sft"]["rows"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--set", action="append", default=[], help="extra config overrides, e.g. paths.single=200")
    args = parser.parse_args()
    print(f"recipe: {RECIPE.relative_to(RECIPE.parent.parent.parent)} {' '.join(args.set)}")
    results, contents = {}, {}
    with tempfile.TemporaryDirectory() as scratch:
        for style, tool_calls in RUNS:
            out = Path(scratch) / f"{style}-{tool_calls}"
            overrides = [f"teacher.style={style}", f"teacher.tool_calls={tool_calls}", f"out={out}", *args.set]
            started = time.perf_counter()
            run_synth(load_config(str(RECIPE), overrides), progress=False)
            results[(style, tool_calls)] = (_counts(out), time.perf_counter() - started)
            contents[(style, tool_calls)] = _episodes(out)
    clean = results[("clean", "native")][0]
    header = f"{'style':<10} {'calls':<7}" + "".join(f"{key:>16}" for key in clean) + f"{'same':>8}{'seconds':>9}"
    print(header)
    worst = 1.0
    for (style, tool_calls), (counts, seconds) in results.items():
        cells = []
        for key, value in counts.items():
            ratio = value / clean[key] if clean[key] else 1.0
            worst = min(worst, ratio) if style != "clean" else worst
            cells.append(f"{value:>8} ({ratio:5.3f})")
        reference, own = contents[("clean", "native")], contents[(style, tool_calls)]
        same = sum(own.get(key) == value for key, value in reference.items()) / max(len(reference), 1)
        print(
            f"{style:<10} {tool_calls:<7}" + "".join(f"{cell:>16}" for cell in cells) + f"{same:>8.3f}{seconds:>9.0f}"
        )
    print(f"lowest ratio to clean over every count and style: {worst:.3f} (target: at least 0.97)")
    print("same: share of clean's episodes that the style produced identically (queries, calls, outputs)")


if __name__ == "__main__":
    main()
