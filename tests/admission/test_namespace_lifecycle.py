"""NamespaceLifecycle on a real registry and watch caches: the Statuses Kubernetes sends."""

from __future__ import annotations

from typing import Any

import pytest

from cp.admission import AdmissionChain, Attributes, NamespaceLifecycle, Operation
from cp.meta.status import ApiError
from cp.registry import Registry
from cp.storage import MemoryStore

from .cluster import configmap, create_namespace, running_registry, storage

pytestmark = pytest.mark.anyio


def attrs(
    registry: Registry, op: Operation, resource: str, namespace: str | None, name: str, **kw: Any
) -> Attributes:
    return Attributes(op, storage(registry, resource).rdef, namespace, name, **kw)


async def refusal(chain: AdmissionChain, attributes: Attributes) -> dict[str, Any]:
    with pytest.raises(ApiError) as caught:
        await chain(attributes)
    return caught.value.status


async def test_create_in_missing_namespace_is_not_found() -> None:
    async with running_registry(MemoryStore()) as registry:
        chain = AdmissionChain([NamespaceLifecycle.from_registry(registry)])
        body = configmap("a")
        got = await refusal(
            chain, attrs(registry, Operation.CREATE, "configmaps", "nope", "", object=body)
        )
        assert got["code"] == 404
        assert got["reason"] == "NotFound"
        assert got["message"] == 'namespaces "nope" not found'
        assert got["details"] == {"name": "nope", "kind": "namespaces"}
        # Updates need the namespace too; deletes never do.
        got = await refusal(
            chain, attrs(registry, Operation.UPDATE, "configmaps", "nope", "a", object=body)
        )
        assert got["code"] == 404
        await chain(attrs(registry, Operation.DELETE, "configmaps", "nope", "a"))


async def test_create_in_existing_namespace_and_cluster_scoped_are_allowed() -> None:
    async with running_registry(MemoryStore()) as registry:
        plugin = NamespaceLifecycle.from_registry(registry)
        chain = AdmissionChain([plugin])
        await create_namespace(registry, "ok")
        await chain(
            attrs(registry, Operation.CREATE, "configmaps", "ok", "a", object=configmap("a"))
        )
        await chain(attrs(registry, Operation.CREATE, "nodes", None, "n1", object={}))
        await chain(attrs(registry, Operation.CREATE, "namespaces", None, "new", object={}))


async def test_a_namespace_the_cache_has_not_seen_is_read_live() -> None:
    store = MemoryStore()
    async with running_registry(store) as registry:
        plugin = NamespaceLifecycle.from_registry(registry)
        # Written behind the cache's back and read before it could have caught up.
        await store.create(
            "core/namespaces",
            "fresh",
            {"metadata": {"name": "fresh"}, "status": {"phase": "Active"}},
        )
        await plugin.admit(
            attrs(registry, Operation.CREATE, "configmaps", "fresh", "a", object=configmap("a"))
        )
        before = plugin.live_lookups
        with pytest.raises(ApiError):
            await plugin.admit(
                attrs(
                    registry, Operation.CREATE, "configmaps", "missing", "a", object=configmap("a")
                )
            )
        assert plugin.live_lookups == before + 1


async def test_create_in_terminating_namespace_is_forbidden() -> None:
    async with running_registry(MemoryStore()) as registry:
        chain = AdmissionChain([NamespaceLifecycle.from_registry(registry)])
        await create_namespace(registry, "doomed")

        def terminating(obj: dict[str, Any]) -> dict[str, Any]:
            obj["status"] = {"phase": "Terminating"}
            return obj

        namespaces = storage(registry, "namespaces")
        await namespaces.patch(None, "doomed", terminating, subresource="status")
        await namespaces.get(None, "doomed")  # a consistent read: the cache has caught up
        body = configmap("", generateName="cm-")
        got = await refusal(
            chain, attrs(registry, Operation.CREATE, "configmaps", "doomed", "", object=body)
        )
        assert got["code"] == 403
        assert got["reason"] == "Forbidden"
        assert got["message"] == (
            'configmaps "cm-" is forbidden: unable to create new content in namespace doomed '
            "because it is being terminated"
        )
        assert got["details"]["causes"] == [
            {
                "reason": "NamespaceTerminating",
                "message": "namespace doomed is being terminated",
                "field": "metadata.namespace",
            }
        ]
        # Updates (say, removing a finalizer) and deletes go on while it terminates.
        await chain(
            attrs(registry, Operation.UPDATE, "configmaps", "doomed", "a", object=configmap("a"))
        )
        await chain(attrs(registry, Operation.DELETE, "configmaps", "doomed", "a"))


