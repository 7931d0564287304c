"""The embedded store pushes its writes to the watch cache as they happen."""

from __future__ import annotations

import pytest

from cp.storage.errors import Gone
from cp.storage.interface import History
from cp.storage.memory import MemoryStore
from cp.storage.records import StoreEvent
from tests.storage.test_store_contract import R, cm
from tests.support.caches import running_cache

pytestmark = pytest.mark.anyio


async def test_subscribe_replays_the_log_then_delivers_inside_each_write() -> None:
    store = MemoryStore()
    first = await store.create(R, "default/a", cm("a"))
    await store.create(R, "default/b", cm("b"))
    got: list[StoreEvent] = []
    async with store.subscribe(R, first.rv, got.append):
        assert [e.record.key for e in got] == ["default/b"]  # after from_rv only
        await store.update(R, "default/a", cm("a", v="2"))
        # Delivered before the write's call returned, not later by another task.
        assert [(e.type, e.record.key) for e in got][1:] == [("MODIFIED", "default/a")]
        await store.delete(R, "default/b")
        assert [e.rv for e in got] == [first.rv + 1, first.rv + 2, first.rv + 3]
    await store.create(R, "default/c", cm("c"))
    assert len(got) == 3  # nothing once the subscription has ended


async def test_subscribe_from_before_the_history_is_gone() -> None:
    store = MemoryStore(History(max_events=2))
    for i in range(4):
        await store.create(R, f"default/k{i}", cm(f"k{i}"))
    with pytest.raises(Gone):
        async with store.subscribe(R, 1, lambda event: None):
            pass


async def test_a_cache_over_the_memory_store_is_current_when_a_write_returns() -> None:
    """No wait for a follower task: read-your-writes from the cache at once, and a burst
    larger than the history never sends the cache back to a relist."""
    store = MemoryStore(History(max_events=2))
    async with running_cache(store, R) as cache:
        relists = cache.statistics().relists
        for i in range(10):
            record = await store.create(R, f"default/n{i}", cm(f"n{i}"))
            assert cache.revision == record.rv
            cached = cache.peek(f"default/n{i}")
            assert cached is not None and cached.rv == record.rv
        assert cache.statistics().relists == relists
