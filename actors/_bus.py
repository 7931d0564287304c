"""The event bus: topics of versioned events fanned out to bounded subscriber queues.

Publishing never blocks and one slow subscriber never slows the publisher or the
others: when its queue is full, its queued events are discarded and it is marked
lagged, so its next receive raises :class:`Lagged` with the last version it got. It
then resumes from a history or re-lists, as a Kubernetes watcher does after 410 Gone.
Memory per subscriber is bounded by its queue size.

The bus is a plain object, not an actor: publishing is synchronous and must happen on
the event loop's thread.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Generic, TypeVar

import anyio
import anyio.lowlevel

from ._exceptions import Lagged, SubscriptionClosed
from ._stats import BusStatistics, SubscriptionStatistics

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class BusEvent(Generic[T]):
    """One published event; ``version`` increases strictly within its topic."""

    topic: str
    version: int
    payload: T


class _Topic:
    __slots__ = ("name", "version", "subscribers")

    def __init__(self, name: str) -> None:
        self.name = name
        self.version = 0
        self.subscribers: dict[Subscription, None] = {}  # insertion-ordered set


class Subscription:
    """One subscriber's bounded queue on one topic. Use as a context manager so it is
    always unsubscribed; receive with :meth:`receive` or ``async for``.

    One task receives from a subscription at a time.
    """

    def __init__(self, bus: Bus, topic: _Topic, capacity: int) -> None:
        self._bus = bus
        self._topic = topic
        self._capacity = capacity
        self._queue: deque[BusEvent[Any]] = deque()
        self._waiter: anyio.Event | None = None
        self._closed = False
        self._lagged = False
        self._last_version = topic.version
        self._received = 0
        self._lag_count = 0
        self._dropped = 0

    @property
    def topic(self) -> str:
        return self._topic.name

    @property
    def last_version(self) -> int:
        """Version of the last event received (the topic's version when subscribed)."""
        return self._last_version

    @property
    def closed(self) -> bool:
        return self._closed

    def _offer(self, event: BusEvent[Any]) -> None:
        if self._lagged:
            self._dropped += 1
            self._bus._dropped += 1
        elif len(self._queue) >= self._capacity:
            # Keeping the backlog would only delay the re-list the subscriber needs anyway.
            lost = len(self._queue) + 1
            self._queue.clear()
            self._lagged = True
            self._lag_count += 1
            self._dropped += lost
            self._bus._lagged += 1
            self._bus._dropped += lost
        else:
            self._queue.append(event)
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None:
            self._waiter.set()
            self._waiter = None

    def receive_nowait(self) -> BusEvent[Any]:
        """Next event now; raises ``anyio.WouldBlock`` if none is queued."""
        if self._lagged:
            self._lagged = False
            raise Lagged(self._topic.name, self._last_version)
        if self._queue:
            event = self._queue.popleft()
            self._last_version = event.version
            self._received += 1
            return event
        if self._closed:
            raise SubscriptionClosed(f"subscription to {self._topic.name!r} is closed")
        raise anyio.WouldBlock

    async def receive(self) -> BusEvent[Any]:
        """Next event, waiting for one; raises :class:`Lagged` once after falling behind."""
        await anyio.lowlevel.checkpoint()
        while True:
            try:
                return self.receive_nowait()
            except anyio.WouldBlock:
                pass
            if self._waiter is not None:
                raise anyio.BusyResourceError("receiving from this subscription")
            waiter = self._waiter = anyio.Event()
            try:
                await waiter.wait()
            finally:
                if self._waiter is waiter:
                    self._waiter = None

    def close(self) -> None:
        """Unsubscribe; a receiver waiting gets :class:`SubscriptionClosed`. Idempotent."""
        if not self._closed:
            self._closed = True
            self._queue.clear()
            self._lagged = False
            self._topic.subscribers.pop(self, None)
            self._wake()

    def __enter__(self) -> Subscription:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> BusEvent[Any]:
        """Iteration ends when the subscription closes; :class:`Lagged` propagates."""
        try:
            return await self.receive()
        except SubscriptionClosed:
            raise StopAsyncIteration from None

    def statistics(self) -> SubscriptionStatistics:
        return SubscriptionStatistics(
            topic=self._topic.name,
            capacity=self._capacity,
            depth=len(self._queue),
            received=self._received,
            lagged=self._lag_count,
            dropped=self._dropped,
            last_version=self._last_version,
        )


class Bus:
    """Topics by name, created on first use. ``queue_size`` is the default per
    subscriber: the explicit limit on how far one may fall behind before it lags."""

    def __init__(self, *, queue_size: int = 1024) -> None:
        _check_capacity(queue_size)
        self._queue_size = queue_size
        self._topics: dict[str, _Topic] = {}
        self._published = 0
        self._lagged = 0
        self._dropped = 0

    def _topic(self, name: str) -> _Topic:
        topic = self._topics.get(name)
        if topic is None:
            topic = self._topics[name] = _Topic(name)
        return topic

    def publish(self, topic: str, payload: Any, *, version: int | None = None) -> BusEvent[Any]:
        """Deliver to every subscriber of ``topic`` without waiting; returns the event.

        Without ``version`` the topic's next version is used. A caller-supplied version
        (e.g. a storage resourceVersion) must exceed the topic's last one: a version
        going backwards would make resuming after :class:`Lagged` skip or repeat events.
        """
        state = self._topic(topic)
        if version is None:
            version = state.version + 1
        elif version <= state.version:
            raise ValueError(
                f"version {version} of topic {topic!r} does not exceed the last one, "
                f"{state.version}"
            )
        state.version = version
        event = BusEvent(topic, version, payload)
        self._published += 1
        for subscriber in tuple(state.subscribers):
            subscriber._offer(event)
        return event

    def subscribe(self, topic: str, *, queue_size: int | None = None) -> Subscription:
        """Subscribe now: every event published from this call on is queued for it."""
        capacity = self._queue_size if queue_size is None else queue_size
        _check_capacity(capacity)
        state = self._topic(topic)
        subscription = Subscription(self, state, capacity)
        state.subscribers[subscription] = None
        return subscription

    def last_version(self, topic: str) -> int:
        topic_state = self._topics.get(topic)
        return 0 if topic_state is None else topic_state.version

    def statistics(self) -> BusStatistics:
        return BusStatistics(
            topics=len(self._topics),
            subscribers=sum(len(t.subscribers) for t in self._topics.values()),
            published=self._published,
            lagged=self._lagged,
            dropped=self._dropped,
        )


def _check_capacity(capacity: int) -> None:
    if capacity < 1:
        raise ValueError(f"queue size must be at least 1, got {capacity}")
