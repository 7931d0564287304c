"""A real registry over a store with every watch cache started: what the server runs,
minus HTTP. Shared by the admission and controller tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio

from cp.registry import Registry, ResourceStorage
from cp.server import build_registry
from cp.storage import History, NotFound, Store


@asynccontextmanager
async def running_registry(store: Store, **options: Any) -> AsyncIterator[Registry]:
    """`options` go to build_registry (service ranges)."""
    registry, caches = build_registry(store, History(), **options)
    async with anyio.create_task_group() as tg:
        for cache in caches:
            await tg.start(cache.run)
        yield registry
        tg.cancel_scope.cancel()


def storage(registry: Registry, resource: str, group: str = "") -> ResourceStorage:
    for rdef in registry.defs:
        if rdef.group == group and rdef.resource == resource:
            return registry.storage(rdef)
    raise LookupError(f"{group}/{resource}")


async def create_namespace(registry: Registry, name: str, **spec: Any) -> dict[str, Any]:
    body = {"metadata": {"name": name}, "spec": {"finalizers": ["kubernetes"], **spec}}
    return await storage(registry, "namespaces").create(None, body)


def configmap(name: str, **meta: Any) -> dict[str, Any]:
    return {"metadata": {"name": name, **meta}, "data": {"k": "v"}}


async def exists(registry: Registry, resource: str, namespace: str | None, name: str) -> bool:
    """A consistent read (the store's current revision), so the answer is not stale."""
    st = storage(registry, resource)
    try:
        await st.store.get(st.rdef.storage_name, st.rdef.key(namespace, name))
    except NotFound:
        return False
    return True
