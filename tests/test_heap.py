"""``frozen_heap``: what is alive at the start is frozen for the block, garbage is not, and a heap someone else
froze is left frozen."""

from __future__ import annotations

import gc
import weakref

from magnet.heap import frozen_heap


class _Node:
    def __init__(self) -> None:
        self.me = self  # a cycle: only the cyclic collector frees it


def test_what_is_alive_is_frozen_for_the_block_and_handed_back_after():
    assert gc.get_freeze_count() == 0
    alive = _Node()
    garbage = _Node()
    gone = weakref.ref(garbage)
    del garbage
    with frozen_heap():
        assert gone() is None  # collected before the freeze, not frozen with the rest
        assert gc.get_freeze_count() > 0
        made_inside = weakref.ref(_Node())  # objects of the run are collected as usual
        gc.collect()
        assert made_inside() is None
    assert gc.get_freeze_count() == 0
    assert alive.me is alive


def test_a_heap_frozen_by_someone_else_stays_frozen(monkeypatch):
    # The frozen count itself can fall while the block runs (a frozen object freed by its reference count leaves
    # the permanent generation), so the test watches what frozen_heap does to the freeze, not the count.
    calls: list[str] = []
    monkeypatch.setattr(gc, "freeze", lambda: calls.append("freeze"))
    monkeypatch.setattr(gc, "unfreeze", lambda: calls.append("unfreeze"))
    monkeypatch.setattr(gc, "get_freeze_count", lambda: 1000)
    with frozen_heap():
        pass
    assert calls == []
    monkeypatch.setattr(gc, "get_freeze_count", lambda: 0)
    with frozen_heap():
        assert calls == ["freeze"]
    assert calls == ["freeze", "unfreeze"]
