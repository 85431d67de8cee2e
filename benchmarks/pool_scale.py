"""Synthesis at the paper's pool size: a StableToolBench-format folder of 5,000 functions (49 categories, written
by ``magnet.testing.stabletoolbench``) through every stage, with the offline backend as teacher and simulator.

Per stage: seconds, peak RSS of the process during that stage (the kernel's high-water mark, reset before each
stage through ``/proc/self/clear_refs``), and what the stage made. Stages:

* ``load``: the folder read and validated (``load_stabletoolbench``);
* ``graph (schema)``: ``magnet synth``'s graph stage with the schema judge, the default;
* ``graph (llm)``: the same graph with the LLM judge, the paper's, its requests answered by the offline backend;
* ``walks`` and ``operations``: the random walks and Merge/Insert/Split on them, timed apart;
* ``paths``: ``magnet synth``'s paths stage (walks, operations, single-turn and irrelevance paths, written);
* ``translate+positives+negatives``: the teacher stages on a seeded sample of ``--episodes`` paths, with
  simulated execution (the sample keeps the run to minutes; the work per path does not depend on the pool's
  size);
* ``datasets``: the SFT and preference datasets of those.

Run at two sizes (``--functions 1000 5000``), it prints each stage's growth exponent between them: 1.0 is
linear in the functions (the graph stages judge ``candidates`` (30) per function, so linear is what they should
be). Prints figures; never part of the tests' pass/fail.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import random
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from magnet.heap import frozen_heap
from magnet.synthesis.config import load_config
from magnet.synthesis.graph_building import GraphConfig, build_graph, sample_candidates
from magnet.synthesis.graph_judges import LLMJudge
from magnet.synthesis.offline import OfflineTeacher
from magnet.synthesis.operations import OperationConfig, reshape
from magnet.synthesis.paths import sample_paths
from magnet.synthesis.stages import graph_config
from magnet.synthesis.synth import Synth
from magnet.testing.stabletoolbench import write_stabletoolbench_folder
from magnet.tools.spec import load_stabletoolbench


def _peak_rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@contextlib.contextmanager
def measure(rows: dict[str, dict], stage: str) -> Iterator[dict]:
    """Time a stage and its peak RSS (the high-water mark reset at its start); the stage adds what it made."""
    with contextlib.suppress(OSError):  # not Linux, or not allowed: the peak is then the run's so far
        Path("/proc/self/clear_refs").write_text("5")
    row: dict = {}
    started = time.perf_counter()
    yield row
    rows[stage] = {"seconds": time.perf_counter() - started, "peak_rss_mib": _peak_rss_mib(), **row}


def _write_pending(synth: Synth) -> None:
    synth.out.mkdir(parents=True, exist_ok=True)
    for write in synth.pending_writes:
        write()
    synth.pending_writes.clear()


def run_size(functions: int, episodes: int, llm_judge: bool, work: Path) -> dict[str, dict]:
    rows: dict[str, dict] = {}
    folder = work / f"stb-{functions}"
    made = write_stabletoolbench_folder(folder, functions)
    print(
        f"\n{functions} functions: {made.tools} tools in {made.categories} categories, "
        f"{made.with_response_schema} with a response schema"
    )
    with measure(rows, "load") as row:
        specs = load_stabletoolbench(folder)
        row["made"] = f"{len(specs)} specs"
        row["items"] = len(specs)
    config = load_config(None, [f"pool={folder}", f"out={work / f'run-{functions}'}", "graph.judge=schema"])
    synth = Synth(config, progress=False)
    with measure(rows, "graph (schema)") as row:
        graph = synth.graph = asyncio.run(synth.graph_stage())
        _write_pending(synth)  # graph.json, which a run writes once the stage folders are checked
        stats = graph.stats()
        candidates = sum(map(len, sample_candidates(specs, graph_config(config.graph, config.seed)).values()))
        row["made"] = f"{stats.edges} edges, {stats.with_out_edge} functions with an out-edge"
        row["items"] = candidates
    if llm_judge:
        with measure(rows, "graph (llm)") as row:
            teacher = OfflineTeacher()
            judged = asyncio.run(
                build_graph(specs, LLMJudge(teacher), GraphConfig(seed=config.seed, max_concurrency=64), progress=False)
            )
            row["made"] = f"{judged.stats().edges} edges"
            row["items"] = candidates + judged.stats().edges  # one judgement per candidate, one per edge (nested)
    with measure(rows, "walks") as row:
        walks = sample_paths(
            graph, steps=config.paths.steps, walks_per_function=config.paths.walks_per_function, seed=config.seed
        )
        owner = {spec.name: spec.toolkit for spec in specs}
        crossing = sum(len({owner[name] for name in walk.functions}) > 1 for walk in walks)
        mean = statistics.mean(len(walk.functions) for walk in walks) if walks else 0.0
        row["made"] = f"{len(walks)} walks, {mean:.1f} functions each, {crossing} cross a tool"
        row["items"] = len(walks)
    with measure(rows, "operations") as row:
        rng, operations = random.Random(config.seed), OperationConfig()
        reshaped = [reshape(walk, graph, rng, operations) for walk in walks]
        row["made"] = f"{2 * len(reshaped)} paths (plain and split)"
        row["items"] = len(walks)
    with measure(rows, "paths") as row:
        paths = synth.paths = synth.paths_stage(graph)
        _write_pending(synth)  # paths.jsonl
        row["made"] = f"{len(paths)} paths (single-turn and irrelevance included), written"
        row["items"] = len(paths)
    sample = random.Random(0).sample(paths, min(episodes, len(paths)))
    with measure(rows, "translate+positives+negatives") as row:
        with frozen_heap():
            asyncio.run(synth.teacher_stages(graph, sample))
        reports = synth.reports
        row["made"] = ", ".join(
            f"{name} {report.accepted}/{report.accepted + report.rejected}" for name, report in reports.items()
        )
        for name, report in reports.items():
            if report.reasons:
                row["made"] += f"; {name} rejected: {dict(report.reasons)}"
    with measure(rows, "datasets") as row:
        report = synth.dataset_stage()
        row["made"] = f"SFT rows {report['sft'].get('rows')}, preference rows {report['preference'].get('rows')}"
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--functions", type=int, nargs="+", default=[1000, 5000])
    parser.add_argument("--episodes", type=int, default=400, help="paths through the teacher stages, per size")
    parser.add_argument("--no-llm-judge", action="store_true", help="skip the LLM-judge graph")
    args = parser.parse_args()
    results: dict[int, dict[str, dict]] = {}
    with tempfile.TemporaryDirectory(prefix="magnet-pool-scale-") as work:
        for functions in args.functions:
            results[functions] = run_size(functions, args.episodes, not args.no_llm_judge, Path(work))
            print("| stage | seconds | peak RSS (MiB) | made |\n| --- | --- | --- | --- |")
            for stage, row in results[functions].items():
                print(f"| {stage} | {row['seconds']:.2f} | {row['peak_rss_mib']:.0f} | {row.get('made', '')} |")
    sizes = sorted(results)
    if len(sizes) >= 2:
        small, large = sizes[0], sizes[-1]
        print(f"\nbetween {small} and {large} functions: growth exponent of the time (1.0: linear in the functions),")
        print("and microseconds per item (a candidate judged, a walk, a path; the same figure: linear in the items)")
        for stage in results[large]:
            before, after = results[small][stage], results[large][stage]
            exponent = math.log(after["seconds"] / before["seconds"]) / math.log(large / small)
            per_item = ""
            if before.get("items") and after.get("items"):
                micro = [1e6 * row["seconds"] / row["items"] for row in (before, after)]
                per_item = f"; {micro[0]:.1f} -> {micro[1]:.1f} us per item ({before['items']} -> {after['items']})"
            same = " (the same episodes at both sizes)" if stage.startswith("translate") or stage == "datasets" else ""
            times = f"{before['seconds']:.2f} s -> {after['seconds']:.2f} s"
            print(f"  {stage}: {times}, exponent {exponent:.2f}{per_item}{same}")


if __name__ == "__main__":
    main()
