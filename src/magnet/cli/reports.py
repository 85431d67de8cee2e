"""``magnet stats``, ``summary`` and ``config-reference``: what a dataset or a run holds, and every setting."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from magnet.files import write_atomic


def cmd_stats(args: argparse.Namespace) -> int:
    """Statistics and plots of a dataset in Magnet's schema (a save_to_disk folder or a JSONL file)."""
    from magnet.data.stats import (
        PAPER_TABLE_1,
        comparison_table,
        dataset_stats,
        error_types,
        plot_distributions,
        read_rows,
    )

    rows = read_rows(args.dataset)
    stats = dataset_stats(rows)
    paper = PAPER_TABLE_1["preference" if rows and "chosen" in rows[0] else "sft"]
    print(json.dumps(stats, indent=1) if args.json else comparison_table(stats, paper))
    kinds = error_types(rows)
    if kinds:
        print("error types of the negatives: " + ", ".join(f"{k} {v}" for k, v in kinds.items()))
    if args.plot:
        print(f"plot written to {plot_distributions(rows, args.plot, str(args.dataset), paper)}")
    return 0


def cmd_summary(args: argparse.Namespace) -> int:
    """Print one table for a run folder (data counts, losses, BFCL scores) and write it as summary.md there."""
    from magnet.run_summary import summarize_run

    text = summarize_run(args.folder).markdown()
    print(text, end="")
    if not args.no_write:
        folder = Path(args.folder)
        # an evaluation's own summary.md (BFCL's Table 2) stays: the run's table goes beside it
        target = folder / ("run_summary.md" if (folder / "summary.json").is_file() else "summary.md")
        write_atomic(target, text)
        print(f"\n(also written to {target})")
    return 0


def cmd_contamination(args: argparse.Namespace) -> int:
    """How much of a dataset BFCL's test set holds: equal signature paths and shared query 2-grams."""
    from magnet.data.stats import read_rows
    from magnet.eval.contamination import bfcl_reference, contamination

    report = contamination(read_rows(args.dataset), bfcl_reference(args.bfcl_version))
    print(json.dumps(report.to_dict(), indent=1) if args.json else report.markdown(), end="")
    return 0


def cmd_config_reference(args: argparse.Namespace) -> int:
    """Print the configuration reference (from the config dataclasses' help), or rewrite the README's copy."""
    from magnet.config_reference import reference_markdown, update_readme

    if args.readme:
        changed = update_readme(args.readme)
        print(f"{args.readme}: configuration reference {'updated' if changed else 'already up to date'}")
    else:
        print(reference_markdown(), end="")
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    """Add the report commands."""
    stats = commands.add_parser("stats", help="statistics (beside the paper's Table 1) and plots of a dataset")
    stats.add_argument("dataset", help="a save_to_disk folder or a JSONL file of rows in Magnet's schema")
    stats.add_argument("--json", action="store_true")
    stats.add_argument("--plot", help="write a PNG of the distributions here")
    stats.set_defaults(run=cmd_stats)

    summary = commands.add_parser("summary", help="one table for a run: data counts, losses, BFCL scores")
    summary.add_argument(
        "folder", metavar="RUN", help="a run folder (synth/, sft/, mdpo/, eval/<name>/ as make demo writes them)"
    )
    summary.add_argument("--no-write", action="store_true", help="print only; do not write RUN/summary.md")
    summary.set_defaults(run=cmd_summary)

    check = commands.add_parser(
        "contamination", help="how much of a dataset BFCL holds (equal signature paths, shared query 2-grams)"
    )
    check.add_argument("dataset", help="a save_to_disk folder or a JSONL file of rows in Magnet's schema")
    check.add_argument("--against", choices=["bfcl"], default="bfcl", help="the test set to check against")
    check.add_argument("--bfcl-version", choices=["v3", "v4"], help="BFCL data version (default v3 when installed)")
    check.add_argument("--json", action="store_true")
    check.set_defaults(run=cmd_contamination)

    reference = commands.add_parser("config-reference", help="every config setting with its default and help")
    reference.add_argument("--readme", help="rewrite the reference between this README's markers instead")
    reference.set_defaults(run=cmd_config_reference)
