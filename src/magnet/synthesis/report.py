"""The report of a ``magnet synth`` run: what each stage accepted and rejected, who answered and how calls
travelled, the datasets' statistics beside the paper's Table 1; as ``report.json`` and ``report.md``."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from magnet.data.stats import PAPER_TABLE_1, comparison_table
from magnet.files import write_atomic
from magnet.llm.client import Teacher
from magnet.synthesis.graph import FunctionGraph
from magnet.synthesis.paths import SignaturePath
from magnet.synthesis.pipeline import StageReport

EXAMPLES_PER_REASON = 3
EXAMPLE_CHARACTERS = 400


def rejection_examples(folder: Path, per_reason: int = EXAMPLES_PER_REASON) -> dict[str, list[str]]:
    """A few rejected items of a stage folder per reason, each as what failed (the call, the error), so that a
    reason a user cannot act on by its name alone comes with cases to read."""
    examples: dict[str, list[str]] = {}
    for path in sorted(folder.glob("rejected-*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            record = json.loads(line) if line.strip() else {}
            reason = record.get("reason") or ("error" if "error" in record else "rejected")
            detail = record.get("detail") or record.get("error") or record.get("reasons") or record
            text = detail if isinstance(detail, str) else json.dumps(detail, ensure_ascii=False)
            found = examples.setdefault(reason, [])
            kinds = {_kind(example) for example in found}
            if len(found) < per_reason and _kind(text) not in kinds:
                found.append(text[:EXAMPLE_CHARACTERS])
    return examples


def _kind(text: str) -> str:
    """A rejection's text without its values (quoted strings, numbers): two examples of one reason differ in kind."""
    return re.sub(r"'[^']*'|\"[^\"]*\"|\d+", "_", text)[:EXAMPLE_CHARACTERS]


def stage_summaries(reports: Mapping[str, StageReport], out: Path | None = None) -> dict[str, dict[str, Any]]:
    """Each stage's inputs, accepted, rejected, acceptance and rejection reasons (with examples from its folder
    under ``out``)."""
    folders = {"translate": "episodes", "positives": "positives", "negatives": "negatives"}
    return {
        name: {
            "inputs": stage.inputs,
            "accepted": stage.accepted,
            "rejected": stage.rejected,
            "acceptance": round(stage.acceptance, 3),
            "reasons": dict(stage.reasons),
            "examples": rejection_examples(out / folders.get(name, name)) if out is not None and stage.rejected else {},
        }
        for name, stage in reports.items()
    }


NESTED_REJECTIONS = ("explicit_nested_value", "nested_value_unavailable")


