"""The watch cache: Kubernetes' list/get/watch semantics over either store."""

from __future__ import annotations

import anyio
import pytest

from cp.meta.labels import parse_label_selector
from cp.storage.errors import Gone, InvalidRequest, NotFound, TooLargeResourceVersion
from cp.storage.interface import History
from cp.storage.watcher import INITIAL_EVENTS_END, Filter
from tests.storage.test_store_contract import R, cm
from tests.support.caches import observed, read_truth, running_cache
from tests.support.watch_checker import Segment, WatchChecker

pytestmark = pytest.mark.anyio


def labelled(name: str, ns: str = "default", **labels: str) -> dict:
    obj = cm(name)
    obj["metadata"]["namespace"] = ns
    obj["metadata"]["labels"] = labels
    return obj


async def take(watcher, n: int, timeout: float = 10):
    out = []
    with anyio.fail_after(timeout):
        async for ev in watcher:
            out.append(ev)
            if len(out) == n:
                break
    return out


async def test_consistent_list_sees_every_acknowledged_write(store):
    async with running_cache(store, R) as cache:
        for i in range(20):
            await store.create(R, f"default/c{i}", cm(f"c{i}"))
            result = await cache.list()
            assert len(result.items) == i + 1
            assert result.rv == await store.current_revision(R)


async def test_resource_version_rules(store):
    async with running_cache(store, R, wait_timeout=0.3) as cache:
        a = await store.create(R, "default/a", cm("a", v="1"))
        b = await store.update(R, "default/a", cm("a", v="2"))
        await cache.wait_for_revision(b.rv)
        assert (await cache.get("default/a", rv=0)).obj["data"] == {"v": "2"}
        assert (await cache.get("default/a", rv=a.rv)).obj["data"] == {"v": "2"}
        exact = await cache.get("default/a", rv=a.rv, match="Exact")
        assert exact.obj["data"] == {"v": "1"}
        assert exact.obj["metadata"]["resourceVersion"] == str(a.rv)
        at_a = await cache.list(rv=a.rv, match="Exact")
        assert at_a.rv == a.rv and [o.obj["data"] for o in at_a.items] == [{"v": "1"}]
        with pytest.raises(TooLargeResourceVersion) as too_large:
            await cache.list(rv=b.rv + 100)
        assert too_large.value.requested == b.rv + 100
        with pytest.raises(NotFound):
            await cache.get("default/zzz")


async def test_exact_read_older_than_history_is_gone(store):
    async with running_cache(store, R, history=History(max_events=4)) as cache:
        for i in range(10):
            await store.create(R, f"default/h{i}", cm(f"h{i}"))
        await cache.wait_for_revision(10)
        with pytest.raises(Gone):
            await cache.list(rv=2, match="Exact")
        assert len((await cache.list(rv=7, match="Exact")).items) == 7


async def test_pages_are_served_at_the_first_pages_version(store):
    async with running_cache(store, R) as cache:
        for i in range(10):
            await store.create(R, f"default/p{i:02}", cm(f"p{i:02}"))
        first = await cache.list(limit=4)
        assert [o.key for o in first.items] == [f"default/p{i:02}" for i in range(4)]
        assert first.remaining == 6 and first.continue_token
        # Writes between pages must not show up in later pages.
        await store.delete(R, "default/p05")
        await store.create(R, "default/p05x", cm("p05x"))
        await store.update(R, "default/p09", cm("p09", changed="yes"))
        second = await cache.list(limit=4, continue_token=first.continue_token)
        third = await cache.list(limit=4, continue_token=second.continue_token)
        keys = [o.key for o in second.items + third.items]
        assert keys == [f"default/p{i:02}" for i in range(4, 10)]
        assert second.rv == third.rv == first.rv
        assert third.continue_token is None
        assert third.items[-1].obj.get("data") == {}


async def test_forged_and_expired_continue_tokens(store, history):
    async with running_cache(store, R, history=History(max_events=3)) as cache:
        for i in range(5):
            await store.create(R, f"default/t{i}", cm(f"t{i}"))
        page = await cache.list(limit=2)
        head, _, mac = page.continue_token.partition(".")
        with pytest.raises(InvalidRequest):
            await cache.list(limit=2, continue_token=head[:-2] + "AA." + mac)
        with pytest.raises(InvalidRequest):
            await cache.list(limit=2, continue_token="garbage!!")
        with pytest.raises(InvalidRequest):
            await cache.list(limit=2, rv=5, continue_token=page.continue_token)
        for i in range(5):
            await store.create(R, f"default/u{i}", cm(f"u{i}"))
        await cache.wait_for_revision(10)
        with pytest.raises(Gone):
            await cache.list(limit=2, continue_token=page.continue_token)


async def test_watch_from_version_and_initial_state(store):
    async with running_cache(store, R) as cache:
        a = await store.create(R, "default/a", cm("a"))
        await store.create(R, "default/b", cm("b"))
        await cache.wait_for_revision(a.rv + 1)
        from_a = await cache.watch(rv=a.rv)
        initial = await cache.watch(rv=0)
        snapshot_rv = cache.revision
        await store.delete(R, "default/a")
        got = await take(from_a, 2)
        assert [(e.type, e.object["metadata"]["name"]) for e in got] == [
            ("ADDED", "b"),
            ("DELETED", "a"),
        ]
        got0 = await take(initial, 3)
        checker = WatchChecker(await read_truth(store, R))
        checker.check([Segment(snapshot_rv, [observed(e) for e in got0], initial=True)])


