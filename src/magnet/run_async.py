"""Running Magnet's asynchronous pipelines from synchronous code, inside a notebook too.

``asyncio.run`` refuses to start where an event loop already runs in the thread, which is every Jupyter cell;
``run_sync`` then runs the coroutine on a fresh loop in a worker thread and waits for it, so ``magnet.synthesize``
and ``magnet.evaluate`` behave the same in a script and in a notebook. An interrupt of the wait (Ctrl-C, the
notebook's stop button) cancels the run in the worker and waits for it to wind down, so no run goes on in the
background, writing the same folder as the next one.
"""

from __future__ import annotations

import asyncio
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

    def work() -> None:
        try:
            outcome["value"] = loop.run_until_complete(task)
        except BaseException as error:  # handed to the waiting thread as it is
            outcome["error"] = error
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    worker = threading.Thread(target=work, name="magnet-run", daemon=True)
    worker.start()
    try:
        while worker.is_alive():
            worker.join(0.1)
    except BaseException:
        loop.call_soon_threadsafe(task.cancel)
        worker.join()
        raise
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]
