"""ClusterIP and NodePort allocation and repair, on the real registry with every cache
running (memory, and Redis where several processes must agree).

The Service REST storage is not wired to the allocator yet, so ``create_service`` and
``delete_service`` do exactly what the proposed hooks do: allocate after validation,
revert on a failed write, release after a delete.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import anyio
import pytest

from actors import ChildSpec, Registry, Supervisor
from cp.controllers import ClusterIPRepairController, NodePortRepairController
from cp.meta.status import ApiError
from cp.registry import Registry as ApiRegistry
from cp.registry import ResourceStorage
from cp.registry.allocation import (
    IPADDRESSES,
    NODEPORTS,
    AlreadyAllocated,
    NodePortAllocator,
    RangeFull,
    ServiceAllocation,
    ServiceIPAllocator,
    ServiceRef,
    cluster_ips,
    node_ports,
)
from cp.storage import AlreadyExists, MemoryStore, RedisStore, Store, WatchCache
from tests.admission.cluster import running_registry, storage

from .helpers import wait_until

pytestmark = pytest.mark.anyio

SERVICES = "core/services"


@dataclass
class Cluster:
    store: Store
    api: ApiRegistry
    allocation: ServiceAllocation
    caches: list[WatchCache]


@asynccontextmanager
async def running_cluster(
    store: Store, *, cidr: str = "10.0.0.0/24", node_ports_range: str = "30000-32767"
) -> AsyncIterator[Cluster]:
    async with running_registry(
        store, service_cluster_ip_range=cidr, service_node_port_range=node_ports_range
    ) as api:
        allocation = api.allocation
        assert allocation is not None
        yield Cluster(store, api, allocation, [allocation.ips.cache, allocation.ports.cache])


def service(name: str, type_: str = "ClusterIP", **spec: Any) -> dict[str, Any]:
    ports = spec.pop("ports", [{"name": "http", "port": 80, "protocol": "TCP"}])
    return {"metadata": {"name": name}, "spec": {"type": type_, "ports": ports, **spec}}


async def create_service(
    cluster: Cluster, body: dict[str, Any], namespace: str = "default"
) -> dict[str, Any]:
    """The registry's Service create, which allocates through its hook."""
    body["metadata"]["namespace"] = namespace
    return await storage(cluster.api, "services").create(namespace, body)


async def delete_service(cluster: Cluster, name: str, namespace: str = "default") -> None:
    await storage(cluster.api, "services").delete(namespace, name)


async def allocations(store: Store, resource: str) -> dict[str, ServiceRef | None]:
    records, _ = await store.list(resource)
    return {r.key: ServiceRef.of_allocation(r.decode()) for r in records}


async def stored_services(store: Store) -> list[dict[str, Any]]:
    records, _ = await store.list(SERVICES)
    return [r.decode() for r in records]


# -- allocation ----------------------------------------------------------------------------


async def test_200_concurrent_creates_never_share_a_cluster_ip_or_node_port(store: Store) -> None:
    async with running_cluster(store) as cluster:
        created: list[dict[str, Any]] = []

        async def one(i: int) -> None:
            created.append(await create_service(cluster, service(f"s{i}", "NodePort")))

        async with anyio.create_task_group() as tg:
            for i in range(200):
                tg.start_soon(one, i)
        ips = [svc["spec"]["clusterIP"] for svc in created]
        ports = [p["nodePort"] for svc in created for p in svc["spec"]["ports"]]
        assert len(set(ips)) == len(set(ports)) == 200
        assert "10.0.0.1" not in ips  # the kubernetes Service's
        assert all(svc["spec"]["clusterIPs"] == [svc["spec"]["clusterIP"]] for svc in created)
        owners = {str(ServiceRef.of(s)): s for s in created}
        for resource, held in ((IPADDRESSES, cluster_ips), (NODEPORTS, node_ports)):
            stored = await allocations(store, resource)
            assert len(stored) == 200
            for svc in owners.values():
                for value in held(svc):
                    assert stored[str(value)] == ServiceRef.of(svc)


