"""500 requests through faults: every one answered or reported failed by cause, and the counts add up.

The loopback server injects 10% HTTP 500, 5% 429 (with Retry-After), 5% hangs past the client timeout and 10%
malformed answers (5% invalid JSON, 5% cut-off tool calls). Then the same 500 requests again through the cache.
Prints the accounting; never part of the tests' pass/fail (tests/llm/test_client.py asserts the same).
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

from magnet.errors import TeacherError
from magnet.llm.cache import RequestCache
from magnet.llm.client import OpenAITeacher
from magnet.testing.loopback import LoopbackServer

FAULTS = {"error_500": 0.10, "rate_limit_429": 0.05, "hang": 0.05, "malformed_json": 0.05, "truncated_tool_call": 0.05}
COUNT = 500


async def _run(teacher: OpenAITeacher) -> tuple[int, int]:
    async def ask(index: int) -> bool:
        try:
            await teacher.complete([{"role": "user", "content": f"request {index}"}], step="probe")
            return True
        except TeacherError:
            return False

    results = await asyncio.gather(*(ask(i) for i in range(COUNT)))
    await teacher.aclose()
    return sum(results), COUNT - sum(results)


def main() -> None:
    with (
        LoopbackServer(faults=FAULTS, hang_seconds=5.0, retry_after=0.05, seed=3) as server,
        tempfile.TemporaryDirectory() as folder,
    ):
        cache_path = Path(folder) / "cache.sqlite"
        teacher = OpenAITeacher(
            "loopback",
            base_url=server.base_url,
            timeout=1.0,
            max_concurrency=64,
            max_retries=6,
            backoff_initial=0.05,
            cache=RequestCache(cache_path),
        )
        started = time.perf_counter()
        answered, failed = asyncio.run(_run(teacher))
        elapsed = time.perf_counter() - started
        usage = teacher.usage.step("probe")
        print(f"{COUNT} requests with faults {FAULTS}: {elapsed:.1f} s")
        print(f"  answered {answered}, failed {failed} (by cause: {dict(usage.failures) or 'none'})")
        print(
            f"  attempts sent {usage.requests} = answered {usage.answered} + retried {sum(usage.retries.values())} "
            f"+ failed {sum(usage.failures.values())}"
        )
        print(f"  retries by cause: {dict(sorted(usage.retries.items()))}")
        print(f"  server saw {server.requests} requests: {dict(sorted(server.outcomes.items()))}")
        again = OpenAITeacher("loopback", base_url=server.base_url, cache=RequestCache(cache_path))
        before = server.requests
        answered_again, _ = asyncio.run(_run(again))
        print(
            f"second identical run: {answered_again} answered, {server.requests - before} requests sent, "
            f"cache hit rate {again.cache.stats.hit_rate:.0%}"
        )


if __name__ == "__main__":
    main()
