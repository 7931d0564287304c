"""core/v1 and events.k8s.io/v1 Events as one stored object, on memory and on Redis.

A real registry with every watch cache running (what the server runs, minus HTTP),
over each backend: whatever is written through one group is the same object, at the
same version, in the other.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import coredis
import pytest

from cp.meta.fields import parse_field_selector
from cp.meta.status import ApiError
from cp.registry import ResourceStorage
from cp.registry.builtin import BUILTIN
from cp.registry.event_conversion import core_to_events, events_to_core
from cp.registry.shared_storage import SHARED, ConvertingStore
from cp.storage import (
    Conflict,
    Gone,
    History,
    MemoryStore,
    NotFound,
    RedisStore,
    Store,
    Watcher,
    WatchEvent,
)
from cp.testing.redis_server import RedisServer
from tests.admission.cluster import create_namespace, running_registry, storage

pytestmark = pytest.mark.anyio

NS = "ns"
TIME = "2024-05-01T10:00:00.000000Z"
POD = {"kind": "Pod", "namespace": NS, "name": "p", "uid": "u-1", "apiVersion": "v1"}


def new_event(name: str, **fields: Any) -> dict[str, Any]:
    """An events.k8s.io/v1 Event as client-go's new recorder writes it."""
    return {
        "metadata": {"name": name},
        "eventTime": TIME,
        "reportingController": "example.com/scaler",
        "reportingInstance": "scaler-1",
        "action": "Scale",
        "reason": "Scaled",
        "regarding": dict(POD),
        "note": "scaled up to 3",
        "type": "Normal",
        **fields,
    }


def old_event(name: str, **fields: Any) -> dict[str, Any]:
    """A core/v1 Event as the legacy recorder writes it."""
    return {
        "metadata": {"name": name},
        "involvedObject": dict(POD, fieldPath="spec.containers{c}"),
        "reason": "Pulled",
        "message": "image pulled",
        "source": {"component": "kubelet", "host": "node-1"},
        "firstTimestamp": "2024-05-01T10:00:00Z",
        "lastTimestamp": "2024-05-01T10:05:00Z",
        "count": 3,
        "type": "Normal",
        **fields,
    }


@asynccontextmanager
async def groups(store: Store) -> AsyncIterator[tuple[ResourceStorage, ResourceStorage]]:
    """The core/v1 and events.k8s.io/v1 storages of a running registry, in namespace NS."""
    async with running_registry(store) as registry:
        await create_namespace(registry, NS)
        yield storage(registry, "events"), storage(registry, "events", "events.k8s.io")


async def take(watcher: Watcher, n: int) -> list[WatchEvent]:
    out = []
    with anyio.fail_after(10):
        async for event in watcher:
            out.append(event)
            if len(out) == n:
                break
    return out


def without_rv(meta: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in meta.items() if k != "resourceVersion"}


# -- conversion ------------------------------------------------------------------------


def test_conversion_renames_every_field_and_round_trips() -> None:
    both = dict(old_event("x"), eventTime=TIME, action="Pull", reportingComponent="kubelet")
    both |= {"reportingInstance": "node-1", "series": {"count": 2, "lastObservedTime": TIME}}
    both |= {"related": {"kind": "Node", "name": "node-1"}, "kind": "Event", "apiVersion": "v1"}
    converted = core_to_events(both)
    assert converted == {
        "kind": "Event",
        "apiVersion": "events.k8s.io/v1",
        "metadata": {"name": "x"},
        "eventTime": TIME,
        "series": {"count": 2, "lastObservedTime": TIME},
        "reportingController": "kubelet",
        "reportingInstance": "node-1",
        "action": "Pull",
        "reason": "Pulled",
        "regarding": both["involvedObject"],
        "related": {"kind": "Node", "name": "node-1"},
        "note": "image pulled",
        "type": "Normal",
        "deprecatedSource": {"component": "kubelet", "host": "node-1"},
        "deprecatedFirstTimestamp": "2024-05-01T10:00:00Z",
        "deprecatedLastTimestamp": "2024-05-01T10:05:00Z",
        "deprecatedCount": 3,
    }
    assert events_to_core(converted) == both
    # Fields of the other representation are not carried over (a typed decoder drops them).
    assert "message" not in core_to_events({"message": "m", "note": "n"})