async def test_two_allocators_on_two_redis_stores_never_hand_out_the_same_item(
    fresh_redis: Any,
) -> None:
    async with (
        RedisStore.from_url(fresh_redis.url, poll_interval=0.05) as one,
        RedisStore.from_url(fresh_redis.url, poll_interval=0.05) as two,
    ):
        # A small range and a fixed seed per allocator: collisions are certain, so the
        # AlreadyExists path (the cross-process lock) is what keeps them apart.
        ip_allocators = [
            ServiceIPAllocator(s, "10.0.0.0/24", rng=random.Random(7)) for s in (one, two)
        ]
        port_allocators = [
            NodePortAllocator(s, "30000-30299", rng=random.Random(7)) for s in (one, two)
        ]
        got: list[tuple[ServiceRef, str, int]] = []

        async def one_allocation(i: int) -> None:
            owner = ServiceRef("default", f"s{i}")
            ip = await ip_allocators[i % 2].allocate(owner)
            port = await port_allocators[i % 2].allocate(owner)
            got.append((owner, ip, port))

        async with anyio.create_task_group() as tg:
            for i in range(200):
                tg.start_soon(one_allocation, i)
        assert len({ip for _, ip, _ in got}) == len({port for *_, port in got}) == 200
        ips, ports = await allocations(one, IPADDRESSES), await allocations(two, NODEPORTS)
        for owner, ip, port in got:
            assert ips[ip] == owner and ports[str(port)] == owner


async def test_requested_ip_is_granted_when_free_and_refused_when_taken() -> None:
    async with running_cluster(MemoryStore()) as cluster:
        a = await create_service(cluster, service("a", clusterIP="10.0.0.5"))
        assert a["spec"]["clusterIP"] == "10.0.0.5" and a["spec"]["clusterIPs"] == ["10.0.0.5"]
        with pytest.raises(ApiError) as caught:
            await create_service(cluster, service("b", clusterIP="10.0.0.5"))
        status = caught.value.status
        assert status["code"] == 422 and status["reason"] == "Invalid"
        assert status["message"] == (
            'Service "b" is invalid: spec.clusterIPs: Invalid value: []string{"10.0.0.5"}: '
            "failed to allocate IP 10.0.0.5: provided IP is already allocated"
        )
        assert status["details"]["causes"] == [
            {
                "reason": "FieldValueInvalid",
                "message": 'Invalid value: []string{"10.0.0.5"}: failed to allocate IP '
                "10.0.0.5: provided IP is already allocated",
                "field": "spec.clusterIPs",
            }
        ]
        assert await allocations(cluster.store, IPADDRESSES) == {
            "10.0.0.5": ServiceRef("default", "a")
        }


async def test_out_of_range_and_taken_values_are_invalid_and_leave_nothing_allocated() -> None:
    async with running_cluster(MemoryStore()) as cluster:
        with pytest.raises(ApiError) as caught:
            await create_service(cluster, service("a", clusterIP="10.1.0.5"))
        assert caught.value.status["message"] == (
            'Service "a" is invalid: spec.clusterIPs: Invalid value: []string{"10.1.0.5"}: '
            "failed to allocate IP 10.1.0.5: the provided IP (10.1.0.5) is not in the valid "
            "range. The range of valid IPs is 10.0.0.0/24"
        )
        port = [{"name": "http", "port": 80, "protocol": "TCP", "nodePort": 8080}]
        with pytest.raises(ApiError) as caught:
            await create_service(
                cluster, service("b", "NodePort", clusterIP="10.0.0.9", ports=port)
            )
        assert caught.value.status["message"] == (
            'Service "b" is invalid: spec.ports[0].nodePort: Invalid value: 8080: provided port '
            "is not in the valid range. The range of valid ports is 30000-32767"
        )
        await create_service(
            cluster, service("c", "NodePort", ports=[{**port[0], "nodePort": 30080}])
        )
        with pytest.raises(ApiError) as caught:
            taken = [{**port[0], "nodePort": 30080}]
            await create_service(
                cluster, service("d", "NodePort", clusterIP="10.0.0.9", ports=taken)
            )
        assert caught.value.status["details"]["causes"][0] == {
            "reason": "FieldValueInvalid",
            "message": "Invalid value: 30080: provided port is already allocated",
            "field": "spec.ports[0].nodePort",
        }
        # The IP the failed creates took first was given back each time.
        assert "10.0.0.9" not in await allocations(cluster.store, IPADDRESSES)
        assert list(await allocations(cluster.store, NODEPORTS)) == ["30080"]
        # A failed write (a Service of that name exists) reverts the allocation too.
        with pytest.raises(AlreadyExists):
            await create_service(cluster, service("c", clusterIP="10.0.0.9"))
        assert "10.0.0.9" not in await allocations(cluster.store, IPADDRESSES)


