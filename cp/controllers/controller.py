"""The controller base: a supervised actor that reconciles keys from a work queue.

It follows controller-runtime's contract, because it is what makes controllers safe
to crash: ``reconcile(key)`` reads the current state (from an informer), never an event
payload; it is level-triggered, so running it once more is harmless; it returns a
:class:`Result` to be called again later, or raises to be retried with per-key backoff.
The work queue guarantees one key is never reconciled by two workers at once.

A crash loses no work: the supervisor builds a fresh instance from its factory, the
new instance's informers list everything again and every key is reconciled. Restarts
therefore need no saved state, and a chaos run can crash controllers at will.

Fault injection reaches the reconcile loop: each reconcile is judged by the actor
runtime's :class:`~actors.FaultInjector` under the controller's name, exactly like a
mailbox message. A delay slows the reconcile, a crash crashes the controller (the
supervisor restarts it), and a drop loses the reconcile as a lost event would (only a
later event or a resync brings the key back).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

import anyio

from actors import Actor, ActorStatistics, InjectedFault, Registry, RequestError
from cp.controllers.informer import Informer, InformerEvent, InformerStatistics
from cp.controllers.metrics import ControllerMetrics, MetricsRegistry
from cp.controllers.workqueue import ExponentialBackoff, ShutDown, WorkQueue, WorkQueueStatistics
from cp.storage.watch_cache import WatchCache
from cp.storage.watcher import Filter

KeysOf = Callable[[InformerEvent], Iterable[str]]


@dataclass(frozen=True, slots=True)
class Result:
    """What a reconcile asks for next: ``requeue_after`` seconds (a successful reconcile
    that wants to look again, e.g. to poll), or ``requeue`` with backoff (not done yet,
    but not an error). ``None`` or ``Result()`` means done."""

    requeue: bool = False
    requeue_after: float | None = None


@dataclass(frozen=True, slots=True)
class ControllerStatistics(ActorStatistics):
    """An actor's statistics plus its queue, informers and reconcile counts (this
    instance only; :class:`~cp.controllers.metrics.ControllerMetrics` spans restarts)."""

    queue: WorkQueueStatistics
    informers: tuple[InformerStatistics, ...]
    reconciles: int
    reconcile_errors: int
    last_error: str | None


def _own_key(event: InformerEvent) -> tuple[str]:
    return (event.key,)


class Controller(Actor):
    """Subclass, add informers in ``__init__`` and implement :meth:`reconcile`::

        class MirrorController(Controller):
            def __init__(self, configmaps: WatchCache, store: Store, **kw):
                super().__init__(**kw)
                self.configmaps = self.add_informer(configmaps)
                self.store = store

            async def reconcile(self, key: str) -> Result | None:
                obj = self.configmaps.get(key)
                ...

    Start it under a supervisor (``ChildSpec(name, factory)``); it reports ready once
    every informer has listed. Exceptions listed in :attr:`fatal_errors` crash the
    controller instead of being retried.
    """

    fatal_errors: ClassVar[tuple[type[Exception], ...]] = ()

    def __init__(
        self,
        *,
        workers: int = 1,
        backoff: ExponentialBackoff | None = None,
        metrics: MetricsRegistry | None = None,
        name: str | None = None,
        mailbox_size: int = 64,
        stop_timeout: float = 5.0,
        registry: Registry | None = None,
    ) -> None:
        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        super().__init__(
            name=name, mailbox_size=mailbox_size, stop_timeout=stop_timeout, registry=registry
        )
        self.workers = workers
        self.queue: WorkQueue[str] = WorkQueue(
            backoff=backoff if backoff is not None else ExponentialBackoff()
        )
        self._metrics_registry = metrics if metrics is not None else MetricsRegistry()
        self._metrics: ControllerMetrics | None = None
        self._informers: list[Informer] = []
        self._reconciles = 0
        self._reconcile_errors = 0
        self._last_error: str | None = None

    # -- set-up --------------------------------------------------------------------------

    def add_informer(
        self,
        cache: WatchCache,
        filter_: Filter | None = None,
        *,
        keys_of: KeysOf | None = None,
        resync_period: float | None = None,
    ) -> Informer:
        """Watch ``cache`` and enqueue, for each event, the keys ``keys_of(event)``
        returns (by default the object's own key; map an owned object to its owner's
        key for a secondary resource). Call before the controller starts."""
        informer = Informer(cache, filter_, resync_period=resync_period)
        mapper = keys_of if keys_of is not None else _own_key
        queue = self.queue

        def enqueue(event: InformerEvent) -> None:
            for key in mapper(event):
                queue.add(key)

        informer.add_handler(enqueue)
        self._informers.append(informer)
        return informer

    @property
    def informers(self) -> tuple[Informer, ...]:
        return tuple(self._informers)

    @property
    def metrics(self) -> ControllerMetrics:
        """This controller's metrics, shared by every instance with the same name."""
        if self._metrics is None:
            self._metrics = self._metrics_registry.controller(self.name)
        return self._metrics

    # -- the contract --------------------------------------------------------------------

    async def reconcile(self, key: str) -> Result | None:
        """Make the world match the desired state of ``key``; read it from an informer."""
        raise NotImplementedError(f"{type(self).__name__} must implement reconcile()")

    async def handle(self, message: Any) -> Any:
        raise RequestError(f"controller {self.name!r} takes no messages")

    # -- life cycle ----------------------------------------------------------------------

    async def on_start(self) -> None:
        """Start the informers and wait until all have listed (their first events are
        then queued), so "started" means "caught up with the cache"."""
        for informer in self._informers:
            self.spawn(informer.run, name=f"{self.name}:informer:{informer.resource}")
        for informer in self._informers:
            await informer.wait_synced()
        self.metrics.bind_queue(self.queue.__len__)  # on_stop unbinds: only after a start

    async def run(self) -> None:
        for index in range(self.workers):
            self.spawn(self._work, name=f"{self.name}:worker-{index}")
        await self.process_messages()

    async def on_stop(self) -> None:
        self.queue.shut_down()
        self.metrics.unbind_queue(self.queue.__len__)

    async def _work(self) -> None:
        queue = self.queue
        while True:
            try:
                key = await queue.get()
            except ShutDown:
                return
            try:
                await self._process(key)
            finally:
                queue.done(key)

    async def _process(self, key: str) -> None:
        queue = self.queue
        since = queue.first_added(key)
        registry = self.registry
        if registry is not None:
            verdict = registry.faults.judge(self.name)
            if verdict.delay:
                await anyio.sleep(verdict.delay)
            if verdict.crash:
                raise InjectedFault(f"injected crash reconciling {key!r} in {self.name!r}")
            if verdict.drop:
                queue.forget(key)
                self._count("dropped")
                return
        try:
            result = await self.reconcile(key)
        except self.fatal_errors:
            raise
        except Exception as error:
            # The contract: an error is retried with backoff, and counted and shown in
            # statistics and metrics rather than logged and forgotten.
            self._reconcile_errors += 1
            self._last_error = f"{key}: {error!r}"
            queue.add_rate_limited(key, since=since)
            self._count("error")
            return
        if result is not None and result.requeue_after is not None:
            queue.forget(key)
            queue.add_after(key, result.requeue_after)
            self._count("requeue_after")
            self.metrics.observe_latency(anyio.current_time() - since)
        elif result is not None and result.requeue:
            queue.add_rate_limited(key, since=since)
            self._count("requeue")
        else:
            queue.forget(key)
            self._count("success")
            self.metrics.observe_latency(anyio.current_time() - since)

    def _count(self, result: str) -> None:
        self._reconciles += 1
        self.metrics.reconciled(result)

    # -- statistics ----------------------------------------------------------------------

    def statistics(self) -> ControllerStatistics:
        base = super().statistics()
        fields = {f.name: getattr(base, f.name) for f in dataclasses.fields(base)}
        return ControllerStatistics(
            **fields,
            queue=self.queue.statistics(),
            informers=tuple(i.statistics() for i in self._informers),
            reconciles=self._reconciles,
            reconcile_errors=self._reconcile_errors,
            last_error=self._last_error,
        )
