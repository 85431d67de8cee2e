"""Time limits off the main thread: one reusable worker, a timed-out call abandoned without holding up the next."""

from __future__ import annotations

import gc
import threading
import time

import pytest

from magnet.tools.calls import FunctionCall
from magnet.tools.executor import Environment
from magnet.tools.time_limit import CallRunner, CallTimeout


def _off_main(work):
    """What ``work()`` returns or raises, run in a thread that is not the main one (as a notebook runs synthesis)."""
    box = {}

    def target():
        try:
            box["value"] = work()
        except BaseException as error:
            box["error"] = error

    thread = threading.Thread(target=target)
    thread.start()
    thread.join(10)
    if "error" in box:
        raise box["error"]
    return box["value"]


def _call_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == "magnet-call"]


def test_calls_share_one_worker_thread():
    runner = CallRunner()
    idents = _off_main(lambda: [runner.run(threading.get_ident, 1.0) for _ in range(20)])
    assert len(set(idents)) == 1 and idents[0] != threading.get_ident()
    runner.close()


def test_a_timed_out_call_is_abandoned_and_the_next_call_does_not_wait_for_it():
    runner = CallRunner()
    finished = threading.Event()

    def slow():
        time.sleep(0.6)
        finished.set()
        return "late"

    def work():
        started = time.monotonic()
        with pytest.raises(CallTimeout):
            runner.run(slow, 0.1)
        after = runner.run(lambda: "next", 1.0)
        return after, time.monotonic() - started

    after, seconds = _off_main(work)
    assert after == "next" and seconds < 0.5 and not finished.is_set()  # the next call ran while slow() still ran
    assert finished.wait(2)  # the abandoned call ran to its end; its result went nowhere
    runner.close()


def test_a_tools_own_timeout_error_is_its_error_not_a_time_limit():
    def failing():
        raise TimeoutError("socket timed out")

    with pytest.raises(TimeoutError, match="socket timed out"):
        _off_main(lambda: CallRunner().run(failing, 1.0))


def _new_call_threads(before: set[threading.Thread]) -> list[threading.Thread]:
    """Workers started since ``before`` was taken; counting would race with earlier tests' workers still retiring."""
    return [thread for thread in _call_threads() if thread not in before]


def _ended(threads: list[threading.Thread], seconds: float = 2.0) -> bool:
    deadline = time.monotonic() + seconds
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    return not any(thread.is_alive() for thread in threads)


def test_closing_the_environment_ends_its_worker(piggy_class):
    before = set(_call_threads())
    with Environment([piggy_class()]) as env:
        result = _off_main(lambda: env.execute_one(FunctionCall("get_balance", {"account_id": "acc-1"})))
        started = _new_call_threads(before)
        assert result.ok and len(started) == 1
    assert _ended(started)


def test_an_environment_dropped_unclosed_ends_its_worker_too(piggy_class):
    before = set(_call_threads())

    def episode():  # an environment per episode, never closed
        env = Environment([piggy_class()])
        return env.execute_one(FunctionCall("get_balance", {"account_id": "acc-1"})).ok, _new_call_threads(before)

    ok, started = _off_main(episode)
    assert ok and len(started) == 1
    gc.collect()  # collecting the environment retires its worker
    assert _ended(started)
