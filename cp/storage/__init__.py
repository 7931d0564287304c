"""Storage: the Store protocol, its memory and Redis backends, and the watch cache.

    from cp.storage import open_store, WatchCache, Filter

    async with open_store("memory") as store:          # or "redis://127.0.0.1:6379/0"
        cache = WatchCache(store, "core/configmaps", kind="ConfigMap", api_version="v1")
        await task_group.start(cache.run)               # started once the snapshot is loaded
        await store.create("core/configmaps", "default/a", obj)
        result = await cache.list(Filter("default"), limit=100)
        async with await cache.watch(rv=result.rv) as watcher:
            async for event in watcher: ...

Writes go to the store; reads and watches are served by the cache.  Errors are the
tree in cp.storage.errors.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from cp.storage.errors import (
    AlreadyExists,
    Conflict,
    Gone,
    InvalidRequest,
    NotFound,
    StorageError,
    TooLargeResourceVersion,
    Unavailable,
)
from cp.storage.events import CachedObject
from cp.storage.interface import History, Store, guaranteed_update
from cp.storage.memory import MemoryStore
from cp.storage.records import EventType, Record, StoreEvent, parse_resource_version
from cp.storage.redis import RedisStore
from cp.storage.watch_cache import EXACT, NOT_OLDER_THAN, ListResult, WatchCache
from cp.storage.watcher import INITIAL_EVENTS_END, Filter, Watcher, WatchEvent


@asynccontextmanager
async def open_store(url: str, *, history: History | None = None) -> AsyncIterator[Store]:
    """ "memory" for the embedded store, "redis://HOST:PORT/DB" for Redis."""
    if url == "memory":
        store = MemoryStore(history)
        try:
            yield store
        finally:
            await store.aclose()
        return
    async with RedisStore.from_url(url, history=history) as redis_store:
        yield redis_store


__all__ = [
    "EXACT",
    "INITIAL_EVENTS_END",
    "NOT_OLDER_THAN",
    "AlreadyExists",
    "CachedObject",
    "Conflict",
    "EventType",
    "Filter",
    "Gone",
    "History",
    "InvalidRequest",
    "ListResult",
    "MemoryStore",
    "NotFound",
    "Record",
    "RedisStore",
    "StorageError",
    "Store",
    "StoreEvent",
    "TooLargeResourceVersion",
    "Unavailable",
    "WatchCache",
    "WatchEvent",
    "Watcher",
    "guaranteed_update",
    "open_store",
    "parse_resource_version",
]
