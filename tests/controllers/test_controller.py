"""The controller base: reconcile contract, retries, one key at a time, restarts and
injected faults, on real watch caches over the memory store."""

from __future__ import annotations

import random
from typing import Any

import anyio
import pytest

from actors import ChildSpec, Registry, RequestError, Supervisor
from cp.controllers import Controller, ExponentialBackoff, MetricsRegistry, Result
from cp.storage import MemoryStore, Store, WatchCache
from tests.support.caches import running_cache

from .helpers import wait_until
from .mirror import SOURCES, Cluster, MirrorController, converged, mirror_cluster, source

pytestmark = pytest.mark.anyio


async def random_writes(store: Store, rng: random.Random, count: int, keys: int = 30) -> None:
    """Creates, updates and deletes over a few keys, with a checkpoint now and then so
    the controller works while the writes go on."""
    for i in range(count):
        name = f"k{rng.randrange(keys)}"
        key = f"default/{name}"
        try:
            current = await store.get(SOURCES, key)
        except Exception:
            current = None
        if current is None:
            await store.create(SOURCES, key, source(name, str(i)))
        elif rng.random() < 0.2:
            await store.delete(SOURCES, key)
        else:
            await store.update(SOURCES, key, source(name, str(i)))
        if rng.random() < 0.3:
            await anyio.sleep(0.001)


async def test_mirror_converges_under_writes_without_reconciling_a_key_twice_at_once() -> None:
    async with mirror_cluster(workers=4) as cluster:
        await random_writes(cluster.store, random.Random(1), 400)
        await wait_until(lambda: converged(cluster.store))
        journal = cluster.journal
        assert journal.overlaps == 0
        assert journal.max_parallel > 1  # the workers did run concurrently
        metrics = cluster.metrics.controller(cluster.name)
        assert metrics.reconciles["success"] > 0
        assert metrics.latency.count == metrics.reconciles["success"]
        stats = cluster.controller().statistics()
        assert stats.reconciles == sum(metrics.reconciles.values())
        assert [i.synced for i in stats.informers] == [True, True]


async def test_existing_objects_are_reconciled_at_start() -> None:
    store = MemoryStore()
    for i in range(5):
        await store.create(SOURCES, f"default/s{i}", source(f"s{i}", "x"))
    async with (
        running_cache(store, SOURCES) as sources,
        running_cache(store, "core/mirrors") as mirrors,
    ):
        cluster = Cluster(store, sources, mirrors)
        controller = MirrorController(sources, mirrors, store, cluster.journal, name="m")
        async with anyio.create_task_group() as tg:
            await tg.start(controller.serve)
            await wait_until(lambda: converged(store))
            assert sorted(cluster.journal.reconciled) == [f"default/s{i}" for i in range(5)]
            await controller.stop()


async def test_a_restart_relists_and_reconciles_every_key_again() -> None:
    async with mirror_cluster(workers=2) as cluster:
        for i in range(10):
            await cluster.store.create(SOURCES, f"default/s{i}", source(f"s{i}", "x"))
        await wait_until(lambda: converged(cluster.store))
        await wait_until(lambda: cluster.controller().queue.statistics().depth == 0)
        before = dict(cluster.journal.reconciled)
        old = cluster.controller()
        cluster.registry.faults.crash(cluster.name)
        with anyio.fail_after(5):
            new = await cluster.registry.wait_for(cluster.name, replacing=old)
        await wait_until(lambda: all(cluster.journal.reconciled[k] > n for k, n in before.items()))
        assert isinstance(new, MirrorController)
        (child,) = cluster.supervisor.statistics().children  # type: ignore[union-attr]
        assert child.restarts == 1


