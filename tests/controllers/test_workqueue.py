"""The work queue: client-go's workqueue semantics, delays on trio's virtual clock."""

from __future__ import annotations

import random

import anyio
import anyio.lowlevel
import pytest
import trio

from cp.controllers import ExponentialBackoff, ShutDown, WorkQueue

from .helpers import run_with_mock_clock, settle


@pytest.mark.anyio
async def test_add_de_duplicates_waiting_keys_and_keeps_order() -> None:
    queue: WorkQueue[str] = WorkQueue()
    for key in ["a", "b", "a", "c", "b", "a"]:
        queue.add(key)
    stats = queue.statistics()
    assert (stats.depth, stats.in_flight, stats.adds) == (3, 0, 6)
    assert [await queue.get() for _ in range(3)] == ["a", "b", "c"]
    assert queue.statistics().in_flight == 3


@pytest.mark.anyio
async def test_a_key_in_flight_is_not_handed_out_again_until_done() -> None:
    queue: WorkQueue[str] = WorkQueue()
    queue.add("a")
    assert await queue.get() == "a"
    queue.add("a")
    queue.add("a")
    assert len(queue) == 0  # waiting for done(), not ready
    got: list[str] = []
    async with anyio.create_task_group() as tg:

        async def take() -> None:
            got.append(await queue.get())

        tg.start_soon(take)
        await settle()
        assert got == []  # a second worker cannot have it while the first works on it
        queue.done("a")
    assert got == ["a"]
    queue.done("a")
    assert queue.statistics().depth == 0  # the two re-adds were one request


@pytest.mark.anyio
async def test_many_workers_never_process_one_key_at_once() -> None:
    queue: WorkQueue[int] = WorkQueue()
    in_flight: set[int] = set()
    processed: list[int] = []
    rng = random.Random(7)

    async def worker() -> None:
        while True:
            try:
                key = await queue.get()
            except ShutDown:
                return
            assert key not in in_flight
            in_flight.add(key)
            await anyio.lowlevel.checkpoint()
            if rng.random() < 0.3:
                queue.add(key)  # re-added while being processed
            await anyio.lowlevel.checkpoint()
            in_flight.discard(key)
            processed.append(key)
            queue.done(key)

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            for _ in range(8):
                tg.start_soon(worker)
            for _ in range(2000):
                queue.add(rng.randrange(20))
                if rng.random() < 0.5:
                    await anyio.lowlevel.checkpoint()
            while queue.statistics().depth or queue.statistics().in_flight:
                await anyio.wait_all_tasks_blocked()
            queue.shut_down()
    assert set(processed) == set(range(20))
    assert len(processed) < queue.statistics().adds  # de-duplication merged requests


@pytest.mark.anyio
async def test_shut_down_drains_ready_keys_then_ends_getters() -> None:
    queue: WorkQueue[str] = WorkQueue()
    queue.add("a")
    queue.add_after("later", 60)
    queue.shut_down()
    queue.add("ignored")
    assert await queue.get() == "a"
    with pytest.raises(ShutDown):
        await queue.get()
    stats = queue.statistics()
    assert stats.shut_down and stats.waiting == 0


@pytest.mark.anyio
async def test_shut_down_wakes_a_waiting_getter() -> None:
    queue: WorkQueue[str] = WorkQueue()
    outcome: list[str] = []

    async def getter() -> None:
        try:
            await queue.get()
        except ShutDown:
            outcome.append("shut down")

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(getter)
            await settle()
            queue.shut_down()
    assert outcome == ["shut down"]


def test_add_after_hands_the_key_out_once_the_delay_passed() -> None:
    async def main() -> None:
        queue: WorkQueue[str] = WorkQueue()
        start = trio.current_time()
        queue.add_after("a", 5)
        queue.add_after("b", 2)
        queue.add_after("a", 3)  # earlier wins
        queue.add_after("b", 9)  # later is ignored
        assert queue.statistics().waiting == 2
        assert len(queue) == 0
        assert await queue.get() == "b"
        assert trio.current_time() - start == 2
        assert await queue.get() == "a"
        assert trio.current_time() - start == 3
        assert queue.statistics().waiting == 0

    run_with_mock_clock(main)


def test_a_waiting_getter_wakes_for_an_earlier_delayed_key() -> None:
    async def main() -> None:
        queue: WorkQueue[str] = WorkQueue()
        queue.add_after("slow", 100)
        got: list[tuple[str, float]] = []
        async with trio.open_nursery() as nursery:

            async def take() -> None:
                key = await queue.get()
                got.append((key, trio.current_time()))

            start = trio.current_time()
            nursery.start_soon(take)
            await trio.testing.wait_all_tasks_blocked()
            queue.add_after("fast", 1)
        assert got == [("fast", start + 1)]

    run_with_mock_clock(main)


def test_rate_limited_retries_back_off_exponentially_per_key_until_forgotten() -> None:
    async def main() -> None:
        queue: WorkQueue[str] = WorkQueue(backoff=ExponentialBackoff(base=0.1, max_delay=1.0))
        delays: list[float] = []
        for _ in range(6):
            before = trio.current_time()
            queue.add_rate_limited("a")
            assert await queue.get() == "a"
            delays.append(round(trio.current_time() - before, 9))
            queue.done("a")
        assert delays == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]
        assert queue.num_requeues("a") == 6
        # Another key has its own count.
        before = trio.current_time()
        queue.add_rate_limited("b")
        assert await queue.get() == "b"
        assert trio.current_time() - before == pytest.approx(0.1)
        queue.forget("a")
        assert queue.num_requeues("a") == 0
        before = trio.current_time()
        queue.add_rate_limited("a")
        assert await queue.get() == "a"
        assert trio.current_time() - before == pytest.approx(0.1)
        assert queue.statistics().retries == 8

    run_with_mock_clock(main)


def test_first_added_is_the_earliest_request_and_survives_retries() -> None:
    async def main() -> None:
        queue: WorkQueue[str] = WorkQueue(backoff=ExponentialBackoff(base=1.0))
        t0 = trio.current_time()
        queue.add("a")
        await trio.sleep(2)
        queue.add("a")  # merged: the work still dates from t0
        assert await queue.get() == "a"
        assert queue.first_added("a") == t0
        queue.add_rate_limited("a", since=queue.first_added("a"))  # the reconcile failed
        queue.done("a")
        assert await queue.get() == "a"
        assert trio.current_time() == t0 + 3
        assert queue.first_added("a") == t0
        queue.done("a")
        queue.add("a")
        assert await queue.get() == "a"
        assert queue.first_added("a") == t0 + 3  # a new request after it was processed

    run_with_mock_clock(main)


def test_re_added_while_processing_is_ready_again_at_done() -> None:
    async def main() -> None:
        queue: WorkQueue[str] = WorkQueue()
        queue.add("a")
        assert await queue.get() == "a"
        await trio.sleep(1)
        queue.add("a")
        assert queue.statistics().depth == 0
        queue.done("a")
        assert queue.statistics().depth == 1
        assert await queue.get() == "a"
        assert queue.first_added("a") == trio.current_time()

    run_with_mock_clock(main)


def test_backoff_parameters_are_validated() -> None:
    with pytest.raises(ValueError):
        ExponentialBackoff(base=-1)
    with pytest.raises(ValueError):
        ExponentialBackoff(max_delay=float("inf"))
    backoff = ExponentialBackoff(base=1.0, max_delay=5.0)
    assert [backoff.when("k") for _ in range(200)][-1] == 5.0
