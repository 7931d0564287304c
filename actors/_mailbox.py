"""The bounded mailbox in front of every actor.

Bounded because an unbounded queue turns a slow actor into a memory leak; the bound
gives back-pressure instead: ``put`` waits for room, ``put_nowait`` raises
:class:`MailboxFull`. Built on an anyio memory object stream, which already has fair,
cancellation-safe waiting on both sides.
"""

from __future__ import annotations

from typing import Generic, TypeVar

import anyio

from ._exceptions import MailboxFull
from ._stats import MailboxStatistics

T = TypeVar("T")


class MailboxClosed(Exception):
    """Internal: the owner translates it into ``ActorStopped`` with its own name."""


class Mailbox(Generic[T]):
    """A bounded FIFO with one consumer (the owning actor) and any number of senders."""

    def __init__(self, capacity: int, *, owner: str = "?") -> None:
        if capacity < 1:
            raise ValueError(f"mailbox capacity must be at least 1, got {capacity}")
        self.owner = owner
        self._capacity = capacity
        self._send, self._receive = anyio.create_memory_object_stream[T](capacity)
        self._closed = False
        self._total_put = 0
        self._total_rejected = 0
        self._total_dropped = 0

    @property
    def capacity(self) -> int:
        return self._capacity

    @property
    def closed(self) -> bool:
        return self._closed

    def __len__(self) -> int:
        return self._receive.statistics().current_buffer_used

    async def put(self, item: T) -> None:
        """Wait for room, so a sender slows down to the pace of the actor."""
        try:
            await self._send.send(item)
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            raise MailboxClosed(self.owner) from None
        self._total_put += 1

    def put_nowait(self, item: T) -> None:
        """Queue now or raise :class:`MailboxFull`; never waits, never drops silently."""
        if self._closed:
            raise MailboxClosed(self.owner)
        try:
            self._send.send_nowait(item)
        except anyio.WouldBlock:
            self._total_rejected += 1
            raise MailboxFull(self.owner, self._capacity) from None
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            raise MailboxClosed(self.owner) from None
        self._total_put += 1

    async def get(self) -> T:
        """Next item, waiting if empty; raises :class:`MailboxClosed` once closed."""
        try:
            return await self._receive.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            raise MailboxClosed(self.owner) from None

    def close(self) -> list[T]:
        """Refuse further items and hand back those never delivered.

        The owner needs them to fail pending askers promptly rather than let them run
        into their timeouts. Senders still waiting for room are woken with
        ``MailboxClosed``. Idempotent.
        """
        if self._closed:
            return []
        self._closed = True
        self._send.close()
        leftovers: list[T] = []
        while True:
            try:
                leftovers.append(self._receive.receive_nowait())
            except (anyio.WouldBlock, anyio.EndOfStream):
                break
        self._receive.close()
        self._total_dropped += len(leftovers)
        return leftovers

    def statistics(self) -> MailboxStatistics:
        stream = self._receive.statistics()
        return MailboxStatistics(
            capacity=self._capacity,
            depth=stream.current_buffer_used,
            total_put=self._total_put,
            total_rejected=self._total_rejected,
            total_dropped=self._total_dropped,
            waiting_senders=stream.tasks_waiting_send,
        )
