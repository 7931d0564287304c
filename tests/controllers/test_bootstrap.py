"""The bootstrap controller on the real registry and caches: creates and repairs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest

from actors import ChildSpec, Supervisor
from cp.controllers.bootstrap import SYSTEM_NAMESPACES, BootstrapConfig, BootstrapController
from cp.registry import Registry
from cp.storage import MemoryStore, NotFound, Store
from tests.admission.cluster import running_registry, storage

from .helpers import wait_until

pytestmark = pytest.mark.anyio

CONFIG = BootstrapConfig(advertise_address="192.0.2.10", port=6443, interval=0.1)


@asynccontextmanager
async def running_bootstrap(
    registry: Registry, config: BootstrapConfig = CONFIG
) -> AsyncIterator[None]:
    spec = ChildSpec("bootstrap", lambda: BootstrapController(registry, config))
    supervisor = Supervisor([spec], name="controllers")
    async with anyio.create_task_group() as tg:
        await tg.start(supervisor.serve)
        yield
        tg.cancel_scope.cancel()


async def read(store: Store, resource: str, key: str) -> dict[str, Any] | None:
    try:
        return (await store.get(resource, key)).decode()
    except NotFound:
        return None


async def converged(store: Store) -> bool:
    for name in SYSTEM_NAMESPACES:
        if await read(store, "core/namespaces", name) is None:
            return False
    svc = await read(store, "core/services", "default/kubernetes")
    ep = await read(store, "core/endpoints", "default/kubernetes")
    es = await read(store, "discovery.k8s.io/endpointslices", "default/kubernetes")
    if svc is None or ep is None or es is None:
        return False
    return (
        svc["spec"]["clusterIP"] == "10.0.0.1"
        and svc["spec"]["ports"]
        == [{"name": "https", "protocol": "TCP", "port": 443, "targetPort": 6443}]
        and svc["spec"]["type"] == "ClusterIP"
        and "selector" not in svc["spec"]
        and {"component": "apiserver", "provider": "kubernetes"}.items()
        <= svc["metadata"]["labels"].items()
        and ep["subsets"]
        == [
            {
                "addresses": [{"ip": "192.0.2.10"}],
                "ports": [{"name": "https", "port": 6443, "protocol": "TCP"}],
            }
        ]
        and es["addressType"] == "IPv4"
        and es["endpoints"] == [{"addresses": ["192.0.2.10"], "conditions": {"ready": True}}]
        and es["ports"] == [{"name": "https", "port": 6443, "protocol": "TCP"}]
        and es["metadata"]["labels"].get("kubernetes.io/service-name") == "kubernetes"
    )


async def test_creates_system_namespaces_and_the_kubernetes_service() -> None:
    store = MemoryStore()
    async with running_registry(store) as registry, running_bootstrap(registry):
        await wait_until(lambda: converged(store))
        ns = await read(store, "core/namespaces", "kube-public")
        assert ns is not None and ns["status"]["phase"] == "Active"


async def test_recreates_a_deleted_namespace_and_service_objects(store: Store) -> None:
    async with running_registry(store) as registry, running_bootstrap(registry):
        await wait_until(lambda: converged(store))
        targets = [
            ("core/namespaces", "kube-public"),
            ("core/endpoints", "default/kubernetes"),
            ("discovery.k8s.io/endpointslices", "default/kubernetes"),
        ]
        old = [(await store.get(r, k)).uid for r, k in targets]
        await store.delete("core/namespaces", "kube-public")
        await storage(registry, "endpoints").delete("default", "kubernetes")
        await store.delete("discovery.k8s.io/endpointslices", "default/kubernetes")

        async def recreated() -> bool:
            for (resource, key), uid in zip(targets, old, strict=True):
                obj = await read(store, resource, key)
                if obj is None or obj["metadata"]["uid"] == uid:
                    return False
            return True

        await wait_until(recreated)
        await wait_until(lambda: converged(store))


async def test_repairs_a_tampered_service_and_endpoints() -> None:
    store = MemoryStore()
    async with running_registry(store) as registry, running_bootstrap(registry):
        await wait_until(lambda: converged(store))
        services = storage(registry, "services")

        def tamper_service(obj: dict[str, Any]) -> dict[str, Any]:
            obj["spec"]["ports"] = [
                {"name": "http", "port": 80, "protocol": "TCP", "targetPort": 80}
            ]
            obj["spec"]["selector"] = {"app": "evil"}
            obj["metadata"]["labels"]["provider"] = "someone"
            obj["metadata"]["annotations"] = {"keep": "me"}
            return obj

        def tamper_endpoints(obj: dict[str, Any]) -> dict[str, Any]:
            obj["subsets"] = [{"addresses": [{"ip": "203.0.113.9"}], "ports": [{"port": 1}]}]
            return obj

        await services.patch("default", "kubernetes", tamper_service)
        await storage(registry, "endpoints").patch("default", "kubernetes", tamper_endpoints)
        # A wrong clusterIP cannot be updated (immutable): written behind the registry.
        record = await store.get("discovery.k8s.io/endpointslices", "default/kubernetes")
        slice_ = record.decode()
        slice_["addressType"] = "FQDN"
        await store.update("discovery.k8s.io/endpointslices", "default/kubernetes", slice_)
        await wait_until(lambda: converged(store))
        svc = await read(store, "core/services", "default/kubernetes")
        assert svc is not None and svc["metadata"]["annotations"] == {"keep": "me"}


async def test_a_wrong_cluster_ip_is_repaired_by_recreating_the_service() -> None:
    store = MemoryStore()
    async with running_registry(store) as registry, running_bootstrap(registry):
        await wait_until(lambda: converged(store))
        svc = (await store.get("core/services", "default/kubernetes")).decode()
        old_uid = svc["metadata"]["uid"]
        svc["spec"]["clusterIP"] = "10.0.0.99"
        await store.update("core/services", "default/kubernetes", svc)
        await wait_until(lambda: converged(store))
        now = await read(store, "core/services", "default/kubernetes")
        assert now is not None and now["metadata"]["uid"] != old_uid


def test_config_validates_and_derives_the_service_ip() -> None:
    assert BootstrapConfig().service_ip == "10.0.0.1"
    assert (
        BootstrapConfig(service_cluster_ip_range="fd00::/108", advertise_address="::1").address_type
        == "IPv6"
    )
    with pytest.raises(ValueError):
        BootstrapConfig(service_cluster_ip_range="10.0.0.1/24")
    with pytest.raises(ValueError):
        BootstrapConfig(advertise_address="not-an-ip")
