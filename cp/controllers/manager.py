"""The controller manager: every built-in controller under one supervisor.

Why one entry point: the server should start "the controllers", not know each one.
:func:`run_controllers` builds a one_for_one :class:`~actors.Supervisor` of permanent
children (a crashed controller is rebuilt from its factory, re-lists and converges;
the others carry on) and runs it until cancelled. Past its restart intensity the
supervisor gives up and :class:`~actors.SupervisorGaveUp` propagates to the caller:
a controller that cannot stay up is a server failure, not something to hide.

With leader election on, the tree runs only while this process holds the
``kube-system/<lease_name>`` Lease (client-go's algorithm, see
:class:`~cp.controllers.LeaderElector`), so several server processes on one Redis run
each controller once. Every leadership term gets a fresh supervisor: nothing built
under a lost term survives into the next.

Controllers are named ``controllers.<name>`` in the actor registry, which is how faults
are injected (``actors.faults.crash("controllers.namespace")``) and how their metrics
are labelled.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from typing import Any

import anyio
from anyio.abc import TaskStatus

from actors import ChildSpec, Registry, Restart, Strategy, Supervisor, SupervisorStatistics
from cp.controllers.allocation_repair import ClusterIPRepairController, NodePortRepairController
from cp.controllers.bootstrap import BootstrapConfig, BootstrapController
from cp.controllers.controller import Controller, ControllerStatistics
from cp.controllers.leader import LeaderElector, LeaderStatistics
from cp.controllers.metrics import MetricsRegistry
from cp.controllers.namespace import NamespaceController
from cp.registry import Registry as ApiRegistry
from cp.storage import Store

SUPERVISOR_NAME = "controllers"


def default_identity() -> str:
    """hostname_pid, unique among the processes sharing a store."""
    return f"{socket.gethostname()}_{os.getpid()}"


@dataclass(frozen=True, slots=True)
class ControllersConfig:
    """Everything the controllers and their supervision take from the command line."""

    bootstrap: BootstrapConfig = field(default_factory=BootstrapConfig)
    # 0 for one process; 5 (Kubernetes' value) when several share a store.
    namespace_deletion_grace_period: float = 0.0
    namespace_content_requeue: float = 1.0
    namespace_workers: int = 2
    # Restart intensity: more than max_restarts within restart_period gives up.
    max_restarts: int = 10
    restart_period: float = 10.0
    # Repair passes of the ClusterIP and NodePort allocations; a leak is released on the
    # second pass that sees it, at least leak_grace seconds (default: one interval) later.
    allocation_repair_interval: float = 60.0
    allocation_leak_grace: float | None = None
    backoff_base: float = 0.05
    backoff_max: float = 5.0
    leader_election: bool = False
    identity: str = field(default_factory=default_identity)
    lease_name: str = "cp-controller-manager"
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0


@dataclass(frozen=True, slots=True)
class ControllerManagerStatistics:
    """``terms``: supervisors started (leadership terms, or 1 without election)."""

    leader_election: bool
    leading: bool
    terms: int
    supervisor: SupervisorStatistics | None
    controllers: dict[str, ControllerStatistics]
    leader: LeaderStatistics | None


class ControllerManager:
    """Builds and runs the controller tree; see the module docstring."""

    def __init__(
        self,
        api: ApiRegistry,
        store: Store,
        *,
        config: ControllersConfig | None = None,
        metrics: MetricsRegistry | None = None,
        actors: Registry | None = None,
    ) -> None:
        self.api = api
        self.store = store
        self.config = config if config is not None else ControllersConfig()
        self.metrics = metrics if metrics is not None else MetricsRegistry()
        self.actors = actors if actors is not None else Registry()
        self.elector: LeaderElector | None = None
        if self.config.leader_election:
            c = self.config
            self.elector = LeaderElector(
                store,
                c.lease_name,
                c.identity,
                lease_duration=c.lease_duration,
                renew_deadline=c.renew_deadline,
                retry_period=c.retry_period,
            )
        self._supervisor: Supervisor | None = None
        self._terms = 0

    def child_specs(self) -> list[ChildSpec]:
        """One permanent child per controller, in start order."""
        c = self.config
        specs = [
            ChildSpec(
                "namespace",
                lambda: NamespaceController(
                    self.api,
                    deletion_grace_period=c.namespace_deletion_grace_period,
                    content_requeue=c.namespace_content_requeue,
                    workers=c.namespace_workers,
                    metrics=self.metrics,
                ),
                Restart.PERMANENT,
            ),
            ChildSpec(
                "bootstrap",
                lambda: BootstrapController(self.api, c.bootstrap, metrics=self.metrics),
                Restart.PERMANENT,
            ),
        ]
        allocation = self.api.allocation
        if allocation is not None:
            repair = {
                "interval": c.allocation_repair_interval,
                "leak_grace": c.allocation_leak_grace,
                "metrics": self.metrics,
            }
            specs += [
                ChildSpec(
                    "ipallocator-repair",
                    lambda: ClusterIPRepairController(
                        self.api, allocation.ips, allocation.ips.cache, **repair
                    ),
                    Restart.PERMANENT,
                ),
                ChildSpec(
                    "portallocator-repair",
                    lambda: NodePortRepairController(
                        self.api, allocation.ports, allocation.ports.cache, **repair
                    ),
                    Restart.PERMANENT,
                ),
            ]
        return specs

    def build_supervisor(self) -> Supervisor:
        c = self.config
        return Supervisor(
            self.child_specs(),
            strategy=Strategy.ONE_FOR_ONE,
            max_restarts=c.max_restarts,
            period=c.restart_period,
            backoff_base=c.backoff_base,
            backoff_max=c.backoff_max,
            name=SUPERVISOR_NAME,
            registry=self.actors,
        )

    @property
    def supervisor(self) -> Supervisor | None:
        """The supervisor of the current term, if one runs."""
        return self._supervisor

    async def run(self, *, task_status: TaskStatus[Any] = anyio.TASK_STATUS_IGNORED) -> None:
        """Run until cancelled. Reports started once the controllers are up (without
        election) or once campaigning has begun (with it: a follower is "started")."""
        if self.elector is None:
            await self._serve_term(task_status)
            return
        task_status.started()
        await self.elector.run(self._serve_term)

    async def _serve_term(self, task_status: TaskStatus[Any] = anyio.TASK_STATUS_IGNORED) -> None:
        supervisor = self.build_supervisor()
        self._supervisor = supervisor
        self._terms += 1
        try:
            # Served in this task, not a task group, so SupervisorGaveUp comes out as
            # itself rather than wrapped in an exception group.
            await supervisor.serve(task_status=task_status)
        finally:
            if self._supervisor is supervisor:
                self._supervisor = None

    def statistics(self) -> ControllerManagerStatistics:
        supervisor = self._supervisor
        controllers: dict[str, ControllerStatistics] = {}
        if supervisor is not None:
            for spec in supervisor.statistics().children:
                child = supervisor.child(spec.name)
                if isinstance(child, Controller):
                    controllers[child.name] = child.statistics()
        return ControllerManagerStatistics(
            leader_election=self.elector is not None,
            leading=supervisor is not None,
            terms=self._terms,
            supervisor=None if supervisor is None else supervisor.statistics(),
            controllers=controllers,
            leader=None if self.elector is None else self.elector.statistics(),
        )


async def run_controllers(
    registry: ApiRegistry,
    store: Store,
    *,
    config: ControllersConfig | None = None,
    metrics: MetricsRegistry | None = None,
    actors: Registry | None = None,
    task_status: TaskStatus[ControllerManager] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """The server's entry point: ``manager = await tg.start(partial(run_controllers,
    registry, store, config=..., metrics=...))``; runs until cancelled."""
    manager = ControllerManager(registry, store, config=config, metrics=metrics, actors=actors)
    await manager.run(task_status=_Reporting(task_status, manager))


class _Reporting:
    """Reports ``value`` to ``status`` whatever the inner start reports."""

    def __init__(self, status: TaskStatus[Any], value: Any) -> None:
        self._status = status
        self._value = value

    def started(self, value: Any = None) -> None:
        self._status.started(self._value)
