"""Keeping CPython's garbage collector out of the search: paused while a batch is scored, and what is loaded kept
out of its full passes for a long run or a server.

A search allocates many small objects (prefix states, label sets, votes, tree nodes): some 11,800 that outlive their
step in one ``any_place`` call over 16 prompts of the embedded model, all freed by reference counting when the call
ends, none in a reference cycle (``tests/test_garbage_collection.py`` checks that a search leaves no cycle behind).
Left on, the collector walks them over and over while they live: on the embedded model, at one thread, 20 calls ran
~1,300 young and ~120 middle collections (0.35 s) and 7 full ones (1.43 s, each walking the ~386,000 objects of the
loaded model, its tokenizer and the libraries), against ~12 s of scoring. Those collections find nothing to free.

- :func:`collection_paused`: :func:`~marginal_generate.generate.score` (so ``marginalize``, ``mg.score`` and
  everything above them) runs with the collector off and turns it back on when it returns or raises, unless it was
  off already. Nested and concurrent calls share one pause: the last to leave ends it.
- :func:`frozen_heap`: ``gc.freeze`` after loading, so the full passes the rest of the process still sets off skip
  what is loaded. ``marginal-generate evaluate``, ``serve`` and ``space`` run inside it; in a process of one's own,
  enter it after loading the model.

Measured by ``benchmarks/gc_pauses.py`` (``benchmarks/RESULTS.md``).

>>> import gc
>>> before = gc.get_freeze_count()
>>> with frozen_heap():
...     gc.get_freeze_count() > 0
True
>>> gc.get_freeze_count() == before  # what was frozen on entry goes back (unless something was frozen before)
True
>>> with collection_paused():
...     gc.isenabled()
False
>>> gc.isenabled()
True
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["collection_paused", "frozen_heap"]


@contextmanager
def frozen_heap() -> Iterator[None]:
    """Inside, every object alive on entry is in the collector's permanent generation (``gc.collect()`` first, so
    no garbage is frozen). On exit they go back (``gc.unfreeze``), unless objects were already frozen on entry: the
    process owner froze them, and the freeze stays as it was asked for."""
    owner_froze = gc.get_freeze_count() > 0
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        if not owner_froze:
            gc.unfreeze()


class _Pause:
    """The one pause of the process: how many callers are inside, and whether the collector was on when the first
    came in (the last to leave turns it back on only then)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.inside = 0
        self.was_enabled = False

    def enter(self) -> None:
        with self.lock:
            if self.inside == 0:
                self.was_enabled = gc.isenabled()
                gc.disable()
            self.inside += 1

    def leave(self) -> None:
        with self.lock:
            self.inside -= 1
            if self.inside == 0 and self.was_enabled:
                gc.enable()


_PAUSE = _Pause()


@contextmanager
def collection_paused() -> Iterator[None]:
    """Inside, the cyclic garbage collector is off (``gc.disable``); reference counting frees as always. On exit it is
    back on if it was on when the first of the callers inside came in. Also a decorator:
    ``@collection_paused()``.

    >>> import gc
    >>> with collection_paused():
    ...     with collection_paused():  # nested (or another thread): one pause
    ...         pass
    ...     gc.isenabled()  # the outer caller is still inside
    False
    >>> gc.isenabled()
    True
    """
    _PAUSE.enter()
    try:
        yield
    finally:
        _PAUSE.leave()
