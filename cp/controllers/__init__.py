"""The controller runtime: informers, a work queue, reconcile workers, leader election.

Controllers are level-triggered supervised actors (controller-runtime's contract)::

    cache (cp.storage.WatchCache) --list+watch--> Informer --keys--> WorkQueue
        --> N workers --> Controller.reconcile(key) --reads--> Informer.get(key)

* :class:`WorkQueue` - de-duplicated keys, one key never in flight twice, per-key
  exponential backoff (:class:`ExponentialBackoff`), delayed adds, ``statistics()``.
* :class:`Informer` - local index of one watch cache; resumes or re-lists so no event
  is lost; optional periodic resync.
* :class:`Controller` - an :class:`actors.Actor` owning informers, queue and workers;
  subclasses implement ``reconcile(key) -> Result | None``. Faults injected through
  ``registry.faults`` apply to each reconcile.
* :class:`MetricsRegistry` - per-controller counters, queue depth and the
  event-to-reconcile latency histogram, rendered in Prometheus text format.
* :class:`LeaderElector` - a coordination.k8s.io/v1 Lease, so controllers run once
  among several processes.
* :class:`NamespaceController`, :class:`BootstrapController` - the built-in controllers;
  :func:`run_controllers` runs them under one supervisor (:class:`ControllerManager`).
* :class:`ClusterIPRepairController`, :class:`NodePortRepairController` - find leaked,
  missing and doubly-allocated ClusterIPs and NodePorts (cp.registry.allocation).

Exceptions::

    Exception
     └── ShutDown        get() on a work queue that was shut down and is drained
"""

from cp.controllers.allocation_repair import (
    AllocationRepairController,
    ClusterIPRepairController,
    NodePortRepairController,
)
from cp.controllers.bootstrap import BootstrapConfig, BootstrapController
from cp.controllers.controller import Controller, ControllerStatistics, Result
from cp.controllers.informer import (
    ADDED,
    DELETED,
    MODIFIED,
    SYNC,
    Informer,
    InformerEvent,
    InformerStatistics,
    object_key,
)
from cp.controllers.leader import LEASES, LeaderElector, LeaderStatistics, run_when_leader
from cp.controllers.manager import (
    ControllerManager,
    ControllerManagerStatistics,
    ControllersConfig,
    run_controllers,
)
from cp.controllers.metrics import (
    CONTENT_TYPE,
    DEFAULT_BUCKETS,
    ControllerMetrics,
    Histogram,
    MetricsRegistry,
)
from cp.controllers.namespace import NamespaceController
from cp.controllers.workqueue import ExponentialBackoff, ShutDown, WorkQueue, WorkQueueStatistics

__all__ = [
    "ADDED",
    "AllocationRepairController",
    "CONTENT_TYPE",
    "DEFAULT_BUCKETS",
    "DELETED",
    "LEASES",
    "MODIFIED",
    "SYNC",
    "BootstrapConfig",
    "BootstrapController",
    "ClusterIPRepairController",
    "Controller",
    "ControllerManager",
    "ControllerManagerStatistics",
    "ControllerMetrics",
    "ControllerStatistics",
    "ControllersConfig",
    "ExponentialBackoff",
    "Histogram",
    "Informer",
    "InformerEvent",
    "InformerStatistics",
    "LeaderElector",
    "LeaderStatistics",
    "MetricsRegistry",
    "NamespaceController",
    "NodePortRepairController",
    "Result",
    "ShutDown",
    "WorkQueue",
    "WorkQueueStatistics",
    "object_key",
    "run_controllers",
    "run_when_leader",
]