def test_both_groups_publish_the_stored_type_s_storage_version_hash() -> None:
    defs = {(d.group, d.resource): d for d in BUILTIN}
    core, events = defs[("", "events")], defs[("events.k8s.io", "events")]
    # As kube-apiserver publishes them: one stored type, one hash.
    assert core.storage_version_hash == events.storage_version_hash == "r2yiGXH7wu8="
    assert defs[("", "configmaps")].storage_version_hash == "qFsyl6wFWjQ="
    # The stored type a definition hashes as is the one SHARED keeps its objects under.
    by_storage = {d.storage_name: d for d in BUILTIN}
    for d in BUILTIN:
        shared = SHARED.get(d.storage_name)
        owner = by_storage[shared.stored_as] if shared else None
        assert d.stored_type == (owner and (owner.group, owner.version, owner.kind)), d.storage_name


# -- one object, two groups ------------------------------------------------------------


async def test_created_as_events_k8s_io_is_the_core_event(store: Store) -> None:
    async with groups(store) as (core, events):
        created = await events.create(NS, new_event("a"))
        got = (await core.get(NS, "a")).obj
        assert got == {
            "kind": "Event",
            "apiVersion": "v1",
            "metadata": created["metadata"],
            "involvedObject": POD,
            "reason": "Scaled",
            "message": "scaled up to 3",
            "type": "Normal",
            "eventTime": TIME,
            "action": "Scale",
            "reportingComponent": "example.com/scaler",
            "reportingInstance": "scaler-1",
        }
        # Stored once, under the core type, in the core representation.
        record = await store.get("core/events", f"{NS}/a")
        assert record.decode() == got and record.uid == created["metadata"]["uid"]
        assert (await events.get(NS, "a")).obj == created
        if isinstance(store, RedisStore):
            # One hash tag: Redis Cluster keeps both groups' events in one slot.
            await _assert_one_hash_tag(store)
        assert (await store.list("events.k8s.io/events"))[0] == []


async def _assert_one_hash_tag(store: RedisStore) -> None:
    host, port = store.address.removeprefix("redis://").split("/")[0].split(":")
    async with coredis.Redis(host=host, port=int(port), decode_responses=True) as client:
        keys = [k for k in await client.keys("*") if "event" in k]
    assert keys and all(k.startswith("{core/events}:") for k in keys), keys


async def test_created_as_core_is_the_events_k8s_io_event(store: Store) -> None:
    async with groups(store) as (core, events):
        series = {"count": 2, "lastObservedTime": TIME}
        created = await core.create(NS, old_event("b", series=series))
        got = (await events.get(NS, "b")).obj
        assert got == {
            "kind": "Event",
            "apiVersion": "events.k8s.io/v1",
            "metadata": created["metadata"],
            "series": series,
            "reason": "Pulled",
            "regarding": dict(POD, fieldPath="spec.containers{c}"),
            "note": "image pulled",
            "type": "Normal",
            "deprecatedSource": {"component": "kubelet", "host": "node-1"},
            "deprecatedFirstTimestamp": "2024-05-01T10:00:00Z",
            "deprecatedLastTimestamp": "2024-05-01T10:05:00Z",
            "deprecatedCount": 3,
        }
        listed = await events.list(events.filter(NS, None, None))
        assert [item.obj for item in listed.items] == [got]
        assert listed.rv == (await core.list(core.filter(NS, None, None))).rv


