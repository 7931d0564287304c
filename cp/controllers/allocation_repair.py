"""Repair controllers for ClusterIP and NodePort allocations, as Kubernetes' ipallocator
and portallocator repair controllers.

Why they exist: the allocation objects and the Services are written separately (an
allocation, then the Service), so a crash between the two, a write that bypassed the
registry, or an older server leaves them disagreeing. Each pass compares every Service
with every allocation:

* an allocation whose owner Service does not exist or does not hold it is *leaked*. It
  is freed only once it was already leaked on an earlier pass and at least
  ``leak_grace`` seconds ago, since a Service create in flight looks exactly like a leak
  (Kubernetes waits several passes for the same reason). Before acting, the owner is
  read from the store (the informer may lag), and the delete carries the allocation's
  resourceVersion and UID, so a concurrent re-allocation is never undone. If another
  Service holds the item, the allocation is pointed at it instead (a wrong reference);
* a Service holding an item with no allocation gets one (confirmed in the store first);
* an item held by two Services is doubly allocated: the allocation's owner (else the
  oldest Service) keeps it, the others get a Warning Event (``ClusterIPAlreadyAllocated``,
  ``PortAlreadyAllocated``), as do Services holding a value outside the range
  (``ClusterIPOutOfRange``, ``PortOutOfRange``). These need a person: only the Event.

A pass runs at start, on every Service or allocation change (the key is ``pass``: the
work queue folds a burst of changes into one pass) and every ``interval`` seconds.

Events are core/v1 Events written through the registry's ``events`` storage (so they
are validated, get a uid and show in ``kubectl get events``), named
``<service>.<hash of service uid, reason and item>`` so that a restarted controller
finds and counts up the Event it wrote before instead of adding a new one.
"""

from __future__ import annotations

import hashlib
from typing import Any, ClassVar

import anyio

from cp.controllers.controller import Controller, Result
from cp.controllers.informer import InformerEvent
from cp.registry import Registry, ResourceStorage
from cp.registry.allocation import (
    NodePortAllocator,
    ServiceIPAllocator,
    ServiceRef,
    StoredRange,
    cluster_ips,
    node_ports,
)
from cp.registry.strategy import now_rfc3339
from cp.storage import AlreadyExists, NotFound, WatchCache

PASS = "pass"


def _pass(event: InformerEvent) -> tuple[str]:
    return (PASS,)


def _age(service: dict[str, Any]) -> tuple[str, str, str]:
    meta = service.get("metadata") or {}
    return (
        str(meta.get("creationTimestamp") or ""),
        str(meta.get("namespace") or ""),
        str(meta.get("name") or ""),
    )


