"""Running a watch cache inside a test, and reading a store's whole history."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio

from cp.storage.interface import Store
from cp.storage.watch_cache import WatchCache
from tests.support.watch_checker import Observed, TruthEvent, object_key


@asynccontextmanager
async def running_cache(store: Store, resource: str, **kw: Any) -> AsyncIterator[WatchCache]:
    cache = WatchCache(store, resource, kind="ConfigMap", api_version="v1", **kw)
    async with anyio.create_task_group() as tg:
        await tg.start(cache.run)
        try:
            yield cache
        finally:
            tg.cancel_scope.cancel()


async def read_truth(store: Store, resource: str) -> list[TruthEvent]:
    """Every event of the type, from the store's own log (history must still hold it)."""
    end = await store.current_revision(resource)
    out: list[TruthEvent] = []
    if end == 0:
        return out
    with anyio.fail_after(30):
        async with store.watch(resource, 0) as events:
            async for ev in events:
                out.append(TruthEvent(ev.rv, ev.type.value, ev.record.key, ev.record.decode()))
                if ev.rv >= end:
                    break
    return out


def observed(event: Any) -> Observed:
    obj = event.object
    key = object_key(obj) if event.type != "BOOKMARK" else ""
    return Observed(event.type, event.rv, key, obj)
