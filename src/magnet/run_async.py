"""Running Magnet's asynchronous pipelines from synchronous code, inside a notebook too.

``asyncio.run`` refuses to start where an event loop already runs in the thread, which is every Jupyter cell;
``run_sync`` then runs the coroutine on a fresh loop in a worker thread and waits for it, so ``magnet.synthesize``
and ``magnet.evaluate`` behave the same in a script and in a notebook.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run_sync(coroutine: Coroutine[Any, Any, T]) -> T:
    """The coroutine's result: ``asyncio.run`` where no loop runs in this thread, else the same in a worker thread
    (errors propagate unchanged; Ctrl-C in the notebook interrupts the wait)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="magnet-run") as pool:
        return pool.submit(asyncio.run, coroutine).result()
