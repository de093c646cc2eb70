"""The request batcher on its own: which prompts share a call, a failing input, the queue limit, drain."""

from __future__ import annotations

import asyncio

import pytest

from marginal_generate.serving.batcher import Batcher, QueueFull
from marginal_generate.serving.throughput import Throughput


class Recorder:
    """A model call that records its batches; a payload "bad" makes the whole call fail."""

    def __init__(self) -> None:
        self.calls: list[tuple[object, list]] = []

    def __call__(self, key, payloads):
        self.calls.append((key, list(payloads)))
        if "bad" in payloads:
            raise ValueError("bad input")
        return [f"{key}:{p}" for p in payloads]


async def _queued(batcher: Batcher, n: int) -> None:
    while batcher.depth < n:
        await asyncio.sleep(0.001)


def run(coro):
    return asyncio.run(coro)


def test_requests_that_arrive_together_share_one_call_up_to_max_batch_size():
    model = Recorder()

    async def main():
        batcher = Batcher(model, max_batch_size=3, max_wait_ms=60_000)
        await batcher.start()
        # a batch is cut as soon as 3 prompts are queued: the second request's first prompt completes the first
        answers = await asyncio.gather(*(batcher.submit("k", [f"a{i}", f"b{i}"]) for i in range(3)))
        await batcher.close()
        return answers

    answers = run(main())
    assert answers == [["k:a0", "k:b0"], ["k:a1", "k:b1"], ["k:a2", "k:b2"]]
    assert [payloads for _, payloads in model.calls] == [["a0", "b0", "a1"], ["b1", "a2", "b2"]]


def test_a_full_batch_is_scored_without_waiting():
    model = Recorder()

    async def main():
        batcher = Batcher(model, max_batch_size=2, max_wait_ms=600_000)
        await batcher.start()
        answer = await asyncio.wait_for(batcher.submit("k", ["x", "y"]), timeout=60)  # never waits the 10 minutes
        await batcher.close()
        return answer

    assert run(main()) == ["k:x", "k:y"]


def test_prompts_of_different_keys_never_share_a_call():
    model = Recorder()

    async def main():
        batcher = Batcher(model, max_batch_size=8, max_wait_ms=60_000)
        await batcher.start()
        tasks = [
            asyncio.ensure_future(batcher.submit(key, [p]))
            for key, p in (("greedy", "a"), ("any_place", "b"), ("greedy", "c"))
        ]
        await _queued(batcher, 3)
        batcher.drain()
        answers = await asyncio.gather(*tasks)
        await batcher.close()
        return answers

    assert run(main()) == [["greedy:a"], ["any_place:b"], ["greedy:c"]]
    assert model.calls == [("greedy", ["a", "c"]), ("any_place", ["b"])]


def test_one_bad_input_fails_only_its_own_request():
    model = Recorder()

    async def main():
        batcher = Batcher(model, max_batch_size=8, max_wait_ms=60_000)
        await batcher.start()
        tasks = [asyncio.ensure_future(batcher.submit("k", p)) for p in (["a"], ["bad", "b"], ["c"])]
        await _queued(batcher, 4)
        batcher.drain()
        answers = await asyncio.gather(*tasks, return_exceptions=True)
        await batcher.close()
        return answers

    first, second, third = run(main())
    assert first == ["k:a"] and third == ["k:c"]
    assert isinstance(second, ValueError) and str(second) == "bad input"
    # the shared call failed, then each request was scored on its own
    assert [p for _, p in model.calls] == [["a", "bad", "b", "c"], ["a"], ["bad", "b"], ["c"]]


def test_a_request_that_does_not_fit_the_queue_is_refused_at_once():
    model = Recorder()

    async def main():
        batcher = Batcher(model, max_batch_size=8, max_wait_ms=60_000, max_queue=3)
        await batcher.start()
        waiting = asyncio.ensure_future(batcher.submit("k", ["a", "b"]))
        await _queued(batcher, 2)
        with pytest.raises(QueueFull, match=r"the queue holds 2 prompts and takes at most 3; 2 more do not fit"):
            await batcher.submit("k", ["c", "d"])
        fits = asyncio.ensure_future(batcher.submit("k", ["c"]))
        await _queued(batcher, 3)
        batcher.drain()
        answers = await asyncio.gather(waiting, fits)
        await batcher.close()
        return answers

    assert run(main()) == [["k:a", "k:b"], ["k:c"]]


def test_settings_are_checked():
    with pytest.raises(ValueError, match=r"`max_batch_size` must be an integer >= 1, got 0"):
        Batcher(Recorder(), max_batch_size=0)
    with pytest.raises(ValueError, match=r"`max_wait_ms` must be >= 0, got -1"):
        Batcher(Recorder(), max_wait_ms=-1)

    async def unstarted():
        await Batcher(Recorder()).submit("k", ["a"])

    with pytest.raises(RuntimeError, match="not started"):
        run(unstarted())


def test_a_full_queue_s_retry_after_is_the_queue_over_the_measured_throughput():
    now = [1000.0]

    def model(key, payloads):  # each prompt takes 0.5 s of the injected clock: 2 prompts per second
        now[0] += 0.5 * len(payloads)
        return [f"{key}:{p}" for p in payloads]

    async def main():
        meter = Throughput(window_s=60, clock=lambda: now[0])
        batcher = Batcher(model, max_batch_size=8, max_wait_ms=600_000, max_queue=8, throughput=meter)
        await batcher.start()
        full = [f"a{i}" for i in range(8)]
        assert await batcher.submit("k", full) == [f"k:{p}" for p in full]  # a full batch: scored at once, 4 s
        assert meter.rate() == 2.0
        waiting = asyncio.ensure_future(batcher.submit("k", [f"b{i}" for i in range(7)]))
        await _queued(batcher, 7)
        with pytest.raises(QueueFull, match=r"the queue holds 7 prompts and takes at most 8; 2 more do not fit") as err:
            await batcher.submit("k", ["c1", "c2"])
        batcher.drain()
        await waiting
        await batcher.close()
        return err.value

    refused = run(main())
    assert (refused.depth, refused.retry_after) == (7, 4)  # ceil(7 prompts / 2 per second)


def test_throughput_window_and_its_checks():
    now = [0.0]
    meter = Throughput(window_s=10, clock=lambda: now[0])
    assert (meter.rate(), meter.retry_after(100)) == (None, 1)  # nothing measured yet: 1 s
    meter.observe(prompts=1, seconds=4.0)
    now[0] = 20.0
    meter.observe(prompts=30, seconds=1.0)  # the first call ended 20 s ago, out of the 10 s window
    assert meter.rate() == 30.0 and meter.retry_after(61) == 3
    meter.observe(prompts=0, seconds=0.0)  # an empty call ends: the rate is still the window's
    assert meter.rate() == 30.0
    with pytest.raises(ValueError, match=r"`window_s` must be a number of seconds > 0, got 0"):
        Throughput(window_s=0)
