"""The synthesis commands: ``magnet synth`` (every stage), and one stage at a time: ``label``, ``graph``,
``paths sample``, ``translate``, ``show``; and ``cache stats``.

The stage commands read the same settings as ``magnet synth`` (``--config synth.yaml``, flags generated from the
settings' fields) and call the same library functions, so a stage run alone gives what it gives inside a run.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from magnet.cli.common import add_synth_config_flag, add_teacher_flags, command_teacher, run_closing, synth_config
from magnet.errors import MagnetError
from magnet.files import write_jsonl
from magnet.settings import add_settings_flags, flag_values, read_settings_file


def cmd_label(args: argparse.Namespace) -> int:
    """Give functions a category and a tool class with the teacher (the paper's labelling step)."""
    from magnet.synthesis.graph import label_functions
    from magnet.tools.spec import load_openai_tools, load_stabletoolbench, save_specs

    if bool(args.specs) == bool(args.stb):
        raise MagnetError("give exactly one of --specs (OpenAI tools JSON) and --stb (StableToolBench folder)")
    config = synth_config(args)
    teacher = command_teacher(args, config)
    specs = load_openai_tools(args.specs) if args.specs else load_stabletoolbench(args.stb)
    work = label_functions(
        specs, teacher, relabel=args.all, max_concurrency=config.teacher.max_concurrency, progress=True
    )
    labelling = run_closing(teacher, work)
    save_specs(labelling.specs, args.out)
    usage_path = Path(f"{args.out}.usage.json")
    teacher.usage.save(usage_path)
    print(
        f"labelled {labelling.asked - len(labelling.failed)}/{labelling.asked} functions ({len(specs)} in all) "
        f"-> {args.out}"
    )
    for name, error in labelling.failed.items():
        print(f"  not labelled: {name}: {error}")
    print(teacher.usage.format_table())
    print(f"usage saved to {usage_path}")
    return 1 if labelling.failed else 0


def cmd_cache(args: argparse.Namespace) -> int:
    """Show what a request cache holds."""
    from magnet.cli.common import table
    from magnet.llm.cache import RequestCache

    if not Path(args.path).exists():
        raise MagnetError(f"{args.path}: no such cache file")
    with RequestCache(args.path) as cache:
        counts = cache.counts_by_step()
        print(f"{args.path}: {sum(counts.values())} answers")
        if counts:
            print(table(["step", "answers"], sorted(counts.items())))
    return 0


def cmd_graph_build(args: argparse.Namespace) -> int:
    """Build the function graph of a pool with the schema or the LLM judge."""
    from magnet.synthesis.graph import build_graph
    from magnet.synthesis.stages import graph_config, graph_judge
    from magnet.tools.pool import pool_specs

    config = synth_config(args)
    specs = pool_specs(config.pool, allow_bfcl=config.allow_bfcl)
    teacher = command_teacher(args, config)
    work = build_graph(
        specs,
        graph_judge(config.graph, teacher),
        graph_config(config.graph, config.seed, config.teacher.max_concurrency),
        teacher=teacher,
    )
    graph = run_closing(teacher, work)
    graph.save(args.out)
    print_graph_stats(graph)
    print(f"graph written to {args.out}")
    if teacher.usage.steps:
        print(teacher.usage.format_table())
        teacher.usage.save(f"{args.out}.usage.json")
    return 0


def print_graph_stats(graph) -> None:
    """A graph's size, out-degrees and edges per category, in three lines."""
    stats = graph.stats()
    share = stats.with_out_edge / stats.nodes if stats.nodes else 0.0
    print(
        f"functions: {stats.nodes}   edges: {stats.edges} ({stats.nested_edges} nested)   "
        f"with an out-edge: {stats.with_out_edge} ({share:.0%})   isolated: {len(stats.isolated)}"
    )
    print("out-degree distribution: " + ", ".join(f"{d}: {n}" for d, n in stats.out_degree.items()))
    print("edges per category: " + ", ".join(f"{c}: {n}" for c, n in stats.edges_per_category.items()))
    if stats.isolated:
        print(f"isolated (no edge: no walk reaches them, single-turn rows only): {', '.join(stats.isolated)}")


def cmd_graph_stats(args: argparse.Namespace) -> int:
    """Print a saved graph's statistics."""
    from magnet.synthesis.graph import FunctionGraph

    graph = FunctionGraph.load(args.graph)
    if args.json:
        print(json.dumps(graph.stats().to_dict(), indent=2))
    else:
        print_graph_stats(graph)
    return 0


def cmd_graph_draw(args: argparse.Namespace) -> int:
    """Draw a saved graph, or one function's neighbourhood, as a PNG."""
    from magnet.synthesis.graph import FunctionGraph

    out = FunctionGraph.load(args.graph).draw(args.out, focus=args.focus, radius=args.radius)
    print(f"picture written to {out}")
    return 0


def cmd_paths_sample(args: argparse.Namespace) -> int:
    """Sample signature paths by random walks, reshape them (Merge, Insert; Split on a copy) and write both."""
    from magnet.synthesis.graph import FunctionGraph
    from magnet.synthesis.paths import path_stats
    from magnet.synthesis.stages import sample_signature_paths

    config = synth_config(args)
    graph = FunctionGraph.load(args.graph)
    sample = sample_signature_paths(graph, config.paths, config.seed, min_functions=args.min_functions, progress=True)
    write_jsonl(sample.rows(), Path(args.out))
    print(
        f"{len(sample.walks)} walks -> {len(sample.plain)} plain + {len(sample.split)} split paths, "
        f"{len(sample.single_turn)} single-turn and irrelevance paths written to {args.out}"
    )
    for name, paths in (("walks", sample.walks), ("plain", sample.plain), ("split", sample.split)):
        stats = path_stats(paths)
        shares = ", ".join(f"{k} {v:.0%}" for k, v in stats.get("share_with", {}).items())
        print(
            f"  {name:5}: {stats.get('turns_per_path', 0)} turns/path, {stats.get('functions_per_path', 0)} "
            f"functions/path, {stats.get('functions_per_turn', 0)} functions/turn; paths with {shares}"
        )
    return 0


def cmd_translate(args: argparse.Namespace) -> int:
    """Translate signature paths into executable episodes, sharded and resumable."""
    from magnet.synthesis.graph import FunctionGraph
    from magnet.synthesis.paths import read_paths
    from magnet.synthesis.stages import make_translator, recorded_pool, translate_paths
    from magnet.synthesis.translate import registry_and_simulator, toolkit_of
    from magnet.tools.pool import pool_toolkits

    config = synth_config(args)
    graph = FunctionGraph.load(args.graph)
    paths = read_paths(Path(args.paths).read_text(encoding="utf-8").splitlines(), args.paths)[: args.limit]
    chosen = "pool" in flag_values(args) or (args.config and "pool" in read_settings_file(args.config))
    pool = config.pool if chosen else recorded_pool(args.graph)
    toolkits = pool_toolkits(pool, allow_bfcl=config.allow_bfcl)
    teacher = command_teacher(args, config)
    registry, simulator = registry_and_simulator(graph, toolkits, teacher, store=args.simulation_store)
    if simulator is not None:
        simulated = sorted({toolkit_of(spec) for spec in simulator.specs.values()})
        print(
            f"{len(simulator.specs)} functions of toolkit(s) {simulated} have no executable class in pool "
            f"{pool!r}: the teacher simulates them (if they are package.module:Class toolkits, name them in --pool)"
        )
    translator = make_translator(graph, registry, teacher, config.translate, config.seed, simulator)
    work = translate_paths(
        translator,
        paths,
        args.out,
        shard_size=config.translate.shard_size,
        max_concurrency=config.teacher.max_concurrency,
        config={
            "graph": str(args.graph),
            "paths": str(args.paths),
            "pool": pool,
            "seed": config.seed,
            "teacher": teacher.name,
        },
    )
    report = run_closing(teacher, work)
    print(
        f"translated {report.inputs} paths: {report.accepted} episodes, {report.rejected} rejected "
        f"(acceptance {report.acceptance:.0%}); shards written {report.shards_done}, "
        f"already done {report.shards_skipped}"
    )
    for reason, count in report.reasons.most_common():
        print(f"  rejected {count:>5}  {reason}")
    print(teacher.usage.format_table())
    teacher.usage.save(Path(args.out) / "usage.json")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    """Print episodes of a translate output folder as conversations."""
    import random

    from magnet.synthesis.episode import Episode, format_episode
    from magnet.synthesis.pipeline import read_records

    records = list(read_records(args.folder))
    if args.kind:
        records = [r for r in records if r.get("kind") == args.kind]
    chosen = random.Random(args.seed).sample(records, min(args.n, len(records)))
    for record in chosen:
        print(format_episode(Episode.from_dict(record)))
    return 0


def cmd_synth(args: argparse.Namespace) -> int:
    """Run the whole synthesis from a YAML config (resuming a previous run's finished shards)."""
    from magnet.api import synth_report_checks
    from magnet.synthesis.config import load_config
    from magnet.synthesis.synth import run_synth

    config = load_config(args.config, list(args.set or []), values=flag_values(args), values_where="--")
    part = None
    if args.shard:
        index, _, total = args.shard.partition("/")
        if not (index.isdigit() and total.isdigit()) or not int(index) < int(total):
            raise MagnetError(f"--shard {args.shard!r}: expected i/n with 0 <= i < n, e.g. 0/4")
        part = (int(index), int(total))
    if args.executor == "ray":
        from magnet.synthesis.ray_executor import run_synth_on_ray

        if part is not None:
            raise MagnetError("--executor ray starts the parts itself: give --ray-tasks N, not --shard")
        report = run_synth_on_ray(
            config, tasks=args.ray_tasks, progress=not args.no_progress, report_checks=synth_report_checks(config)
        )
    elif args.ray_tasks is not None:
        raise MagnetError("--ray-tasks is for --executor ray")
    else:
        report = run_synth(config, part=part, progress=not args.no_progress, report_checks=synth_report_checks(config))
    out = Path(config.out)
    if "incomplete" in report:
        print(report["incomplete"])
        return 0
    print((out / "report.md").read_text())
    print(f"datasets: {out / 'datasets'} (load with datasets.load_from_disk); report: {out / 'report.md'}")
    usage = report.get("usage", {}).get("total", {})
    print(
        f"teacher: {usage.get('requests', 0)} requests, {usage.get('cache_hits', 0)} cache hits, "
        f"failures {usage.get('failures', {})}"
    )
    return 0


def _stage_command(commands, name: str, help_text: str) -> argparse.ArgumentParser:
    command = commands.add_parser(name, help=help_text)
    add_synth_config_flag(command)
    return command


def register(commands: argparse._SubParsersAction) -> None:
    """Add the synthesis commands."""
    from magnet.synthesis.config import GraphSettings, PathSettings, SynthConfig, TranslateSettings

    label = _stage_command(commands, "label", "label functions with a category and tool class using a teacher")
    label.add_argument("--specs", help="OpenAI tools JSON file")
    label.add_argument("--stb", help="StableToolBench-style folder of tool JSON files")
    label.add_argument("--out", required=True, help="output JSON file (specs with category and tool_class)")
    label.add_argument("--all", action="store_true", help="relabel functions that already have labels")
    add_teacher_flags(label)
    label.set_defaults(run=cmd_label)

    graph = commands.add_parser("graph", help="build, inspect and draw the function graph")
    graph_commands = graph.add_subparsers(dest="graph_command", required=True)
    build = _stage_command(graph_commands, "build", "build the function graph of a pool")
    add_settings_flags(build, SynthConfig, only=["pool", "allow_bfcl", "seed"])
    add_settings_flags(build, GraphSettings, "graph.", flag_prefix="")
    build.add_argument("--out", required=True, help="graph JSON file")
    add_teacher_flags(build)
    build.set_defaults(run=cmd_graph_build)
    stats = graph_commands.add_parser("stats", help="print a graph's statistics")
    stats.add_argument("graph", help="graph JSON file")
    stats.add_argument("--json", action="store_true")
    stats.set_defaults(run=cmd_graph_stats)
    draw = graph_commands.add_parser("draw", help="draw a graph (or one function's neighbourhood) as PNG")
    draw.add_argument("graph", help="graph JSON file")
    draw.add_argument("--out", required=True, help="PNG file")
    draw.add_argument("--focus", help="draw only this function and its neighbours")
    draw.add_argument("--radius", type=int, default=1, help="hops around --focus")
    draw.set_defaults(run=cmd_graph_draw)

    paths = commands.add_parser("paths", help="sample and reshape function signature paths")
    paths_commands = paths.add_subparsers(dest="paths_command", required=True)
    sample = _stage_command(paths_commands, "sample", "random walks + Merge/Insert (+ Split on a copy)")
    sample.add_argument("--graph", required=True, help="graph JSON file")
    sample.add_argument("--out", required=True, help="paths JSONL file (a plain and a split line per walk)")
    sample.add_argument("--min-functions", type=int, default=2, help="drop shorter walks")
    add_settings_flags(sample, SynthConfig, only=["seed"])
    add_settings_flags(sample, PathSettings, "paths.", flag_prefix="", aliases=True)
    sample.set_defaults(run=cmd_paths_sample)

    translate = _stage_command(commands, "translate", "back-and-forth translation: paths -> executable episodes")
    translate.add_argument("--graph", required=True, help="graph JSON file the paths come from")
    translate.add_argument("--paths", required=True, help="paths JSONL file (magnet paths sample)")
    translate.add_argument("--out", required=True, help="output folder (shards + manifest; rerun to resume)")
    translate.add_argument("--limit", type=int, default=None, help="translate only the first N paths")
    translate.add_argument(
        "--simulation-store",
        default=".magnet/simulated.sqlite",
        help="outputs of spec-only functions (kept across runs)",
    )
    add_settings_flags(translate, SynthConfig, only=["pool", "allow_bfcl", "seed"])
    add_settings_flags(translate, TranslateSettings, "translate.", flag_prefix="")
    add_teacher_flags(translate)
    translate.set_defaults(run=cmd_translate)

    show = commands.add_parser("show", help="print episodes of a translate output folder as conversations")
    show.add_argument("folder", help="output folder of magnet translate")
    show.add_argument("--n", type=int, default=5, help="how many (a seeded random sample)")
    show.add_argument("--kind", choices=["multi_turn", "single_turn", "irrelevance"])
    show.add_argument("--seed", type=int, default=0)
    show.set_defaults(run=cmd_show)

    synth = commands.add_parser(
        "synth",
        help="the whole synthesis: graph, paths, translation, positives, negatives, datasets",
        description="Every setting of the config is also a flag (--paths.single 100, --teacher.model NAME; the "
        "teacher's also short: --model NAME); flags override the --config file, --set overrides both.",
    )
    synth.add_argument("--config", help="YAML config (see recipes/synth/*.yaml); every field has a default")
    synth.add_argument(
        "--shard",
        metavar="I/N",
        help="do part I of N of each sharded stage (N machines sharing --out); rerun to continue once the other "
        "parts finish, or run without --shard to merge",
    )
    synth.add_argument(
        "--executor",
        choices=["local", "ray"],
        default="local",
        help="local: this process (or the --shard part); ray: the sharded stages as Ray tasks on the cluster at "
        "RAY_ADDRESS (else a local one), over the same --out (shared storage), then the datasets here",
    )
    synth.add_argument(
        "--ray-tasks",
        type=int,
        metavar="N",
        help="Ray tasks, one part of the shards each (default: the cluster's CPUs)",
    )
    synth.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="override a config field, e.g. --set paths.single=100 --set teacher.kind=openai",
    )
    synth.add_argument("--no-progress", action="store_true", help="no progress bars (logs, CI)")
    add_settings_flags(synth.add_argument_group("settings (the config's fields)"), SynthConfig, aliases=True)
    synth.set_defaults(run=cmd_synth)

    cache = commands.add_parser("cache", help="inspect a request cache")
    cache.add_argument("action", choices=["stats"], help="what to show")
    cache.add_argument("path", nargs="?", default=".magnet/cache.sqlite", help="the cache file")
    cache.set_defaults(run=cmd_cache)
