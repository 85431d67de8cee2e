"""How fast the foundation is: parsing calls, executing them, and replaying BFCL's ground truth.

Prints figures and ratios; never part of the tests' pass/fail. The BFCL replay runs every ground-truth call of
the 800 v3 multi-turn entries through Magnet (safe parser + executor) and through bfcl_eval's own executor
(``eval``), and reports both times and their ratio.
"""

from __future__ import annotations

import random
import statistics
import time
import uuid

from magnet.tools.builtin import BUILTIN_TOOLKITS
from magnet.tools.calls import FunctionCall, format_calls, parse_calls
from magnet.tools.executor import Environment


def _best_of(repeats: int, work) -> float:
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        timings.append(time.perf_counter() - started)
    return min(timings)


def bench_parse() -> None:
    rng = random.Random(0)
    calls = [
        FunctionCall(
            f"function_{i % 17}",
            {
                "city": "Paris",
                "days": rng.randint(1, 9),
                "tags": ["a", "b"],
                "filters": {"max_price": 12.5, "open": True},
            },
        )
        for i in range(3)
    ]
    texts = [format_calls(calls) for _ in range(2000)]
    seconds = _best_of(3, lambda: [parse_calls(text) for text in texts])
    print(f"parse_calls: {len(texts) * 3 / seconds:,.0f} calls/s ({len(texts) / seconds:,.0f} texts of 3 calls/s)")


def bench_execute() -> None:
    env = Environment.from_state(BUILTIN_TOOLKITS)
    specs = env.specs
    rng = random.Random(1)
    # Read-only calls with valid ids keep the state constant across repeats.
    calls = [FunctionCall("get_event", {"event_id": "evt-0001"}), FunctionCall("list_events", {"date": "2026-03-02"})]
    calls = [rng.choice(calls) for _ in range(5000)]
    seconds = _best_of(3, lambda: env.execute(calls))
    print(f"Environment.execute (builtin pool, {len(specs)} functions): {len(calls) / seconds:,.0f} calls/s")
    point = env.snapshot()
    seconds = _best_of(3, lambda: [env.restore(point) for _ in range(200)])
    print(f"Environment.restore (11 toolkits, default state): {200 / seconds:,.0f} restores/s")


def bench_bfcl_replay() -> None:
    try:
        from bfcl_eval.eval_checker.multi_turn_eval import multi_turn_utils
    except ImportError:
        print("BFCL replay: skipped (bfcl-eval not installed)")
        return
    from magnet.tools.bfcl import MULTI_TURN_CATEGORIES, bfcl_environment, load_multi_turn_entries

    entries = [entry for category in MULTI_TURN_CATEGORIES for entry in load_multi_turn_entries(category)]
    calls_total = sum(len(turn) for entry in entries for turn in entry.ground_truth)

    def ours() -> None:
        for entry in entries:
            env = bfcl_environment(entry)
            order = env.parameter_order()
            for turn in entry.ground_truth:
                env.execute([call for text in turn for call in parse_calls(text, parameter_order=order)])

    def theirs() -> None:
        name = f"bench_{uuid.uuid4().hex}"
        for entry in entries:
            for turn in entry.ground_truth:
                multi_turn_utils.execute_multi_turn_func_call(
                    turn, entry.initial_config, entry.involved_classes, name, entry.id, long_context=entry.long_context
                )
        for key in [key for key in vars(multi_turn_utils) if key.startswith(name)]:
            del vars(multi_turn_utils)[key]

    ours_s = statistics.median(_best_of(1, ours) for _ in range(3))
    theirs_s = statistics.median(_best_of(1, theirs) for _ in range(3))
    print(f"BFCL v3 ground-truth replay, {len(entries)} entries / {calls_total} calls:")
    print(f"  magnet (ast parser + schema checks + snapshots): {ours_s:.2f} s")
    print(f"  bfcl_eval execute_multi_turn_func_call (eval):   {theirs_s:.2f} s")
    print(f"  ratio magnet / bfcl_eval: {ours_s / theirs_s:.2f}")


if __name__ == "__main__":
    bench_parse()
    bench_execute()
    bench_bfcl_replay()