@pytest.mark.parametrize("name", ["default", "kube-system", "kube-public"])
async def test_deleting_an_immortal_namespace_is_forbidden(name: str) -> None:
    async with running_registry(MemoryStore()) as registry:
        chain = AdmissionChain([NamespaceLifecycle.from_registry(registry)])
        got = await refusal(chain, attrs(registry, Operation.DELETE, "namespaces", None, name))
        assert got["code"] == 403
        assert got["reason"] == "Forbidden"
        assert (
            got["message"] == f'namespaces "{name}" is forbidden: this namespace may not be deleted'
        )
        assert got["details"] == {"name": name, "kind": "namespaces"}
        await chain(attrs(registry, Operation.DELETE, "namespaces", None, "kube-node-lease"))


async def test_after_a_namespace_delete_its_name_is_read_live() -> None:
    store = MemoryStore()
    async with running_registry(store) as registry:
        plugin = NamespaceLifecycle.from_registry(registry)
        await create_namespace(registry, "gone")
        await storage(registry, "namespaces").get(None, "gone")  # consistent: cached now
        await plugin.admit(attrs(registry, Operation.DELETE, "namespaces", None, "gone"))
        await store.delete("core/namespaces", "gone")
        # However stale the cache, the create is judged on the store's answer.
        before = plugin.live_lookups
        with pytest.raises(ApiError) as caught:
            await plugin.admit(
                attrs(registry, Operation.CREATE, "configmaps", "gone", "a", object=configmap("a"))
            )
        assert caught.value.code == 404
        assert plugin.live_lookups == before + 1


async def test_chain_runs_admit_then_validate_and_stops_at_the_first_refusal() -> None:
    calls: list[str] = []

    class Recorder:
        def __init__(self, name: str, refuse: bool = False) -> None:
            self.name = name
            self.refuse = refuse

        async def admit(self, attributes: Attributes) -> None:
            calls.append(f"admit:{self.name}")

        async def validate(self, attributes: Attributes) -> None:
            calls.append(f"validate:{self.name}")
            if self.refuse:
                raise ApiError({"code": 403, "message": "no"})

    async with running_registry(MemoryStore()) as registry:
        chain = AdmissionChain([Recorder("a", refuse=True), Recorder("b")])
        with pytest.raises(ApiError):
            await chain(attrs(registry, Operation.CREATE, "configmaps", "x", "a"))
    assert calls == ["admit:a", "admit:b", "validate:a"]
    with pytest.raises(ValueError, match="duplicate"):
        AdmissionChain([Recorder("a"), Recorder("a")])


async def test_chain_calls_only_the_phases_a_plugin_implements() -> None:
    calls: list[str] = []

    class Mutating:
        name = "mutating"

        async def admit(self, attributes: Attributes) -> None:
            calls.append("admit")
            assert attributes.object is not None
            attributes.object.setdefault("metadata", {})["labels"] = {"admitted": "yes"}

    class Validating:
        name = "validating"

        async def validate(self, attributes: Attributes) -> None:
            calls.append("validate")
            assert attributes.object is not None
            if attributes.object["metadata"].get("labels") != {"admitted": "yes"}:
                raise ApiError({"code": 403, "message": "not admitted"})

    async with running_registry(MemoryStore()) as registry:
        chain = AdmissionChain([Validating(), Mutating()])
        request = attrs(registry, Operation.CREATE, "configmaps", "x", "a")
        request.object = {"metadata": {"name": "a"}}
        await chain(request)
    # Every mutation runs before any validation, whatever the plugins' order.
    assert calls == ["admit", "validate"]