async def test_crashing_the_controller_25_times_during_a_workload_loses_no_work() -> None:
    async with mirror_cluster(workers=4) as cluster:
        faults = cluster.registry.faults
        crashes = 0
        async with anyio.create_task_group() as tg:
            stop_writing = anyio.Event()

            async def write() -> None:
                rng = random.Random(2)
                while not stop_writing.is_set():
                    await random_writes(cluster.store, rng, 20)

            tg.start_soon(write)
            for crashes in range(1, 26):
                old = cluster.controller()
                # Let each instance do some work first, so crashes hit a busy controller.
                await wait_until(lambda old=old: old.statistics().reconciles >= 3)
                if crashes % 2:
                    faults.crash(cluster.name)  # now, wherever it is
                else:
                    faults.crash_next(cluster.name)  # on its next reconcile
                with anyio.fail_after(5):
                    await cluster.registry.wait_for(cluster.name, replacing=old)
            stop_writing.set()
        await wait_until(lambda: converged(cluster.store))
        assert faults.statistics().crashes == 25
        (child,) = cluster.supervisor.statistics().children  # type: ignore[union-attr]
        assert child.restarts == 25
        assert "InjectedFault" in (child.last_error or "")
        assert cluster.journal.overlaps == 0
        # The metrics span every instance: more reconciles than the current one did.
        total = sum(cluster.metrics.controller(cluster.name).reconciles.values())
        assert total > cluster.controller().statistics().reconciles + 25 * 3


async def test_dropped_reconciles_are_healed_by_the_periodic_resync() -> None:
    async with mirror_cluster(workers=2, resync_period=0.05) as cluster:
        faults = cluster.registry.faults
        faults.drop(cluster.name, fraction=0.5)
        await random_writes(cluster.store, random.Random(3), 200)
        rev = await cluster.store.current_revision(SOURCES)
        await wait_until(lambda: cluster.controller().sources.revision >= rev)
        faults.clear(cluster.name)
        await wait_until(lambda: converged(cluster.store))
        assert faults.statistics().drops > 0
        assert cluster.metrics.controller(cluster.name).reconciles["dropped"] > 0


async def test_dropped_reconciles_without_resync_stay_lost() -> None:
    """The negative control of the test above: a drop really loses the reconcile."""
    async with mirror_cluster(workers=1) as cluster:
        faults = cluster.registry.faults
        faults.drop(cluster.name, count=1)
        await cluster.store.create(SOURCES, "default/lost", source("lost", "1"))
        await wait_until(lambda: faults.statistics().drops == 1)
        await wait_until(lambda: cluster.controller().queue.statistics().in_flight == 0)
        assert not await converged(cluster.store)
        cluster.controller().sources.resync()
        await wait_until(lambda: converged(cluster.store))


async def test_injected_delay_slows_each_reconcile() -> None:
    async with mirror_cluster(workers=1) as cluster:
        cluster.registry.faults.delay(cluster.name, 0.05)
        start = anyio.current_time()
        for i in range(3):
            await cluster.store.create(SOURCES, f"default/d{i}", source(f"d{i}", "x"))
        await wait_until(lambda: converged(cluster.store))
        assert anyio.current_time() - start >= 0.15
        assert cluster.registry.faults.statistics().delays >= 3
        hist = cluster.metrics.controller(cluster.name).latency
        assert hist.sum >= 0.05 * 3


class Scripted(Controller):
    """Reconciles by a script per key: a list of outcomes, one per call."""

    fatal_errors = (KeyError,)

    def __init__(self, cache: WatchCache, script: dict[str, list[Any]], **kw: Any) -> None:
        kw.setdefault("backoff", ExponentialBackoff(base=0.01, max_delay=1.0))
        super().__init__(**kw)
        self.items = self.add_informer(cache)
        self.script = script
        self.calls: list[tuple[str, float]] = []

    async def reconcile(self, key: str) -> Result | None:
        assert self.items.get(key) is not None
        self.calls.append((key, anyio.current_time()))
        outcome = self.script[key].pop(0) if self.script.get(key) else None
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome


