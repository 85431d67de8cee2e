"""``frozen_heap``: the objects alive when a long run starts are left out of Python's full garbage collections.

A synthesis run holds every module it imported (torch, transformers, datasets: millions of objects), the graph and
the registry, and allocates fast (JSON in and out for every request). Each full collection walks all of it: on
the synthesis benchmark (``benchmarks/synth_throughput.py``, 100 ms x 64 in flight) full collections took up to
107 ms each, 1.45 s in all, and every one stalls the event loop with 64 requests waiting on it. ``gc.freeze``
moves the objects alive at the start into a permanent generation that collections skip (vLLM freezes its heap
after start-up for the same reason); objects made during the run are collected as usual, and ``gc.unfreeze``
hands the frozen ones back at the end. The freeze is process-wide, as ``gc`` is: another thread's objects made before
the block are frozen with the rest, and a heap already frozen by someone else is left to them.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def frozen_heap() -> Iterator[None]:
    """Freeze what is alive now (after one collection, so that no garbage is frozen) for the ``with`` block. A
    heap someone else froze is left as it is."""
    if gc.get_freeze_count():
        yield
        return
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
