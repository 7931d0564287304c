"""Supervisors: OTP restart strategies on structured concurrency.

A supervisor is itself an actor, so supervisors nest: a child spec's factory may build
another supervisor. Its children run in its task group, so they never outlive it.

Ordering is the point of a supervisor: children start one by one, each reported ready
before the next starts (a later child may rely on an earlier one), and stop in reverse
order (so no child loses a dependency while still running). To keep that order even
when the whole tree is cancelled from above, a started child's cancel scope is shielded
and only the supervisor cancels it, in reverse order; each child's stop is bounded by
its own ``stop_timeout``.
"""

from __future__ import annotations

import dataclasses
import enum
import math
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import anyio
from anyio.abc import TaskStatus
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from ._actor import Actor
from ._exceptions import RequestError, SupervisorGaveUp
from ._registry import Registry
from ._stats import ChildStatistics, SupervisorStatistics


class Strategy(enum.Enum):
    """Which siblings a failure takes down with it."""

    ONE_FOR_ONE = "one_for_one"  # only the failed child restarts: children are independent
    ONE_FOR_ALL = "one_for_all"  # all restart: children cannot work without each other
    REST_FOR_ONE = "rest_for_one"  # the failed child and those started after it restart


class Restart(enum.Enum):
    """When a child that ended is started again."""

    PERMANENT = "permanent"  # always: it is meant to run for the supervisor's lifetime
    TRANSIENT = "transient"  # only after a crash: a normal end means its job is done
    TEMPORARY = "temporary"  # never, not even when a sibling's failure stopped it


@dataclass(frozen=True, slots=True)
class ChildSpec:
    """How to build a child, never the child itself: every (re)start calls ``factory``
    so a restart begins from fresh state."""

    name: str
    factory: Callable[[], Actor]
    restart: Restart = Restart.PERMANENT

    def __post_init__(self) -> None:
        if not self.name or "." in self.name:
            raise ValueError(f"child name must be non-empty and dot-free, got {self.name!r}")


class _Child:
    """One running instance in a slot; exit reports are matched against it."""

    __slots__ = ("slot", "actor", "scope", "done", "ready", "stopping", "error")

    def __init__(self, slot: _Slot, actor: Actor) -> None:
        self.slot = slot
        self.actor = actor
        self.scope: anyio.CancelScope | None = None
        self.done = anyio.Event()
        self.ready = False
        self.stopping = False
        self.error: Exception | None = None


class _Slot:
    """A child position in the start order; it outlives the instances it runs."""

    __slots__ = ("spec", "index", "child", "ended", "starts", "last_error")

    def __init__(self, spec: ChildSpec, index: int) -> None:
        self.spec = spec
        self.index = index
        self.child: _Child | None = None
        self.ended = False  # finished for good: not to be started again
        self.starts = 0
        # Kept for statistics: a failure the supervisor decided not to act on (a
        # temporary child) must still be visible somewhere.
        self.last_error: Exception | None = None

    @property
    def restarts(self) -> int:
        return max(0, self.starts - 1)


class _ReadyStatus:
    """Wraps the anyio task status so the supervisor knows whether a child got ready."""

    def __init__(self, child: _Child, status: TaskStatus[Any]) -> None:
        self._child = child
        self._status = status

    def started(self, value: Any = None) -> None:
        self._child.ready = True
        self._status.started(value)


