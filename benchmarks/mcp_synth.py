"""``magnet synth`` on real MCP servers (mcp-server-sqlite and mcp-server-git, on seeds made here) with a teacher
of fixed latency: the run's wall time when a server's calls run on a thread (``Environment.execute_async``, what
Magnet does) against in place on the event loop (every other episode's teacher requests wait for the call, and
for a server process to start).

The teacher is the loopback server of ``synth_throughput.py`` replaying the answers an offline run gave (so both
runs make the same requests); the servers are real processes, started afresh for every episode as in any run.
Prints figures and ratios; never part of the tests' pass/fail.

    python benchmarks/mcp_synth.py [--latency 0.1] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

from synth_throughput import Window, _server

from magnet.llm.replay import RecordingTeacher
from magnet.synthesis.config import load_config
from magnet.synthesis.synth import Synth
from magnet.testing.mcp_seeds import write_repo_seed, write_shop_seed
from magnet.tools.executor import Environment

ROOT = Path(__file__).resolve().parents[1]
SQLITE_SERVER = ROOT / ".venv" / "mcp-sqlite" / "bin" / "mcp-server-sqlite"
GIT_SERVER = Path(sys.executable).parent / "mcp-server-git"
SETTINGS = ["paths.walks_per_function=3", "translate.shard_size=8", "negatives.source=perturb"]


def pool(folder: Path, idle: int) -> list[str]:
    shop, repo = write_shop_seed(folder / "shop-seed"), write_repo_seed(folder / "repo-seed")
    return [
        f"mcp:name=shop;idle={idle};seed={shop};{SQLITE_SERVER} --db-path shop.db",
        f"mcp:name=repo;idle={idle};seed={repo};{GIT_SERVER} --repository .",
    ]


def run(settings: list[str], entries: list[str], *, record: bool = False) -> tuple[dict, float, Synth]:
    synth = Synth(load_config(None, settings, {"pool": entries}), progress=False)
    if record:
        synth.teacher = RecordingTeacher(synth.teacher)
    else:
        synth.teacher = Window(synth.teacher)
    started = time.perf_counter()
    report = asyncio.run(synth.run())
    return report, time.perf_counter() - started, synth


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--latency", type=float, default=0.1, help="teacher latency, seconds")
    parser.add_argument("--concurrency", type=int, default=16, help="teacher.max_concurrency")
    options = parser.parse_args()
    for program in (SQLITE_SERVER, GIT_SERVER):
        if not program.exists():
            sys.exit(f"{program} is not installed (make install)")
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        entries = pool(folder, idle=2 * options.concurrency)
        offline, offline_seconds, recorder = run([*SETTINGS, f"out={folder / 'offline'}"], entries, record=True)
        answers_file = folder / "answers.json"
        answers_file.write_text(
            json.dumps({key: [c.to_dict() for c in items] for key, items in recorder.teacher.answers.items()})
        )
        translate = offline["stages"]["translate"]
        paths = translate["accepted"] + translate["rejected"]
        print(
            f"offline teacher: {translate['accepted']} episodes accepted of {paths} paths, {offline_seconds:.1f} s; "
            f"teacher latency {options.latency * 1000:.0f} ms, "
            f"{options.concurrency} in flight"
        )
        print("calls run      run (s)  teacher (s)  requests  episodes  servers started  ratio")
        figures = {}
        for mode in ("in place", "on a thread"):
            blocking = Environment.blocking
            if mode == "in place":
                Environment.blocking = property(lambda self: False)  # every call on the event loop, as before
            try:
                with _server(answers_file, options.latency) as base_url:
                    settings = [
                        *SETTINGS,
                        "teacher.kind=openai",
                        "teacher.model=replay",
                        f"teacher.base_url={base_url}",
                        f"teacher.max_concurrency={options.concurrency}",
                        "teacher.no_cache=true",
                        f"out={folder / mode.replace(' ', '-')}",
                    ]
                    report, seconds, synth = run(settings, entries)
            finally:
                Environment.blocking = blocking
            started = sum(klass.mcp_host.servers_started for klass in synth.toolkits)
            window = synth.teacher.last - synth.teacher.first
            figures[mode] = seconds
            print(
                f"{mode:12s}  {seconds:8.1f}  {window:11.1f}  {report['usage']['total']['requests']:8d}  "
                f"{report['stages']['translate']['accepted']:8d}  {started:15d}  "
                f"{figures['in place'] / seconds:5.2f}"
            )
        print("(ratio: the in-place run's wall time over this one's; the same requests and episodes in both)")


if __name__ == "__main__":
    main()
