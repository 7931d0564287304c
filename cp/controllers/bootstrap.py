"""The bootstrap controller: the objects every cluster has and clients rely on.

What kube-apiserver's system-namespaces and kubernetes-service controllers keep:

* namespaces ``default``, ``kube-system``, ``kube-public``, ``kube-node-lease``;
* Service ``default/kubernetes``: ClusterIP, the first address of the service range
  (10.0.0.1 for the default 10.0.0.0/24), port 443 named ``https`` targeting the
  server's port, no selector, labels ``component=apiserver, provider=kubernetes``;
* its Endpoints (the advertised address and the server's port, labelled
  ``endpointslice.kubernetes.io/skip-mirror=true`` so no mirroring controller copies
  them) and EndpointSlice ``default/kubernetes`` (labelled
  ``kubernetes.io/service-name=kubernetes``, as kube-apiserver's endpoints adapter
  writes it: no managed-by label, since no EndpointSlice controller owns it).

Why a controller and not a start-up script: these objects can be deleted or tampered
with at any time (a direct store write, a careless ``kubectl edit``), and clients break
when they are wrong. Each is a key, reconciled on every change an informer sees and
again every ``interval`` seconds, so a deletion that left no event behind (the memory
store restarted, the watch was lost) is repaired too. Fields this controller does not
own (annotations, other labels) are left alone; an immutable field that is wrong
(clusterIP, addressType) is repaired by deleting and recreating the object.
"""

from __future__ import annotations

import copy
import ipaddress
from dataclasses import dataclass
from typing import Any

from cp.controllers.controller import Controller, Result
from cp.controllers.informer import InformerEvent
from cp.registry import Registry, ResourceStorage
from cp.registry.rest import Preconditions
from cp.registry.strategy import nested
from cp.storage import AlreadyExists, Filter, NotFound

SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
SERVICE_NAME = "kubernetes"
SERVICE_NAMESPACE = "default"
SERVICE_KEY = f"{SERVICE_NAMESPACE}/{SERVICE_NAME}"
SKIP_MIRROR = "endpointslice.kubernetes.io/skip-mirror"
SERVICE_NAME_LABEL = "kubernetes.io/service-name"

Path = tuple[str, ...]


@dataclass(frozen=True, slots=True)
class BootstrapConfig:
    """``--service-cluster-ip-range``, the address and port clients reach the server at,
    and how often everything is checked even without events."""

    service_cluster_ip_range: str = "10.0.0.0/24"
    advertise_address: str = "127.0.0.1"
    port: int = 6443
    interval: float = 10.0

    def __post_init__(self) -> None:
        if not 0 < self.port < 65536:
            raise ValueError(f"port must be within 1-65535, got {self.port}")
        if self.interval <= 0:
            raise ValueError("interval must be > 0")
        ipaddress.ip_address(self.advertise_address)  # raises ValueError when invalid
        self.service_ip  # noqa: B018 - validates the range at construction

    @property
    def service_ip(self) -> str:
        """The first usable address of the service range, as kube-apiserver reserves it."""
        network = ipaddress.ip_network(self.service_cluster_ip_range, strict=True)
        if network.num_addresses < 4:
            raise ValueError(f"service range {network} is too small")
        return str(network[1])

    @property
    def address_type(self) -> str:
        return "IPv6" if ipaddress.ip_address(self.advertise_address).version == 6 else "IPv4"


def desired_objects(config: BootstrapConfig) -> dict[str, dict[str, Any]]:
    """The Service, Endpoints and EndpointSlice, keyed ``service``, ``endpoints`` and
    ``endpointslice``."""
    meta = {"name": SERVICE_NAME, "namespace": SERVICE_NAMESPACE}
    ip = config.service_ip
    port = {"name": "https", "port": config.port, "protocol": "TCP"}
    return {
        "service": {
            "metadata": {**meta, "labels": {"component": "apiserver", "provider": "kubernetes"}},
            "spec": {
                "type": "ClusterIP",
                "clusterIP": ip,
                "clusterIPs": [ip],
                "sessionAffinity": "None",
                "ports": [
                    {"name": "https", "protocol": "TCP", "port": 443, "targetPort": config.port}
                ],
            },
        },
        "endpoints": {
            "metadata": {**meta, "labels": {SKIP_MIRROR: "true"}},
            "subsets": [{"addresses": [{"ip": config.advertise_address}], "ports": [port]}],
        },
        "endpointslice": {
            "metadata": {**meta, "labels": {SERVICE_NAME_LABEL: SERVICE_NAME}},
            "addressType": config.address_type,
            "endpoints": [{"addresses": [config.advertise_address], "conditions": {"ready": True}}],
            "ports": [port],
        },
    }


# Per object: the fields this controller owns (absent in the desired object: must be
# absent), and the immutable one that forces a re-create when wrong.
_OWNED: dict[str, tuple[tuple[Path, ...], Path]] = {
    "service": (
        (("spec", "type"), ("spec", "ports"), ("spec", "selector"), ("spec", "sessionAffinity")),
        ("spec", "clusterIP"),
    ),
    "endpoints": ((("subsets",),), ()),
    "endpointslice": ((("endpoints",), ("ports",)), ("addressType",)),
}


