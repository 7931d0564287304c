"""Types served in one group and stored as another: kube-apiserver's cohabiting resources.

events.k8s.io/v1 Events are core/v1 Events in another representation.  Giving them
their own storage would split one type in two (an event written in one group would
not exist in the other), so they are stored under core/events and converted at the
storage boundary.  Everything the store guarantees then holds across both groups
because it is the same store entry: one counter of versions, one uid, one event log,
preconditions that see writes made through either group, and the same 410 Gone.

`ConvertingStore` is that boundary: a Store for one resource name that reads and
writes another and converts every object on the way.  Each group keeps its own
watch cache over it, so each event is converted and encoded once per representation
and every watcher of that representation shares the same bytes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import msgspec

from cp.registry.event_conversion import core_to_events, events_to_core
from cp.storage import Record, Store, StoreEvent
from cp.storage.interface import History
from cp.storage.records import encode_object

Convert = Callable[[dict[str, Any]], dict[str, Any]]

_decoder = msgspec.json.Decoder()


@dataclass(frozen=True, slots=True)
class SharedStorage:
    """How a type is kept in another type's storage."""

    # The storage name the objects live under (the owning type's).
    stored_as: str
    to_stored: Convert
    from_stored: Convert
    # The group Invalid errors name: validation runs on the stored (internal) type in
    # Kubernetes, so it reports that type's group, not the request's.
    validation_group: str


# Served storage name -> where and how its objects are stored.
SHARED: dict[str, SharedStorage] = {
    "events.k8s.io/events": SharedStorage("core/events", events_to_core, core_to_events, ""),
}


class ConvertingStore:
    """The Store of one served type whose objects live in another type's storage.

    Only `resource` is answered: any other name is a wiring mistake, and passing it
    through unconverted would hide it.  Closing does nothing, since the underlying
    store belongs to whoever opened it.
    """

    def __init__(self, store: Store, resource: str, shared: SharedStorage) -> None:
        self.store = store
        self.resource = resource
        self.shared = shared

    @property
    def history(self) -> History:
        return self.store.history

    def _target(self, resource: str) -> str:
        if resource != self.resource:
            raise ValueError(f"a store for {self.resource} was asked about {resource}")
        return self.shared.stored_as

    def _out(self, record: Record) -> Record:
        return self._written(record, _decoder.decode(record.data))

    def _written(self, record: Record, stored: dict[str, Any]) -> Record:
        """What was just written, in this representation: the stored bytes are
        `stored` encoded, so converting it back spares decoding them."""
        converted = self.shared.from_stored(stored)
        return Record(record.key, record.rv, record.uid, encode_object(converted))

    async def create(self, resource: str, key: str, obj: dict[str, Any]) -> Record:
        stored = self.shared.to_stored(obj)
        record = await self.store.create(self._target(resource), key, stored)
        return self._written(record, stored)

    async def get(self, resource: str, key: str) -> Record:
        return self._out(await self.store.get(self._target(resource), key))

    async def list(self, resource: str) -> tuple[list[Record], int]:
        records, rev = await self.store.list(self._target(resource))
        return [self._out(r) for r in records], rev

    async def update(
        self,
        resource: str,
        key: str,
        obj: dict[str, Any],
        *,
        rv: int | None = None,
        uid: str | None = None,
    ) -> Record:
        stored = self.shared.to_stored(obj)
        record = await self.store.update(self._target(resource), key, stored, rv=rv, uid=uid)
        return self._written(record, stored)

    async def delete(
        self, resource: str, key: str, *, rv: int | None = None, uid: str | None = None
    ) -> Record:
        return self._out(await self.store.delete(self._target(resource), key, rv=rv, uid=uid))

    async def current_revision(self, resource: str) -> int:
        return await self.store.current_revision(self._target(resource))

    @asynccontextmanager
    async def watch(self, resource: str, from_rv: int) -> AsyncIterator[AsyncIterator[StoreEvent]]:
        async with self.store.watch(self._target(resource), from_rv) as events:
            yield self._converted(events)

    async def _converted(self, events: AsyncIterator[StoreEvent]) -> AsyncIterator[StoreEvent]:
        async for event in events:
            yield StoreEvent(event.type, self._out(event.record))

    async def token_secret(self) -> bytes:
        return await self.store.token_secret()

    async def aclose(self) -> None:
        return None