async def test_watches_of_each_group_see_writes_made_through_the_other(store: Store) -> None:
    async with groups(store) as (core, events):
        start = await store.current_revision("core/events")
        core_watch = await core.watch(core.filter(NS, None, None), rv=start)
        events_watch = await events.watch(events.filter(NS, None, None), rv=start)
        async with core_watch, events_watch:
            await core.create(NS, old_event("w1"))
            created = await events.create(NS, new_event("w2"))
            await events.patch(
                NS, "w2", lambda o: {**o, "metadata": {**o["metadata"], "labels": {"x": "y"}}}
            )
            await core.delete(NS, "w2")
            seen_core = await take(core_watch, 4)
            seen_events = await take(events_watch, 4)
    assert [(e.type, e.object["metadata"]["name"]) for e in seen_core] == [
        ("ADDED", "w1"),
        ("ADDED", "w2"),
        ("MODIFIED", "w2"),
        ("DELETED", "w2"),
    ]
    assert [(e.type, e.rv) for e in seen_events] == [(e.type, e.rv) for e in seen_core]
    assert [e.object for e in seen_events] == [core_to_events(e.object) for e in seen_core]
    assert [e.object for e in seen_core] == [events_to_core(e.object) for e in seen_events]
    assert seen_events[1].object == created
    # Each group's frames carry its own representation.
    assert json.loads(seen_core[1].frame)["object"]["apiVersion"] == "v1"
    assert json.loads(seen_events[1].frame)["object"]["apiVersion"] == "events.k8s.io/v1"
    assert json.loads(seen_events[1].frame)["object"]["note"] == "scaled up to 3"


async def test_stale_version_from_one_group_conflicts_in_the_other(store: Store) -> None:
    async with groups(store) as (core, events):
        created = await core.create(NS, old_event("c"))
        stale = int(created["metadata"]["resourceVersion"])
        body = (await events.get(NS, "c")).obj
        body["metadata"]["labels"] = {"seen": "events"}
        updated, _ = await events.update(NS, "c", body, body_rv=stale)
        assert int(updated["metadata"]["resourceVersion"]) == stale + 1
        assert updated["metadata"]["uid"] == created["metadata"]["uid"]
        with pytest.raises(Conflict):
            await core.update(NS, "c", old_event("c"), body_rv=stale)
        with pytest.raises(Conflict):
            await events.update(NS, "c", body, body_rv=stale)
        assert (await core.get(NS, "c")).obj["metadata"]["labels"] == {"seen": "events"}


async def test_delete_through_one_group_removes_from_both(store: Store) -> None:
    async with groups(store) as (core, events):
        await events.create(NS, new_event("d"))
        await core.create(NS, old_event("e"))
        deleted = await events.delete(NS, "e")
        assert deleted.deleted and deleted.object["apiVersion"] == "events.k8s.io/v1"
        await core.delete(NS, "d")
        for group in (core, events):
            for name in ("d", "e"):
                with pytest.raises(NotFound):
                    await group.get(NS, name)
            assert (await group.list(group.filter(NS, None, None))).items == []
        assert (await store.list("core/events"))[0] == []


async def test_field_selectors_of_each_group(store: Store) -> None:
    async with groups(store) as (core, events):
        await events.create(NS, new_event("new"))
        await core.create(NS, old_event("old", involvedObject=dict(POD, name="q")))

        async def names(group: ResourceStorage, selector: str) -> list[str]:
            listed = await group.list(group.filter(NS, None, parse_field_selector(selector)))
            return [i.obj["metadata"]["name"] for i in listed.items]

        assert await names(core, "involvedObject.name=p") == ["new"]
        assert await names(events, "regarding.name=q") == ["old"]
        assert await names(core, "reportingComponent=example.com/scaler") == ["new"]
        assert await names(events, "reportingController=example.com/scaler") == ["new"]
        # `source` falls back to the reporting controller, in both groups.
        for group in (core, events):
            assert await names(group, "source=kubelet") == ["old"]
            assert await names(group, "source=example.com/scaler") == ["new"]
            assert await names(group, "reason=Pulled,type=Normal") == ["old"]
        assert core.strategy.supported_fields(namespaced=True) >= {"involvedObject.uid", "source"}
        assert "regarding.uid" in events.strategy.supported_fields(namespaced=True)
        assert "involvedObject.uid" not in events.strategy.supported_fields(namespaced=True)


