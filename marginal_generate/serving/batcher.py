"""The request batcher: prompts that arrive together are scored by one model call.

Each request puts its prompts in one queue (a ``key`` says which prompts may share a call: the same strategy
and labels). A batch starts with the oldest prompt and takes the queued prompts of its key in arrival order, up to
``max_batch_size``, waiting at most ``max_wait_ms`` after that oldest prompt arrived for more to come. One
thread runs the model, one batch at a time, so the prompts that arrive while it runs form the next batch.
A batch that fails is scored again request by request: one bad input fails only its own request. A full
queue refuses a request at once (:class:`QueueFull`) instead of growing without end, with the seconds after which
to retry: the queued prompts over the model's recent throughput (:mod:`.throughput`); :meth:`Batcher.drain`
stops the waiting (shutdown: what is queued is scored at once).

>>> import asyncio
>>> calls = []
>>> def double(key, xs):
...     calls.append(list(xs))
...     return [2 * x for x in xs]
>>> async def main():
...     batcher = Batcher(double, max_batch_size=8, max_wait_ms=50)
...     await batcher.start()
...     answers = await asyncio.gather(batcher.submit("k", [1, 2]), batcher.submit("k", [3]))
...     await batcher.close()
...     return answers
>>> asyncio.run(main()), calls
([[2, 4], [6]], [[1, 2, 3]])
"""

from __future__ import annotations

import asyncio
import itertools
from collections import deque
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from .throughput import Throughput

__all__ = ["Batcher", "QueueFull"]


class QueueFull(Exception):
    """The queue holds ``depth`` prompts and this request's ``size`` more would pass ``limit``; ``retry_after``:
    the whole seconds the queued prompts take at the model's recent throughput (at least 1)."""

    def __init__(self, depth: int, size: int, limit: int, retry_after: int = 1) -> None:
        super().__init__(f"the queue holds {depth} prompts and takes at most {limit}; {size} more do not fit")
        self.depth, self.size, self.limit, self.retry_after = depth, size, limit, retry_after


@dataclass
class _Item:
    key: Hashable
    payload: Any
    group: int
    future: asyncio.Future[Any]
    arrived: float