def insert_summary(folder: Path) -> dict[str, Any]:
    """How the Insert links of the accepted episodes came out (``EpisodeTurn.nested``): ``implicit`` (a value only
    the source's output gave, never stated in the query), ``echoed`` (an id the user named for the source, reused
    unstated), ``unlinked`` (the call took its value elsewhere); beside the paths rejected because a nested value
    was stated or the source's output did not give it. ``implicit_share`` is implicit over implicit plus stated:
    the paper's nested call, among the turns where the source produced the value."""
    kinds: dict[str, int] = {"implicit": 0, "echoed": 0, "unlinked": 0}
    for path in sorted(folder.glob("accepted-*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            for turn in json.loads(line)["turns"] if line.strip() else ():
                for link in turn.get("nested", ()):
                    kind = link.rsplit(":", 1)[-1]
                    kinds[kind] = kinds.get(kind, 0) + 1
    rejected = dict.fromkeys(NESTED_REJECTIONS, 0)
    for path in sorted(folder.glob("rejected-*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            reason = json.loads(line).get("reason") if line.strip() else None
            if reason in rejected:
                rejected[reason] += 1
    stated = rejected["explicit_nested_value"]
    share = kinds["implicit"] / (kinds["implicit"] + stated) if kinds["implicit"] + stated else None
    return {**kinds, **rejected, "implicit_share": None if share is None else round(share, 3)}


def functions_without_rows(graph: FunctionGraph, called: Iterable[str], paths: Iterable[SignaturePath]) -> dict:
    """Each function of the pool that no SFT row calls, and why: no edge in the graph (so no walk reaches it;
    single-turn rows only), in no path at all, or in paths that were all rejected or left out of the mixture."""
    called, in_paths = set(called), {name for path in paths for name in path.functions}
    reasons = {}
    for name in sorted(graph.graph.nodes):
        if name in called:
            continue
        if name not in in_paths:
            reasons[name] = "in no signature path (raise paths.single to give every function single-turn paths)"
        elif graph.graph.degree(name) == 0:
            reasons[name] = "no edge in the graph (single-turn paths only), and those were rejected or not mixed in"
        else:
            reasons[name] = "its paths were rejected or not mixed in (see the rejection reasons)"
    return reasons


def models_report(teacher: Teacher, student: Teacher | None, student_format_source: str) -> dict[str, Any]:
    """Who answered and how calls travelled: the mode ``tool_calls: auto`` found (None when no request of this
    run offered tools, e.g. everything came from earlier shards), and the student's tool format."""
    models: dict[str, Any] = {"teacher": {"name": teacher.name}}
    if hasattr(teacher, "tool_call_report"):
        models["teacher"]["tool_calls"] = teacher.tool_call_report()
    if student is not None:
        models["student"] = {"name": student.name, "tool_format_from": student_format_source}
        if hasattr(student, "tool_call_report"):
            models["student"].update(student.tool_call_report())
    return models


def render_report(report: Mapping[str, Any]) -> str:
    """The run report as Markdown: stages, mixture, statistics beside the paper's, plots."""
    lines = ["# magnet synth report", ""]
    for role, model in (report.get("models") or {}).items():
        calls = model.get("tool_calls") or {}
        how = f"; tool calls: {calls.get('mode') or 'not used'} ({calls.get('reason') or calls.get('setting')})"
        fmt = (
            f"; tool format: {model['tool_format']} ({model.get('tool_format_from')})" if "tool_format" in model else ""
        )
        lines.append(f"- {role}: {model['name']}{how if calls else ''}{fmt}")
    lines += [
        "",
        "| stage | inputs | accepted | rejected | top reasons |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, stage in report["stages"].items():
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(stage["reasons"].items(), key=lambda kv: -kv[1])[:3])
        lines.append(f"| {name} | {stage['inputs']} | {stage['accepted']} | {stage['rejected']} | {reasons} |")
    examples = [
        (name, reason, cases)
        for name, stage in report["stages"].items()
        for reason, cases in (stage.get("examples") or {}).items()
    ]
    if examples:
        lines += ["", "### rejections, with examples", ""]
        for name, reason, cases in examples:
            lines.append(f"- {name} `{reason}` ({report['stages'][name]['reasons'].get(reason, 0)}):")
            lines += [f"  - {case}" for case in cases]
    for name, paper in (("sft", PAPER_TABLE_1["sft"]), ("preference", PAPER_TABLE_1["preference"])):
        if report.get(name, {}).get("rows"):
            lines += ["", f"## {name} ({report[name]['rows']} rows)", "", comparison_table(report[name], paper)]
    if report.get("preference_error_types"):
        lines += [
            "",
            "negatives by error type: " + ", ".join(f"{k} {v}" for k, v in report["preference_error_types"].items()),
        ]
    inserts = report.get("insert") or {}
    if any(inserts.get(key) for key in ("implicit", "echoed", "unlinked", *NESTED_REJECTIONS)):
        share = inserts.get("implicit_share")
        lines += [
            "",
            "Insert links (nested calls) in accepted episodes: "
            f"implicit {inserts['implicit']}, echoed {inserts['echoed']}, unlinked {inserts['unlinked']}; "
            f"paths rejected: nested value stated {inserts['explicit_nested_value']}, not given by the source's "
            f"output {inserts['nested_value_unavailable']}; implicit share "
            + ("n/a" if share is None else f"{share:.1%}"),
        ]
    if report.get("contamination", {}).get("markdown"):
        lines += ["", "## contamination (the pool was allowed BFCL's classes)", "", report["contamination"]["markdown"]]
    missing = report.get("functions_without_rows") or {}
    if missing:
        lines += ["", f"## functions in no SFT row ({len(missing)})", ""]
        lines += [f"- `{name}`: {reason}" for name, reason in missing.items()]
    lines += ["", "plots: " + ", ".join(report.get("plots", []))]
    return "\n".join(lines) + "\n"


def write_report(out: Path, report: Mapping[str, Any]) -> None:
    """``report.json`` and ``report.md`` in ``out``."""
    write_atomic(out / "report.json", json.dumps(report, indent=1, default=str) + "\n")
    write_atomic(out / "report.md", render_report(report))