async def test_first_address_is_only_the_kubernetes_services_and_a_full_range_fails() -> None:
    async with running_cluster(MemoryStore(), cidr="10.0.0.0/29") as cluster:
        with pytest.raises(ApiError) as caught:
            await create_service(cluster, service("other", clusterIP="10.0.0.1"))
        assert caught.value.status["message"].endswith("provided IP is already allocated")
        got = [
            (await create_service(cluster, service(f"s{i}")))["spec"]["clusterIP"] for i in range(5)
        ]
        assert sorted(got) == [f"10.0.0.{i}" for i in range(2, 7)]
        with pytest.raises(ApiError) as caught:
            await create_service(cluster, service("full"))
        assert caught.value.status["code"] == 500
        assert caught.value.status["message"] == (
            "Internal error occurred: failed to allocate a serviceIP: range is full"
        )
        kubernetes = await create_service(cluster, service("kubernetes", clusterIP="10.0.0.1"))
        assert kubernetes["spec"]["clusterIP"] == "10.0.0.1"


async def test_node_port_range_exhaustion_and_release_gives_items_back() -> None:
    async with running_cluster(MemoryStore(), node_ports_range="30000-30003") as cluster:
        for i in range(4):
            await create_service(cluster, service(f"s{i}", "NodePort"))
        with pytest.raises(ApiError) as caught:
            await create_service(cluster, service("full", "NodePort"))
        assert caught.value.status["message"] == (
            "Internal error occurred: failed to allocate a nodePort: range is full"
        )
        assert len(await allocations(cluster.store, IPADDRESSES)) == 4  # no IP leaked
        s0 = (await cluster.store.get(SERVICES, "default/s0")).decode()
        await delete_service(cluster, "s0")
        assert str(s0["spec"]["ports"][0]["nodePort"]) not in await allocations(
            cluster.store, NODEPORTS
        )
        assert s0["spec"]["clusterIP"] not in await allocations(cluster.store, IPADDRESSES)
        again = await create_service(
            cluster, service("again", "NodePort", clusterIP=s0["spec"]["clusterIP"])
        )
        assert again["spec"]["ports"][0]["nodePort"] == s0["spec"]["ports"][0]["nodePort"]


async def test_release_only_frees_the_owners_allocation() -> None:
    store = MemoryStore()
    ips = ServiceIPAllocator(store)
    owner, other = ServiceRef("default", "a"), ServiceRef("default", "b")
    ip = await ips.allocate(owner)
    assert not await ips.release(ip, owner=other)
    with pytest.raises(AlreadyAllocated):
        await ips.allocate(other, ip)
    assert await ips.release(ip, owner=owner)
    assert not await ips.release(ip)  # releasing a free item is a no-op
    assert await ips.allocate(other, ip) == ip
    tiny = NodePortAllocator(store, "30000-30000")
    await tiny.allocate(owner)
    with pytest.raises(RangeFull):
        await tiny.allocate(other)


async def test_update_allocates_new_node_ports_and_releases_dropped_ones() -> None:
    async with running_cluster(MemoryStore()) as cluster:
        services = storage(cluster.api, "services")
        old = await create_service(cluster, service("a", "NodePort"))
        ip, port = old["spec"]["clusterIP"], old["spec"]["ports"][0]["nodePort"]

        async def update(change: Any) -> dict[str, Any]:
            current = (await cluster.store.get(SERVICES, "default/a")).decode()
            new = change(dict(current, spec=dict(current["spec"])))
            stored, _ = await services.update("default", "a", new)
            return stored

        # A second port; the clusterIP left out of the body is kept.
        def add_port(new: dict[str, Any]) -> dict[str, Any]:
            new["spec"].pop("clusterIP")
            new["spec"].pop("clusterIPs")
            new["spec"]["ports"] = [
                {"name": "http", "port": 80, "protocol": "TCP"},
                {"name": "https", "port": 443, "protocol": "TCP"},
            ]
            return new

        two = await update(add_port)
        assert two["spec"]["clusterIP"] == ip
        assert two["spec"]["ports"][0]["nodePort"] == port  # patched from the old object
        https = two["spec"]["ports"][1]["nodePort"]
        assert set(await allocations(cluster.store, NODEPORTS)) == {str(port), str(https)}

        def to_cluster_ip(new: dict[str, Any]) -> dict[str, Any]:
            new["spec"]["type"] = "ClusterIP"
            return new

        plain = await update(to_cluster_ip)
        assert all("nodePort" not in p for p in plain["spec"]["ports"])
        assert await allocations(cluster.store, NODEPORTS) == {}
        assert list(await allocations(cluster.store, IPADDRESSES)) == [ip]