async def test_errors_are_retried_with_growing_backoff_then_forgotten() -> None:
    store = MemoryStore()
    await store.create(SOURCES, "default/a", source("a", "1"))
    metrics = MetricsRegistry()
    async with running_cache(store, SOURCES) as cache:
        script: dict[str, list[Any]] = {"default/a": [RuntimeError("boom")] * 3}
        controller = Scripted(cache, script, metrics=metrics, name="scripted")
        async with anyio.create_task_group() as tg:
            await tg.start(controller.serve)
            await wait_until(lambda: len(controller.calls) == 4)
            await wait_until(lambda: controller.queue.statistics().in_flight == 0)
            gaps = [
                b[1] - a[1] for a, b in zip(controller.calls, controller.calls[1:], strict=False)
            ]
            assert gaps[0] >= 0.01 and gaps[1] >= 0.02 and gaps[2] >= 0.04
            assert controller.queue.num_requeues("default/a") == 0  # forgotten on success
            stats = controller.statistics()
            assert stats.reconcile_errors == 3
            assert stats.last_error == "default/a: RuntimeError('boom')"
            m = metrics.controller("scripted")
            assert (m.reconciles["error"], m.reconciles["success"], m.errors) == (3, 1, 3)
            # Latency runs from the event to the successful end, across the retries.
            assert m.latency.count == 1 and m.latency.sum >= 0.07
            await controller.stop()


async def test_requeue_and_requeue_after() -> None:
    store = MemoryStore()
    await store.create(SOURCES, "default/a", source("a", "1"))
    await store.create(SOURCES, "default/b", source("b", "1"))
    async with running_cache(store, SOURCES) as cache:
        script: dict[str, list[Any]] = {
            "default/a": [Result(requeue_after=0.1)],
            "default/b": [Result(requeue=True), Result(requeue=True)],
        }
        controller = Scripted(cache, script, name="scripted")
        async with anyio.create_task_group() as tg:
            await tg.start(controller.serve)
            await wait_until(lambda: len(controller.calls) == 5)
            a = [t for k, t in controller.calls if k == "default/a"]
            b = [t for k, t in controller.calls if k == "default/b"]
            assert len(a) == 2 and a[1] - a[0] >= 0.1
            assert len(b) == 3
            r = controller.metrics.reconciles
            assert (r["requeue_after"], r["requeue"], r["success"]) == (1, 2, 2)
            await controller.stop()


async def test_a_fatal_error_crashes_the_controller_and_the_restart_retries() -> None:
    store = MemoryStore()
    await store.create(SOURCES, "default/a", source("a", "1"))
    registry = Registry()
    async with running_cache(store, SOURCES) as cache:
        script: dict[str, list[Any]] = {"default/a": [KeyError("fatal")]}
        instances: list[Scripted] = []

        def factory() -> Scripted:
            instances.append(Scripted(cache, script))
            return instances[-1]

        sup = Supervisor([ChildSpec("s", factory)], registry=registry, backoff_base=0.0)
        async with anyio.create_task_group() as tg:
            await tg.start(sup.serve)
            await wait_until(lambda: len(instances) == 2 and len(instances[1].calls) == 1)
            (child,) = sup.statistics().children
            assert child.restarts == 1 and child.last_error == "KeyError('fatal')"
            assert instances[1].metrics.reconciles["success"] == 1
            await sup.stop()


async def test_a_controller_rejects_messages_as_bad_requests() -> None:
    store = MemoryStore()
    async with running_cache(store, SOURCES) as cache:
        controller = Scripted(cache, {})
        async with anyio.create_task_group() as tg:
            await tg.start(controller.serve)
            with pytest.raises(RequestError):
                await controller.ask("hello")
            await controller.stop()


async def test_workers_must_be_positive() -> None:
    store = MemoryStore()
    async with running_cache(store, SOURCES) as cache:
        with pytest.raises(ValueError):
            Scripted(cache, {}, workers=0)