def _set(obj: dict[str, Any], path: Path, value: Any) -> None:
    node = obj
    for part in path[:-1]:
        node = node.setdefault(part, {})
    if value is None:
        node.pop(path[-1], None)
    else:
        node[path[-1]] = copy.deepcopy(value)


def repaired(
    current: dict[str, Any], desired: dict[str, Any], owned: tuple[Path, ...]
) -> dict[str, Any] | None:
    """``current`` with the owned fields and labels made right, or None if they are."""
    new = copy.deepcopy(current)
    for path in owned:
        if nested(new, *path) != nested(desired, *path):
            _set(new, path, nested(desired, *path))
    labels = new["metadata"].setdefault("labels", {})
    labels.update(desired["metadata"]["labels"])
    return None if new == current else new


class BootstrapController(Controller):
    """Keys: ``namespace:<name>`` for each system namespace, ``service``,
    ``endpoints`` and ``endpointslice``."""

    def __init__(
        self, api: Registry, config: BootstrapConfig | None = None, **options: Any
    ) -> None:
        super().__init__(**options)
        self.config = config if config is not None else BootstrapConfig()
        self.desired = desired_objects(self.config)
        self.storages: dict[str, ResourceStorage] = {
            "namespace": _storage(api, "", "namespaces"),
            "service": _storage(api, "", "services"),
            "endpoints": _storage(api, "", "endpoints"),
            "endpointslice": _storage(api, "discovery.k8s.io", "endpointslices"),
        }
        self._by_kind = {
            "namespace": self.add_informer(
                self.storages["namespace"].cache, keys_of=_namespace_keys
            ),
            **{
                kind: self.add_informer(
                    self.storages[kind].cache,
                    Filter(SERVICE_NAMESPACE),
                    keys_of=_service_keys(kind),
                )
                for kind in ("service", "endpoints", "endpointslice")
            },
        }

    @property
    def keys(self) -> list[str]:
        return [f"namespace:{n}" for n in SYSTEM_NAMESPACES] + list(self.desired)

    async def on_start(self) -> None:
        await super().on_start()
        # Absent objects have no event: every key is checked once at start, then every
        # interval (each reconcile asks to be called again).
        for key in self.keys:
            self.queue.add(key)

    async def reconcile(self, key: str) -> Result | None:
        again = Result(requeue_after=self.config.interval)
        if key.startswith("namespace:"):
            await self._ensure_namespace(key.removeprefix("namespace:"))
            return again
        if key not in self.desired:
            return None
        default = self._by_kind["namespace"].get(SERVICE_NAMESPACE)
        if default is None:
            await self._ensure_namespace(SERVICE_NAMESPACE)
        elif default["metadata"].get("deletionTimestamp"):
            return again  # being emptied: recreated (with these) once it is gone
        await self._ensure(key)
        return again

    async def _ensure_namespace(self, name: str) -> None:
        if self._by_kind["namespace"].get(name) is not None:
            return
        body = {"metadata": {"name": name}, "spec": {"finalizers": ["kubernetes"]}}
        try:
            await self.storages["namespace"].create(None, body)
        except AlreadyExists:
            pass  # created meanwhile (another process, or our informer lags): fine

    async def _ensure(self, kind: str) -> None:
        storage = self.storages[kind]
        desired = self.desired[kind]
        owned, immutable = _OWNED[kind]
        current = self._by_kind[kind].get(SERVICE_KEY)
        if (
            current is not None
            and immutable
            and nested(current, *immutable) != nested(desired, *immutable)
        ):
            try:
                await storage.delete(
                    SERVICE_NAMESPACE,
                    SERVICE_NAME,
                    Preconditions(uid=current["metadata"].get("uid")),
                )
            except NotFound:
                pass
            current = None
        if current is None:
            try:
                await storage.create(SERVICE_NAMESPACE, copy.deepcopy(desired))
            except AlreadyExists:
                pass  # our informer lags: its event brings the key back
            return
        new = repaired(current, desired, owned)
        if new is not None:
            rv = int(current["metadata"]["resourceVersion"])
            await storage.update(SERVICE_NAMESPACE, SERVICE_NAME, new, body_rv=rv)


def _storage(api: Registry, group: str, resource: str) -> ResourceStorage:
    for rdef in api.defs:
        if rdef.group == group and rdef.resource == resource:
            return api.storage(rdef)
    raise LookupError(f"the registry serves no {resource}.{group}")


def _namespace_keys(event: InformerEvent) -> tuple[str, ...]:
    return (f"namespace:{event.key}",) if event.key in SYSTEM_NAMESPACES else ()


def _service_keys(kind: str) -> Any:
    def keys(event: InformerEvent) -> tuple[str, ...]:
        return (kind,) if event.key == SERVICE_KEY else ()

    return keys
