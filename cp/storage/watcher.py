"""One watcher of a watch cache: a filtered, bounded view of the cache's event stream.

The cache pushes each event to every watcher synchronously (no await), so a watcher's
position and the cache's state never disagree.  A watcher that does not keep up is
closed once its queue is full: it gets every event queued so far and then the stream
ends, so the client resumes from the last version it saw (or re-lists after 410).  It
never slows the cache or the other watchers, and never holds more than its capacity.
"""

from __future__ import annotations

import collections
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import anyio
import msgspec

from cp.storage.events import BOOKMARK, CachedObject, CacheEvent, WatchEvent, frame
from cp.storage.records import EventType

if TYPE_CHECKING:
    from cp.storage.watch_cache import WatchCache

_encoder = msgspec.json.Encoder()
INITIAL_EVENTS_END = "k8s.io/initial-events-end"


class LabelMatcher(Protocol):
    def matches(self, labels: Any) -> bool: ...


class FieldMatcher(Protocol):
    def matches(self, fields: Any) -> bool: ...


@dataclass(frozen=True, slots=True)
class WatcherStatistics:
    queued: int
    capacity: int
    delivered: int
    closed: str | None


class Filter:
    """Which objects a list or watch sees: a namespace and label and field selectors."""

    __slots__ = ("prefix", "labels", "fields")

    def __init__(
        self,
        namespace: str | None = None,
        labels: LabelMatcher | None = None,
        fields: FieldMatcher | None = None,
    ) -> None:
        self.prefix = namespace + "/" if namespace else None
        self.labels = labels
        self.fields = fields

    @property
    def selects_all_in_scope(self) -> bool:
        return self.labels is None and self.fields is None

    @property
    def selects_everything(self) -> bool:
        return self.prefix is None and self.labels is None and self.fields is None

    def __call__(self, obj: CachedObject | None) -> bool:
        if obj is None:
            return False
        if self.prefix is not None and not obj.key.startswith(self.prefix):
            return False
        if self.labels is not None and not self.labels.matches(obj.labels):
            return False
        if self.fields is not None and not self.fields.matches(obj.fields):
            return False
        return True


class Watcher:
    def __init__(
        self,
        cache: WatchCache,
        filter_: Filter,
        *,
        capacity: int,
        bookmark_interval: float | None,
    ) -> None:
        self._cache = cache
        self._filter = filter_
        self.capacity = capacity
        self._bookmark_interval = bookmark_interval
        self._backlog: collections.deque[WatchEvent] = collections.deque()
        self._queue: collections.deque[WatchEvent] = collections.deque()
        self._wake = anyio.Event()
        # Set while the consumer waits: only then does an offer need to wake it.
        self._waiting = False
        # Unfiltered watchers share one WatchEvent per cache event.
        self._everything = filter_.selects_everything
        self._closed: str | None = None
        self._error: BaseException | None = None
        self._delivered = 0
        self.last_rv = 0

    # -- fed by the cache, synchronously ------------------------------------------------

    def _preload(self, events: Iterable[WatchEvent]) -> None:
        """Initial state or replayed history: not bounded by capacity (it is a snapshot
        the cache already holds), and always before any live event."""
        self._backlog.extend(events)

    def _select(self, event: CacheEvent) -> WatchEvent | None:
        match = self._filter
        if event.type is EventType.ADDED:
            if not match(event.object):
                return None
            type_ = "ADDED"
        elif event.type is EventType.DELETED:
            if not match(event.prev if event.prev is not None else event.object):
                return None
            type_ = "DELETED"
        else:
            now, before = match(event.object), match(event.prev)
            if now:
                type_ = "MODIFIED" if before else "ADDED"
            elif before:
                type_ = "DELETED"
            else:
                return None
        obj = (
            event.left_selector()
            if (type_ == "DELETED" and event.type is not EventType.DELETED)
            else event.object
        )
        return WatchEvent(type_, event.rv, obj, event.frame(type_))

    def _offer(self, event: CacheEvent) -> None:
        if self._closed is not None:
            return
        selected = event.unfiltered() if self._everything else self._select(event)
        if selected is None:
            return
        if len(self._queue) >= self.capacity:
            self._close("lagged")
            return
        self._queue.append(selected)
        if self._waiting:
            self._waiting = False
            self._wake.set()

    def _close(self, reason: str, error: BaseException | None = None) -> None:
        if self._closed is None:
            self._closed = reason
            self._error = error
            self._wake.set()

    # -- consumed by the client ---------------------------------------------------------

    @property
    def closed(self) -> str | None:
        return self._closed

    def __aiter__(self) -> Watcher:
        return self

    async def __anext__(self) -> WatchEvent:
        while True:
            if self._backlog:
                return self._deliver(self._backlog.popleft())
            if self._queue:
                return self._deliver(self._queue.popleft())
            if self._closed is not None:
                self._cache._forget(self)
                if self._error is not None:
                    raise self._error
                raise StopAsyncIteration
            if self._wake.is_set():
                self._wake = anyio.Event()
            self._waiting = True
            if self._bookmark_interval is None:
                await self._wake.wait()
            else:
                with anyio.move_on_after(self._bookmark_interval):
                    await self._wake.wait()
                if not self._wake.is_set():
                    self._waiting = False
                    return self._deliver(self.bookmark())

    def _deliver(self, event: WatchEvent) -> WatchEvent:
        self._delivered += 1
        if event.rv > self.last_rv:
            self.last_rv = event.rv
        return event

    def bookmark(self, *, initial_events_end: bool = False) -> WatchEvent:
        """A BOOKMARK at the cache's revision: every matching event up to it was queued."""
        rv = self._cache.revision
        meta: dict[str, Any] = {"resourceVersion": str(rv)}
        if initial_events_end:
            meta["annotations"] = {INITIAL_EVENTS_END: "true"}
        obj = {"kind": self._cache.kind, "apiVersion": self._cache.api_version, "metadata": meta}
        return WatchEvent(BOOKMARK, rv, obj, frame(BOOKMARK, _encoder.encode(obj)))

    def aclose_nowait(self) -> None:
        self._close("stopped")
        self._cache._forget(self)

    async def aclose(self) -> None:
        self.aclose_nowait()

    async def __aenter__(self) -> Watcher:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.aclose_nowait()

    def statistics(self) -> WatcherStatistics:
        return WatcherStatistics(
            queued=len(self._queue) + len(self._backlog),
            capacity=self.capacity,
            delivered=self._delivered,
            closed=self._closed,
        )
