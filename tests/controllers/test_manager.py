"""The controller manager: the supervised tree, chaos, leader election, metrics."""

from __future__ import annotations

from functools import partial

import anyio
import pytest

from actors import Registry
from cp.controllers import MetricsRegistry
from cp.controllers.bootstrap import BootstrapConfig
from cp.controllers.manager import ControllerManager, ControllersConfig, run_controllers
from cp.registry.allocation import IPADDRESSES, NODEPORTS
from cp.storage import MemoryStore, Store
from tests.admission.cluster import create_namespace, exists, running_registry, storage

from .helpers import wait_until
from .test_bootstrap import converged
from .test_namespace import delete_namespace, fill, namespace

pytestmark = pytest.mark.anyio

FAST = ControllersConfig(
    bootstrap=BootstrapConfig(advertise_address="192.0.2.10", port=6443, interval=0.2),
    namespace_content_requeue=0.02,
    max_restarts=1000,
    restart_period=1.0,
    backoff_base=0.001,
    backoff_max=0.01,
    allocation_repair_interval=0.1,
    allocation_leak_grace=0.2,
)
CONTROLLERS = (
    "controllers.namespace",
    "controllers.bootstrap",
    "controllers.ipallocator-repair",
    "controllers.portallocator-repair",
)


async def test_run_controllers_reports_the_manager_and_exports_metrics() -> None:
    store = MemoryStore()
    metrics = MetricsRegistry()
    async with running_registry(store) as registry, anyio.create_task_group() as tg:
        manager = await tg.start(
            partial(run_controllers, registry, store, config=FAST, metrics=metrics)
        )
        assert isinstance(manager, ControllerManager)
        await wait_until(lambda: converged(store))
        stats = manager.statistics()
        assert stats.leading and stats.terms == 1 and not stats.leader_election
        assert set(stats.controllers) == set(CONTROLLERS)
        assert stats.controllers["controllers.bootstrap"].reconciles > 0
        text = metrics.render()
        for name in CONTROLLERS:
            assert f'cp_controller_event_to_reconcile_seconds_count{{controller="{name}"}}' in text
        tg.cancel_scope.cancel()


async def crash_repeatedly(actors: Registry, name: str, times: int) -> None:
    """Crash ``name`` ``times`` times, each time once its previous instance restarted."""
    for _ in range(times):
        with anyio.fail_after(10):
            actor = await actors.wait_for(name)
        actors.faults.crash(name)
        with anyio.fail_after(10):
            await actors.wait_for(name, replacing=actor)


async def test_chaos_every_controller_crashed_100_times_converges() -> None:
    store = MemoryStore()
    actors = Registry()
    async with running_registry(store) as registry, anyio.create_task_group() as tg:
        manager = await tg.start(
            partial(run_controllers, registry, store, config=FAST, actors=actors)
        )

        async def workload() -> None:
            await wait_until(lambda: converged(store))
            for i in range(6):
                name = f"chaos-{i}"
                await create_namespace(registry, name)
                await fill(registry, name, 10)
                if i % 2 == 0:
                    await delete_namespace(store, name)
            await store.delete("core/namespaces", "kube-public")
            await store.delete("core/services", "default/kubernetes")
            services = storage(registry, "services")
            for i in range(20):
                body = {
                    "metadata": {"name": f"np-{i}"},
                    "spec": {"type": "NodePort", "ports": [{"port": 80}]},
                }
                await services.create("chaos-1", body)
                if i % 4 == 0:
                    await services.delete("chaos-1", f"np-{i}")

        async with anyio.create_task_group() as chaos:
            chaos.start_soon(workload)
            for name in CONTROLLERS:
                chaos.start_soon(crash_repeatedly, actors, name, 100)

        supervisor = manager.statistics().supervisor
        assert supervisor is not None
        assert {c.name: c.restarts for c in supervisor.children} == {
            name.removeprefix("controllers."): 100 for name in CONTROLLERS
        }

        async def allocations_match() -> bool:
            """Every ClusterIP and NodePort held by exactly one live Service, no leak."""
            services = [r.decode() for r in (await store.list("core/services"))[0]]
            ips = [s["spec"]["clusterIP"] for s in services if s["spec"].get("clusterIP")]
            ports = [
                p["nodePort"] for s in services for p in s["spec"]["ports"] if p.get("nodePort")
            ]
            if len(set(ips)) != len(ips) or len(set(ports)) != len(ports):
                return False
            held_ips = {r.key for r in (await store.list(IPADDRESSES))[0]}
            held_ports = {r.key for r in (await store.list(NODEPORTS))[0]}
            return held_ips == set(ips) and held_ports == {str(p) for p in ports}

        async def settled() -> bool:
            for i in range(6):
                present = await namespace(store, f"chaos-{i}") is not None
                if present != (i % 2 == 1):
                    return False
            return await converged(store) and await allocations_match()

        await wait_until(settled, timeout=15)
        for i in range(0, 6, 2):
            assert not await exists(registry, "configmaps", f"chaos-{i}", "obj-0")
        assert await exists(registry, "configmaps", "chaos-1", "obj-0")
        tg.cancel_scope.cancel()


async def test_leader_election_runs_controllers_once_and_fails_over(store: Store) -> None:
    def config(identity: str) -> ControllersConfig:
        return ControllersConfig(
            bootstrap=FAST.bootstrap,
            leader_election=True,
            identity=identity,
            lease_duration=1.0,
            renew_deadline=0.6,
            retry_period=0.1,
        )

    async with running_registry(store) as registry, anyio.create_task_group() as tg:
        managers = {}
        scopes = {}
        for identity in ("a", "b"):
            scope = anyio.CancelScope()
            scopes[identity] = scope
            managers[identity] = ControllerManager(registry, store, config=config(identity))

            async def run(
                m: ControllerManager = managers[identity], s: anyio.CancelScope = scope
            ) -> None:
                with s:
                    await m.run()

            tg.start_soon(run)
        await wait_until(lambda: any(m.statistics().leading for m in managers.values()))
        leader = next(i for i, m in managers.items() if m.statistics().leading)
        follower = "b" if leader == "a" else "a"
        await wait_until(lambda: converged(store))
        assert not managers[follower].statistics().leading
        scopes[leader].cancel()  # the leader stops: it releases the lease
        await wait_until(lambda: managers[follower].statistics().leading)
        await store.delete("core/namespaces", "kube-public")
        await wait_until(lambda: converged(store))
        assert managers[follower].statistics().terms == 1
        tg.cancel_scope.cancel()
