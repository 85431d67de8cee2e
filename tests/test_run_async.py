"""Async pipelines run from synchronous code, inside a running event loop (a notebook cell) too."""

from __future__ import annotations

import asyncio
import threading

import pytest

from magnet.run_async import run_sync


async def _answer(fail: bool = False) -> tuple[int, str]:
    await asyncio.sleep(0)
    if fail:
        raise ValueError("inner failure")
    return 42, threading.current_thread().name


def test_without_a_running_loop_it_is_asyncio_run():
    assert run_sync(_answer()) == (42, threading.current_thread().name)


def test_inside_a_running_loop_it_runs_in_a_worker_thread():
    async def cell():  # what a Jupyter cell is: code running while the kernel's loop runs
        return run_sync(_answer())

    value, thread = asyncio.run(cell())
    assert value == 42 and thread.startswith("magnet-run")


def test_errors_come_back_unchanged():
    async def cell():
        return run_sync(_answer(fail=True))

    with pytest.raises(ValueError, match="inner failure"):
        asyncio.run(cell())


def test_an_interrupted_wait_cancels_the_run_in_the_worker():
    import _thread

    started, cancelled = threading.Event(), threading.Event()

    async def long_run():
        started.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    def press_ctrl_c() -> None:  # once the run is under way in the worker, as a user would
        if started.wait(timeout=30):
            _thread.interrupt_main()

    async def cell():
        threading.Thread(target=press_ctrl_c, daemon=True).start()
        return run_sync(long_run())

    loop = asyncio.new_event_loop()  # a kernel's loop: SIGINT raises KeyboardInterrupt where the cell is
    try:
        with pytest.raises(KeyboardInterrupt):
            loop.run_until_complete(cell())
    finally:
        loop.close()
    assert cancelled.is_set(), "the run went on in the background"
    for thread in threading.enumerate():  # the worker ends right after the run (joined here, outside any interrupt)
        if thread.name == "magnet-run":
            thread.join(timeout=5)
            assert not thread.is_alive()