class Batcher:
    """Batches the prompts of concurrent requests into calls of ``run_batch(key, payloads) -> results`` (one
    result per payload, in order), made in one worker thread.

    Args:
        run_batch: the model call; it may raise, and then each request of the batch is scored on its own.
        max_batch_size: the most prompts in one call.
        max_wait_ms: how long the oldest queued prompt waits for others before its batch is scored.
        max_queue: the most prompts queued (not yet in a call); a request that does not fit gets :class:`QueueFull`.
        on_batch: called with each call's size (metrics).
        on_depth: called with the queue depth whenever it changes (metrics).
        throughput: records each model call's prompts and seconds (by its clock); a full queue's
            ``retry_after`` comes from it (default: a :class:`~.throughput.Throughput` over the last 60 s).
    """

    def __init__(
        self,
        run_batch: Callable[[Hashable, list[Any]], Sequence[Any]],
        max_batch_size: int = 32,
        max_wait_ms: float = 5.0,
        max_queue: int = 1024,
        on_batch: Callable[[int], None] | None = None,
        on_depth: Callable[[int], None] | None = None,
        throughput: Throughput | None = None,
    ) -> None:
        for name, value, least in (("max_batch_size", max_batch_size, 1), ("max_queue", max_queue, 1)):
            if not isinstance(value, int) or value < least:
                raise ValueError(f"`{name}` must be an integer >= {least}, got {value!r}.")
        if not max_wait_ms >= 0:
            raise ValueError(f"`max_wait_ms` must be >= 0, got {max_wait_ms!r}.")
        self.run_batch = run_batch
        self.max_batch_size = max_batch_size
        self.max_wait = max_wait_ms / 1000.0
        self.max_queue = max_queue
        self.on_batch = on_batch
        self.on_depth = on_depth
        self.throughput = throughput if throughput is not None else Throughput()
        self._pending: deque[_Item] = deque()
        self._groups = itertools.count()
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._draining = False
        self._busy = False

    @property
    def depth(self) -> int:
        """Prompts queued, not yet in a model call."""
        return len(self._pending)

    async def start(self) -> None:
        """Start the batching loop on the running event loop."""
        self._wake = asyncio.Event()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="marginal-generate-model")
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def submit(self, key: Hashable, payloads: Sequence[Any]) -> list[Any]:
        """Queue one request's prompts and wait for their results (in order); the first error of the request's
        batch is raised. :class:`QueueFull` when they do not fit in the queue."""
        if self._task is None or self._wake is None:
            raise RuntimeError("the batcher is not started; await batcher.start() first.")
        if self._task.done():
            raise RuntimeError("the batcher has stopped.")
        if len(self._pending) + len(payloads) > self.max_queue:
            depth = len(self._pending)
            raise QueueFull(depth, len(payloads), self.max_queue, self.throughput.retry_after(depth))
        loop = asyncio.get_running_loop()
        group, now = next(self._groups), loop.time()
        items = [_Item(key, p, group, loop.create_future(), now) for p in payloads]
        self._pending.extend(items)
        self._depth_changed()
        self._wake.set()
        results = await asyncio.gather(*(item.future for item in items), return_exceptions=True)
        for result in results:  # every prompt of a request shares its batch's fate: raise the first error
            if isinstance(result, BaseException):
                raise result
        return list(results)

    def drain(self) -> None:
        """Stop waiting for batches to fill: from now on, queued prompts are scored at once (shutdown)."""
        self._draining = True
        if self._wake is not None:
            self._wake.set()

    async def close(self) -> None:
        """Score what is queued, then stop the loop and the worker thread."""
        self.drain()
        while self._pending or self._busy:
            await asyncio.sleep(0.01)
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        if self._executor is not None:
            self._executor.shutdown(wait=True)

    def _depth_changed(self) -> None:
        if self.on_depth is not None:
            self.on_depth(len(self._pending))

    def _count(self, key: Hashable) -> int:
        return sum(1 for item in self._pending if item.key == key)

    async def _next_batch(self) -> list[_Item]:
        assert self._wake is not None
        loop = asyncio.get_running_loop()
        while not self._pending:
            self._wake.clear()
            await self._wake.wait()
        oldest = self._pending[0]
        deadline = oldest.arrived + self.max_wait
        while not self._draining and self._count(oldest.key) < self.max_batch_size:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), remaining)
            except TimeoutError:
                break
        batch: list[_Item] = []
        rest: deque[_Item] = deque()
        for item in self._pending:
            (batch if item.key == oldest.key and len(batch) < self.max_batch_size else rest).append(item)
        self._pending = rest
        self._depth_changed()
        return batch

    async def _loop(self) -> None:
        while True:
            batch = await self._next_batch()
            self._busy = True
            try:
                await self._score(batch)
            finally:
                self._busy = False

    async def _score(self, batch: list[_Item]) -> None:
        loop = asyncio.get_running_loop()
        key = batch[0].key
        try:
            results = await loop.run_in_executor(self._executor, self._call, key, [i.payload for i in batch])
        except Exception as err:
            groups = sorted({item.group for item in batch})
            if len(groups) == 1:
                _settle(batch, error=err)
                return
            for group in groups:  # one bad input fails only its own request
                members = [item for item in batch if item.group == group]
                try:
                    results = await loop.run_in_executor(self._executor, self._call, key, [i.payload for i in members])
                except Exception as group_err:
                    _settle(members, error=group_err)
                else:
                    _settle(members, results=results)
            return
        _settle(batch, results=results)

    def _call(self, key: Hashable, payloads: list[Any]) -> Sequence[Any]:
        start = self.throughput.clock()
        results = self.run_batch(key, payloads)
        if len(results) != len(payloads):
            raise RuntimeError(f"run_batch returned {len(results)} results for {len(payloads)} prompts.")
        self.throughput.observe(len(payloads), self.throughput.clock() - start)
        if self.on_batch is not None:
            self.on_batch(len(payloads))
        return results


def _settle(items: list[_Item], results: Sequence[Any] | None = None, error: BaseException | None = None) -> None:
    for k, item in enumerate(items):
        if item.future.done():  # the request went away (cancelled)
            continue
        if error is not None:
            item.future.set_exception(error)
        else:
            assert results is not None
            item.future.set_result(results[k])
