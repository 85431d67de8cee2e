"""``magnet synth`` against an OpenAI-compatible server with a fixed latency: trajectories/s and requests/s at
concurrency 1, 8, 32 and 64, against the bound concurrency / latency; and the CPU cost of one trajectory with the
offline backend.

The server (another process, as a real endpoint) answers each request with what the offline backend answered
to the same request in a recording run (``magnet.llm.replay``), after ``latency`` seconds. With latency L and
concurrency C no client can exceed C / L requests/s; the ratio to that bound is what Magnet's pipeline (stage
runner, translator, distiller, the openai client, the cache) leaves on the table. The request cache is off, so
every request crosses the wire. Prints figures and ratios; never part of the tests' pass/fail.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from magnet.llm.client import Completion
from magnet.llm.replay import RecordingTeacher, replay_responder
from magnet.synthesis.config import load_config
from magnet.synthesis.synth import Synth
from magnet.testing.loopback import LoopbackServer

LATENCIES = (0.1, 0.5)
CONCURRENCY = (1, 8, 32, 64)
# Walks of at most 4 steps: shorter chains of dependent requests, so that a measurement at 500 ms takes half a
# minute rather than minutes; the per-request work is the same.
SETTINGS = ["paths.walks_per_function=4", "paths.steps=4", "translate.shard_size=100", "negatives.source=perturb"]


def _items(concurrency: int, latency: float) -> int:
    """Paths per measurement: several per slot (so that the tail, where fewer paths than slots are left, is a
    small part of the run), fewer at 500 ms (the run would take minutes otherwise); at concurrency 1 a few paths
    measure the per-request overhead as well as many would."""
    if concurrency == 1:
        return 4 if latency <= 0.1 else 2
    return concurrency * (6 if latency <= 0.1 else 3)


def record(folder: Path) -> tuple[dict[str, list[Completion]], float, int]:
    """Answers of an offline run (all paths), its wall time and its trajectories."""
    synth = Synth(load_config(None, [*SETTINGS, f"out={folder / 'offline'}"]), progress=False)
    synth.teacher = RecordingTeacher(synth.teacher)
    started = time.process_time()
    report = asyncio.run(synth.run())
    return synth.teacher.answers, time.process_time() - started, report["stages"]["positives"]["accepted"]


def serve(answers_file: str, latency: float) -> None:
    """The server process: replay the recorded answers after ``latency`` seconds each."""
    raw = json.loads(Path(answers_file).read_text())
    answers = {key: [Completion.from_dict(item) for item in items] for key, items in raw.items()}
    with LoopbackServer(replay_responder(answers), latency=latency, record_bodies=False) as server:
        print(server.base_url, flush=True)
        sys.stdin.read()  # until the benchmark closes our stdin


class Window:
    """A teacher wrapper noting when the first request went out and the last answer came back: the requests/s
    of the stages that talk to the teacher, without the graph build and dataset writing around them."""

    def __init__(self, inner):
        self.inner, self.name, self.usage = inner, inner.name, inner.usage
        self.first = self.last = None

    async def complete(self, *args, **kwargs):
        now = time.perf_counter()
        self.first = now if self.first is None else self.first
        try:
            return await self.inner.complete(*args, **kwargs)
        finally:
            self.last = time.perf_counter()

    async def aclose(self):
        await self.inner.aclose()


def measure(
    base_url: str, concurrency: int, latency: float, folder: Path, http_client: str
) -> tuple[float, float, int, int, float]:
    limit = _items(concurrency, latency)
    settings = [
        *SETTINGS,
        f"paths.limit={limit}",
        "teacher.kind=openai",
        "teacher.model=replay",
        f"teacher.base_url={base_url}",
        f"teacher.max_concurrency={concurrency}",
        "teacher.no_cache=true",
        f"teacher.http_client={http_client}",
        f"out={folder / f'c{concurrency}-l{latency}-{http_client}'}",
    ]
    synth = Synth(load_config(None, settings), progress=False)
    synth.teacher = window = Window(synth.teacher)
    started, cpu_started = time.perf_counter(), time.process_time()
    report = asyncio.run(synth.run())
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    requests = report["usage"]["total"]["requests"]
    return seconds, window.last - window.first, requests, report["stages"]["positives"]["accepted"], cpu


@contextlib.contextmanager
def _server(answers_file: Path, latency: float) -> Iterator[str]:
    """The replay server in another process, for one measurement; yields its base URL."""
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(answers_file), str(latency)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        yield server.stdout.readline().strip()
    finally:
        server.stdin.close()
        server.wait(timeout=10)


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--serve":
        serve(sys.argv[2], float(sys.argv[3]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--latencies", default=",".join(map(str, LATENCIES)), help="seconds, comma-separated")
    parser.add_argument("--concurrency", default=",".join(map(str, CONCURRENCY)), help="comma-separated")
    parser.add_argument(
        "--http-clients", default="aiohttp,openai,httpx", help="teacher.http_client values to measure, comma-separated"
    )
    options = parser.parse_args()
    latencies = [float(value) for value in options.latencies.split(",")]
    levels = [int(value) for value in options.concurrency.split(",")]
    transports = options.http_clients.split(",")
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        answers, cpu_seconds, trajectories = record(folder)
        print(
            f"offline backend: {trajectories} trajectories, {cpu_seconds:.2f} s CPU for the whole synth "
            f"({1000 * cpu_seconds / max(1, trajectories):.1f} ms CPU per trajectory, graph and datasets included)"
        )
        answers_file = folder / "answers.json"
        answers_file.write_text(json.dumps({k: [c.to_dict() for c in v] for k, v in answers.items()}))
        del answers  # the server holds them; in the client process they would only burden its garbage collections
        print(f"server in another process, {os.cpu_count()} cores shared by client and server, request cache off")
        print(
            "latency  client   concurrency  paths  trajectories  requests  run (s)  traj/s  teacher (s)  requests/s"
            "  bound  ratio  client CPU/request (ms)"
        )
        for latency, concurrency, transport in itertools.product(latencies, levels, transports):
            # A fresh server for every measurement: the replay serves a prompt answered differently over time in
            # the recorded order, so a server that answered an earlier run would answer this one otherwise.
            with _server(answers_file, latency) as base_url:
                seconds, window, requests, accepted, cpu = measure(base_url, concurrency, latency, folder, transport)
            rate = requests / window
            bound = concurrency / latency
            print(
                f"{latency * 1000:5.0f}ms  {transport:7s}  {concurrency:11d}  "
                f"{_items(concurrency, latency):5d}  "
                f"{accepted:12d}  {requests:8d}  {seconds:7.1f}  {accepted / seconds:6.2f}  "
                f"{window:11.1f}  {rate:10.1f}  {bound:5.0f}  {rate / bound:5.2f}  "
                f"{1000 * cpu / requests:23.2f}",
                flush=True,
            )
        print(
            "(run: the whole magnet synth, graph build and dataset writing included; teacher: first request to last"
            " answer; ratio = requests/s over the teacher window / bound; paths are chains of dependent requests, so"
            " the last paths of a run leave slots idle. At 100 ms x 64 the client's one event loop is the limit: it"
            " needs 640 x the client CPU per request each second; aiohttp, the default transport, costs the least of"
            " it. More throughput: several processes, magnet synth --shard i/n)"
        )


if __name__ == "__main__":
    main()
