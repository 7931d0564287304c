"""The embedded store: etcd's semantics in one process, nothing to install.

Every operation is a checkpoint (as a real round trip would be) and then runs without
awaiting between its check and its write, so on one event loop each write is atomic,
exactly like one Redis script.  Watchers read the shared
event history and wait for the next write; the watch cache instead subscribes, and each
write pushes its event to it as it happens (`subscribe`).
"""

from __future__ import annotations

import collections
import os
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
import anyio.lowlevel
import msgspec

from cp.storage.errors import AlreadyExists, Gone, NotFound, precondition_failed
from cp.storage.interface import History
from cp.storage.records import EventType, Record, StoreEvent, encode_object, object_uid


class _Entry(msgspec.Struct, gc=False):
    """One logged event; untracked by the cyclic collector (the log is long)."""

    event: StoreEvent
    at: float


@dataclass(slots=True)
class _Type:
    objects: dict[str, Record] = field(default_factory=dict)
    rev: int = 0
    log: collections.deque[_Entry] = field(default_factory=collections.deque)
    # Watches from a version below this one have lost events to trimming.
    floor: int = 0
    # Set by the next write; made only while a follower waits for one.
    changed: anyio.Event | None = None
    # Pushed every event as its write happens (`subscribe`).
    subscribers: list[Callable[[StoreEvent], None]] = field(default_factory=list)


def check_preconditions(
    current: Record, rv: int | None, uid: str | None, resource: str, key: str
) -> None:
    """Raise Conflict when a write's preconditions do not hold (UID first, as etcd3)."""
    if uid is not None and uid != current.uid:
        raise precondition_failed("uid", uid, current.uid, resource, key)
    if rv is not None and rv != current.rv:
        raise precondition_failed("resourceVersion", str(rv), str(current.rv), resource, key)


class MemoryStore:
    def __init__(self, history: History | None = None) -> None:
        self.history = history or History()
        self._types: dict[str, _Type] = {}
        self._secret = os.urandom(32)

    def _type(self, resource: str) -> _Type:
        t = self._types.get(resource)
        if t is None:
            t = self._types[resource] = _Type()
        return t

    def _append(self, t: _Type, event: StoreEvent) -> None:
        now = time.monotonic()
        t.log.append(_Entry(event, now))
        cutoff = now - self.history.max_seconds
        while t.log and (len(t.log) > self.history.max_events or t.log[0].at < cutoff):
            t.floor = t.log.popleft().event.rv
        for deliver in t.subscribers:
            deliver(event)
        if t.changed is not None:
            t.changed.set()
            t.changed = None

    async def create(self, resource: str, key: str, obj: dict[str, Any]) -> Record:
        await anyio.lowlevel.checkpoint()
        t = self._type(resource)
        if key in t.objects:
            raise AlreadyExists(f"{key} already exists", resource=resource, key=key)
        t.rev += 1
        rec = Record(key, t.rev, object_uid(obj), encode_object(obj))
        t.objects[key] = rec
        self._append(t, StoreEvent(EventType.ADDED, rec))
        return rec

    async def get(self, resource: str, key: str) -> Record:
        await anyio.lowlevel.checkpoint()
        rec = self._type(resource).objects.get(key)
        if rec is None:
            raise NotFound(f"{key} not found", resource=resource, key=key)
        return rec

    async def list(self, resource: str) -> tuple[list[Record], int]:
        await anyio.lowlevel.checkpoint()
        t = self._type(resource)
        return list(t.objects.values()), t.rev

    async def update(
        self,
        resource: str,
        key: str,
        obj: dict[str, Any],
        *,
        rv: int | None = None,
        uid: str | None = None,
    ) -> Record:
        await anyio.lowlevel.checkpoint()
        t, current = self._checked(resource, key, rv, uid)
        t.rev += 1
        rec = Record(key, t.rev, current.uid, encode_object(obj))
        t.objects[key] = rec
        self._append(t, StoreEvent(EventType.MODIFIED, rec))
        return rec

    async def delete(
        self, resource: str, key: str, *, rv: int | None = None, uid: str | None = None
    ) -> Record:
        await anyio.lowlevel.checkpoint()
        t, current = self._checked(resource, key, rv, uid)
        t.rev += 1
        del t.objects[key]
        rec = Record(key, t.rev, current.uid, current.data)
        self._append(t, StoreEvent(EventType.DELETED, rec))
        return rec

    def _checked(
        self, resource: str, key: str, rv: int | None, uid: str | None
    ) -> tuple[_Type, Record]:
        """The type and the current record of `key`, once its preconditions hold."""
        t = self._type(resource)
        current = t.objects.get(key)
        if current is None:
            raise NotFound(f"{key} not found", resource=resource, key=key)
        check_preconditions(current, rv, uid, resource, key)
        return t, current

    async def current_revision(self, resource: str) -> int:
        await anyio.lowlevel.checkpoint()
        return self._type(resource).rev

    @asynccontextmanager
    async def watch(self, resource: str, from_rv: int) -> AsyncIterator[AsyncIterator[StoreEvent]]:
        t = self._type(resource)
        if from_rv < t.floor:
            raise Gone(
                f"too old resource version: {from_rv} ({t.floor + 1})",
                resource=resource,
            )
        yield self._follow(t, resource, from_rv)

    async def _follow(self, t: _Type, resource: str, cursor: int) -> AsyncIterator[StoreEvent]:
        while True:
            if cursor < t.floor:
                raise Gone(f"too old resource version: {cursor} ({t.floor + 1})", resource=resource)
            if t.log and t.log[-1].event.rv > cursor:
                # Versions are contiguous per type, so the position is arithmetic.
                start = cursor - t.log[0].event.rv + 1
                batch = [t.log[i].event for i in range(max(start, 0), len(t.log))]
                for event in batch:
                    yield event
                    cursor = event.rv
                continue
            if t.changed is None:
                t.changed = anyio.Event()
            await t.changed.wait()

    @asynccontextmanager
    async def subscribe(
        self, resource: str, from_rv: int, deliver: Callable[[StoreEvent], None]
    ) -> AsyncIterator[None]:
        """Like `watch`, but pushed: `deliver` gets the logged events after `from_rv` at
        once, then each later one inside the write that makes it, before the writer's
        call returns.  What a follower costs per write (a wake-up, a task switch) is
        then nothing, and the subscriber never lags, so it never sees Gone once in.

        For in-process followers only (the watch cache): `deliver` must not block or
        fail, since it runs in the writer's call."""
        t = self._type(resource)
        if from_rv < t.floor:
            raise Gone(f"too old resource version: {from_rv} ({t.floor + 1})", resource=resource)
        if t.log and t.log[-1].event.rv > from_rv:
            start = max(from_rv - t.log[0].event.rv + 1, 0)
            for i in range(start, len(t.log)):
                deliver(t.log[i].event)
        t.subscribers.append(deliver)
        try:
            yield
        finally:
            t.subscribers.remove(deliver)

    async def token_secret(self) -> bytes:
        return self._secret

    async def aclose(self) -> None:
        return None