async def test_history_and_gone_are_shared(store_kind: str, request: pytest.FixtureRequest) -> None:
    history = History(max_events=2)
    async with _store(store_kind, request, history) as store:
        view = ConvertingStore(store, "events.k8s.io/events", SHARED["events.k8s.io/events"])
        for i in range(4):
            await store.create("core/events", f"{NS}/g{i}", {"metadata": {"name": f"g{i}"}})
        assert await view.current_revision("events.k8s.io/events") == 4
        for target, resource in ((store, "core/events"), (view, "events.k8s.io/events")):
            with pytest.raises(Gone):
                async with target.watch(resource, 1) as stream:
                    await stream.__anext__()
        async with view.watch("events.k8s.io/events", 3) as stream:
            event = await stream.__anext__()
        assert event.rv == 4 and event.record.decode()["apiVersion"] == "events.k8s.io/v1"
        with pytest.raises(ValueError):
            await view.get("core/events", f"{NS}/g3")


@asynccontextmanager
async def _store(
    kind: str, request: pytest.FixtureRequest, history: History
) -> AsyncIterator[Store]:
    if kind == "memory":
        yield MemoryStore(history)
        return
    server: RedisServer = request.getfixturevalue("fresh_redis")
    async with RedisStore.from_url(server.url, history=history, poll_interval=0.05) as s:
        yield s


# -- validation ------------------------------------------------------------------------


async def invalid(group: ResourceStorage, call: Any) -> dict[str, Any]:
    with pytest.raises(ApiError) as caught:
        await call
    status = caught.value.status
    assert status["code"] == 422 and status["reason"] == "Invalid"
    return status


_QUALIFIED = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and "
    "end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex "
    "used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)


async def test_events_k8s_io_create_errors_are_kubernetes_own() -> None:
    async with running_registry(MemoryStore()) as registry:
        await create_namespace(registry, NS)
        events = storage(registry, "events", "events.k8s.io")
        body = new_event("v")
        del body["reportingController"]
        status = await invalid(events, events.create(NS, body))
        # Validation runs on the internal (core) type, so the kind has no group.
        assert status["message"] == (
            'Event "v" is invalid: [reportingController: Required value, '
            'reportingController: Invalid value: "": name part must be non-empty, '
            f'reportingController: Invalid value: "": {_QUALIFIED}]'
        )
        assert status["details"] == {
            "name": "v",
            "kind": "Event",
            "causes": [
                {"reason": "FieldValueRequired", "message": "Required value", "field": "reportingController"},
                {"reason": "FieldValueInvalid", "message": 'Invalid value: "": name part must be non-empty', "field": "reportingController"},
                {"reason": "FieldValueInvalid", "message": f'Invalid value: "": {_QUALIFIED}', "field": "reportingController"},
            ],
        }  # fmt: skip

        bad = new_event(
            "w",
            eventTime=None,
            type="Fatal",
            reportingInstance="i" * 129,
            action="",
            note="n" * 1025,
            deprecatedCount=2,
            deprecatedFirstTimestamp="2024-05-01T10:00:00Z",
            deprecatedSource={"component": "kubelet"},
            series={"count": 1},
        )
        status = await invalid(events, events.create(NS, bad))
        # Without eventTime the legacy rules are the old-style ones: no length limits.
        assert [(c["field"], c["message"]) for c in status["details"]["causes"]] == [
            ("series.count", 'Invalid value: "": should be at least 2'),
            ("series.lastObservedTime", "Required value"),
            ("eventTime", "Required value"),
            ("type", 'Invalid value: "": has invalid value: Fatal'),
            ("firstTimestamp", 'Invalid value: "": needs to be unset'),
            ("count", 'Invalid value: "": needs to be unset'),
            ("source", 'Invalid value: "": needs to be unset'),
        ]
        bad = new_event("x", reportingInstance="i" * 129, action="", note="n" * 1025)
        status = await invalid(events, events.create(NS, bad))
        assert [(c["field"], c["message"]) for c in status["details"]["causes"]] == [
            ("reportingInstance", 'Invalid value: "": can have at most 128 characters'),
            ("action", "Required value"),
            ("message", 'Invalid value: "": can have at most 1024 characters'),
        ]
        # A deprecated field is stored as its core one, so it is decoded as strictly.
        with pytest.raises(ApiError) as caught:
            await events.create(NS, new_event("y", deprecatedSource="kubelet"))
        assert caught.value.status["code"] == 400
        assert caught.value.status["message"] == (
            'Event in version "v1" cannot be handled as a Event: json: cannot unmarshal string '
            "into Go struct field Event.deprecatedSource of type v1.EventSource"
        )
        # Names are DNS subdomains in events.k8s.io/v1 (core/v1 takes any path segment).
        status = await invalid(events, events.create(NS, new_event("Upper")))
        assert status["details"]["causes"][0]["field"] == "metadata.name"
        await storage(registry, "events").create(NS, old_event("Upper"))


