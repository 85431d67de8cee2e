"""A time limit on one tool call, that a tool's own error handling cannot defeat.

On the main thread (scripts, the CLI, tests) a call over its limit is interrupted: SIGALRM raises ``CallTimeout``
inside it, and the call stops there. Elsewhere (a notebook runs synthesis in a worker thread) no signal can reach
the call and Python cannot kill a thread, so the call runs on a worker thread while the caller waits, and a call
over its limit is abandoned: the caller gets ``CallTimeout`` when the limit passes, the call's result or exception
is discarded when it comes, and its worker is retired (the thread ends when the call returns), so that the next
call gets a fresh worker instead of queueing behind it. An abandoned call may go on changing the toolkit instance
it runs on; nothing marks that instance, so a caller told that a call timed out should treat the state as unknown
(the error result says the call did not finish). Calls that finish in time share one worker: only a timeout costs
a new thread.
"""

from __future__ import annotations

import queue
import signal
import threading
import weakref
from collections.abc import Callable, Iterator
from concurrent.futures import Future, wait
from contextlib import contextmanager
from typing import Any, TypeVar

T = TypeVar("T")


class CallTimeout(BaseException):
    """Raised inside a call that ran past its time limit. A ``BaseException`` (as ``KeyboardInterrupt`` is), so
    that a tool's own ``except Exception`` around its work does not swallow it and run on."""


@contextmanager
def _alarm(seconds: float) -> Iterator[bool]:
    """Interrupt the block after ``seconds`` with SIGALRM (main thread only; elsewhere a no-op yielding False)."""
    usable = seconds > 0 and hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
    if not usable:
        yield False
        return

    def interrupt(signum: int, frame: Any) -> None:
        raise CallTimeout

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield True
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


_STOP = None


def _serve(jobs: queue.SimpleQueue) -> None:
    """A worker's loop: run each job, hand its outcome to its future, end at ``_STOP``."""
    while (job := jobs.get()) is not _STOP:
        function, future = job
        if not future.set_running_or_notify_cancel():
            continue
        try:
            future.set_result(function())
        except BaseException as error:  # handed to the waiting caller as it is
            future.set_exception(error)


class _Worker:
    """One daemon thread running the calls handed to it, one at a time.

    Not a ``ThreadPoolExecutor``: its threads are joined when the interpreter exits, so one runaway call would
    keep the process from ending; a daemon thread does not.
    """

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        threading.Thread(target=_serve, args=(self._jobs,), name="magnet-call", daemon=True).start()

    def submit(self, function: Callable[[], T]) -> Future[T]:
        """Queue ``function``; its future holds the result or the exception."""
        future: Future[T] = Future()
        self._jobs.put((function, future))
        return future

    def stop(self) -> None:
        """End the thread once the job it runs (if any) returns."""
        self._jobs.put(_STOP)


class CallRunner:
    """Runs calls under a time limit; see the module docstring for how.

    Owns at most one worker thread, started by the first call made off the main thread. ``close`` ends it; so does
    garbage collection of the runner, for owners that are never closed (an environment per episode).
    """

    def __init__(self) -> None:
        self._worker: _Worker | None = None
        self._retire: weakref.finalize | None = None

    def run(self, function: Callable[[], T], seconds: float) -> T:
        """``function()``, or ``CallTimeout`` when it runs past ``seconds`` (0 or less: no limit)."""
        with _alarm(seconds) as armed:
            if armed or seconds <= 0:
                return function()
        if self._worker is None:
            self._worker = _Worker()
            self._retire = weakref.finalize(self, self._worker.stop)
        future = self._worker.submit(function)
        # wait(), not future.result(timeout): a tool's own TimeoutError must stay the tool's error.
        if not wait([future], timeout=seconds).done:
            future.cancel()
            self.close()
            raise CallTimeout
        return future.result()

    def close(self) -> None:
        """Retire the worker thread, if one was started: it ends once its call (if any) returns. A later call
        starts another."""
        if self._retire is not None:
            self._retire()
        self._worker = self._retire = None
