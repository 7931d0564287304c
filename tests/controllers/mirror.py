"""A toy controller for the tests: mirrors every ConfigMap into "core/mirrors".

Level-triggered as the contract asks: it reads the source and the mirror from its
informers, never from an event, and lets the store's preconditions (and a retry) sort
out a stale view.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import anyio.lowlevel

from actors import ChildSpec, Registry, Supervisor
from cp.controllers import Controller, ExponentialBackoff, MetricsRegistry, Result
from cp.storage import MemoryStore, NotFound, Store, WatchCache

SOURCES = "core/configmaps"
MIRRORS = "core/mirrors"


class Journal:
    """Shared by every instance of a controller: what was reconciled, and whether one
    key was ever reconciled by two workers at once."""

    def __init__(self) -> None:
        self.active: set[str] = set()
        self.overlaps = 0
        self.max_parallel = 0
        self.reconciled: dict[str, int] = {}

    def enter(self, key: str) -> None:
        if key in self.active:
            self.overlaps += 1
        self.active.add(key)
        self.max_parallel = max(self.max_parallel, len(self.active))

    def leave(self, key: str) -> None:
        self.active.discard(key)
        self.reconciled[key] = self.reconciled.get(key, 0) + 1


def source(name: str, value: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "default"},
        "data": {"v": value},
    }


class MirrorController(Controller):
    def __init__(
        self,
        sources: WatchCache,
        mirrors: WatchCache,
        store: Store,
        journal: Journal,
        *,
        resync_period: float | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("backoff", ExponentialBackoff(base=0.001, max_delay=0.05))
        super().__init__(**kwargs)
        self.sources = self.add_informer(sources, resync_period=resync_period)
        # Both resync: a lost reconcile of a deleted source is only found via its mirror.
        self.mirrors = self.add_informer(mirrors, resync_period=resync_period)
        self.store = store
        self.journal = journal

    async def reconcile(self, key: str) -> Result | None:
        self.journal.enter(key)
        try:
            await anyio.lowlevel.checkpoint()  # let other workers run, so overlaps would show
            return await self._mirror(key)
        finally:
            self.journal.leave(key)

    async def _mirror(self, key: str) -> None:
        src = self.sources.get(key)
        mirror = self.mirrors.get(key)
        if src is None:
            if mirror is not None:
                rv = int(mirror["metadata"]["resourceVersion"])
                try:
                    await self.store.delete(MIRRORS, key, rv=rv)
                except NotFound:
                    pass  # already gone: the goal is reached
            return None
        desired = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": src["metadata"]["name"], "namespace": "default"},
            "data": dict(src.get("data") or {}),
        }
        if mirror is None:
            await self.store.create(MIRRORS, key, desired)  # AlreadyExists: retried
        elif mirror.get("data") != desired["data"]:
            rv = int(mirror["metadata"]["resourceVersion"])
            await self.store.update(MIRRORS, key, desired, rv=rv)  # Conflict: retried
        return None


async def converged(store: Store) -> bool:
    sources, _ = await store.list(SOURCES)
    mirrors, _ = await store.list(MIRRORS)
    want = {r.key: r.decode()["data"] for r in sources}
    have = {r.key: r.decode()["data"] for r in mirrors}
    return want == have


class Cluster:
    """A store, the two caches and a supervised MirrorController, all running."""

    def __init__(self, store: MemoryStore, sources: WatchCache, mirrors: WatchCache) -> None:
        self.store = store
        self.sources = sources
        self.mirrors = mirrors
        self.journal = Journal()
        self.registry = Registry()
        self.metrics = MetricsRegistry()
        self.supervisor: Supervisor | None = None

    name = "root.mirror"

    def controller(self) -> MirrorController:
        actor = self.registry.lookup(self.name)
        assert isinstance(actor, MirrorController)
        return actor


@asynccontextmanager
async def mirror_cluster(
    *, workers: int = 4, resync_period: float | None = None, **supervisor: Any
) -> AsyncIterator[Cluster]:
    store = MemoryStore()
    sources = WatchCache(store, SOURCES, kind="ConfigMap", api_version="v1")
    mirrors = WatchCache(store, MIRRORS, kind="ConfigMap", api_version="v1")
    async with anyio.create_task_group() as tg:
        await tg.start(sources.run)
        await tg.start(mirrors.run)
        cluster = Cluster(store, sources, mirrors)

        def factory() -> MirrorController:
            return MirrorController(
                sources,
                mirrors,
                store,
                cluster.journal,
                workers=workers,
                metrics=cluster.metrics,
                resync_period=resync_period,
            )

        supervisor.setdefault("max_restarts", 1000)
        supervisor.setdefault("backoff_base", 0.0)
        cluster.supervisor = Supervisor(
            [ChildSpec("mirror", factory)], name="root", registry=cluster.registry, **supervisor
        )
        await tg.start(cluster.supervisor.serve)
        try:
            yield cluster
        finally:
            await cluster.supervisor.stop()
            tg.cancel_scope.cancel()
