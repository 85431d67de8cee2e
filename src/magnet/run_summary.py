"""One table for a whole run: data counts from ``magnet synth``, losses from the trainers, scores from BFCL.

Any folder Magnet wrote: a synth ``--out`` (``report.json``), a training output (``trainer_state.json``), an
evaluation ``--out`` (``summary.json``), or a folder holding several (``make demo``'s layout: ``synth/``, ``sft/``,
``mdpo/``, ``eval/<name>/``). ``magnet summary RUN`` prints the table and writes it as
``RUN/summary.md``; what is missing is left out, so it works at any point of a run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from magnet.errors import MagnetError

TRAINING_ORDER = ("sft", "mdpo")
"""Training outputs are listed in pipeline order first, then any other folder with a trainer state."""
EVAL_ORDER = ("reference", "base", "sft", "mdpo")
"""Evaluations likewise: the harness check, then the models in the order they were trained."""


def _ordered(folders: list[Path], order: tuple[str, ...]) -> list[Path]:
    return sorted(folders, key=lambda folder: (order.index(folder.name) if folder.name in order else 99, folder.name))


@dataclass(frozen=True)
class SummaryRow:
    """One line of the table: the step, what is counted or measured, and the figure."""

    step: str
    figure: str
    value: str


@dataclass
class RunSummary:
    """The rows of a run's table and the files it points to (reports, plots, eval summaries)."""

    run: Path
    rows: list[SummaryRow] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)

    def markdown(self) -> str:
        """The table and the files as Markdown."""
        lines = [f"# Run summary: {self.run}", "", "| step | figure | value |", "| --- | --- | --- |"]
        lines += [f"| {row.step} | {row.figure} | {row.value} |" for row in self.rows]
        if self.files:
            lines += ["", "Written:"] + [f"- {path}" for path in self.files]
        return "\n".join(lines) + "\n"


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise MagnetError(f"{path}: cannot read ({error})") from None


def _synth_rows(folder: Path, report: dict[str, Any], summary: RunSummary, which: str = "") -> None:
    stages = report.get("stages", {})
    if "translate" in stages:
        translate = stages["translate"]
        summary.rows.append(
            SummaryRow(
                f"synth{which}",
                "signature paths -> episodes (rejected)",
                f"{translate['inputs']} -> {translate['accepted']} ({translate['rejected']})",
            )
        )
    for name, label in (("positives", "positive trajectories"), ("negatives", "negative trajectories")):
        if name in stages:
            summary.rows.append(
                SummaryRow(
                    f"synth{which}", f"{label} (rejected)", f"{stages[name]['accepted']} ({stages[name]['rejected']})"
                )
            )
    usage = (report.get("usage") or {}).get("total") or {}
    if usage.get("requests"):
        summary.rows.append(
            SummaryRow(
                f"synth{which}",
                "teacher requests (cache hits)",
                f"{usage.get('requests', 0)} ({usage.get('cache_hits', 0)})",
            )
        )
    for name, label in (("sft", "SFT rows"), ("preference", "preference pairs")):
        stats = report.get(name) or {}
        if stats.get("rows"):
            kinds = ", ".join(f"{kind} {count}" for kind, count in sorted(stats.get("kinds", {}).items()))
            summary.rows.append(SummaryRow(f"datasets{which}", label, f"{stats['rows']} ({kinds})"))
    summary.files += [folder / "report.md", *[Path(plot) for plot in report.get("plots", [])]]


def _training_rows(name: str, folder: Path, state: dict[str, Any], summary: RunSummary) -> None:
    logged = [entry for entry in state.get("log_history", []) if "loss" in entry]
    if not logged:
        return
    first, last = logged[0], logged[-1]
    summary.rows.append(
        SummaryRow(
            name,
            "loss, first -> last logged step",
            f"{first['loss']:.4f} -> {last['loss']:.4f} (steps {first['step']}-{last['step']})",
        )
    )
    if "rewards/accuracies" in last:
        summary.rows.append(
            SummaryRow(
                name,
                "reward accuracy / margin, last step",
                f"{last['rewards/accuracies']:.2f} / {last.get('rewards/margins', 0.0):.4f}",
            )
        )
    summary.files.append(folder)


def _eval_rows(name: str, folder: Path, result: dict[str, Any], summary: RunSummary) -> None:
    scores = ", ".join(
        f"{category} {values['accuracy']:.2f}" for category, values in result.get("categories", {}).items()
    )
    overall = (result.get("table2") or {}).get("overall")
    limit = f", first {result['limit']} per category" if result.get("limit") else ""
    value = f"{scores}" + (f"; overall {overall:.2f}" if overall is not None else "")
    summary.rows.append(SummaryRow(f"BFCL {name}", f"accuracy (%){limit}", value))
    summary.files.append(folder / "summary.md")


def _found(run: Path, marker: str, depth: int, key: str) -> dict[Path, dict[str, Any]]:
    """Folders at most ``depth`` levels below ``run`` (``run`` itself included) whose ``marker`` file is a JSON
    object with ``key`` (what Magnet writes there; another tool's JSON of the same name is passed over), each with
    that file's content."""
    candidates = [run / marker] + [
        path for level in range(1, depth + 1) for path in sorted(run.glob("/".join(["*"] * level) + f"/{marker}"))
    ]
    found = {}
    for path in candidates:
        data = _read_json(path) if path.is_file() else None  # a corrupt file is an error naming it
        if isinstance(data, dict) and key in data:
            found[path.parent] = data
    return found


def summarize_run(run: str | Path) -> RunSummary:
    """The summary of any folder Magnet wrote: a synth ``--out`` (``report.json``), a training output
    (``trainer_state.json``), an evaluation ``--out`` (``summary.json``), or a folder holding several of them
    (``make demo``'s run: ``synth/``, ``sft/``, ``mdpo/``, ``eval/<name>/``). Checkpoint folders are left out."""
    run = Path(run)
    if not run.is_dir():
        raise MagnetError(f"{run}: no such run folder")
    summary = RunSummary(run)
    synths = _found(run, "report.json", 2, "stages")
    for folder, report in synths.items():
        _synth_rows(folder, report, summary, "" if len(synths) == 1 else f" {folder.name}")
    trained = _found(run, "trainer_state.json", 2, "log_history")
    for folder in _ordered([f for f in trained if not f.name.startswith("checkpoint-")], TRAINING_ORDER):
        _training_rows(folder.name, folder, trained[folder], summary)
    evaluated = _found(run, "summary.json", 2, "categories")
    for folder in _ordered(list(evaluated), EVAL_ORDER):
        _eval_rows(folder.name, folder, evaluated[folder], summary)
    if not summary.rows:
        raise MagnetError(
            f"{run}: nothing to summarize: no synth output (report.json), training output (trainer_state.json) or "
            "evaluation output (summary.json) in it or in the folders below it"
        )
    return summary
