"""The work queue between informers and reconcile workers (client-go's workqueue).

Why a queue of keys and not of events: controllers are level-triggered, so ten events
for one object need one reconcile of its current state, not ten. The queue therefore
holds each key at most once while it waits (``add`` de-duplicates), and never hands a
key to a second worker while a first one is still on it: a key re-added while being
processed is queued again only when ``done(key)`` is called, so its next reconcile sees
the effect of the current one.

Retries back off per key (:class:`ExponentialBackoff`), so one failing object retries
slowly without slowing the others; ``forget(key)`` resets its count after a success.
``add_after`` keeps delayed keys in a heap that ``get`` itself watches: no background
task, so the queue needs no owner to stop it.

The queue also remembers, per key, when the work now waiting for it was first asked for
(the earliest add since it was last handed out). A controller reads it with
:meth:`WorkQueue.first_added` while processing the key and carries it across retries,
which is how event-to-reconcile latency is measured.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections import deque
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

import anyio
import anyio.lowlevel

K = TypeVar("K", bound=Hashable)


class ShutDown(Exception):
    """``get`` on a queue that was shut down and has nothing ready: the worker should end."""


@dataclass(frozen=True, slots=True)
class WorkQueueStatistics:
    """``depth`` keys ready to hand out, ``in_flight`` being processed, ``waiting`` delayed
    (``add_after`` or a retry); ``adds`` and ``retries`` are totals since creation."""

    depth: int
    in_flight: int
    waiting: int
    adds: int
    retries: int
    shut_down: bool


class ExponentialBackoff:
    """Per-key exponential backoff: ``base * 2**n`` after ``n`` earlier failures, at most
    ``max_delay`` (client-go's ItemExponentialFailureRateLimiter)."""

    def __init__(self, base: float = 0.005, max_delay: float = 1000.0) -> None:
        if not (math.isfinite(base) and base >= 0 and math.isfinite(max_delay) and max_delay >= 0):
            raise ValueError("base and max_delay must be finite and >= 0")
        self.base = base
        self.max_delay = max_delay
        self._failures: dict[Hashable, int] = {}

    def when(self, key: Hashable) -> float:
        """The delay before the next retry of ``key``; counts one more failure."""
        failures = self._failures.get(key, 0)
        self._failures[key] = failures + 1
        if failures >= 64:  # 2**64 * base is past any max_delay anyone configures
            return self.max_delay
        return min(self.max_delay, self.base * 2**failures)

    def forget(self, key: Hashable) -> None:
        self._failures.pop(key, None)

    def failures(self, key: Hashable) -> int:
        return self._failures.get(key, 0)


class WorkQueue(Generic[K]):
    """De-duplicated keys for workers; see the module docstring for the guarantees.

    Synchronous methods (``add``, ``done``, ...) may be called from any task on the event
    loop's thread; ``get`` waits. Delays use ``anyio.current_time()``, so trio's
    ``MockClock`` drives them in tests.
    """

    def __init__(self, *, backoff: ExponentialBackoff | None = None, name: str = "") -> None:
        self.name = name
        self._backoff = backoff if backoff is not None else ExponentialBackoff()
        self._ready: deque[K] = deque()
        # Keys that need processing: ready, or re-added while in flight. Value: when the
        # work was first asked for.
        self._dirty: dict[K, float] = {}
        # Keys being processed. Value: when the work being done was first asked for.
        self._processing: dict[K, float] = {}
        # Delayed keys: key -> (ready at, first asked for); the heap may hold stale
        # entries, the dict is the truth.
        self._waiting: dict[K, tuple[float, float]] = {}
        self._heap: list[tuple[float, int, K]] = []
        self._seq = itertools.count()
        self._changed = anyio.Event()
        self._shut_down = False
        self._adds = 0
        self._retries = 0

    # -- adding --------------------------------------------------------------------------

    def add(self, key: K, *, since: float | None = None) -> None:
        """Ask for ``key`` to be processed. ``since`` backdates the request (a retry
        carries the time of the event it retries); the earliest time wins."""
        if self._shut_down:
            return
        now = anyio.current_time()
        since = now if since is None else min(since, now)
        self._adds += 1
        if key in self._dirty:
            if since < self._dirty[key]:
                self._dirty[key] = since
            return
        self._dirty[key] = since
        if key in self._processing:
            return  # queued again by done(), so it is never handed out twice at once
        self._ready.append(key)
        self._notify()

    def add_after(self, key: K, delay: float, *, since: float | None = None) -> None:
        """Add ``key`` once ``delay`` seconds have passed; an earlier pending time wins."""
        if self._shut_down:
            return
        if delay <= 0:
            self.add(key, since=since)
            return
        now = anyio.current_time()
        at = now + delay
        since = now if since is None else min(since, now)
        current = self._waiting.get(key)
        if current is not None:
            at = min(at, current[0])
            since = min(since, current[1])
            if at == current[0] and since == current[1]:
                return
        self._waiting[key] = (at, since)
        heapq.heappush(self._heap, (at, next(self._seq), key))
        self._notify()  # a getter may have to wake earlier than it planned

    def add_rate_limited(self, key: K, *, since: float | None = None) -> None:
        """Retry ``key`` after its backoff delay, which doubles with each retry."""
        if self._shut_down:
            return
        self._retries += 1
        self.add_after(key, self._backoff.when(key), since=since)

    def forget(self, key: K) -> None:
        """Reset ``key``'s backoff: call after it was processed successfully."""
        self._backoff.forget(key)

    def num_requeues(self, key: K) -> int:
        return self._backoff.failures(key)

    # -- processing ----------------------------------------------------------------------

    async def get(self) -> K:
        """The next ready key, waiting for one; it is in flight until ``done(key)``.

        Raises :class:`ShutDown` once the queue was shut down and nothing is ready.
        """
        await anyio.lowlevel.checkpoint()
        while True:
            wake_at = self._promote_due()
            if self._ready:
                key = self._ready.popleft()
                self._processing[key] = self._dirty.pop(key)
                return key
            if self._shut_down:
                raise ShutDown(f"work queue {self.name!r} is shut down")
            changed = self._changed
            if wake_at is None:
                await changed.wait()
            else:
                with anyio.move_on_after(max(0.0, wake_at - anyio.current_time())):
                    await changed.wait()

    def first_added(self, key: K) -> float:
        """When the work now being processed for ``key`` was first asked for
        (``anyio.current_time()`` clock). Only valid between ``get`` and ``done``."""
        return self._processing[key]

    def done(self, key: K) -> None:
        """Mark ``key`` processed; if it was added meanwhile, it is ready again now."""
        self._processing.pop(key)
        if key in self._dirty and not self._shut_down:
            self._ready.append(key)
            self._notify()

    def shut_down(self) -> None:
        """Refuse new keys and drop delayed ones; ``get`` hands out what is ready, then
        raises :class:`ShutDown`. Idempotent."""
        self._shut_down = True
        self._waiting.clear()
        self._heap.clear()
        self._notify()

    @property
    def is_shut_down(self) -> bool:
        return self._shut_down

    def __len__(self) -> int:
        """Keys ready to hand out (client-go's Len)."""
        self._promote_due()
        return len(self._ready)

    def statistics(self) -> WorkQueueStatistics:
        self._promote_due()
        return WorkQueueStatistics(
            depth=len(self._ready),
            in_flight=len(self._processing),
            waiting=len(self._waiting),
            adds=self._adds,
            retries=self._retries,
            shut_down=self._shut_down,
        )

    # -- internals -----------------------------------------------------------------------

    def _notify(self) -> None:
        self._changed.set()
        self._changed = anyio.Event()

    def _promote_due(self) -> float | None:
        """Move delayed keys whose time has come to ready; return the next due time."""
        now = anyio.current_time()
        heap = self._heap
        while heap:
            at, _, key = heap[0]
            entry = self._waiting.get(key)
            if entry is None or entry[0] != at:
                heapq.heappop(heap)  # stale: superseded or already promoted
                continue
            if at > now:
                return at
            heapq.heappop(heap)
            del self._waiting[key]
            self.add(key, since=entry[1])
        return None