async def test_events_k8s_io_update_keeps_the_event_fixed() -> None:
    async with running_registry(MemoryStore()) as registry:
        await create_namespace(registry, NS)
        core = storage(registry, "events")
        events = storage(registry, "events", "events.k8s.io")
        created = await events.create(NS, new_event("u"))
        changed = dict(
            created, note="other", reportingController="other", regarding={"kind": "Pod"}
        )
        status = await invalid(events, events.update(NS, "u", changed))
        assert status["message"].startswith('Event "u" is invalid: [')
        assert [(c["field"], c["message"]) for c in status["details"]["causes"]] == [
            ("involvedObject.namespace", 'Invalid value: "": does not match event.namespace'),
            ("involvedObject", 'Invalid value: {"kind":"Pod"}: field is immutable'),
            ("message", 'Invalid value: "other": field is immutable'),
            ("reportingController", 'Invalid value: "other": field is immutable'),
        ]
        # A series may be added, and is validated when it changes.
        series = {"count": 2, "lastObservedTime": "2024-05-01T10:01:00.000000Z"}
        updated = (await events.update(NS, "u", dict(created, series=series)))[0]
        assert (await core.get(NS, "u")).obj["series"] == series
        status = await invalid(events, events.update(NS, "u", dict(updated, series={"count": 1})))
        assert [c["field"] for c in status["details"]["causes"]] == [
            "series.count",
            "series.lastObservedTime",
        ]
        # core/v1 keeps only the legacy rules, so the same change passes there.
        legacy = dict(events_to_core(updated), message="other")
        assert (await core.update(NS, "u", legacy))[0]["message"] == "other"


async def test_core_keeps_the_legacy_rules() -> None:
    async with running_registry(MemoryStore()) as registry:
        await create_namespace(registry, NS)
        core = storage(registry, "events")
        # An old-style event's involvedObject must be in the event's namespace.
        body = old_event("o", involvedObject={"kind": "Pod", "name": "p", "namespace": "elsewhere"})
        status = await invalid(core, core.create(NS, body))
        assert status["message"] == (
            'Event "o" is invalid: involvedObject.namespace: Invalid value: "elsewhere": '
            "does not match event.namespace"
        )
        # One with eventTime needs the new fields, the controller named as core/v1 names it.
        body = old_event("n", eventTime=TIME, reportingInstance="i", action="Pull")
        status = await invalid(core, core.create(NS, body))
        assert [c["field"] for c in status["details"]["causes"]] == ["reportingComponent"] * 3
        body["reportingComponent"] = "kubelet"
        await core.create(NS, body)
