"""``magnet eval bfcl``: a model, an endpoint or a harness check on BFCL, with bfcl-eval's data and checkers."""

from __future__ import annotations

import argparse

from magnet.settings import add_settings_flags, flag_values, load_settings


def cmd_eval_bfcl(args: argparse.Namespace) -> int:
    """Evaluate a model (or a harness-check runner) on BFCL and print the Table 2 summary."""
    from magnet.eval.settings import EvalSettings, evaluate_from_settings

    settings = load_settings(EvalSettings, args.config, values=flag_values(args), what="eval config", values_where="--")
    result = evaluate_from_settings(settings, progress=not args.no_progress)
    print(result.markdown)
    print(f"results in {result.out_dir}/results/, summary in {result.out_dir}/summary.md and summary.json")
    if result.failed:
        print(f"{len(result.failed)} entries had a failed model request; rerun the same command to retry them")
        return 1
    return 0


def cmd_eval_episodes(args: argparse.Namespace) -> int:
    """Evaluate a model (or a harness-check runner) on a synth run's held-out episodes and print the summary."""
    from magnet.episode_eval import evaluate_episodes_from_settings, summary_markdown
    from magnet.eval.settings import EpisodeEvalSettings

    settings = load_settings(
        EpisodeEvalSettings, args.config, values=flag_values(args), what="episode eval config", values_where="--"
    )
    result = evaluate_episodes_from_settings(settings, progress=not args.no_progress)
    print(summary_markdown(result.summary), end="")
    print(f"results in {result.out_dir}/results/, summary in {result.out_dir}/summary.md and summary.json")
    if result.failed:
        print(f"{len(result.failed)} episodes had a failed model request; rerun the same command to retry them")
        return 1
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    """Add the evaluation commands."""
    from magnet.eval.settings import EvalSettings

    evaluate = commands.add_parser("eval", help="evaluate a model")
    eval_commands = evaluate.add_subparsers(dest="eval_command", required=True)
    bfcl = eval_commands.add_parser(
        "bfcl", help="BFCL-v3 (multi-turn and single-turn) with bfcl-eval's data and checkers; resumable"
    )
    bfcl.add_argument("--config", help="a YAML file of these settings (flags given here win)")
    bfcl.add_argument("--no-progress", action="store_true", help="no progress bars")
    add_settings_flags(bfcl, EvalSettings)
    bfcl.set_defaults(run=cmd_eval_bfcl)
    from magnet.eval.settings import EpisodeEvalSettings

    episodes = eval_commands.add_parser(
        "episodes",
        help="held-out synthesized episodes of your own tools (the SFT test split, or datasets.holdout_toolkits)",
    )
    episodes.add_argument("--config", help="a YAML file of these settings (flags given here win)")
    episodes.add_argument("--no-progress", action="store_true", help="no progress bars")
    add_settings_flags(episodes, EpisodeEvalSettings)
    episodes.set_defaults(run=cmd_eval_episodes)
