"""The Store protocol both backends implement, and what is built on it once.

Semantics follow etcd as kube-apiserver uses it: every write of a resource type gets the
next value of that type's counter; conditional writes check the version and UID they were
given; the event log holds every write in version order and a watch from a version either
continues exactly after it or raises Gone.  `resource` is the type's storage name
("group/resource", e.g. "core/pods"); `key` is "namespace/name" or "name".
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Protocol, TypeGuard

from cp.storage.errors import Conflict
from cp.storage.records import Record, StoreEvent


@dataclass(frozen=True, slots=True)
class History:
    """How much of the event log is kept; a watch from before it gets 410 Gone."""

    max_events: int = 10_000
    max_seconds: float = 300.0


class Store(Protocol):
    history: History

    async def create(self, resource: str, key: str, obj: dict[str, Any]) -> Record:
        """Store a new object. Raises AlreadyExists."""
        ...

    async def get(self, resource: str, key: str) -> Record:
        """Raises NotFound."""
        ...

    async def list(self, resource: str) -> tuple[list[Record], int]:
        """Every object of the type and the revision they are a snapshot of."""
        ...

    async def update(
        self,
        resource: str,
        key: str,
        obj: dict[str, Any],
        *,
        rv: int | None = None,
        uid: str | None = None,
    ) -> Record:
        """Replace an object if its current version is `rv` and UID is `uid` (when given).

        Raises NotFound, or Conflict when a precondition fails.
        """
        ...

    async def delete(
        self, resource: str, key: str, *, rv: int | None = None, uid: str | None = None
    ) -> Record:
        """Remove an object under the same preconditions as update; returns its last
        state at the version of the delete."""
        ...

    async def current_revision(self, resource: str) -> int:
        """The version of the type's latest write (0 before any)."""
        ...

    def watch(
        self, resource: str, from_rv: int
    ) -> AbstractAsyncContextManager[AsyncIterator[StoreEvent]]:
        """Every event after `from_rv`, in order, each once.

        Raises Gone (on entry or while iterating) when events after `from_rv` are no
        longer in the history, and Unavailable when the backend lost data.
        """
        ...

    async def token_secret(self) -> bytes:
        """A secret shared by every server on this store, for signing continue tokens."""
        ...

    async def aclose(self) -> None: ...


class PushingStore(Store, Protocol):
    """A store that can also push its writes, as the embedded one does: its watch cache
    subscribes instead of tailing, so a write updates the cache before it returns.
    Told apart by the class having `subscribe` (a wrapper forwarding attributes to
    another store is tailed, as it forwards `watch` but not the push)."""

    def subscribe(
        self, resource: str, from_rv: int, deliver: Callable[[StoreEvent], None]
    ) -> AbstractAsyncContextManager[None]:
        """Hand `deliver` every logged event after `from_rv`, then each later one inside
        the write that makes it.  Raises Gone on entry as `watch` does."""
        ...


def pushes(store: Store) -> TypeGuard[PushingStore]:
    return getattr(type(store), "subscribe", None) is not None


async def guaranteed_update(
    store: Store,
    resource: str,
    key: str,
    mutate: Callable[[dict[str, Any]], Awaitable[dict[str, Any] | None]],
    *,
    uid: str | None = None,
    max_attempts: int = 64,
) -> Record:
    """Read-modify-write that retries on a concurrent write, as etcd3's GuaranteedUpdate.

    `mutate` gets the current object and returns the new one, or None to leave it
    unchanged (then the current record is returned and nothing is written).
    """
    last: Conflict | None = None
    for _ in range(max_attempts):
        current = await store.get(resource, key)
        new = await mutate(current.decode())
        if new is None:
            return current
        try:
            return await store.update(resource, key, new, rv=current.rv, uid=uid)
        except Conflict as exc:
            if exc.field == "uid":
                raise
            last = exc
    assert last is not None
    raise last
