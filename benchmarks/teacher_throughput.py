"""Teacher throughput against the loopback OpenAI server: requests/s at a fixed latency, against the bound.

With latency L and concurrency C, no client can exceed C / L requests/s; the ratio to that bound says how much
the client stack (the HTTP transport, ``teacher.http_client``'s default, and Magnet's semaphore, cache and
accounting) costs. Also the offline backend's CPU cost per step answer. Prints figures and ratios; never part of
the tests' pass/fail.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from magnet.llm.cache import RequestCache
from magnet.llm.client import OpenAITeacher

LATENCY = 0.1
PLAN = ((1, 30), (8, 160), (32, 480), (64, 960))


async def _run(teacher: OpenAITeacher, count: int, tag: str) -> float:
    started = time.perf_counter()
    await asyncio.gather(
        *(teacher.complete([{"role": "user", "content": f"{tag} {i}"}], step="bench") for i in range(count))
    )
    elapsed = time.perf_counter() - started
    await teacher.aclose()
    return elapsed


def main() -> None:
    # The server runs in its own process, as a real endpoint would: the figures are the client stack's.
    server = subprocess.Popen(
        [sys.executable, "-m", "magnet.testing.loopback", "--latency", str(LATENCY)], stdout=subprocess.PIPE, text=True
    )
    base_url = server.stdout.readline().strip()
    print(
        f"OpenAITeacher -> loopback server in another process, latency {LATENCY * 1000:.0f} ms "
        f"(default transport, real HTTP, {os.cpu_count()} cores shared by client and server)"
    )
    print("concurrency  requests  seconds  requests/s  bound  ratio")
    try:
        _measure(base_url)
    finally:
        server.kill()
        server.wait()


def _measure(base_url: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        for concurrency, count in PLAN:
            cache = RequestCache(Path(folder) / f"cache-{concurrency}.sqlite")
            teacher = OpenAITeacher("loopback", base_url=base_url, max_concurrency=concurrency, cache=cache)
            asyncio.run(_run(teacher, 4, "warm-up"))
            seconds = asyncio.run(_run(teacher, count, "request"))
            rate = count / seconds
            bound = concurrency / LATENCY
            print(f"{concurrency:>11}  {count:>8}  {seconds:>7.2f}  {rate:>10.1f}  {bound:>5.0f}  {rate / bound:>5.2f}")
            sent_before = teacher.usage.total().requests
            cached = asyncio.run(_run(teacher, count, "request"))
            sent = teacher.usage.total().requests - sent_before
            if concurrency == PLAN[-1][0]:
                print(
                    f"rerun of the last {count} requests from the cache: {cached:.2f} s "
                    f"({count / cached:,.0f} answers/s, {sent} requests sent)"
                )


if __name__ == "__main__":
    main()
