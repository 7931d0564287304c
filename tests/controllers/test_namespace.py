"""The namespace controller on the real registry and watch caches, memory and Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest

from actors import ChildSpec, Supervisor
from cp.controllers.namespace import (
    CONDITION_TYPES,
    CONTENT_REMAINING,
    FINALIZERS_REMAINING,
    NamespaceController,
)
from cp.registry import Registry
from cp.registry.strategy import now_rfc3339
from cp.storage import MemoryStore, NotFound, Store, guaranteed_update
from tests.admission.cluster import configmap, create_namespace, exists, running_registry, storage

from .helpers import wait_until

pytestmark = pytest.mark.anyio


@asynccontextmanager
async def running_controller(registry: Registry, **options: Any) -> AsyncIterator[Supervisor]:
    options.setdefault("content_requeue", 0.02)
    spec = ChildSpec("namespace", lambda: NamespaceController(registry, **options))
    supervisor = Supervisor([spec], name="controllers", max_restarts=50, backoff_base=0.001)
    async with anyio.create_task_group() as tg:
        await tg.start(supervisor.serve)
        yield supervisor
        tg.cancel_scope.cancel()


async def delete_namespace(store: Store, name: str) -> None:
    """What a namespace DELETE writes when the namespace REST storage honours
    spec.finalizers (proposed for cp/registry; it deletes at once today): a
    deletionTimestamp and phase Terminating, the object kept for the controller."""

    async def mark(obj: dict[str, Any]) -> dict[str, Any]:
        assert "kubernetes" in obj["spec"]["finalizers"]
        obj["metadata"]["deletionTimestamp"] = now_rfc3339()
        obj["metadata"]["deletionGracePeriodSeconds"] = 0
        obj["status"]["phase"] = "Terminating"
        return obj

    await guaranteed_update(store, "core/namespaces", name, mark)


async def namespace(store: Store, name: str) -> dict[str, Any] | None:
    try:
        return (await store.get("core/namespaces", name)).decode()
    except NotFound:
        return None


async def fill(registry: Registry, ns: str, count: int) -> list[tuple[str, str]]:
    """``count`` objects over four types; returns (resource, name) of each."""
    makers: list[tuple[str, Callable[[str], dict[str, Any]]]] = [
        ("configmaps", configmap),
        ("secrets", lambda n: {"metadata": {"name": n}, "stringData": {"a": "b"}}),
        ("services", lambda n: {"metadata": {"name": n}, "spec": {"ports": [{"port": 80}]}}),
        ("serviceaccounts", lambda n: {"metadata": {"name": n}}),
    ]
    made = []
    for i in range(count):
        resource, make = makers[i % len(makers)]
        name = f"obj-{i}"
        await storage(registry, resource).create(ns, make(name))
        made.append((resource, name))
    return made


async def test_namespace_with_100_objects_is_emptied_and_disappears(store: Store) -> None:
    async with running_registry(store) as registry, running_controller(registry):
        await create_namespace(registry, "demo")
        await create_namespace(registry, "bystander")
        made = await fill(registry, "demo", 100)
        await fill(registry, "bystander", 4)
        await delete_namespace(store, "demo")

        async def gone() -> bool:
            return await namespace(store, "demo") is None

        await wait_until(gone, timeout=15)
        for resource, name in made:
            assert not await exists(registry, resource, "demo", name)
        # Nothing outside the namespace was touched.
        assert (await namespace(store, "bystander"))["status"]["phase"] == "Active"
        for i in range(4):
            resource = ("configmaps", "secrets", "services", "serviceaccounts")[i]
            assert await exists(registry, resource, "bystander", f"obj-{i}")


async def test_a_finalizer_holds_the_namespace_terminating_until_removed() -> None:
    store = MemoryStore()
    async with running_registry(store) as registry, running_controller(registry):
        await create_namespace(registry, "held")
        configmaps = storage(registry, "configmaps")
        await configmaps.create("held", configmap("pinned", finalizers=["example.com/hold"]))
        await configmaps.create("held", configmap("free"))
        await delete_namespace(store, "held")

        def condition(obj: dict[str, Any], kind: str) -> dict[str, Any]:
            return next(c for c in obj["status"].get("conditions", []) if c["type"] == kind)

        async def waiting_on_finalizer() -> bool:
            obj = await namespace(store, "held")
            conditions = (obj or {}).get("status", {}).get("conditions", [])
            return any(
                c["type"] == FINALIZERS_REMAINING and c["status"] == "True" for c in conditions
            )

        await wait_until(waiting_on_finalizer)
        obj = await namespace(store, "held")
        assert obj is not None
        assert obj["status"]["phase"] == "Terminating"
        assert obj["spec"]["finalizers"] == ["kubernetes"]
        assert [c["type"] for c in obj["status"]["conditions"]] == list(CONDITION_TYPES)
        held = condition(obj, FINALIZERS_REMAINING)
        assert held["reason"] == "SomeFinalizersRemain"
        assert held["message"] == (
            "Some content in the namespace has finalizers remaining: "
            "example.com/hold in 1 resource instances"
        )
        remaining = condition(obj, CONTENT_REMAINING)
        assert (remaining["status"], remaining["reason"]) == ("True", "SomeResourcesRemain")
        assert (
            remaining["message"]
            == "Some resources are remaining: configmaps. has 1 resource instances"
        )
        assert condition(obj, "NamespaceDeletionContentFailure")["status"] == "False"
        assert not await exists(registry, "configmaps", "held", "free")
        pinned = (await store.get("core/configmaps", "held/pinned")).decode()
        assert pinned["metadata"]["deletionTimestamp"]

        def release(o: dict[str, Any]) -> dict[str, Any]:
            o["metadata"]["finalizers"] = []
            return o

        await configmaps.patch("held", "pinned", release)

        async def gone() -> bool:
            return await namespace(store, "held") is None

        await wait_until(gone)
        assert not await exists(registry, "configmaps", "held", "pinned")


async def test_content_of_a_namespace_deleted_behind_its_back_is_removed() -> None:
    store = MemoryStore()
    async with running_registry(store) as registry, running_controller(registry):
        await create_namespace(registry, "vanished")
        made = await fill(registry, "vanished", 8)
        await store.delete("core/namespaces", "vanished")

        async def emptied() -> bool:
            return not any([await exists(registry, r, "vanished", n) for r, n in made])

        await wait_until(emptied)


async def test_the_deletion_grace_period_delays_content_deletion() -> None:
    store = MemoryStore()
    async with (
        running_registry(store) as registry,
        running_controller(registry, deletion_grace_period=0.4),
    ):
        await create_namespace(registry, "slow")
        await storage(registry, "configmaps").create("slow", configmap("a"))
        started = anyio.current_time()
        await delete_namespace(store, "slow")

        async def gone() -> bool:
            return await namespace(store, "slow") is None

        await wait_until(gone)
        assert anyio.current_time() - started >= 0.4
