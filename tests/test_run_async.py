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
