"""Running Magnet's asynchronous pipelines from synchronous code, inside a notebook too.

``asyncio.run`` refuses to start where an event loop already runs in the thread, which is every Jupyter cell;
``run_sync`` then runs the coroutine on a fresh loop in a worker thread and waits for it, so ``magnet.synthesize``
and ``magnet.evaluate`` behave the same in a script and in a notebook. An interrupt of the wait (Ctrl-C, the
notebook's stop button) cancels the run in the worker and waits for it to wind down, so no run goes on in the
background, writing the same folder as the next one.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run_sync(coroutine: Coroutine[Any, Any, T]) -> T:
    """The coroutine's result: ``asyncio.run`` where no loop runs in this thread, else the same in a worker thread
    (errors propagate unchanged; interrupting the wait cancels the coroutine, then re-raises)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    loop = asyncio.new_event_loop()
    task = loop.create_task(coroutine)
    outcome: dict[str, Any] = {}
    # Waiting on an Event, not Thread.join: a KeyboardInterrupt inside join() can leave the thread marked as
    # stopped while it still runs (CPython 3.11's _wait_for_tstate_lock), and the run would go on unseen.
    finished = threading.Event()

    def work() -> None:
        try:
            outcome["value"] = loop.run_until_complete(task)
        except BaseException as error:  # handed to the waiting thread as it is
            outcome["error"] = error
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()
            finished.set()

    worker = threading.Thread(target=work, name="magnet-run", daemon=True)
    try:
        worker.start()
        while not finished.wait(0.1):
            pass
    except BaseException:  # interrupted, maybe while the worker was starting: stop the run, then re-raise
        if worker.ident is None:  # it never started: nothing ran
            task.cancel()
            loop.run_until_complete(asyncio.gather(task, return_exceptions=True))
            loop.close()
            raise
        with contextlib.suppress(RuntimeError):  # a closed loop: the run had just finished
            loop.call_soon_threadsafe(task.cancel)
        finished.wait()
        raise
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]
