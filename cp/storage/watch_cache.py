"""The watch cache of one resource type: every read and watch is served from here.

Why: a store round trip per list or watch does not scale to thousands of watchers, and
each watcher tailing Redis would multiply connections.  One cache per type lists a
snapshot, tails the store's event log, keeps the current objects and a ring of recent
events (with each object's previous state, so selector transitions and older snapshots
can be computed), and pushes every event to its watchers.

Reads follow Kubernetes' resourceVersion rules:
- unset: consistent; wait until the cache reaches the store's current revision;
- "0": whatever the cache holds now;
- N (NotOlderThan, the default match): wait until the cache reaches N;
- N with Exact: the state as of N, rebuilt from the ring; 410 if the ring lost it.
A wait that does not finish in time raises TooLargeResourceVersion (504 in the API).

`fields_of` (the type's field-selector fields) must accept any object the store holds:
it runs on every event, and an exception there stops the cache.  The registry's shape
checks refuse bodies it could not read.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import anyio

from cp.storage.continue_token import decode_continue, encode_continue
from cp.storage.errors import Gone, InvalidRequest, NotFound, TooLargeResourceVersion, Unavailable
from cp.storage.events import CachedObject, CacheEvent
from cp.storage.interface import History, Store, pushes
from cp.storage.records import (
    EventType,
    Record,
    StoreEvent,
    stored_prefix,
    with_resource_version,
)
from cp.storage.watcher import Filter, Watcher, WatchEvent

FieldsOf = Callable[[dict[str, Any]], Mapping[str, str]]

EXACT = "Exact"
NOT_OLDER_THAN = "NotOlderThan"


def meta_fields(obj: dict[str, Any]) -> dict[str, str]:
    meta = obj.get("metadata") or {}
    return {"metadata.name": meta.get("name", ""), "metadata.namespace": meta.get("namespace", "")}


@dataclass(frozen=True, slots=True)
class ListResult:
    items: list[CachedObject]
    rv: int
    continue_token: str | None
    remaining: int | None


@dataclass(frozen=True, slots=True)
class WatchCacheStatistics:
    resource: str
    revision: int
    objects: int
    history: int
    history_floor: int
    watchers: int
    events: int
    relists: int
    lagged_watchers: int
    ready: bool


class WatchCache:
    def __init__(
        self,
        store: Store,
        resource: str,
        *,
        kind: str = "",
        api_version: str = "",
        history: History | None = None,
        fields_of: FieldsOf = meta_fields,
        wait_timeout: float = 3.0,
        watcher_capacity: int = 1000,
        bookmark_interval: float = 60.0,
        retry_backoff: tuple[float, float] = (0.05, 2.0),
    ) -> None:
        self.store = store
        self.resource = resource
        self.kind = kind
        self.api_version = api_version
        # Stored objects of this type start with these bytes (see encode_object).
        self._prefix = stored_prefix(kind, api_version) if kind and api_version else None
        self.history = history or store.history
        self.fields_of = fields_of
        self.wait_timeout = wait_timeout
        self.watcher_capacity = watcher_capacity
        self.bookmark_interval = bookmark_interval
        self._backoff = retry_backoff
        self._objects: dict[str, CachedObject] = {}
        self._ring: collections.deque[CacheEvent] = collections.deque()
        self._floor = 0
        self._rev = 0
        # Set when the revision moves; made only while someone waits for it, since
        # most events have no reader waiting for a version.
        self._advanced: anyio.Event | None = None
        self._watchers: set[Watcher] = set()
        self._secret = b""
        self._ready = False
        self._failure: Unavailable | None = None
        self._events = 0
        self._relists = 0
        self._lagged = 0

    # -- running -----------------------------------------------------------------------

    @property
    def revision(self) -> int:
        return self._rev

    @property
    def ready(self) -> bool:
        return self._ready and self._failure is None

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """List, then tail the store until cancelled; relist when the tail is Gone.
        A store that can push its writes (the memory store's `subscribe`) is not
        tailed: it applies each event to the cache inside the write.

        Reports started once the first snapshot is loaded, so a server can hold
        /readyz until every cache has synced.  Connection failures are retried with
        backoff while watchers stay open; a store that lost data (epoch) ends every
        watcher and fails reads, since serving it would reissue versions.
        """
        self._secret = await self.store.token_secret()
        started = False
        delay = self._backoff[0]
        needs_list = True
        while True:
            try:
                if needs_list:
                    await self._relist()
                    needs_list = False
                if not started:
                    task_status.started()
                    started = True
                if pushes(self.store):
                    async with self.store.subscribe(self.resource, self._rev, self._apply_event):
                        delay = self._backoff[0]
                        await anyio.sleep_forever()
                else:
                    async with self.store.watch(self.resource, self._rev) as events:
                        async for event in events:
                            self._apply(event.type, event.record)
                            delay = self._backoff[0]
            except Gone:
                needs_list = True
            except Unavailable as exc:
                if exc.data_loss:
                    # Refuse, and keep refusing until the store is consistent again
                    # (say, restored from a backup); then start over from a list.
                    self._fail(exc)
                    await self._wait_for_recovery()
                    needs_list = True
                    continue
                self._ready = started
                await anyio.sleep(delay)
                delay = min(delay * 2, self._backoff[1])

    async def _wait_for_recovery(self) -> None:
        while True:
            await anyio.sleep(self._backoff[1])
            try:
                await self.store.current_revision(self.resource)
            except Unavailable:
                continue
            self._failure = None
            return

    async def _relist(self) -> None:
        records, rev = await self.store.list(self.resource)
        self._objects = {r.key: self._cached(r) for r in records}
        self._ring.clear()
        self._floor = rev
        self._relists += 1
        if self._rev:
            # Watchers were fed from the lost stream; they must resume (and get 410).
            for w in list(self._watchers):
                w._close("relisted")
        self._set_revision(rev)
        self._ready = True

    def _fail(self, exc: Unavailable) -> None:
        self._failure = exc
        self._ready = False
        for w in list(self._watchers):
            w._close("unavailable", exc)

    def _cached(self, record: Record) -> CachedObject:
        data = (
            None
            if self._prefix is None
            else with_resource_version(record.data, record.rv, self._prefix)
        )
        if data is None:  # not as encode_object writes: decode and encode
            obj = record.decode()
            return CachedObject.of(record.key, record.rv, obj, self.fields_of(obj))
        return CachedObject(record.key, record.rv, data, fields_of=self.fields_of)

    def _set_revision(self, rev: int) -> None:
        self._rev = rev
        if self._advanced is not None:
            self._advanced.set()
            self._advanced = None

    def _apply_event(self, event: StoreEvent) -> None:
        self._apply(event.type, event.record)

    def _apply(self, type_: EventType, record: Record) -> None:
        obj = self._cached(record)
        prev = self._objects.get(record.key)
        if type_ is EventType.DELETED:
            self._objects.pop(record.key, None)
        else:
            self._objects[record.key] = obj
        now = time.monotonic()
        event = CacheEvent(type_, obj, prev, now)
        ring = self._ring
        ring.append(event)
        cutoff = now - self.history.max_seconds
        while ring and (len(ring) > self.history.max_events or ring[0].at < cutoff):
            self._floor = ring.popleft().rv
        self._events += 1
        self._set_revision(record.rv)
        for w in list(self._watchers):
            w._offer(event)
            if w.closed == "lagged":
                self._lagged += 1
                self._watchers.discard(w)

    def _forget(self, watcher: Watcher) -> None:
        self._watchers.discard(watcher)

    # -- reading -----------------------------------------------------------------------

    def _check_usable(self) -> None:
        if self._failure is not None:
            raise self._failure

    async def wait_for_revision(self, rv: int, timeout: float | None = None) -> None:
        self._check_usable()
        if self._rev >= rv:
            return
        with anyio.move_on_after(self.wait_timeout if timeout is None else timeout):
            while self._rev < rv:
                if self._advanced is None:
                    self._advanced = anyio.Event()
                await self._advanced.wait()
                self._check_usable()
            return
        raise TooLargeResourceVersion(
            f"Too large resource version: {rv}, current: {self._rev}",
            requested=rv,
            current=self._rev,
            resource=self.resource,
        )

    async def _wait_consistent(self) -> None:
        await self.wait_for_revision(await self.store.current_revision(self.resource))

    async def _reach(self, rv: int | None, match: str | None) -> int:
        """Wait as the rules require; return the revision the read is served at."""
        self._check_usable()
        if rv is None:
            await self._wait_consistent()
            return self._rev
        if match == EXACT:
            await self.wait_for_revision(rv)
            if rv < self._floor:
                raise self._expired(rv)
            return rv
        if rv > 0:
            await self.wait_for_revision(rv)
        return self._rev

    def _expired(self, rv: int) -> Gone:
        return Gone(f"too old resource version: {rv} ({self._floor})", resource=self.resource)

    async def get(
        self, key: str, *, rv: int | None = None, match: str | None = None
    ) -> CachedObject:
        at = await self._reach(rv, match)
        obj = self._state_at(at, {key}).get(key) if at < self._rev else self._objects.get(key)
        if obj is None:
            raise NotFound(f"{key} not found", resource=self.resource, key=key)
        return obj

    def peek(self, key: str) -> CachedObject | None:
        """The object as the cache holds it now: what `get` with resourceVersion "0"
        answers, without a coroutine, for in-process readers on hot paths."""
        self._check_usable()
        return self._objects.get(key)

    def _state_at(self, rv: int, keys: set[str] | None = None) -> dict[str, CachedObject | None]:
        """For each key written after `rv`, its state as of `rv` (None: absent then).

        Walks the ring backwards; the previous state of the earliest later write wins.
        """
        past: dict[str, CachedObject | None] = {}
        for event in reversed(self._ring):
            if event.rv <= rv:
                break
            if keys is None or event.key in keys:
                past[event.key] = event.prev
        if keys is not None:
            for key in keys:
                if key not in past:
                    past[key] = self._objects.get(key)
        return past

    def _snapshot(self, at: int) -> dict[str, CachedObject]:
        if at >= self._rev:
            return self._objects
        objects = dict(self._objects)
        for key, obj in self._state_at(at).items():
            if obj is None:
                objects.pop(key, None)
            else:
                objects[key] = obj
        return objects

    async def list(
        self,
        filter_: Filter | None = None,
        *,
        rv: int | None = None,
        match: str | None = None,
        limit: int | None = None,
        continue_token: str | None = None,
    ) -> ListResult:
        filter_ = filter_ or Filter()
        start = ""
        if continue_token:
            if rv is not None and rv != 0:
                raise InvalidRequest(
                    "specifying resource version is not allowed when using continue"
                )
            at, start = decode_continue(self._secret, continue_token)
            self._check_usable()
            if at < self._floor:
                raise Gone(
                    "The provided continue parameter is too old to display a consistent list "
                    "result. You can start a new list without the continue parameter.",
                    resource=self.resource,
                )
            if at > self._rev:
                raise InvalidRequest(
                    "continue key is not valid: the resource version is in the future"
                )
        else:
            at = await self._reach(rv, match)
            if rv == 0 and match != EXACT:
                limit = None  # kube-apiserver serves "0" from its cache and ignores limit
        objects = self._snapshot(at)
        prefix = filter_.prefix
        keys = sorted(k for k in objects if (prefix is None or k.startswith(prefix)) and k > start)
        items: list[CachedObject] = []
        last_index = -1
        for index, key in enumerate(keys):
            obj = objects[key]
            if filter_(obj):
                items.append(obj)
                last_index = index
                if limit and len(items) >= limit:
                    break
        token: str | None = None
        remaining: int | None = None
        if limit and len(items) >= limit and last_index + 1 < len(keys):
            token = encode_continue(self._secret, at, items[-1].key)
            if filter_.selects_all_in_scope:
                remaining = len(keys) - last_index - 1
        return ListResult(items, at, token, remaining)

    # -- watching ----------------------------------------------------------------------

    async def watch(
        self,
        filter_: Filter | None = None,
        *,
        rv: int | None = None,
        match: str | None = None,
        send_initial_events: bool | None = None,
        bookmarks: bool = False,
        capacity: int | None = None,
    ) -> Watcher:
        """Open a watcher. Raise Gone if `rv` is older than the retained history.

        rv unset or 0: the current state as ADDED events, then changes (unset waits for a
        consistent state first).  rv N: every change after N.  send_initial_events:
        the state as ADDED events first, then a bookmark marking their end.
        """
        filter_ = filter_ or Filter()
        self._check_usable()
        initial = send_initial_events if send_initial_events is not None else (not rv)
        if rv is None:
            await self._wait_consistent()
        elif rv > 0 and initial:
            await self.wait_for_revision(rv)
        elif rv > self._rev:
            await self.wait_for_revision(rv)
        if rv and not initial and rv < self._floor:
            raise self._expired(rv)
        # From here to the end nothing awaits: the snapshot, the replay and the
        # registration see the same cache state, so no event is missed or doubled.
        watcher = Watcher(
            self,
            filter_,
            capacity=capacity or self.watcher_capacity,
            bookmark_interval=self.bookmark_interval if bookmarks else None,
        )
        if initial:
            watcher._preload(self._initial(filter_))
            if send_initial_events and bookmarks:
                watcher._preload([watcher.bookmark(initial_events_end=True)])
        elif rv is not None:
            watcher._preload(self._replay(watcher, rv))
        self._watchers.add(watcher)
        return watcher

    def _initial(self, filter_: Filter) -> Iterable[WatchEvent]:
        for obj in list(self._objects.values()):
            if filter_(obj):
                yield WatchEvent("ADDED", obj.rv, obj, obj.added_frame())

    def _replay(self, watcher: Watcher, rv: int) -> list[WatchEvent]:
        if not self._ring or self._ring[-1].rv <= rv:
            return []
        first = self._ring[0].rv
        start = max(0, rv - first + 1)
        out = []
        for i in range(start, len(self._ring)):
            selected = watcher._select(self._ring[i])
            if selected is not None:
                out.append(selected)
        return out

    def statistics(self) -> WatchCacheStatistics:
        return WatchCacheStatistics(
            resource=self.resource,
            revision=self._rev,
            objects=len(self._objects),
            history=len(self._ring),
            history_floor=self._floor,
            watchers=len(self._watchers),
            events=self._events,
            relists=self._relists,
            lagged_watchers=self._lagged,
            ready=self.ready,
        )
