"""Keeping what is loaded out of the garbage collector's full passes, for a long run or a server.

The embedded model's process tracks some 390,000 objects once the model, its tokenizer and the libraries around them
are loaded. A search allocates many small containers (prefix states, label sets, votes), so CPython runs a full
collection every few calls, and each one walks every tracked object: about 0.2-0.35 s on a 2-core CPU, against
0.1-0.15 s for a whole ``any_place`` call over 16 prompts. ``gc.freeze`` moves every object alive now to a permanent
generation that collections skip; later garbage is collected as before. Measured by ``benchmarks/gc_pauses.py``
(``benchmarks/RESULTS.md``).

``marginal-generate evaluate``, ``serve`` and ``space`` run inside :func:`frozen_heap`; in a process of one's own,
enter it after loading the model:

>>> import gc
>>> before = gc.get_freeze_count()
>>> with frozen_heap():
...     gc.get_freeze_count() > 0
True
>>> gc.get_freeze_count() == before  # what was frozen on entry goes back (unless something was frozen before)
True
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["frozen_heap"]


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
