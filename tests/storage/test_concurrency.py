"""Many writers doing compare-and-swap, many watchers: no lost update, no lost event.

Eight writers increment counters on ten keys with guaranteed updates while watchers
(some with tiny queues, so they are closed and resume) record everything.  Afterwards
the store's own history is the truth: the sum of the counters equals the acknowledged
updates, and every watcher's stream checks out against that history, in one order.
"""

from __future__ import annotations

import os
import random

import anyio
import anyio.lowlevel
import pytest

from cp.storage.interface import History, guaranteed_update
from cp.storage.watcher import Watcher
from tests.storage.test_store_contract import R, cm
from tests.support.caches import observed, read_truth, running_cache
from tests.support.wait import wait_until
from tests.support.watch_checker import Segment, WatchChecker

pytestmark = pytest.mark.anyio

KEYS = [f"default/k{i}" for i in range(10)]
BIG = History(max_events=2_000_000, max_seconds=3600)


def soak_seconds(store_kind: str) -> float:
    default = "20" if store_kind == "redis" else "5"
    return float(os.environ.get("CP_SOAK_SECONDS", default))


@pytest.mark.parametrize("history", [BIG])
async def test_cas_writers_and_watchers_agree(store, store_kind):
    duration = soak_seconds(store_kind)
    max_updates = 30_000
    for key in KEYS:
        await store.create(R, key, cm(key.split("/")[1], n="0"))
    start_rv = await store.current_revision(R)
    acked = 0

    async def bump(obj):
        obj["data"]["n"] = str(int(obj["data"]["n"]) + 1)
        return obj

    async with running_cache(store, R, history=BIG, watcher_capacity=100_000) as cache:
        await cache.wait_for_revision(start_rv)
        steady: list[list] = [[] for _ in range(4)]
        resuming: list[list[Segment]] = [[] for _ in range(2)]
        done = anyio.Event()

        async def record(w: Watcher, out: list) -> None:
            async for ev in w:
                out.append(observed(ev))

        async def record_resuming(out: list[Segment]) -> None:
            rv = start_rv
            while True:
                w = await cache.watch(rv=rv, capacity=8)
                seg = Segment(rv)
                out.append(seg)
                async for ev in w:
                    seg.events.append(observed(ev))
                    if len(seg.events) % 50 == 0 and not done.is_set():
                        await anyio.sleep(0.05)  # fall behind now and then
                if seg.events:
                    rv = seg.events[-1].rv
                if done.is_set() and rv >= await store.current_revision(R):
                    return

        async def writer(seed: int) -> None:
            nonlocal acked
            rng = random.Random(seed)
            with anyio.move_on_after(duration):
                while acked < max_updates:
                    await guaranteed_update(store, R, rng.choice(KEYS), bump)
                    acked += 1
                    await anyio.lowlevel.checkpoint()

        async with anyio.create_task_group() as watchers_tg:
            for out in steady:
                watchers_tg.start_soon(record, await cache.watch(rv=start_rv), out)
            for segs in resuming:
                watchers_tg.start_soon(record_resuming, segs)
            async with anyio.create_task_group() as writers_tg:
                for seed in range(8):
                    writers_tg.start_soon(writer, seed)
            done.set()
            end_rv = await store.current_revision(R)
            await wait_until(
                lambda: all(out and out[-1].rv >= end_rv for out in steady), timeout=60
            )
            await wait_until(
                lambda: all(
                    segs and segs[-1].events and segs[-1].events[-1].rv >= end_rv
                    for segs in resuming
                ),
                timeout=60,
            )
            watchers_tg.cancel_scope.cancel()

    assert acked > 100, "the soak did too little work to mean anything"
    records, rev = await store.list(R)
    total = sum(int(r.decode()["data"]["n"]) for r in records)
    assert total == acked, f"lost updates: counters say {total}, writers were acknowledged {acked}"
    assert rev == start_rv + acked

    checker = WatchChecker(await read_truth(store, R))
    orders = []
    for out in steady:
        checker.check([Segment(start_rv, out)])
        orders.append([e.rv for e in out])
    assert all(o == orders[0] for o in orders), "watchers saw different orders"
    assert orders[0] == list(range(start_rv + 1, rev + 1))
    for segs in resuming:
        last = checker.check(segs)
        assert last == rev
    assert any(len(segs) > 1 for segs in resuming), "no watcher was ever closed and resumed"
