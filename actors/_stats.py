"""Statistics snapshots, returned by every ``statistics()`` method.

They are frozen dataclasses, as in trio, so a snapshot can be handed to /metrics or a
test without the runtime mutating it underneath. Counters are totals since the object
was created; a restarted actor is a new object, so its counters start again and the
supervisor's per-child ``restarts`` carries the history.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class ActorState(enum.Enum):
    """Life cycle of one actor instance; an instance runs once and is never restarted."""

    NEW = "new"
    STARTING = "starting"
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class LatencyStatistics:
    """Handling latency as count/total/max: cheap to keep and enough for a mean and a peak."""

    count: int
    total: float
    max: float

    @property
    def mean(self) -> float:
        return self.total / self.count if self.count else 0.0


class LatencyRecorder:
    """Mutable accumulator behind :class:`LatencyStatistics`."""

    __slots__ = ("_count", "_total", "_max")

    def __init__(self) -> None:
        self._count = 0
        self._total = 0.0
        self._max = 0.0

    def record(self, seconds: float) -> None:
        self._count += 1
        self._total += seconds
        if seconds > self._max:
            self._max = seconds

    def snapshot(self) -> LatencyStatistics:
        return LatencyStatistics(count=self._count, total=self._total, max=self._max)


@dataclass(frozen=True, slots=True)
class MailboxStatistics:
    """``rejected`` were refused as full; ``dropped`` were accepted but never delivered."""

    capacity: int
    depth: int
    total_put: int
    total_rejected: int
    total_dropped: int
    waiting_senders: int


@dataclass(frozen=True, slots=True)
class ActorStatistics:
    """``errors`` counts handler exceptions (rejected requests and the crash, if any);
    ``dropped`` counts messages discarded by fault injection; ``restarts`` is how many
    times the supervisor had restarted this child before this instance started."""

    name: str
    state: ActorState
    handled: int
    errors: int
    dropped: int
    restarts: int
    latency: LatencyStatistics
    mailbox: MailboxStatistics


@dataclass(frozen=True, slots=True)
class ChildStatistics:
    """One child slot of a supervisor; it outlives the instances the slot has run."""

    name: str
    restart: str
    running: bool
    restarts: int
    last_error: str | None


@dataclass(frozen=True, slots=True)
class SupervisorStatistics(ActorStatistics):
    """A supervisor is an actor, so its snapshot extends the actor's."""

    strategy: str
    children: tuple[ChildStatistics, ...]
    total_restarts: int


@dataclass(frozen=True, slots=True)
class SubscriptionStatistics:
    """``lagged`` counts lag incidents; ``dropped`` the events this subscriber lost."""

    topic: str
    capacity: int
    depth: int
    received: int
    lagged: int
    dropped: int
    last_version: int


@dataclass(frozen=True, slots=True)
class BusStatistics:
    """``lagged`` counts lag incidents over all subscribers; ``dropped`` the events lost."""

    topics: int
    subscribers: int
    published: int
    lagged: int
    dropped: int


@dataclass(frozen=True, slots=True)
class FaultStatistics:
    """How many faults were actually injected, so a chaos run can prove it did something."""

    targets: int
    crashes: int
    delays: int
    drops: int
