"""Redis killed, restarted, wiped, rolled back: what a client was told stays true.

Each test owns its redis-server (appendfsync always), so a kill -9 touches nothing else.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import anyio
import anyio.to_thread
import pytest

from cp.storage.errors import Conflict, Gone, Unavailable
from cp.storage.interface import History
from cp.storage.redis import RedisStore
from cp.testing.redis_server import RedisServer
from tests.storage.test_store_contract import R, cm
from tests.support.caches import observed, read_truth, running_cache
from tests.support.wait import wait_until
from tests.support.watch_checker import Segment, WatchChecker

pytestmark = pytest.mark.anyio

BIG = History(max_events=1_000_000, max_seconds=3600)


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    server = RedisServer(appendonly=True)
    server.start()
    yield server
    server.stop()


def open_store(server: RedisServer) -> RedisStore:
    return RedisStore.from_url(server.url, history=BIG, poll_interval=0.05, command_timeout=2.0)


@pytest.mark.parametrize(
    ("kills", "per_task"),
    [(1, 20), pytest.param(5, 200, marks=pytest.mark.slow, id="5-kills-10000-updates")],
)
async def test_kill_9_during_concurrent_updates_loses_no_acknowledged_write(
    own_redis, kills, per_task
):
    keys = [f"default/f{i}" for i in range(20)]
    tasks = 50
    total = tasks * per_task
    thresholds = [total * (i + 1) // (kills + 1) for i in range(kills)]
    acked: dict[int, tuple[str, str]] = {}
    async with open_store(own_redis) as store:
        for key in keys:
            await store.create(R, key, cm(key.split("/")[1], n="0"))
        start_rv = await store.current_revision(R)
        async with running_cache(store, R, history=BIG, watcher_capacity=1_000_000) as cache:
            segments: list[Segment] = []
            up = anyio.Event()
            up.set()
            done_kills = 0

            async def watch_and_resume() -> None:
                rv = start_rv
                while True:
                    try:
                        w = await cache.watch(rv=rv)
                    except Gone:
                        return  # a re-list recovers; checked below
                    except Unavailable:
                        await anyio.sleep(0.05)
                        continue
                    seg = Segment(rv)
                    segments.append(seg)
                    async for ev in w:
                        seg.events.append(observed(ev))
                    if seg.events:
                        rv = seg.events[-1].rv

            async def kill_and_restart() -> None:
                nonlocal up, done_kills
                done_kills += 1
                up = anyio.Event()
                await anyio.to_thread.run_sync(own_redis.kill)
                await anyio.sleep(0.3)
                await anyio.to_thread.run_sync(own_redis.start)
                up.set()

            async def updater(n: int) -> None:
                key = keys[n % len(keys)]
                for _ in range(per_task):
                    while True:
                        try:
                            current = await store.get(R, key)
                            obj = current.decode()
                            value = f"{n}-{anyio.current_time()}"
                            obj["data"]["n"] = value
                            rec = await store.update(R, key, obj, rv=current.rv)
                        except Conflict:
                            continue
                        except Unavailable:
                            await up.wait()
                            continue
                        assert rec.rv not in acked, f"resourceVersion {rec.rv} issued twice"
                        acked[rec.rv] = (key, value)
                        break
                    if done_kills < kills and len(acked) >= thresholds[done_kills] and up.is_set():
                        await kill_and_restart()

            async with anyio.create_task_group() as tg:
                tg.start_soon(watch_and_resume)
                with anyio.fail_after(60 + total / 20):
                    async with anyio.create_task_group() as writers:
                        for n in range(tasks):
                            writers.start_soon(updater, n)
                    assert done_kills == kills and len(acked) == total
                    end = await store.current_revision(R)
                    await wait_until(
                        lambda: bool(
                            segments and segments[-1].events and segments[-1].events[-1].rv >= end
                        )
                    )
                tg.cancel_scope.cancel()

        truth = await read_truth(store, R)
        by_rv = {ev.rv: ev for ev in truth}
        for rv, (key, value) in acked.items():
            ev = by_rv.get(rv)
            assert ev is not None, f"acknowledged write at rv {rv} is missing after the restart"
            assert ev.key == key and ev.obj["data"]["n"] == value, f"rv {rv} holds another write"
        checker = WatchChecker(truth)
        assert checker.check(segments) == truth[-1].rv
        records, _ = await store.list(R)
        assert {r.key for r in records} == set(keys)


async def test_redis_restarted_empty_is_refused(own_redis):
    async with open_store(own_redis) as store:
        for i in range(5):
            await store.create(R, f"default/e{i}", cm(f"e{i}"))
        async with running_cache(store, R) as cache:
            watcher = await cache.watch(rv=0)
            await anyio.to_thread.run_sync(own_redis.kill)
            own_redis.wipe()
            await anyio.to_thread.run_sync(own_redis.start)
            with pytest.raises(Unavailable, match="reset or replaced"):
                await store.create(R, "default/after", cm("after"))
            with pytest.raises(Unavailable):
                await store.current_revision(R)
            # The cache notices on its own and ends every watcher with the error.
            with anyio.fail_after(10):
                with pytest.raises(Unavailable):
                    async for _ in watcher:
                        pass
            with pytest.raises(Unavailable):
                await cache.list(rv=0)
            assert not cache.ready
    # Nothing was written to the empty Redis: versions did not start over.
    async with RedisStore.from_url(own_redis.url) as probe:
        assert await probe._client.exists([f"{{{R}}}:rev"]) == 0


async def test_redis_rolled_back_to_older_data_is_refused(own_redis):
    async with open_store(own_redis) as store:
        for i in range(5):
            await store.create(R, f"default/o{i}", cm(f"o{i}"))
        backup = own_redis.dir + "-backup"
        shutil.copytree(own_redis.dir, backup)
        for i in range(5, 10):
            await store.create(R, f"default/o{i}", cm(f"o{i}"))
        await anyio.to_thread.run_sync(own_redis.kill)
        shutil.rmtree(own_redis.dir)
        shutil.copytree(backup, own_redis.dir)
        shutil.rmtree(backup)
        await anyio.to_thread.run_sync(own_redis.start)
        with pytest.raises(Unavailable, match="older than this server has already served"):
            await store.create(R, "default/o5", cm("o5"))
        assert (await store._client.get(f"{{{R}}}:rev")) == b"5"


async def test_cancelled_watches_do_not_leak_connections(own_redis):
    """Hundreds of tails cancelled mid-XREAD and mid-pool-wait, three rounds over.

    With coredis' defaults, 64 cancelled blocking reads were enough to leak every pool
    slot and hang the client; here commands are never cancelled mid-flight.
    """
    async with open_store(own_redis) as store:
        await store.create(R, "default/a", cm("a"))

        async def tail() -> None:
            async with store.watch(R, 1) as events:
                async for _ev in events:
                    pass

        for _ in range(3):
            with anyio.fail_after(20):
                async with anyio.create_task_group() as tg:
                    for _ in range(300):
                        tg.start_soon(tail)
                    await anyio.sleep(0.3)
                    tg.cancel_scope.cancel()
        with anyio.fail_after(5):
            await store.create(R, "default/b", cm("b"))
            assert (await store.get(R, "default/b")).rv == 2
        clients = await store._client.client_list()
        assert len(clients) <= 2 * 64 + 2, (
            f"{len(clients)} connections open after cancelled watches"
        )
        # A watch after all that still delivers.
        with anyio.fail_after(5):
            async with store.watch(R, 1) as events:
                async for ev in events:
                    assert ev.rv == 2
                    break
