"""Controller benchmark: write-to-reconcile-done latency of the namespace controller and
of the ClusterIP allocation repair, measured from outside and from the controllers' own
``cp_controller_event_to_reconcile_seconds`` histograms.

Why in-process: what is measured is the controllers' reaction (informer, work queue,
reconcile, the writes they make), not HTTP, which ``python -m bench api`` covers. The
pieces are assembled as ``run_server`` assembles them (``build_registry``, every watch
cache started, ``run_controllers`` with the ControllersConfig the server builds for one
process: no deletion grace period, repair every 60 s), on the memory store, once per
event loop. Each measurement waits on an event from a watch on the relevant cache
(never polling), and the writes go through the registry's REST storage, which is what
an HTTP DELETE or POST calls:

- namespace deletion: namespaces holding ``content`` ConfigMaps are deleted one at a
  time; the time from the DELETE call to the namespace's DELETED event (the controller
  marked it Terminating, deleted the content, removed its finalizer). Reported for small
  namespaces and, separately, for namespaces holding 100 ConfigMaps (deletion time
  with 100 objects);
- allocation repair: for Services with a ClusterIP, the IPAddress allocation object is
  deleted directly in the store behind the Service's back; the time until the repair
  controller has recreated it (its ADDED event);
- then every controller's event-to-reconcile histogram: p50/p99 estimated from the
  buckets (``Histogram.quantile``), so coarse by construction.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from typing import Any

import anyio

from bench.report import percentile, table, write_json
from cp.controllers import BootstrapConfig, ControllersConfig, MetricsRegistry, run_controllers
from cp.registry import Registry, ResourceStorage
from cp.registry.allocation import IPADDRESSES
from cp.server import build_registry
from cp.storage import History, MemoryStore, Store, WatchCache

WAIT = 60.0  # deadline on any single reconcile; a benchmark must never hang


def _storage(registry: Registry, resource: str) -> ResourceStorage:
    for rdef in registry.defs:
        if rdef.group == "" and rdef.resource == resource:
            return registry.storage(rdef)
    raise LookupError(resource)


def _summary(samples: list[float]) -> dict[str, float]:
    s = sorted(samples)
    return {
        "samples": len(s),
        "p50_ms": percentile(s, 50) * 1000,
        "p99_ms": percentile(s, 99) * 1000,
        "max_ms": s[-1] * 1000,
    }


class EventWaiter:
    """Watches one cache and wakes whoever waits for a (type, name) event newer than a
    resourceVersion; armed before the write that causes it, so no event can slip by
    between write and wait, and an older event of the same name (the object's first
    ADDED) cannot be mistaken for it."""

    def __init__(self, cache: WatchCache) -> None:
        self.cache = cache
        self._waiting: dict[tuple[str, str], tuple[int, anyio.Event]] = {}

    def arm(self, type_: str, name: str, *, after: int = 0) -> anyio.Event:
        event = anyio.Event()
        self._waiting[(type_, name)] = (after, event)
        return event

    async def run(self, *, task_status: anyio.abc.TaskStatus[None]) -> None:
        watcher = await self.cache.watch(rv=self.cache.revision)
        task_status.started()
        async for ev in watcher:
            key = (ev.type, ev.object["metadata"]["name"])
            waiting = self._waiting.get(key)
            if waiting is not None and ev.rv > waiting[0]:
                del self._waiting[key]
                waiting[1].set()


async def _timed(write: Callable[[], Any], done: anyio.Event) -> float:
    start = time.perf_counter()
    await write()
    with anyio.fail_after(WAIT):
        await done.wait()
    return time.perf_counter() - start


async def _namespace_deletions(
    registry: Registry, waiter: EventWaiter, prefix: str, count: int, content: int
) -> list[float]:
    namespaces, configmaps = _storage(registry, "namespaces"), _storage(registry, "configmaps")
    for i in range(count):
        name = f"{prefix}-{i}"
        await namespaces.create(None, {"metadata": {"name": name}})
        for j in range(content):
            await configmaps.create(name, {"metadata": {"name": f"cm-{j}"}, "data": {"k": "v"}})
    samples = []
    for i in range(count):
        name = f"{prefix}-{i}"
        gone = waiter.arm("DELETED", name)
        samples.append(await _timed(partial(namespaces.delete, None, name), gone))
    return samples


async def _ip_repairs(
    store: Store, registry: Registry, waiter: EventWaiter, count: int
) -> list[float]:
    services = _storage(registry, "services")
    ips = []
    for i in range(count):
        body = {"metadata": {"name": f"svc-{i}"}, "spec": {"ports": [{"port": 80}]}}
        ips.append((await services.create("default", body))["spec"]["clusterIP"])
    samples = []
    for ip in ips:
        after = await store.current_revision(IPADDRESSES)
        recreated = waiter.arm("ADDED", ip, after=after)
        samples.append(await _timed(partial(store.delete, IPADDRESSES, ip), recreated))
    return samples


async def _run(quick: bool) -> list[dict[str, Any]]:
    store = MemoryStore(History())
    registry, caches = build_registry(store, History())
    metrics = MetricsRegistry()
    config = ControllersConfig(bootstrap=BootstrapConfig(advertise_address="127.0.0.1", port=8080))
    allocation = registry.allocation
    assert allocation is not None
    rows: list[dict[str, Any]] = []
    small, big, repairs = (3, 1, 3) if quick else (50, 5, 50)
    async with anyio.create_task_group() as tg:
        for cache in caches:
            await tg.start(cache.run)
        await tg.start(partial(run_controllers, registry, store, config=config, metrics=metrics))
        ns_waiter = EventWaiter(_storage(registry, "namespaces").cache)
        ip_waiter = EventWaiter(allocation.ips.cache)
        await tg.start(ns_waiter.run)
        await tg.start(ip_waiter.run)
        for label, prefix, count, content in (
            ("namespace deletion, 10 configmaps", "small", small, 10),
            ("namespace deletion, 100 configmaps", "big", big, 100),
        ):
            samples = await _namespace_deletions(registry, ns_waiter, prefix, count, content)
            rows.append({"measure": label, **_summary(samples)})
        samples = await _ip_repairs(store, registry, ip_waiter, repairs)
        rows.append({"measure": "ClusterIP allocation repair", **_summary(samples)})
        for c in metrics:
            if c.latency.count:
                rows.append(
                    {
                        "measure": f"histogram {c.name}",
                        "samples": c.latency.count,
                        "p50_ms": c.latency.quantile(0.5) * 1000,
                        "p99_ms": c.latency.quantile(0.99) * 1000,
                    }
                )
        tg.cancel_scope.cancel()
    return rows


def main(out: str | None = None, quick: bool = False) -> int:
    rows: list[dict[str, Any]] = []
    for loop in ("asyncio", "trio"):
        for row in anyio.run(_run, quick, backend=loop):
            rows.append({"loop": loop, **row})
            print(
                f"{loop:7} {row['measure']:45} p50 {row['p50_ms']:8.2f} ms "
                f"p99 {row['p99_ms']:8.2f} ms",
                flush=True,
            )
    print()
    print(table(rows, ["loop", "measure", "samples", "p50_ms", "p99_ms", "max_ms"]))
    path = write_json("controllers", rows, out)
    print(f"wrote {path}")
    return 0