# -- repair --------------------------------------------------------------------------------


@asynccontextmanager
async def running_repair(
    cluster: Cluster, actors: Registry, *, interval: float, leak_grace: float
) -> AsyncIterator[None]:
    ips_cache, ports_cache = cluster.caches
    options = {"interval": interval, "leak_grace": leak_grace}
    specs = [
        ChildSpec(
            "ipallocator-repair",
            lambda: ClusterIPRepairController(
                cluster.api, cluster.allocation.ips, ips_cache, **options
            ),
        ),
        ChildSpec(
            "portallocator-repair",
            lambda: NodePortRepairController(
                cluster.api, cluster.allocation.ports, ports_cache, **options
            ),
        ),
    ]
    supervisor = Supervisor(
        specs,
        name="controllers",
        registry=actors,
        max_restarts=10_000,
        period=1.0,
        backoff_base=0.001,
        backoff_max=0.01,
    )
    async with anyio.create_task_group() as tg:
        await tg.start(supervisor.serve)
        yield
        tg.cancel_scope.cancel()


IP_REPAIR = "controllers.ipallocator-repair"
PORT_REPAIR = "controllers.portallocator-repair"


def stray(kind: str, key: str, owner: ServiceRef) -> dict[str, Any]:
    allocator = ServiceIPAllocator if kind == "ip" else NodePortAllocator
    return allocator(MemoryStore()).build(key, owner)


async def events(cluster: Cluster, reason: str) -> list[dict[str, Any]]:
    records, _ = await cluster.store.list("core/events")
    return [e for e in (r.decode() for r in records) if e["reason"] == reason]


async def test_a_leaked_allocation_is_released_on_the_second_pass_that_sees_it(
    store: Store,
) -> None:
    actors = Registry()
    async with (
        running_cluster(store) as cluster,
        running_repair(cluster, actors, interval=3600, leak_grace=0),
    ):
        controller = await actors.wait_for(IP_REPAIR)
        assert isinstance(controller, ClusterIPRepairController)
        await wait_until(lambda: controller.passes >= 1)
        ghost = ServiceRef("default", "ghost")
        await store.create(IPADDRESSES, "10.0.0.77", stray("ip", "10.0.0.77", ghost))
        # Its ADDED event brings a pass: suspected, not released.
        await wait_until(lambda: "10.0.0.77" in controller.leak_suspects)
        assert controller.released == 0
        assert "10.0.0.77" in await allocations(store, IPADDRESSES)
        controller.queue.add("pass")
        await wait_until(lambda: controller.released == 1)
        assert await allocations(store, IPADDRESSES) == {}


async def test_a_missing_allocation_is_recreated_for_its_service(store: Store) -> None:
    actors = Registry()
    async with running_cluster(store) as cluster:
        svc = await create_service(cluster, service("a", "NodePort"))
        ip, port = svc["spec"]["clusterIP"], str(svc["spec"]["ports"][0]["nodePort"])
        await store.delete(IPADDRESSES, ip)
        await store.delete(NODEPORTS, port)
        async with running_repair(cluster, actors, interval=0.05, leak_grace=0.2):

            async def repaired() -> bool:
                owner = ServiceRef("default", "a")
                return (await allocations(store, IPADDRESSES)).get(ip) == owner and (
                    await allocations(store, NODEPORTS)
                ).get(port) == owner

            await wait_until(repaired)
            await wait_until(lambda: events(cluster, "ClusterIPNotAllocated"))
            [event] = await events(cluster, "PortNotAllocated")
            assert event["message"] == f"Port {port} is not allocated; repairing"


