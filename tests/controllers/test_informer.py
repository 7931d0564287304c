"""The informer over a real watch cache on the memory store: lists, watches, resumes,
re-lists, and never loses an event."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest

from cp.controllers import Informer, InformerEvent
from cp.storage import Filter, History, MemoryStore, WatchCache
from tests.storage.test_store_contract import R, cm
from tests.support.caches import running_cache

from .helpers import wait_until

pytestmark = pytest.mark.anyio


class Recorder(list[InformerEvent]):
    def types(self) -> list[tuple[str, str]]:
        return [(e.type, e.key) for e in self]


@asynccontextmanager
async def running_informer(informer: Informer) -> AsyncIterator[Informer]:
    async with anyio.create_task_group() as tg:
        await tg.start(informer.run)
        try:
            yield informer
        finally:
            tg.cancel_scope.cancel()


async def burst(writes: list[tuple[Any, ...]]) -> None:
    """Issue the writes concurrently: each store call is one checkpoint and then atomic,
    so all of them land before the cache's tail (woken by the first) runs again, and the
    cache applies them in one go, as a busy server would."""
    async with anyio.create_task_group() as tg:
        for fn, *args in writes:
            tg.start_soon(fn, *args)


def data_of(informer: Informer) -> dict[str, Any]:
    return {key: informer.get(key)["data"] for key in informer.keys()}  # type: ignore[index]


async def store_data(store: MemoryStore) -> dict[str, Any]:
    records, _ = await store.list(R)
    return {r.key: r.decode()["data"] for r in records}


async def test_lists_existing_objects_before_reporting_started() -> None:
    store = MemoryStore()
    for name in ["a", "b"]:
        await store.create(R, f"default/{name}", cm(name, v=name))
    async with running_cache(store, R) as cache:
        await store.create(R, "default/c", cm("c", v="c"))  # the list must be consistent
        informer = Informer(cache)
        events = Recorder()
        informer.add_handler(events.append)
        assert not informer.has_synced
        async with running_informer(informer):
            assert informer.has_synced
            assert events.types() == [
                ("ADDED", "default/a"),
                ("ADDED", "default/b"),
                ("ADDED", "default/c"),
            ]
            assert informer.get("default/b")["data"] == {"v": "b"}  # type: ignore[index]
            assert informer.get("default/zz") is None
            assert [o["metadata"]["name"] for o in informer.list()] == ["a", "b", "c"]
            assert informer.revision == await store.current_revision(R)


async def test_watches_changes_and_reports_old_and_new_state() -> None:
    store = MemoryStore()
    async with running_cache(store, R) as cache:
        informer = Informer(cache)
        events = Recorder()
        informer.add_handler(events.append)
        async with running_informer(informer):
            await store.create(R, "default/a", cm("a", v="1"))
            await store.update(R, "default/a", cm("a", v="2"))
            last = await store.delete(R, "default/a")
            await wait_until(lambda: informer.revision == last.rv)
            assert events.types() == [
                ("ADDED", "default/a"),
                ("MODIFIED", "default/a"),
                ("DELETED", "default/a"),
            ]
            assert events[1].old is not None and events[1].old["data"] == {"v": "1"}
            assert events[1].object["data"] == {"v": "2"}
            assert events[2].object["data"] == {"v": "2"}
            assert "default/a" not in informer and len(informer) == 0


async def test_filter_narrows_the_informer_to_a_namespace() -> None:
    store = MemoryStore()
    other = cm("x")
    other["metadata"]["namespace"] = "other"
    await store.create(R, "other/x", other)
    async with running_cache(store, R) as cache:
        informer = Informer(cache, Filter("default"))
        async with running_informer(informer):
            rec = await store.create(R, "default/a", cm("a"))
            await store.update(R, "other/x", other)
            await cache.wait_for_revision(rec.rv + 1)
            await wait_until(lambda: "default/a" in informer)
            assert informer.keys() == ["default/a"]


async def test_a_lagging_informer_resumes_or_relists_and_loses_nothing() -> None:
    """A burst lands in the cache while the informer cannot run: its watcher (capacity
    1) is ended, and the cache's short ring forces a re-list; the index still matches
    the store and deletions made meanwhile are reported."""
    store = MemoryStore()
    for i in range(10):
        await store.create(R, f"default/k{i}", cm(f"k{i}", v="0"))
    async with running_cache(store, R, history=History(max_events=3)) as cache:
        informer = Informer(cache, capacity=1)
        events = Recorder()
        informer.add_handler(events.append)
        async with running_informer(informer):
            for round_ in range(1, 6):
                writes = [
                    (store.update, R, f"default/k{i}", cm(f"k{i}", v=str(round_)))
                    for i in [0, *range(round_ + 1, 10)]  # k1..k(round) are deleted
                ]
                writes.append((store.delete, R, f"default/k{round_}"))
                writes.append((store.create, R, f"default/new{round_}", cm(f"new{round_}")))
                await burst(writes)
                rev = await store.current_revision(R)
                await wait_until(lambda rev=rev: informer.revision >= rev)
            assert data_of(informer) == await store_data(store)
            stats = informer.statistics()
            assert stats.resumes >= 5
            assert stats.lists >= 2  # Gone on resume: the ring had moved on
            deleted = {e.key for e in events if e.type == "DELETED"}
            assert deleted == {f"default/k{i}" for i in range(1, 6)}


class Tailed:
    """A store whose cache must tail its event log (no `subscribe`), as over Redis."""

    def __init__(self, inner: MemoryStore) -> None:
        self.inner = inner
        self.history = inner.history

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


async def test_a_cache_relist_makes_the_informer_resync_everything() -> None:
    """When the cache itself re-lists (its tail was Gone), watchers are closed; the
    informer resumes, gets Gone and re-lists, reporting unchanged objects as SYNC."""
    store = MemoryStore(History(max_events=2))
    for i in range(4):
        await store.create(R, f"default/k{i}", cm(f"k{i}"))
    # Read by tailing its log, as a Redis store is: one pushing its writes to the cache
    # never leaves it behind.
    cache = WatchCache(Tailed(store), R, kind="ConfigMap", api_version="v1")
    async with anyio.create_task_group() as tg:
        await tg.start(cache.run)
        informer = Informer(cache)
        events = Recorder()
        informer.add_handler(events.append)
        await tg.start(informer.run)
        events.clear()
        # A burst: the store trims its log (2 events) before the cache tails again, so
        # the cache's tail is Gone and it re-lists.
        relists = cache.statistics().relists
        await burst([(store.update, R, "default/k0", cm("k0", v=str(i))) for i in range(5)])
        await store.update(R, "default/k0", cm("k0", v="x"))
        await wait_until(lambda: cache.statistics().relists > relists)
        rev = await store.current_revision(R)
        await wait_until(lambda: informer.revision >= rev)
        assert informer.get("default/k0")["data"] == {"v": "x"}  # type: ignore[index]
        assert informer.statistics().lists == 2
        assert {(e.type, e.key) for e in events if e.type == "SYNC"} == {
            ("SYNC", f"default/k{i}") for i in range(1, 4)
        }
        assert ("MODIFIED", "default/k0") in events.types()
        tg.cancel_scope.cancel()


async def test_periodic_resync_reports_every_object() -> None:
    store = MemoryStore()
    for i in range(3):
        await store.create(R, f"default/k{i}", cm(f"k{i}"))
    async with running_cache(store, R) as cache:
        informer = Informer(cache, resync_period=0.05)
        events = Recorder()
        informer.add_handler(events.append)
        async with running_informer(informer):
            await wait_until(lambda: informer.statistics().resyncs >= 2)
            syncs = [e.key for e in events if e.type == "SYNC"]
            assert syncs[:6] == [f"default/k{i}" for i in range(3)] * 2


async def test_a_failing_handler_ends_the_informer_with_its_error() -> None:
    store = MemoryStore()
    await store.create(R, "default/a", cm("a"))

    def broken(event: InformerEvent) -> None:
        raise RuntimeError(f"cannot handle {event.key}")

    async with running_cache(store, R) as cache:
        informer = Informer(cache)
        informer.add_handler(broken)
        with pytest.raises(RuntimeError, match="cannot handle default/a"):
            await informer.run()  # during the first list

        informer = Informer(cache)
        informer.add_handler(broken)
        errors: list[BaseException] = []
        try:
            with anyio.fail_after(5):
                async with anyio.create_task_group() as tg:
                    await store.delete(R, "default/a")
                    tg.start_soon(informer.run)
                    await store.create(R, "default/b", cm("b"))
        except* RuntimeError as group:
            errors.extend(group.exceptions)
        # Raised as itself (no group of its own), so a supervisor sees the real cause.
        assert [repr(e) for e in errors] == ["RuntimeError('cannot handle default/b')"]