class AllocationRepairController(Controller):
    """The pass shared by both repair controllers; subclasses say what a Service holds
    and how the Events are worded."""

    component: ClassVar[str]
    already_allocated: ClassVar[str]
    not_allocated: ClassVar[str]

    def __init__(
        self,
        api: Registry,
        allocator: StoredRange,
        allocations: WatchCache,
        *,
        interval: float = 180.0,
        leak_grace: float | None = None,
        **options: Any,
    ) -> None:
        super().__init__(**options)
        if interval <= 0:
            raise ValueError("interval must be > 0")
        self.allocator = allocator
        self.interval = interval
        self.leak_grace = interval if leak_grace is None else leak_grace
        self.service_storage = _storage(api, "services")
        self.event_storage = _storage(api, "events")
        self.services = self.add_informer(self.service_storage.cache, keys_of=_pass)
        self.allocations = self.add_informer(allocations, keys_of=_pass)
        self._suspects: dict[str, float] = {}  # leaked allocation key -> first seen
        self._reported: set[str] = set()
        self.passes = 0
        self.released = 0
        self.repaired = 0
        self.events = 0

    @property
    def leak_suspects(self) -> frozenset[str]:
        """Allocations seen leaked on the last pass, waiting out their grace."""
        return frozenset(self._suspects)

    # -- what a subclass provides --------------------------------------------------------

    def claims(self, service: dict[str, Any]) -> list[Any]:
        raise NotImplementedError

    def problem(self, value: Any) -> tuple[str, str] | None:
        """(reason, message) for a held value that cannot be allocated, or None."""
        raise NotImplementedError

    def describe(self, value: Any) -> str:
        raise NotImplementedError

    # -- the pass ------------------------------------------------------------------------

    async def on_start(self) -> None:
        await super().on_start()
        self.queue.add(PASS)

    async def reconcile(self, key: str) -> Result | None:
        await self.repair_once()
        return Result(requeue_after=self.interval)

    async def repair_once(self) -> None:
        holders = await self._holders()
        await self._check_allocations(holders)
        for key, services in holders.items():
            record = self.allocations.get(key)
            owner = None if record is None else ServiceRef.of_allocation(record)
            keeper = next((s for s in services if ServiceRef.of(s) == owner), services[0])
            if record is None:
                await self._adopt(key, keeper)
            for other in services:
                if other is not keeper:
                    value = self._value(other, key)
                    message = self.already_allocated.format(self.describe(value))
                    await self._warn(other, self._reason("AlreadyAllocated"), message, key)
        self.passes += 1

    async def _holders(self) -> dict[str, list[dict[str, Any]]]:
        """Allocation key -> the Services holding it, oldest first; out-of-range and
        invalid values are reported instead."""
        holders: dict[str, list[dict[str, Any]]] = {}
        for service in sorted(self.services.list(), key=_age):
            for value in self.claims(service):
                trouble = self.problem(value)
                if trouble is not None:
                    await self._warn(service, trouble[0], trouble[1], str(value))
                    continue
                holders.setdefault(self.allocator.key(value), []).append(service)
        return holders

    async def _check_allocations(self, holders: dict[str, list[dict[str, Any]]]) -> None:
        now = anyio.current_time()
        suspects: dict[str, float] = {}
        for key in self.allocations.keys():
            obj = self.allocations.get(key)
            owner = None if obj is None else ServiceRef.of_allocation(obj)
            services = holders.get(key, [])
            if owner is not None and any(ServiceRef.of(s) == owner for s in services):
                continue
            first_seen = self._suspects.get(key)
            suspects[key] = now if first_seen is None else first_seen
            if first_seen is not None and now - first_seen >= self.leak_grace:
                if await self._fix(key, services):
                    suspects.pop(key, None)
        self._suspects = suspects

    async def _fix(self, key: str, services: list[dict[str, Any]]) -> bool:
        """Free or re-point a leaked allocation; True when it no longer needs watching."""
        record = await self._lookup(key)
        if record is None:
            return True
        owner = ServiceRef.of_allocation(record.decode())
        if owner is not None and await self._holds(owner, key):
            return True  # the informer lagged: the owner does hold it
        for service in services:
            ref = ServiceRef.of(service)
            if await self._holds(ref, key):
                if await self.allocator.reassign(record, ref):
                    self.repaired += 1
                return True
        if await self.allocator.delete(record):
            self.released += 1
        return True

    async def _adopt(self, key: str, service: dict[str, Any]) -> None:
        ref = ServiceRef.of(service)
        if not await self._holds(ref, key):
            return  # the informer lagged: gone or changed; a later pass sees the truth
        value = self._value(service, key)
        if await self.allocator.adopt(value, ref):
            self.repaired += 1
            message = self.not_allocated.format(self.describe(value))
            await self._warn(service, self._reason("NotAllocated"), message, key)

    # -- reads from the store ------------------------------------------------------------

    async def _lookup(self, key: str) -> Any:
        try:
            return await self.allocator.store.get(self.allocator.resource, key)
        except NotFound:
            return None

    async def _holds(self, ref: ServiceRef, key: str) -> bool:
        """Whether the Service, as stored now, holds the item (a consistent read)."""
        rdef = self.service_storage.rdef
        try:
            record = await self.service_storage.store.get(
                rdef.storage_name, rdef.key(ref.namespace, ref.name)
            )
        except NotFound:
            return False
        service = record.decode()
        return any(
            self.problem(v) is None and self.allocator.key(v) == key for v in self.claims(service)
        )

    def _value(self, service: dict[str, Any], key: str) -> Any:
        return next(v for v in self.claims(service) if self.allocator.key(v) == key)

    def _reason(self, suffix: str) -> str:
        raise NotImplementedError

    # -- events --------------------------------------------------------------------------

    async def _warn(self, service: dict[str, Any], reason: str, message: str, item: str) -> None:
        meta = service["metadata"]
        digest = hashlib.sha256(f"{meta.get('uid')}/{reason}/{item}".encode()).hexdigest()[:16]
        name = f"{meta['name']}.{digest}"
        if name in self._reported:
            return
        now = now_rfc3339()
        body = {
            "metadata": {"name": name, "namespace": meta["namespace"]},
            "involvedObject": {
                "kind": "Service",
                "namespace": meta["namespace"],
                "name": meta["name"],
                "uid": meta.get("uid", ""),
                "apiVersion": "v1",
                "resourceVersion": meta.get("resourceVersion", ""),
            },
            "reason": reason,
            "message": message,
            "type": "Warning",
            "source": {"component": self.component},
            "reportingComponent": self.component,
            "reportingInstance": "",
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        try:
            await self.event_storage.create(meta["namespace"], body)
        except AlreadyExists:
            await self.event_storage.patch(meta["namespace"], name, _count_up)
        self._reported.add(name)
        self.events += 1


def _count_up(event: dict[str, Any]) -> dict[str, Any]:
    event["count"] = int(event.get("count") or 1) + 1
    event["lastTimestamp"] = now_rfc3339()
    return event


class ClusterIPRepairController(AllocationRepairController):
    """Keeps the IPAddress objects true to the Services' ClusterIPs."""

    component = "ipallocator-repair-controller"

    def __init__(
        self,
        api: Registry,
        allocator: ServiceIPAllocator,
        allocations: WatchCache,
        **options: Any,
    ) -> None:
        super().__init__(api, allocator, allocations, **options)
        self.ips = allocator
        family = allocator.family
        self.already_allocated = (
            f"Cluster IP [{family}]:{{}} was assigned to multiple services; please recreate service"
        )
        self.not_allocated = f"Cluster IP [{family}]:{{}} is not allocated; repairing"

    def claims(self, service: dict[str, Any]) -> list[Any]:
        return cluster_ips(service)

    def problem(self, value: Any) -> tuple[str, str] | None:
        if self.ips.contains(value):
            return None
        try:
            self.ips.key(value)
        except ValueError:
            return (
                "ClusterIPNotValid",
                f"Cluster IP {value} is not a valid IP; please recreate service",
            )
        return (
            "ClusterIPOutOfRange",
            f"Cluster IP [{self.ips.family}]:{value} is not within the service CIDR "
            f"{self.ips.network}; please recreate service",
        )

    def describe(self, value: Any) -> str:
        return str(value)

    def _reason(self, suffix: str) -> str:
        return f"ClusterIP{suffix}"


class NodePortRepairController(AllocationRepairController):
    """Keeps the node port allocations true to the Services' nodePorts."""

    component = "portallocator-repair-controller"
    already_allocated = "Port {} was assigned to multiple services; please recreate service"
    not_allocated = "Port {} is not allocated; repairing"

    def __init__(
        self,
        api: Registry,
        allocator: NodePortAllocator,
        allocations: WatchCache,
        **options: Any,
    ) -> None:
        super().__init__(api, allocator, allocations, **options)
        self.ports = allocator

    def claims(self, service: dict[str, Any]) -> list[Any]:
        return node_ports(service)

    def problem(self, value: Any) -> tuple[str, str] | None:
        if self.ports.contains(value):
            return None
        return (
            "PortOutOfRange",
            f"Port {value} is not within the port range {self.ports.port_range}; "
            "please recreate service",
        )

    def describe(self, value: Any) -> str:
        return str(value)

    def _reason(self, suffix: str) -> str:
        return f"Port{suffix}"


def _storage(api: Registry, resource: str) -> ResourceStorage:
    for rdef in api.defs:
        if rdef.group == "" and rdef.resource == resource:
            return api.storage(rdef)
    raise LookupError(f"the registry serves no core {resource}")