async def test_double_allocation_and_out_of_range_values_get_warning_events() -> None:
    store = MemoryStore()
    actors = Registry()
    async with running_cluster(store) as cluster:
        first = await create_service(cluster, service("first", "NodePort"))
        ip, port = first["spec"]["clusterIP"], first["spec"]["ports"][0]["nodePort"]
        # Written around the allocator, as a buggy or older server would.
        bound = storage(cluster.api, "services")
        services = ResourceStorage(bound.rdef, bound.store, bound.cache)
        dup_port = [{"name": "http", "port": 80, "protocol": "TCP", "nodePort": port}]
        await services.create(
            "default", service("second", "NodePort", clusterIP=ip, ports=dup_port)
        )
        await services.create("default", service("outside", clusterIP="10.9.9.9"))
        async with running_repair(cluster, actors, interval=0.05, leak_grace=0.2):
            await wait_until(lambda: events(cluster, "PortAlreadyAllocated"))
            await wait_until(lambda: events(cluster, "ClusterIPOutOfRange"))
            [dup] = await events(cluster, "ClusterIPAlreadyAllocated")
            assert dup["type"] == "Warning" and dup["metadata"]["namespace"] == "default"
            assert dup["involvedObject"]["name"] == "second"
            assert dup["involvedObject"]["kind"] == "Service"
            assert dup["message"] == (
                f"Cluster IP [IPv4]:{ip} was assigned to multiple services; please recreate service"
            )
            assert dup["source"] == {"component": "ipallocator-repair-controller"}
            [out] = await events(cluster, "ClusterIPOutOfRange")
            assert out["message"] == (
                "Cluster IP [IPv4]:10.9.9.9 is not within the service CIDR 10.0.0.0/24; "
                "please recreate service"
            )
            [port_dup] = await events(cluster, "PortAlreadyAllocated")
            assert port_dup["involvedObject"]["name"] == "second"
            # The first owner keeps both; nothing was taken from it.
            first_ref = ServiceRef("default", "first")
            assert (await allocations(store, IPADDRESSES))[ip] == first_ref
            assert (await allocations(store, NODEPORTS))[str(port)] == first_ref


async def test_repair_converges_while_crashed_repeatedly_during_a_workload() -> None:
    store = MemoryStore()
    actors = Registry()
    async with (
        running_cluster(store) as cluster,
        running_repair(cluster, actors, interval=0.05, leak_grace=0.3),
    ):

        async def workload() -> None:
            for i in range(60):
                await create_service(cluster, service(f"w{i}", "NodePort"))
                if i % 3 == 0:
                    await delete_service(cluster, f"w{i}")
                elif i % 3 == 1:
                    # Deleted around the registry: its allocations leak until repaired.
                    await store.delete(SERVICES, f"default/w{i}")
                if i % 10 == 0:
                    await anyio.sleep(0.01)  # let the repair passes interleave

        async def crash_repeatedly(name: str, times: int) -> None:
            for _ in range(times):
                with anyio.fail_after(10):
                    actor = await actors.wait_for(name)
                actors.faults.crash(name)
                with anyio.fail_after(10):
                    await actors.wait_for(name, replacing=actor)

        async with anyio.create_task_group() as chaos:
            chaos.start_soon(workload)
            chaos.start_soon(crash_repeatedly, IP_REPAIR, 30)
            chaos.start_soon(crash_repeatedly, PORT_REPAIR, 30)

        async def converged() -> bool:
            held_ips: dict[str, ServiceRef] = {}
            held_ports: dict[str, ServiceRef] = {}
            for svc in await stored_services(store):
                for ip in cluster_ips(svc):
                    assert ip not in held_ips, f"{ip} allocated twice"
                    held_ips[ip] = ServiceRef.of(svc)
                for port in node_ports(svc):
                    assert str(port) not in held_ports, f"{port} allocated twice"
                    held_ports[str(port)] = ServiceRef.of(svc)
            return held_ips == await allocations(store, IPADDRESSES) and held_ports == (
                await allocations(store, NODEPORTS)
            )

        await wait_until(converged, timeout=15)
        assert len(await stored_services(store)) == 20