class Supervisor(Actor):
    """Starts children in order, restarts them by ``strategy``, stops them in reverse.

    At most ``max_restarts`` restarts are allowed within ``period`` seconds; one more
    and the supervisor stops its remaining children and raises
    :class:`SupervisorGaveUp` (chained from the last child error) to its own parent.
    Before each restart it waits ``backoff_base * 2**(n-1)`` seconds (at most
    ``backoff_max``), ``n`` being the restarts within the current period, so a crash
    loop slows down instead of spinning. A child failing to start counts as a crash.

    Pass a ``registry`` to the root supervisor (one is created otherwise); nested
    supervisors share their parent's. Children are registered as
    ``"<supervisor name>.<child name>"``.
    """

    def __init__(
        self,
        children: Sequence[ChildSpec],
        *,
        strategy: Strategy = Strategy.ONE_FOR_ONE,
        max_restarts: int = 3,
        period: float = 5.0,
        backoff_base: float = 0.05,
        backoff_max: float = 5.0,
        name: str | None = None,
        registry: Registry | None = None,
        mailbox_size: int = 16,
        stop_timeout: float = 5.0,
    ) -> None:
        names = [spec.name for spec in children]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"duplicate child names: {duplicates}")
        if max_restarts < 0 or period <= 0:
            raise ValueError("max_restarts must be >= 0 and period > 0")
        if backoff_base < 0 or backoff_max < 0:
            raise ValueError("backoff_base and backoff_max must be >= 0")
        super().__init__(
            name=name if name is not None else "root",
            mailbox_size=mailbox_size,
            stop_timeout=stop_timeout,
            registry=registry if registry is not None else Registry(),
        )
        self._strategy = strategy
        self._max_restarts = max_restarts
        self._period = period
        self._backoff_base = backoff_base
        self._backoff_max = backoff_max
        self._slots = [_Slot(spec, i) for i, spec in enumerate(children)]
        self._restart_times: deque[float] = deque()
        self._total_restarts = 0
        self._exits: tuple[MemoryObjectSendStream[_Child], MemoryObjectReceiveStream[_Child]]
        self._exits_open = False

    @property
    def strategy(self) -> Strategy:
        return self._strategy

    def child(self, name: str) -> Actor | None:
        """The running instance of the child named ``name`` (short name), if any."""
        for slot in self._slots:
            if slot.spec.name == name and slot.child is not None:
                return slot.child.actor
        return None

    async def handle(self, message: Any) -> Any:
        raise RequestError(f"supervisor {self.name!r} takes no messages")

    # -- life cycle -------------------------------------------------------------------

    async def on_start(self) -> None:
        """Start every child, in order, before the supervisor reports ready."""
        # At most one exit report per running child is ever pending, so the buffer is
        # bounded by the number of children even though it is declared unbounded.
        self._exits = anyio.create_memory_object_stream[_Child](math.inf)
        self._exits_open = True
        try:
            await self._converge()
        except BaseException:
            await self._shutdown()
            raise

    async def run(self) -> None:
        """Wait for child exits and apply the strategy, until stopped or giving up."""
        receive = self._exits[1]
        try:
            self.spawn(self.process_messages)
            async for child in receive:
                if child.stopping or child.slot.child is not child:
                    continue  # stopped on purpose, or a stale report of a replaced child
                await self._child_exited(child)
                await self._converge()
        finally:
            await self._shutdown()

    async def _shutdown(self) -> None:
        """Stop the running children in reverse start order, whatever brought us here."""
        with anyio.CancelScope(shield=True):
            for slot in reversed(self._slots):
                if slot.child is not None:
                    await self._stop_child(slot)
        if self._exits_open:
            self._exits_open = False
            for stream in self._exits:
                stream.close()

    async def _run_child(self, child: _Child, *, task_status: TaskStatus[Any]) -> None:
        """Run one child and report its end; its errors go to the supervisor, not up."""
        try:
            with anyio.CancelScope() as scope:
                child.scope = scope
                await child.actor.serve(task_status=_ReadyStatus(child, task_status))
        except Exception as error:
            if not child.ready:
                raise  # start() re-raises it to the supervisor as a start failure
            child.error = error
        finally:
            child.done.set()
            if child.ready and self._exits_open:
                self._exits[0].send_nowait(child)

    async def _start_child(self, slot: _Slot) -> Exception | None:
        actor = slot.spec.factory()
        if not isinstance(actor, Actor):
            raise TypeError(f"factory of child {slot.spec.name!r} returned {actor!r}, not an Actor")
        actor._attach(
            name=f"{self.name}.{slot.spec.name}", registry=self._registry, restarts=slot.starts
        )
        child = _Child(slot, actor)
        slot.child = child
        slot.starts += 1
        assert self._tg is not None
        try:
            await self._tg.start(self._run_child, child)
        except Exception as error:
            slot.child = None
            return error
        except BaseException:
            slot.child = None  # start() has waited for the cancelled child to finish
            actor._abandon()  # in case it was cancelled before it ever ran
            raise
        assert child.scope is not None
        # From now on only this supervisor stops the child, so it can keep the order.
        child.scope.shield = True
        return None

    async def _stop_child(self, slot: _Slot) -> None:
        child = slot.child
        assert child is not None
        child.stopping = True
        if child.scope is not None:
            child.scope.cancel()
        await child.done.wait()
        slot.child = None

    async def _converge(self) -> None:
        """Start, in order, every child that should run but does not."""
        while True:
            slot = next((s for s in self._slots if s.child is None and not s.ended), None)
            if slot is None:
                return
            error = await self._start_child(slot)
            if error is None:
                continue
            slot.last_error = error
            if slot.spec.restart is Restart.TEMPORARY:
                slot.ended = True  # a failed start is its one and only run
            else:
                await self._restart_after(slot, error)

    async def _child_exited(self, child: _Child) -> None:
        slot = child.slot
        slot.child = None
        if child.error is not None:
            slot.last_error = child.error
        restart = slot.spec.restart
        if restart is Restart.PERMANENT or (
            restart is Restart.TRANSIENT and child.error is not None
        ):
            await self._restart_after(slot, child.error)
        else:
            slot.ended = True

    async def _restart_after(self, failed: _Slot, error: Exception | None) -> None:
        """Count the restart against the intensity, stop the siblings the strategy takes
        down (in reverse order), then back off; ``_converge`` starts them again."""
        now = anyio.current_time()
        self._restart_times.append(now)
        while self._restart_times and self._restart_times[0] <= now - self._period:
            self._restart_times.popleft()
        recent = len(self._restart_times)
        if recent > self._max_restarts:
            raise SupervisorGaveUp(
                self.name, f"{self.name}.{failed.spec.name}", recent, self._period
            ) from error
        self._total_restarts += 1
        if self._strategy is Strategy.ONE_FOR_ALL:
            affected = self._slots
        elif self._strategy is Strategy.REST_FOR_ONE:
            affected = self._slots[failed.index :]
        else:
            affected = [failed]
        for slot in reversed(affected):
            if slot is failed:
                continue
            if slot.child is not None:
                await self._stop_child(slot)
                if slot.spec.restart is Restart.TEMPORARY:
                    slot.ended = True
        delay = min(self._backoff_max, self._backoff_base * 2 ** (recent - 1))
        if delay > 0:
            await anyio.sleep(delay)

    # -- statistics -------------------------------------------------------------------

    def statistics(self) -> SupervisorStatistics:
        base = super().statistics()
        fields = {f.name: getattr(base, f.name) for f in dataclasses.fields(base)}
        return SupervisorStatistics(
            **fields,
            strategy=self._strategy.value,
            children=tuple(
                ChildStatistics(
                    name=slot.spec.name,
                    restart=slot.spec.restart.value,
                    running=slot.child is not None and slot.child.ready,
                    restarts=slot.restarts,
                    last_error=None if slot.last_error is None else repr(slot.last_error),
                )
                for slot in self._slots
            ),
            total_restarts=self._total_restarts,
        )
