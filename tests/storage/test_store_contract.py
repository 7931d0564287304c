"""The one contract both stores pass: etcd's semantics as kube-apiserver relies on them."""

from __future__ import annotations

import anyio
import anyio.lowlevel
import pytest

from cp.storage.errors import AlreadyExists, Conflict, Gone, NotFound
from cp.storage.interface import History, guaranteed_update
from cp.storage.records import EventType

pytestmark = pytest.mark.anyio

R = "core/configmaps"


def cm(name: str, uid: str = "", **data: str) -> dict:
    meta = {"name": name, "namespace": "default"}
    if uid:
        meta["uid"] = uid
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": data}


async def test_create_get_assigns_increasing_versions(store):
    a = await store.create(R, "default/a", cm("a", "u1", x="1"))
    b = await store.create(R, "default/b", cm("b", "u2"))
    assert b.rv == a.rv + 1
    got = await store.get(R, "default/a")
    assert got.rv == a.rv and got.uid == "u1"
    obj = got.decode()
    assert obj["metadata"]["resourceVersion"] == str(a.rv)
    assert obj["data"] == {"x": "1"}
    assert await store.current_revision(R) == b.rv


async def test_stored_bytes_never_carry_a_client_resource_version(store):
    obj = cm("a", "u1")
    obj["metadata"]["resourceVersion"] = "999"
    rec = await store.create(R, "default/a", obj)
    assert b"999" not in rec.data
    assert (await store.get(R, "default/a")).decode()["metadata"]["resourceVersion"] == str(rec.rv)


async def test_duplicate_create_is_refused_and_consumes_no_version(store):
    a = await store.create(R, "default/a", cm("a"))
    with pytest.raises(AlreadyExists):
        await store.create(R, "default/a", cm("a"))
    b = await store.create(R, "default/b", cm("b"))
    assert b.rv == a.rv + 1


async def test_versions_are_per_type_and_start_at_one(store):
    await store.create(R, "default/a", cm("a"))
    other = await store.create("core/secrets", "default/a", cm("a"))
    assert other.rv == 1
    assert await store.current_revision("apps/none") == 0


async def test_update_checks_version_and_uid(store):
    a = await store.create(R, "default/a", cm("a", "u1", v="1"))
    b = await store.update(R, "default/a", cm("a", "u1", v="2"), rv=a.rv)
    assert b.rv > a.rv and b.uid == "u1"
    with pytest.raises(Conflict) as stale:
        await store.update(R, "default/a", cm("a", "u1", v="3"), rv=a.rv)
    assert stale.value.field == "resourceVersion"
    assert stale.value.expected == str(a.rv) and stale.value.actual == str(b.rv)
    with pytest.raises(Conflict) as wrong_uid:
        await store.update(R, "default/a", cm("a", "u1", v="3"), uid="other")
    assert wrong_uid.value.field == "uid"
    with pytest.raises(NotFound):
        await store.update(R, "default/missing", cm("missing"), rv=1)
    assert (await store.get(R, "default/a")).decode()["data"] == {"v": "2"}
    # A failed precondition consumes no version.
    assert await store.current_revision(R) == b.rv


async def test_unconditional_update_keeps_the_uid(store):
    await store.create(R, "default/a", cm("a", "u1"))
    rec = await store.update(R, "default/a", cm("a", "", v="x"))
    assert rec.uid == "u1"


async def test_delete_returns_last_state_at_the_delete_version(store):
    a = await store.create(R, "default/a", cm("a", "u1", v="1"))
    with pytest.raises(Conflict):
        await store.delete(R, "default/a", rv=a.rv + 5)
    with pytest.raises(Conflict):
        await store.delete(R, "default/a", uid="nope")
    gone = await store.delete(R, "default/a", rv=a.rv, uid="u1")
    assert gone.rv == a.rv + 1
    assert gone.decode()["data"] == {"v": "1"}
    with pytest.raises(NotFound):
        await store.get(R, "default/a")
    with pytest.raises(NotFound):
        await store.delete(R, "default/a")


async def test_list_is_a_snapshot_with_its_revision(store):
    for i in range(5):
        await store.create(R, f"default/o{i}", cm(f"o{i}"))
    await store.delete(R, "default/o2")
    records, rev = await store.list(R)
    assert sorted(r.key for r in records) == [
        "default/o0",
        "default/o1",
        "default/o3",
        "default/o4",
    ]
    assert rev == 6
    assert max(r.rv for r in records) <= rev


async def collect(store, from_rv: int, n: int):
    out = []
    with anyio.fail_after(10):
        async with store.watch(R, from_rv) as events:
            async for event in events:
                out.append(event)
                if len(out) == n:
                    break
    return out


async def test_watch_replays_history_in_order(store):
    a = await store.create(R, "default/a", cm("a", v="1"))
    await store.update(R, "default/a", cm("a", v="2"))
    await store.delete(R, "default/a")
    events = await collect(store, 0, 3)
    assert [e.type for e in events] == [EventType.ADDED, EventType.MODIFIED, EventType.DELETED]
    assert [e.rv for e in events] == [a.rv, a.rv + 1, a.rv + 2]
    assert events[2].record.decode()["data"] == {"v": "2"}
    tail = await collect(store, a.rv + 1, 1)
    assert tail[0].type == EventType.DELETED


async def test_watch_receives_later_writes(store):
    rev = await store.current_revision(R)
    got = []

    async def watcher():
        got.extend(await collect(store, rev, 3))

    async with anyio.create_task_group() as tg:
        tg.start_soon(watcher)
        for i in range(3):
            await store.create(R, f"default/w{i}", cm(f"w{i}"))
    assert [e.record.key for e in got] == ["default/w0", "default/w1", "default/w2"]


@pytest.mark.parametrize("history", [History(max_events=5)])
async def test_watch_from_trimmed_history_is_gone(store):
    for i in range(12):
        await store.create(R, f"default/g{i}", cm(f"g{i}"))
    with pytest.raises(Gone):
        async with store.watch(R, 1):
            pass
    # The retained tail is still served exactly.
    events = await collect(store, 7, 5)
    assert [e.rv for e in events] == [8, 9, 10, 11, 12]


async def test_guaranteed_update_loses_no_increment(store):
    await store.create(R, "default/counter", cm("counter", n="0"))

    async def bump(obj):
        obj["data"]["n"] = str(int(obj["data"]["n"]) + 1)
        return obj

    async def worker():
        for _ in range(10):
            await guaranteed_update(store, R, "default/counter", bump)
            await anyio.lowlevel.checkpoint()

    async with anyio.create_task_group() as tg:
        for _ in range(8):
            tg.start_soon(worker)
    final = await store.get(R, "default/counter")
    assert final.decode()["data"]["n"] == "80"
    assert final.rv == 81


@pytest.mark.parametrize("history", [History(max_events=10_000, max_seconds=0.5)])
async def test_history_is_trimmed_by_age(store):
    first = await store.create(R, "default/old", cm("old"))
    written_at = anyio.current_time()
    # Keep writing until the first event ages out of the history; it must not before.
    with anyio.fail_after(10):
        n = 0
        while True:
            n += 1
            await store.create(R, f"default/new{n}", cm(f"new{n}"))
            try:
                async with store.watch(R, first.rv - 1):
                    pass
            except Gone:
                break
            await anyio.sleep(0.05)
    assert anyio.current_time() - written_at >= 0.45
    # Events younger than the limit are still there.
    events = await collect(store, first.rv + n - 2, 1)
    assert events[0].rv == first.rv + n - 1
