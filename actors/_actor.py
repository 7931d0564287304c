"""The actor: private state behind a bounded mailbox, one message at a time.

One message at a time is what lets a handler touch the actor's state without locks.
Every task an actor runs (its mailbox loop, its background work) lives in the actor's
own task group, which lives in the parent's, so stopping a parent stops everything
below it and no task outlives its owner.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

import anyio
from anyio.abc import TaskGroup, TaskStatus

from ._exceptions import (
    ActorCrashed,
    ActorStopped,
    AskTimeout,
    InjectedFault,
    RequestError,
)
from ._mailbox import Mailbox, MailboxClosed
from ._stats import ActorState, ActorStatistics, LatencyRecorder

if TYPE_CHECKING:
    from ._registry import Registry


class _Reply:
    """A one-shot slot an asker waits on; the first outcome wins, later ones are ignored."""

    __slots__ = ("_event", "_value", "_error")

    def __init__(self) -> None:
        self._event = anyio.Event()
        self._value: Any = None
        self._error: BaseException | None = None

    def resolve(self, value: Any) -> None:
        if not self._event.is_set():
            self._value = value
            self._event.set()

    def fail(self, error: BaseException) -> None:
        if not self._event.is_set():
            self._error = error
            self._event.set()

    async def wait(self) -> Any:
        await self._event.wait()
        if self._error is not None:
            raise self._error
        return self._value


class _Envelope(NamedTuple):
    message: Any
    reply: _Reply | None


def _stopped(name: str) -> ActorStopped:
    return ActorStopped(f"actor {name!r} is not running")


def _crashed(name: str, cause: BaseException) -> ActorCrashed:
    error = ActorCrashed(f"actor {name!r} crashed handling the request: {cause!r}")
    error.__cause__ = cause
    return error


def _sole_error(group: BaseExceptionGroup[BaseException]) -> BaseException | None:
    """The one real error inside ``group``, if that is all it holds.

    Task groups always wrap, but a crash with a single cause reads (and is caught)
    better as that cause; cancellations and multi-error groups stay as they are.
    """
    leaves: list[BaseException] = []
    pending: list[BaseException] = [group]
    while pending:
        error = pending.pop()
        if isinstance(error, BaseExceptionGroup):
            pending.extend(error.exceptions)
        else:
            leaves.append(error)
    if len(leaves) == 1 and not isinstance(leaves[0], anyio.get_cancelled_exc_class()):
        return leaves[0]
    return None


async def _raise(error: BaseException) -> None:
    raise error


class Actor:
    """Subclass and implement :meth:`handle`; optionally :meth:`on_start`, :meth:`on_stop`
    and :meth:`run`.

    Start one with ``await task_group.start(actor.serve)``: it returns once
    :meth:`on_start` has finished, so the caller knows the actor is up. An instance runs
    once; supervisors restart by building a new one from a factory, so a restart never
    inherits state that may be what made it crash.

    A handler exception that is an instance of :attr:`request_errors` is a bad request:
    it is raised to the asker (counted as an error for a ``tell``) and the actor carries
    on. Any other exception is an infrastructure failure: it crashes the actor, the asker
    gets :class:`ActorCrashed`, and the supervisor decides what happens next.
    """

    request_errors: ClassVar[tuple[type[Exception], ...]] = (RequestError,)

    def __init__(
        self,
        *,
        name: str | None = None,
        mailbox_size: int = 64,
        stop_timeout: float = 5.0,
        registry: Registry | None = None,
    ) -> None:
        self._name = name if name is not None else type(self).__name__
        self._mailbox: Mailbox[_Envelope] = Mailbox(mailbox_size, owner=self._name)
        self._stop_timeout = stop_timeout
        self._registry = registry
        self._state = ActorState.NEW
        self._tg: TaskGroup | None = None
        self._stopped_event: anyio.Event | None = None
        self._restarts = 0
        self._handled = 0
        self._errors = 0
        self._dropped = 0
        self._latency = LatencyRecorder()

    # -- identity ---------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self._name

    @property
    def state(self) -> ActorState:
        return self._state

    @property
    def registry(self) -> Registry | None:
        return self._registry

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._name!r} {self._state.value}>"

    def _attach(self, *, name: str, registry: Registry | None, restarts: int) -> None:
        """Called by a supervisor before start: the tree, not the factory, names a child."""
        if self._state is not ActorState.NEW:
            raise RuntimeError(f"cannot attach {self!r}: it already ran")
        self._name = name
        self._mailbox.owner = name
        self._registry = registry
        self._restarts = restarts

    # -- hooks for subclasses ---------------------------------------------------------

    async def handle(self, message: Any) -> Any:
        """Handle one message; the return value is the reply to an ``ask``."""
        raise NotImplementedError(f"{type(self).__name__} must implement handle()")

    async def on_start(self) -> None:
        """Acquire resources; the actor counts as started only once this returns."""

    async def on_stop(self) -> None:
        """Release what on_start acquired; runs after every stop or crash that followed
        a successful start, shielded and bounded by ``stop_timeout``."""

    async def run(self) -> None:
        """The actor's life: by default, process the mailbox until stopped.

        Override to add long-lived work, e.g. a controller reading a watch stream::

            async def run(self) -> None:
                self.spawn(self.follow_stream)
                await self.process_messages()

        The actor ends (normally) when ``run`` returns; background tasks are then
        cancelled. Background tasks should feed the actor through ``tell`` rather than
        touch its state, to keep the one-message-at-a-time guarantee.
        """
        await self.process_messages()

    # -- running ----------------------------------------------------------------------

    async def serve(self, *, task_status: TaskStatus[Any] = anyio.TASK_STATUS_IGNORED) -> None:
        """Run the actor until it stops (returns) or crashes (raises)."""
        if self._state is not ActorState.NEW:
            raise RuntimeError(
                f"{self!r} already ran; a restart needs a fresh instance from a factory"
            )
        self._state = ActorState.STARTING
        stopped = self._stopped_event = anyio.Event()
        ready = False
        outcome = ActorState.STOPPED
        sole: BaseException | None = None
        try:
            try:
                async with anyio.create_task_group() as tg:
                    self._tg = tg
                    await self.on_start()
                    ready = True
                    if self._registry is not None:
                        self._registry.register(self)
                    self._state = ActorState.RUNNING
                    task_status.started(self)
                    await self.run()
                    tg.cancel_scope.cancel()
            except BaseExceptionGroup as group:
                sole = _sole_error(group)
                if sole is None:
                    raise
            if sole is not None:
                # Raised outside the handler so the error keeps its own context.
                try:
                    raise sole
                finally:
                    sole = None  # no frame -> traceback -> frame cycle
        except Exception:
            outcome = ActorState.FAILED
            raise
        finally:
            self._tg = None
            self._state = ActorState.STOPPING
            if ready and self._registry is not None:
                self._registry.unregister(self)
            self._close_mailbox()
            try:
                if ready:
                    with anyio.move_on_after(self._stop_timeout, shield=True):
                        await self.on_stop()
            except Exception:
                outcome = ActorState.FAILED
                raise
            finally:
                self._state = outcome
                stopped.set()

    async def process_messages(self) -> None:
        """Handle mailbox messages one at a time, forever (until cancelled)."""
        while True:
            try:
                envelope = await self._mailbox.get()
            except MailboxClosed:
                return
            await self._dispatch(envelope)

    def spawn(
        self, fn: Callable[..., Coroutine[Any, Any, Any]], *args: Any, name: str | None = None
    ) -> None:
        """Run ``fn(*args)`` in the actor's task group.

        The task is stopped with the actor, and an exception from it crashes the actor:
        background work is never orphaned and never fails unnoticed.
        """
        if self._tg is None:
            raise _stopped(self._name)
        self._tg.start_soon(fn, *args, name=name or f"{self._name}:{getattr(fn, '__name__', fn)}")

    async def stop(self) -> None:
        """Stop the actor (cancelling its work, then ``on_stop``) and wait until it has."""
        if self._state is ActorState.NEW:
            self._abandon()
            return
        if self._tg is not None:
            self._tg.cancel_scope.cancel()
        await self.wait_stopped()

    async def wait_stopped(self) -> None:
        """Wait until a started actor has stopped or crashed."""
        if self._stopped_event is not None:
            await self._stopped_event.wait()

    def _abandon(self) -> None:
        """Retire an instance that never ran, so its mailbox is not left open."""
        if self._state is ActorState.NEW:
            self._state = ActorState.STOPPED
            self._close_mailbox()

    def _close_mailbox(self) -> None:
        for envelope in self._mailbox.close():
            if envelope.reply is not None:
                envelope.reply.fail(_stopped(self._name))

    def _inject_crash(self, error: BaseException) -> None:
        """Crash the actor as if one of its tasks had raised ``error`` (fault injection)."""
        if self._tg is None or self._state not in (ActorState.STARTING, ActorState.RUNNING):
            raise _stopped(self._name)
        self._tg.start_soon(_raise, error, name=f"{self._name}:injected-crash")

    # -- messaging --------------------------------------------------------------------

    async def tell(self, message: Any) -> None:
        """Queue a message, waiting for room: back-pressure slows the sender down.

        Never call this on yourself from a handler with a full mailbox (only the handler
        could make room); use :meth:`tell_nowait` there.
        """
        try:
            await self._mailbox.put(_Envelope(message, None))
        except MailboxClosed:
            raise _stopped(self._name) from None

    def tell_nowait(self, message: Any) -> None:
        """Queue a message now, or raise :class:`MailboxFull` so the sender can decide."""
        try:
            self._mailbox.put_nowait(_Envelope(message, None))
        except MailboxClosed:
            raise _stopped(self._name) from None

    async def ask(self, message: Any, *, timeout: float | None = 5.0) -> Any:
        """Send a message and wait for the reply.

        The deadline covers waiting for mailbox room too. Raises :class:`AskTimeout`,
        the handler's request error, :class:`ActorCrashed` if the actor crashed handling
        it, or :class:`ActorStopped` if it stopped before getting to it.
        """
        reply = _Reply()
        with anyio.move_on_after(timeout):
            try:
                await self._mailbox.put(_Envelope(message, reply))
            except MailboxClosed:
                raise _stopped(self._name) from None
            return await reply.wait()
        raise AskTimeout(f"actor {self._name!r} did not answer within {timeout}s")

    async def _dispatch(self, envelope: _Envelope) -> None:
        reply = envelope.reply
        started = anyio.current_time()
        try:
            verdict = self._registry.faults.judge(self._name) if self._registry else None
            if verdict is not None:
                if verdict.delay:
                    await anyio.sleep(verdict.delay)
                if verdict.crash:
                    raise InjectedFault(f"injected crash on a message to {self._name!r}")
                if verdict.drop:
                    self._dropped += 1
                    return
            try:
                result = await self.handle(envelope.message)
            except self.request_errors as error:
                self._handled += 1
                self._errors += 1
                if reply is not None:
                    reply.fail(error)
            else:
                self._handled += 1
                if reply is not None:
                    reply.resolve(result)
        except Exception as error:
            self._errors += 1
            if reply is not None:
                reply.fail(_crashed(self._name, error))
            raise
        except BaseException:
            if reply is not None:
                reply.fail(_stopped(self._name))
            raise
        finally:
            self._latency.record(anyio.current_time() - started)

    # -- statistics -------------------------------------------------------------------

    def statistics(self) -> ActorStatistics:
        return ActorStatistics(
            name=self._name,
            state=self._state,
            handled=self._handled,
            errors=self._errors,
            dropped=self._dropped,
            restarts=self._restarts,
            latency=self._latency.snapshot(),
            mailbox=self._mailbox.statistics(),
        )