async def test_send_initial_events_ends_with_marked_bookmark(store):
    async with running_cache(store, R) as cache:
        for i in range(3):
            await store.create(R, f"default/s{i}", cm(f"s{i}"))
        w = await cache.watch(send_initial_events=True, bookmarks=True)
        got = await take(w, 4)
        assert [e.type for e in got] == ["ADDED"] * 3 + ["BOOKMARK"]
        mark = got[3].object
        assert mark["metadata"]["annotations"] == {INITIAL_EVENTS_END: "true"}
        assert mark["kind"] == "ConfigMap" and mark["metadata"]["resourceVersion"] == "3"


async def test_periodic_bookmarks_carry_the_current_version(store):
    async with running_cache(store, R, bookmark_interval=0.05) as cache:
        await store.create(R, "default/a", cm("a"))
        await cache.wait_for_revision(1)
        w = await cache.watch(rv=1, bookmarks=True)
        got = await take(w, 1)
        assert got[0].type == "BOOKMARK" and got[0].rv == 1
        await store.create(R, "default/b", cm("b"))
        got = await take(w, 2)
        assert [e.type for e in got] == ["ADDED", "BOOKMARK"]
        assert got[1].rv == 2


async def test_selector_transitions_are_added_and_deleted(store):
    async with running_cache(store, R) as cache:
        sel = parse_label_selector("tier in (web),env!=prod")
        w = await cache.watch(Filter("default", sel), rv=0)
        await store.create(R, "default/x", labelled("x", tier="web"))
        await store.update(R, "default/x", labelled("x", tier="web", env="prod"))
        await store.update(R, "default/x", labelled("x", tier="web", env="dev"))
        await store.create(R, "other/x", labelled("x", "other", tier="web"))
        await store.delete(R, "default/x")
        got = await take(w, 4)
        assert [e.type for e in got] == ["ADDED", "DELETED", "ADDED", "DELETED"]
        assert got[1].object["metadata"]["labels"] == {"tier": "web"}  # previous content
        assert got[1].object["metadata"]["resourceVersion"] == "2"
        checker = WatchChecker(await read_truth(store, R))

        def select(o):
            return o["metadata"]["namespace"] == "default" and sel.matches(
                o["metadata"].get("labels")
            )

        checker.check([Segment(0, [observed(e) for e in got], initial=True)], select)


async def test_field_selector_on_name(store):
    async with running_cache(store, R) as cache:

        class ByName:
            def matches(self, fields):
                return fields["metadata.name"] == "b"

        w = await cache.watch(Filter(None, None, ByName()), rv=0)
        await store.create(R, "default/a", cm("a"))
        await store.create(R, "default/b", cm("b"))
        got = await take(w, 1)
        assert got[0].object["metadata"]["name"] == "b"
        assert [o.key for o in (await cache.list(Filter(None, None, ByName()))).items] == [
            "default/b"
        ]


async def test_every_watcher_gets_the_same_bytes(store):
    async with running_cache(store, R) as cache:
        watchers = [await cache.watch(rv=0) for _ in range(50)]
        await store.create(R, "default/a", cm("a"))
        frames = [(await take(w, 1))[0].frame for w in watchers]
        assert all(f is frames[0] for f in frames)
        assert frames[0].startswith(b'{"type":"ADDED","object":{')


async def test_slow_watcher_is_closed_and_never_delays_others(store):
    async with running_cache(store, R, watcher_capacity=5) as cache:
        slow = await cache.watch(rv=0)
        fast = await cache.watch(rv=0)
        got_fast = []

        async def drain():
            async for ev in fast:
                got_fast.append(ev.rv)
                if len(got_fast) == 20:
                    return

        async with anyio.create_task_group() as tg:
            tg.start_soon(drain)
            for i in range(20):
                await store.create(R, f"default/l{i}", cm(f"l{i}"))
                await anyio.sleep(0.001)
        assert got_fast == list(range(1, 21))
        assert slow.closed == "lagged"
        assert slow.statistics().queued <= 5
        delivered = [ev.rv async for ev in slow]
        assert delivered == list(range(1, len(delivered) + 1))  # a prefix, no gap
        resumed = await cache.watch(rv=delivered[-1])
        rest = await take(resumed, 20 - len(delivered))
        assert [e.rv for e in rest] == list(range(len(delivered) + 1, 21))
        assert cache.statistics().lagged_watchers == 1


async def test_watch_older_than_history_is_gone(store):
    async with running_cache(store, R, history=History(max_events=3)) as cache:
        for i in range(6):
            await store.create(R, f"default/o{i}", cm(f"o{i}"))
        await cache.wait_for_revision(6)
        with pytest.raises(Gone):
            await cache.watch(rv=1)
        assert [e.rv for e in await take(await cache.watch(rv=3), 3)] == [4, 5, 6]
