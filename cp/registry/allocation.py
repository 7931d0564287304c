"""ClusterIP and NodePort allocation, with the state in storage so every server agrees.

Why one stored object per allocated item (as Kubernetes' networking.k8s.io/v1 IPAddress
objects, KEP-1880) rather than a bitmap: ``store.create`` of the item's key is atomic
and raises AlreadyExists when another process got there first, so the store itself is
the cross-process lock, on the memory and the Redis backend alike. Release is a delete
with the allocation's UID as precondition, so a release never removes an allocation
that was meanwhile re-made for someone else.

    ServiceIPAllocator    "networking.k8s.io/ipaddresses", key = the IP
    NodePortAllocator     "cp.internal/nodeports", key = the port
    ServiceAllocation     what the Service REST storage calls on create/update/delete

Errors, as Kubernetes' ipallocator and portallocator name them (the allocators raise
these; :class:`ServiceAllocation` translates them once into the 422/500 Status
kube-apiserver returns)::

    AllocationError
    ├── AlreadyAllocated   "provided IP is already allocated"
    ├── NotInRange         "the provided IP (x) is not in the valid range. ..."
    └── RangeFull          "range is full"

Dynamic allocation picks a random free item, from the upper part of the range first
(KEP-3070/KEP-3668: the lower part is kept for static requests), scanning on from the
random start when a create collides. The first service address is reserved for the
``default/kubernetes`` Service, which the bootstrap controller asks for explicitly.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import random
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import anyio

from cp.meta.status import ApiError, Cause, internal_error
from cp.meta.status import invalid as invalid_error
from cp.meta.validation import invalid
from cp.registry.strategy import now_rfc3339
from cp.storage import (
    AlreadyExists,
    Conflict,
    History,
    NotFound,
    Record,
    StorageError,
    Store,
    WatchCache,
)

IPADDRESSES = "networking.k8s.io/ipaddresses"
NODEPORTS = "cp.internal/nodeports"
DEFAULT_CIDR = "10.0.0.0/24"
DEFAULT_NODE_PORTS = "30000-32767"
KUBERNETES_SERVICE = ("default", "kubernetes")
MANAGED_BY = "ipallocator.k8s.io"
# How long a roll-back release may take when the request failed or was cancelled.
CLEANUP_TIMEOUT = 5.0

log = logging.getLogger(__name__)


class AllocationError(Exception):
    """Base of the allocators' refusals; ``str()`` is Kubernetes' wording."""


class AlreadyAllocated(AllocationError):
    pass


class NotInRange(AllocationError):
    pass


class RangeFull(AllocationError):
    def __init__(self) -> None:
        super().__init__("range is full")


@dataclass(frozen=True, slots=True)
class ServiceRef:
    """The owner an allocation records (an IPAddress's spec.parentRef)."""

    namespace: str
    name: str

    @classmethod
    def of(cls, service: dict[str, Any]) -> ServiceRef:
        meta = service.get("metadata") or {}
        return cls(str(meta.get("namespace") or ""), str(meta.get("name") or ""))

    @classmethod
    def of_allocation(cls, obj: dict[str, Any]) -> ServiceRef | None:
        ref = (obj.get("spec") or {}).get("parentRef") or {}
        if ref.get("resource") != "services" or not ref.get("name"):
            return None
        return cls(str(ref.get("namespace") or ""), str(ref["name"]))

    def parent_ref(self) -> dict[str, str]:
        return {"group": "", "resource": "services", "namespace": self.namespace, "name": self.name}

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


def range_offset(size: int, *, minimum: int, maximum: int, step: int) -> int:
    """KEP-3070's calculateRangeOffset: min(max(minimum, size/step), maximum), or 0 for
    ranges too small to split. Dynamic allocation uses the items from the offset on."""
    if size <= minimum:
        return 0
    return min(max(minimum, size // step), maximum)


class StoredRange:
    """A range of ``size`` items whose allocations are stored objects.

    Subclasses map values (an IP string, a port number) to offsets and keys, and build
    the stored object. ``cache``, a WatchCache of ``resource``, makes finding free items
    cheap; without it each dynamic allocation lists the store.
    """

    resource: str
    noun: str  # "IP" or "port", as the messages say it

    def __init__(
        self,
        store: Store,
        size: int,
        offset: int,
        *,
        cache: WatchCache | None = None,
        rng: random.Random | None = None,
    ) -> None:
        if size < 1:
            raise ValueError("the range holds no allocatable item")
        self.store = store
        self.size = size
        self.offset = offset
        self.cache = cache
        self._rng = rng if rng is not None else random.Random()
        self._reserved: dict[int, ServiceRef] = {}

    # -- what a subclass provides --------------------------------------------------------

    def offset_of(self, value: Any) -> int | None:
        """The value's offset in the range, or None when outside it."""
        raise NotImplementedError

    def value_at(self, offset: int) -> Any:
        raise NotImplementedError

    def key(self, value: Any) -> str:
        return str(value)

    def not_in_range(self, value: Any) -> NotInRange:
        raise NotImplementedError

    def build(self, key: str, owner: ServiceRef) -> dict[str, Any]:
        raise NotImplementedError

    # -- allocation ----------------------------------------------------------------------

    def contains(self, value: Any) -> bool:
        return self.offset_of(value) is not None

    def reserve(self, value: Any, owner: ServiceRef) -> None:
        """Keep ``value`` out of dynamic allocation and refuse it to anyone but ``owner``."""
        offset = self.offset_of(value)
        if offset is None:
            raise ValueError(f"{value} is outside the range")
        self._reserved[offset] = owner

    async def allocate(self, owner: ServiceRef, value: Any = None) -> Any:
        """Allocate ``value`` (or, when None, any free item) to ``owner``; return it.

        Raises NotInRange, AlreadyAllocated or RangeFull; storage errors propagate.
        """
        if value is not None:
            offset = self.offset_of(value)
            if offset is None:
                raise self.not_in_range(value)
            holder = self._reserved.get(offset)
            if (holder is not None and holder != owner) or not await self._create(offset, owner):
                raise AlreadyAllocated(f"provided {self.noun} is already allocated")
            return self.value_at(offset)
        taken = await self.allocated_keys()
        for low, high in ((self.offset, self.size), (0, self.offset)):
            if low >= high:
                continue
            start = self._rng.randrange(low, high)
            for i in range(high - low):
                offset = low + (start - low + i) % (high - low)
                if offset in self._reserved or self.key(self.value_at(offset)) in taken:
                    continue
                if await self._create(offset, owner):
                    return self.value_at(offset)
                # A collision with another allocator: scan on from here.
        raise RangeFull()

    async def adopt(self, value: Any, owner: ServiceRef) -> bool:
        """Record that ``owner`` holds ``value`` (repair); False if it is recorded already."""
        offset = self.offset_of(value)
        if offset is None:
            raise self.not_in_range(value)
        return await self._create(offset, owner)

    async def _create(self, offset: int, owner: ServiceRef) -> bool:
        key = self.key(self.value_at(offset))
        try:
            await self.store.create(self.resource, key, self.build(key, owner))
        except AlreadyExists:
            return False
        return True

    async def release(self, value: Any, *, owner: ServiceRef | None = None) -> bool:
        """Free ``value``; with ``owner``, only if the allocation is ``owner``'s.

        Returns whether this call freed it. Releasing what is free is a no-op, as in
        Kubernetes. The delete carries the allocation's UID, so an allocation re-made
        for someone else between the read and the delete survives.
        """
        record = await self.lookup(value)
        if record is None:
            return False
        if owner is not None and ServiceRef.of_allocation(record.decode()) != owner:
            return False
        return await self.delete(record)

    async def delete(self, record: Record) -> bool:
        """Delete exactly this allocation record (repair: a leak seen at ``record``)."""
        try:
            await self.store.delete(self.resource, record.key, rv=record.rv, uid=record.uid)
        except (NotFound, Conflict):
            return False
        return True

    async def reassign(self, record: Record, owner: ServiceRef) -> bool:
        """Point the allocation at another holder, if it is still exactly ``record``."""
        obj = record.decode()
        obj["spec"]["parentRef"] = owner.parent_ref()
        try:
            await self.store.update(self.resource, record.key, obj, rv=record.rv, uid=record.uid)
        except (NotFound, Conflict):
            return False
        return True

    async def lookup(self, value: Any) -> Record | None:
        """The allocation record of ``value``, read from the store (not the cache)."""
        try:
            return await self.store.get(self.resource, self.key(value))
        except NotFound:
            return None

    async def allocated_keys(self) -> set[str]:
        """Keys of the current allocations: from the cache if there is one (possibly a
        little stale: a stale entry only costs a failed create), else from the store."""
        if self.cache is not None and self.cache.ready:
            listed = await self.cache.list(rv=0)
            return {item.key for item in listed.items}
        records, _ = await self.store.list(self.resource)
        return {record.key for record in records}

    def _meta(self, key: str, **extra: Any) -> dict[str, Any]:
        return {"name": key, "uid": str(uuid.uuid4()), "creationTimestamp": now_rfc3339(), **extra}


class ServiceIPAllocator(StoredRange):
    """ClusterIPs from ``--service-cluster-ip-range``: every address but the network
    address (and, for IPv4, the broadcast address); the first is the kubernetes
    Service's."""

    resource = IPADDRESSES
    noun = "IP"

    def __init__(
        self,
        store: Store,
        cidr: str = DEFAULT_CIDR,
        *,
        cache: WatchCache | None = None,
        rng: random.Random | None = None,
        reserved_for: ServiceRef | None = ServiceRef(*KUBERNETES_SERVICE),
    ) -> None:
        self.network = ipaddress.ip_network(cidr, strict=True)
        last = self.network.num_addresses - (2 if self.network.version == 4 else 1)
        self._first = int(self.network.network_address) + 1
        size = max(0, last)
        self.family = f"IPv{self.network.version}"
        offset = range_offset(self.network.num_addresses, minimum=16, maximum=256, step=16)
        super().__init__(store, size, offset, cache=cache, rng=rng)
        if reserved_for is not None:
            self.reserve(self.first_ip, reserved_for)

    @property
    def first_ip(self) -> str:
        return self.value_at(0)

    def offset_of(self, value: Any) -> int | None:
        try:
            address = ipaddress.ip_address(value)
        except ValueError:
            return None
        if address.version != self.network.version:
            return None
        offset = int(address) - self._first
        return offset if 0 <= offset < self.size else None

    def value_at(self, offset: int) -> str:
        return str(ipaddress.ip_address(self._first + offset))

    def key(self, value: Any) -> str:
        return str(ipaddress.ip_address(value))

    def not_in_range(self, value: Any) -> NotInRange:
        return NotInRange(
            f"the provided IP ({value}) is not in the valid range. "
            f"The range of valid IPs is {self.network}"
        )

    def build(self, key: str, owner: ServiceRef) -> dict[str, Any]:
        labels = {
            "ipaddress.kubernetes.io/ip-family": self.family,
            "ipaddress.kubernetes.io/managed-by": MANAGED_BY,
        }
        return {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "IPAddress",
            "metadata": self._meta(key, labels=labels),
            "spec": {"parentRef": owner.parent_ref()},
        }


class NodePortAllocator(StoredRange):
    """NodePorts from ``--service-node-port-range`` ("30000-32767", both included)."""

    resource = NODEPORTS
    noun = "port"

    def __init__(
        self,
        store: Store,
        port_range: str = DEFAULT_NODE_PORTS,
        *,
        cache: WatchCache | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.base, self.last = parse_port_range(port_range)
        size = self.last - self.base + 1
        offset = range_offset(size, minimum=16, maximum=128, step=32)
        super().__init__(store, size, offset, cache=cache, rng=rng)

    @property
    def port_range(self) -> str:
        return f"{self.base}-{self.last}"

    def offset_of(self, value: Any) -> int | None:
        if isinstance(value, bool) or not isinstance(value, int):
            return None
        return value - self.base if self.base <= value <= self.last else None

    def value_at(self, offset: int) -> int:
        return self.base + offset

    def not_in_range(self, value: Any) -> NotInRange:
        return NotInRange(
            f"provided port is not in the valid range. The range of valid ports is {self.port_range}"
        )

    def build(self, key: str, owner: ServiceRef) -> dict[str, Any]:
        return {
            "apiVersion": "cp.internal/v1",
            "kind": "NodePortAllocation",
            "metadata": self._meta(key),
            "spec": {"port": int(key), "parentRef": owner.parent_ref()},
        }


def parse_port_range(text: str) -> tuple[int, int]:
    """ "30000-32767" (or one port "30000") -> (30000, 32767); ValueError when invalid."""
    first, _, last = text.partition("-")
    try:
        low, high = int(first), int(last or first)
    except ValueError:
        raise ValueError(f"invalid port range {text!r}") from None
    if not 0 < low <= high < 65536:
        raise ValueError(f"invalid port range {text!r}")
    return low, high


def allocation_caches(store: Store, history: History | None = None) -> list[WatchCache]:
    """The watch caches of the two allocation types (IP addresses, node ports): the
    allocators read free items from them and the repair controllers inform on them."""
    return [
        WatchCache(
            store,
            IPADDRESSES,
            kind="IPAddress",
            api_version="networking.k8s.io/v1",
            history=history,
        ),
        WatchCache(
            store,
            NODEPORTS,
            kind="NodePortAllocation",
            api_version="cp.internal/v1",
            history=history,
        ),
    ]


# -- the Service side ----------------------------------------------------------------------


def needs_cluster_ip(service: dict[str, Any]) -> bool:
    spec = service.get("spec") or {}
    return spec.get("type", "ClusterIP") != "ExternalName" and spec.get("clusterIP") != "None"


def needs_node_ports(service: dict[str, Any]) -> bool:
    return (service.get("spec") or {}).get("type") in ("NodePort", "LoadBalancer")


def cluster_ips(service: dict[str, Any]) -> list[str]:
    """The ClusterIPs a Service holds (none when headless or ExternalName)."""
    spec = service.get("spec") or {}
    if spec.get("type") == "ExternalName":
        return []
    ips = spec.get("clusterIPs") or ([spec["clusterIP"]] if spec.get("clusterIP") else [])
    return [ip for ip in ips if isinstance(ip, str) and ip and ip != "None"]


def node_ports(service: dict[str, Any]) -> list[int]:
    """The node ports a Service holds (collectServiceNodePorts), each once."""
    spec = service.get("spec") or {}
    found: list[int] = []
    for port in spec.get("ports") or []:
        number = port.get("nodePort") if isinstance(port, dict) else None
        if isinstance(number, int) and number and number not in found:
            found.append(number)
    health = spec.get("healthCheckNodePort")
    if isinstance(health, int) and health and health not in found:
        found.append(health)
    return found


def _go_strings(values: list[str]) -> str:
    """How field.Invalid prints a []string (Go's %#v)."""
    return "[]string{" + ", ".join(json.dumps(v) for v in values) + "}"


class Transaction:
    """What one request allocated (``revert`` frees it if the write fails) and what it
    frees once the write succeeded (``commit``), as kube-apiserver's alloc transactions."""

    def __init__(self, allocation: ServiceAllocation, owner: ServiceRef) -> None:
        self._allocation = allocation
        self.owner = owner
        self.ips: list[str] = []
        self.ports: list[int] = []
        self.release_ips: list[str] = []
        self.release_ports: list[int] = []

    async def commit(self) -> None:
        for ip in self.release_ips:
            await self._allocation.ips.release(ip, owner=self.owner)
        for port in self.release_ports:
            await self._allocation.ports.release(port, owner=self.owner)

    async def revert(self) -> None:
        """Free what this request took; shielded and bounded, so it runs even when the
        request was cancelled. A release that fails must not hide the error being
        raised: what it leaves allocated is a leak the repair controller frees."""
        with anyio.CancelScope(shield=True), anyio.move_on_after(CLEANUP_TIMEOUT):
            for allocator, values in (
                (self._allocation.ips, self.ips),
                (self._allocation.ports, self.ports),
            ):
                for value in values:
                    try:
                        await allocator.release(value, owner=self.owner)
                    except StorageError as exc:
                        log.warning("could not free %s after a failed write: %s", value, exc)


class ServiceAllocation:
    """The Service REST storage's allocation hooks.

    Recommended use, so a failed or cancelled write never leaks::

        async with allocation.creating(service):          # after validation
            record = await store.create(...)
        async with allocation.updating(old, new):          # after validation
            record = await store.update(...)
        ...a delete that removed the object...
        await allocation.release(deleted_object)

    ``allocate``/``update``/``release`` are the primitives behind them.
    """

    def __init__(self, ips: ServiceIPAllocator, ports: NodePortAllocator) -> None:
        self.ips = ips
        self.ports = ports

    @classmethod
    def build(
        cls,
        store: Store,
        *,
        cidr: str = DEFAULT_CIDR,
        node_port_range: str = DEFAULT_NODE_PORTS,
        history: History | None = None,
    ) -> tuple[ServiceAllocation, list[WatchCache]]:
        """Allocators backed by their own watch caches; the caller runs the caches."""
        caches = allocation_caches(store, history)
        allocation = cls(
            ServiceIPAllocator(store, cidr, cache=caches[0]),
            NodePortAllocator(store, node_port_range, cache=caches[1]),
        )
        return allocation, caches

    # -- primitives ----------------------------------------------------------------------

    async def allocate(self, service: dict[str, Any]) -> Transaction:
        """Fill spec.clusterIP(s) and the ports' nodePorts of a Service being created,
        allocating what it asks for or free ones. On failure nothing stays allocated.

        Raises ApiError: 422 Invalid for a requested value that is taken or outside the
        range, 500 when a range is full (as kube-apiserver answers). The returned
        transaction's ``revert`` frees it all again (the write failed).
        """
        txn = Transaction(self, ServiceRef.of(service))
        try:
            await self._allocate_ip(service, txn)
            if needs_node_ports(service):
                await self._allocate_ports(service, set(), txn)
        except BaseException:
            await txn.revert()
            raise
        return txn

    async def update(self, old: dict[str, Any], new: dict[str, Any]) -> Transaction:
        """Allocate what ``new`` needs beyond ``old``; ``commit`` the result once the
        write succeeded (it frees what ``new`` dropped), ``revert`` it if it failed.

        The ClusterIP is immutable: an empty one in ``new`` is filled from ``old`` (as
        kube-apiserver's patchAllocatedValues), and so are nodePorts left out of ports.
        """
        txn = Transaction(self, ServiceRef.of(old))
        try:
            await self._update_ip(old, new, txn)
            await self._update_ports(old, new, txn)
        except BaseException:
            await txn.revert()
            raise
        return txn

    async def release(self, service: dict[str, Any]) -> None:
        """Free what a deleted Service held, where the allocation records it as owner
        (so deleting one of two Services sharing an IP never frees the other's)."""
        owner = ServiceRef.of(service)
        for ip in cluster_ips(service):
            await self.ips.release(ip, owner=owner)
        for port in node_ports(service):
            await self.ports.release(port, owner=owner)

    @asynccontextmanager
    async def creating(self, service: dict[str, Any]) -> AsyncIterator[Transaction]:
        txn = await self.allocate(service)
        try:
            yield txn
        except BaseException:
            await txn.revert()
            raise

    @asynccontextmanager
    async def updating(
        self, old: dict[str, Any], new: dict[str, Any]
    ) -> AsyncIterator[Transaction]:
        txn = await self.update(old, new)
        try:
            yield txn
        except BaseException:
            await txn.revert()
            raise
        await txn.commit()

    # -- ClusterIP -----------------------------------------------------------------------

    async def _allocate_ip(self, service: dict[str, Any], txn: Transaction) -> None:
        if not needs_cluster_ip(service):
            return
        spec = service["spec"]
        requested = spec.get("clusterIP") or next(iter(spec.get("clusterIPs") or []), "")
        owner = ServiceRef.of(service)
        if requested:
            if self.ips.offset_of(requested) is None and not _parses(requested):
                raise self._invalid(
                    service,
                    invalid(
                        "spec.clusterIPs[0]",
                        requested,
                        "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
                    ),
                )
            try:
                ip = await self.ips.allocate(owner, requested)
            except (AlreadyAllocated, NotInRange) as exc:
                message = f"Invalid value: {_go_strings([requested])}: failed to allocate IP {requested}: {exc}"
                raise self._invalid(
                    service, Cause("FieldValueInvalid", message, "spec.clusterIPs")
                ) from exc
        else:
            try:
                ip = await self.ips.allocate(owner)
            except RangeFull as exc:
                raise internal_error(f"failed to allocate a serviceIP: {exc}") from exc
        txn.ips.append(ip)
        spec["clusterIP"] = ip
        spec["clusterIPs"] = [ip]
        spec.setdefault("ipFamilies", [self.ips.family])

    async def _update_ip(self, old: dict[str, Any], new: dict[str, Any], txn: Transaction) -> None:
        old_ips = cluster_ips(old)
        spec = new.setdefault("spec", {})
        if spec.get("type") == "ExternalName":
            txn.release_ips.extend(old_ips)
            if old_ips and spec.get("clusterIP") in (None, "", old_ips[0]):
                for field in ("clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"):
                    spec.pop(field, None)
            return
        if not old_ips and (old.get("spec") or {}).get("clusterIP") != "None":
            await self._allocate_ip(new, txn)  # from ExternalName (or never allocated)
            return
        if old_ips and not spec.get("clusterIP") and not spec.get("clusterIPs"):
            old_spec = old["spec"]
            spec["clusterIP"] = old_spec.get("clusterIP")
            spec["clusterIPs"] = list(old_spec.get("clusterIPs") or [old_spec.get("clusterIP")])

    # -- NodePorts -----------------------------------------------------------------------

    async def _allocate_ports(
        self, service: dict[str, Any], held: set[int], txn: Transaction
    ) -> None:
        """initNodePorts/updateNodePorts: ports sharing a port number share a nodePort;
        requested nodePorts not already ``held`` are allocated, missing ones are chosen
        (unless a LoadBalancer opts out with allocateLoadBalancerNodePorts: false)."""
        spec = service["spec"]
        owner = ServiceRef.of(service)
        allocate_new = spec.get("type") != "LoadBalancer" or spec.get(
            "allocateLoadBalancerNodePorts", True
        )
        by_port: dict[Any, int] = {}
        got: set[int] = set(held)
        for i, port in enumerate(spec.get("ports") or []):
            if not isinstance(port, dict):
                continue
            requested = port.get("nodePort") or by_port.get(port.get("port"))
            if not requested and not allocate_new:
                continue
            if requested:
                if requested not in got:
                    try:
                        await self.ports.allocate(owner, requested)
                    except (AlreadyAllocated, NotInRange) as exc:
                        cause = invalid(f"spec.ports[{i}].nodePort", requested, str(exc))
                        raise self._invalid(service, cause) from exc
                    txn.ports.append(requested)
                    got.add(requested)
                number = requested
            else:
                try:
                    number = await self.ports.allocate(owner)
                except RangeFull as exc:
                    raise internal_error(f"failed to allocate a nodePort: {exc}") from exc
                txn.ports.append(number)
                got.add(number)
            port["nodePort"] = number
            by_port.setdefault(port.get("port"), number)

    async def _update_ports(
        self, old: dict[str, Any], new: dict[str, Any], txn: Transaction
    ) -> None:
        old_ports = node_ports(old)
        if not needs_node_ports(new):
            if needs_node_ports(old):
                # dropTypeDependentFields: nodePorts the client left as they were go.
                kept = {p.get("name"): p.get("nodePort") for p in old["spec"].get("ports") or []}
                for port in new.get("spec", {}).get("ports") or []:
                    if isinstance(port, dict) and port.get("nodePort") == kept.get(
                        port.get("name")
                    ):
                        port.pop("nodePort", None)
            txn.release_ports.extend(p for p in old_ports if p not in node_ports(new))
            return
        if needs_node_ports(old):
            _patch_node_ports(old, new)
        await self._allocate_ports(new, set(old_ports), txn)
        now = node_ports(new)
        txn.release_ports.extend(p for p in old_ports if p not in now)

    def _invalid(self, service: dict[str, Any], cause: Cause) -> ApiError:
        return invalid_error("Service", "", ServiceRef.of(service).name, [cause])


def _patch_node_ports(old: dict[str, Any], new: dict[str, Any]) -> None:
    """patchAllocatedValues: a port that lost its nodePort gets the old one of the same
    name back, unless another port now uses it."""
    used = set(node_ports(old)) & set(node_ports(new))
    by_name = {p.get("name"): p.get("nodePort") for p in old["spec"].get("ports") or []}
    for port in new["spec"].get("ports") or []:
        if isinstance(port, dict) and not port.get("nodePort"):
            previous = by_name.get(port.get("name"))
            if previous and previous not in used:
                port["nodePort"] = previous
                used.add(previous)


def _parses(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True
