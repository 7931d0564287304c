"""An informer: a controller's local, always-complete view of one resource type.

Why: reconcile reads current state, and reading it from a local index costs nothing
and never hits the store. The informer lists from a :class:`~cp.storage.WatchCache`,
then watches from the list's revision, keeps ``key -> object`` up to date and calls its
handlers (which enqueue keys) for every change.

No event is lost: when the cache ends the watcher (it lagged, or the cache itself
re-listed), the informer resumes from the last revision it saw, which replays exactly
what it missed; when that is no longer in the cache's history (Gone), it re-lists and
diffs the new list against its index, reporting additions, changes and deletions, plus
a ``SYNC`` for every unchanged object, so everything is reconciled again. An optional
periodic resync reports ``SYNC`` for every object too, which heals work a controller
lost (a dropped reconcile, a bug) without any event.

Handlers are synchronous on purpose: they run between two events with the index
consistent, must only enqueue, and an exception in one crashes the informer's owner
rather than being logged and forgotten. Objects are shared with the cache: treat them
as read-only and copy before changing one.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import anyio
from anyio.abc import TaskStatus

from cp.storage.errors import Gone
from cp.storage.watch_cache import WatchCache
from cp.storage.watcher import Filter, WatchEvent

ADDED = "ADDED"
MODIFIED = "MODIFIED"
DELETED = "DELETED"
SYNC = "SYNC"


@dataclass(frozen=True, slots=True)
class InformerEvent:
    """One change the informer saw. ``old`` is the previous state when it knew one;
    ``SYNC`` means "unchanged, reconcile it anyway" (re-list or periodic resync)."""

    type: str
    key: str
    object: dict[str, Any]
    old: dict[str, Any] | None = None


Handler = Callable[[InformerEvent], None]


@dataclass(frozen=True, slots=True)
class InformerStatistics:
    resource: str
    objects: int
    revision: int
    synced: bool
    events: int
    lists: int
    resumes: int
    resyncs: int


def object_key(obj: dict[str, Any]) -> str:
    """The storage key of an object: "namespace/name", or "name" when cluster-scoped."""
    meta = obj.get("metadata") or {}
    namespace = meta.get("namespace")
    name = meta.get("name", "")
    return f"{namespace}/{name}" if namespace else name


class Informer:
    """List + watch of one :class:`WatchCache`, optionally narrowed by a :class:`Filter`.

    Run it in a task group with ``await tg.start(informer.run)``: it reports started
    once the first list is in the index (``has_synced``) and its handlers have seen it.
    """

    def __init__(
        self,
        cache: WatchCache,
        filter_: Filter | None = None,
        *,
        resync_period: float | None = None,
        capacity: int | None = None,
    ) -> None:
        if resync_period is not None and resync_period <= 0:
            raise ValueError("resync_period must be > 0 (or None for no resync)")
        if capacity is not None and capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self.cache = cache
        self.filter = filter_ if filter_ is not None else Filter()
        self.resync_period = resync_period
        # How many events may wait for us in the cache before it ends our watcher
        # (None: the cache's default); a lagging informer resumes, so it loses nothing.
        self.capacity = capacity
        self._handlers: list[Handler] = []
        self._index: dict[str, tuple[int, dict[str, Any]]] = {}
        self._rv = 0
        self._synced = anyio.Event()
        self._events = 0
        self._lists = 0
        self._resumes = 0
        self._resyncs = 0

    @property
    def resource(self) -> str:
        return self.cache.resource

    def add_handler(self, handler: Handler) -> None:
        """Call ``handler`` for every event from now on (and for the first list if the
        informer has not run yet)."""
        self._handlers.append(handler)

    # -- reading -------------------------------------------------------------------------

    @property
    def has_synced(self) -> bool:
        return self._synced.is_set()

    async def wait_synced(self) -> None:
        await self._synced.wait()

    @property
    def revision(self) -> int:
        """The store revision the index reflects."""
        return self._rv

    def get(self, key: str) -> dict[str, Any] | None:
        """The current object for ``key``, or None; read-only (shared with the cache)."""
        entry = self._index.get(key)
        return None if entry is None else entry[1]

    def list(self) -> list[dict[str, Any]]:
        return [self._index[key][1] for key in sorted(self._index)]

    def keys(self) -> list[str]:
        return sorted(self._index)

    def __len__(self) -> int:
        return len(self._index)

    def __contains__(self, key: object) -> bool:
        return key in self._index

    # -- running -------------------------------------------------------------------------

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """List, report started, then watch until cancelled.

        A cache that failed (``Unavailable``) or cannot reach a consistent revision in
        time raises here, as does a failing handler: the owner crashes and its
        supervisor decides. Everything runs in this one task (the periodic resync is a
        deadline on the next event), so an error comes out as itself, not in a group.
        """
        await self._relist()
        self._synced.set()
        task_status.started()
        period = self.resync_period
        next_resync = math.inf if period is None else anyio.current_time() + period
        while True:
            try:
                watcher = await self.cache.watch(
                    self.filter, rv=self._rv, send_initial_events=False, capacity=self.capacity
                )
            except Gone:
                await self._relist()
                continue
            async with watcher:
                while True:
                    event: WatchEvent | None = None
                    # Waiting for an event is cancel-safe: nothing is taken until it
                    # returns, so timing out only postpones the event.
                    with anyio.move_on_after(next_resync - anyio.current_time()):
                        try:
                            event = await watcher.__anext__()
                        except StopAsyncIteration:
                            break
                    if event is not None:
                        self._apply(event)
                    if period is not None and anyio.current_time() >= next_resync:
                        self.resync()
                        next_resync = anyio.current_time() + period
            # The cache ended the watcher (lagged or re-listed); resume where we were.
            # From revision 0 the cache cannot tell a resume that lost events (it
            # replays its whole ring without a Gone), so that one case re-lists.
            self._resumes += 1
            if self._rv == 0:
                await self._relist()

    async def _relist(self) -> None:
        result = await self.cache.list(self.filter)
        # The watch that follows starts from this list's revision: whatever changed
        # since is replayed from the cache's ring (or it is Gone, and we list again).
        old = self._index
        decoded = [(item.rv, item.obj) for item in result.items]  # each .obj decodes
        new = {object_key(obj): (rv, obj) for rv, obj in decoded}
        self._index = new
        self._rv = result.rv
        self._lists += 1
        for key in sorted(new):
            rv, obj = new[key]
            previous = old.get(key)
            if previous is None:
                self._emit(InformerEvent(ADDED, key, obj))
            elif previous[0] != rv:
                self._emit(InformerEvent(MODIFIED, key, obj, previous[1]))
            else:
                self._emit(InformerEvent(SYNC, key, obj, obj))
        for key in sorted(old.keys() - new.keys()):
            self._emit(InformerEvent(DELETED, key, old[key][1], old[key][1]))

    def _apply(self, event: WatchEvent) -> None:
        if event.type not in (ADDED, MODIFIED, DELETED):
            return  # bookmarks (not asked for) carry nothing to index
        key = object_key(event.object)
        previous = self._index.get(key)
        old = None if previous is None else previous[1]
        if event.type == DELETED:
            self._index.pop(key, None)
            kind = DELETED
        else:
            self._index[key] = (event.rv, event.object)
            kind = ADDED if previous is None else MODIFIED
        self._rv = max(self._rv, event.rv)
        self._emit(InformerEvent(kind, key, event.object, old))

    def resync(self) -> None:
        """Report every object as ``SYNC`` now (what the periodic resync does)."""
        self._resyncs += 1
        for key in sorted(self._index):
            obj = self._index[key][1]
            self._emit(InformerEvent(SYNC, key, obj, obj))

    def _emit(self, event: InformerEvent) -> None:
        self._events += 1
        for handler in self._handlers:
            handler(event)

    def statistics(self) -> InformerStatistics:
        return InformerStatistics(
            resource=self.resource,
            objects=len(self._index),
            revision=self._rv,
            synced=self.has_synced,
            events=self._events,
            lists=self._lists,
            resumes=self._resumes,
            resyncs=self._resyncs,
        )
