"""Server-side printing: meta.k8s.io/v1 Table for `kubectl get`.

kubectl asks for `application/json;as=Table;v=v1;g=meta.k8s.io` and prints the columns
the server chooses, so the columns here are those of Kubernetes' printers
(pkg/printers/internalversion) for each built-in type, and NAME/AGE for the rest.  Ages
are computed at response time, so tables are encoded per response, not cached.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable
from typing import Any

from cp.registry.event_conversion import EVENTS_API_VERSION, events_to_core

Object = dict[str, Any]
Cell = Any
Column = tuple[str, str, int]  # name, type, priority
Printer = tuple[list[Column], Callable[[Object, datetime.datetime], list[Cell]]]

TABLE_MEDIA = ("as=table", "g=meta.k8s.io")


def wants_table(accept: str) -> bool:
    """The first Accept entry asking for a meta.k8s.io/v1 Table decides."""
    for entry in accept.lower().replace(" ", "").split(","):
        params = entry.split(";")[1:]
        if "as=table" in params:
            if "g=meta.k8s.io" in params and "v=v1" in params:
                return True
            continue
        return False
    return False


def human_duration(seconds: float) -> str:
    """duration.HumanDuration, as kubectl's AGE column shows it.

    A second in the future still reads as now: clocks of writers and server disagree
    that much, and events carry the writer's clock."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        return f"{minutes}m{s % 60}s" if s % 60 else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = s // 3600
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{hours // 24}d{hours % 24}h" if hours % 24 else f"{hours // 24}d"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        years = hours // 24 // 365
        days = hours // 24 % 365
        return f"{years}y{days}d" if days else f"{years}y"
    return f"{hours // 24 // 365}y"


_ZERO_TIME = datetime.datetime(1, 1, 1, tzinfo=datetime.UTC)


def _instant(stamp: Any) -> datetime.datetime | None:
    """A Time or MicroTime as Go reads it; None for Go's zero time, which prints as
    unknown."""
    if not isinstance(stamp, str) or not stamp:
        return None
    try:
        when = datetime.datetime.fromisoformat(stamp)
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.UTC)
    try:
        when = when.astimezone(datetime.UTC)
    except OverflowError:
        return None
    return None if when == _ZERO_TIME else when


def _since(stamp: Any, now: datetime.datetime) -> str:
    """translateTimestampSince: an unset time is unknown rather than two thousand years old."""
    when = _instant(stamp)
    return "<unknown>" if when is None else human_duration((now - when).total_seconds())


def _age(obj: Object, now: datetime.datetime) -> str:
    return _since((obj.get("metadata") or {}).get("creationTimestamp"), now)


def _name(obj: Object) -> str:
    return (obj.get("metadata") or {}).get("name", "")


def _get(obj: Any, *path: str, default: Any = "") -> Any:
    for part in path:
        if not isinstance(obj, dict):
            return default
        obj = obj.get(part)
    return default if obj is None else obj


def _ports(ports: Iterable[Any]) -> str:
    out = []
    for p in ports or []:
        if not isinstance(p, dict):
            continue
        text = f"{p.get('port', '')}"
        if p.get("nodePort"):
            text += f":{p['nodePort']}"
        out.append(f"{text}/{p.get('protocol', 'TCP')}")
    return ",".join(out) or "<none>"


def _service(obj: Object, now: datetime.datetime) -> list[Cell]:
    spec = obj.get("spec") or {}
    external = ",".join(spec.get("externalIPs") or []) or (
        "<pending>" if spec.get("type") == "LoadBalancer" else "<none>"
    )
    selector = (
        ",".join(f"{k}={v}" for k, v in sorted((spec.get("selector") or {}).items())) or "<none>"
    )
    return [
        _name(obj),
        spec.get("type", ""),
        spec.get("clusterIP") or "<none>",
        external,
        _ports(spec.get("ports")),
        _age(obj, now),
        selector,
    ]


def _pod(obj: Object, now: datetime.datetime) -> list[Cell]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    statuses = status.get("containerStatuses") or []
    ready = sum(1 for c in statuses if isinstance(c, dict) and c.get("ready"))
    restarts = sum(int(c.get("restartCount") or 0) for c in statuses if isinstance(c, dict))
    phase = status.get("reason") or status.get("phase") or "Unknown"
    if (obj.get("metadata") or {}).get("deletionTimestamp"):
        phase = "Terminating"
    return [
        _name(obj),
        f"{ready}/{len(spec.get('containers') or [])}",
        phase,
        restarts,
        _age(obj, now),
        status.get("podIP") or "<none>",
        spec.get("nodeName") or "<none>",
        status.get("nominatedNodeName") or "<none>",
        "<none>",
    ]


def _node(obj: Object, now: datetime.datetime) -> list[Cell]:
    conditions = _get(obj, "status", "conditions", default=[])
    ready = next((c for c in conditions if isinstance(c, dict) and c.get("type") == "Ready"), None)
    state = (
        "Unknown" if ready is None else ("Ready" if ready.get("status") == "True" else "NotReady")
    )
    if _get(obj, "spec", "unschedulable", default=False):
        state += ",SchedulingDisabled"
    labels = _get(obj, "metadata", "labels", default={})
    roles = sorted(
        k.split("/", 1)[1] for k in labels if k.startswith("node-role.kubernetes.io/")
    ) or ["<none>"]
    return [
        _name(obj),
        state,
        ",".join(roles),
        _age(obj, now),
        _get(obj, "status", "nodeInfo", "kubeletVersion"),
    ]


# unicode.IsSpace: what strings.TrimSpace trims (str.strip would trim more).
_GO_SPACE = "\t\n\v\f\r \x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000" + "".join(
    chr(c) for c in range(0x2000, 0x200B)
)


def _event(obj: Object, now: datetime.datetime) -> list[Cell]:
    """printEvent: Kubernetes prints both groups' events from the internal (core) form,
    so an events.k8s.io event shows its deprecated* fields as the core ones."""
    if obj.get("apiVersion") == EVENTS_API_VERSION:
        obj = events_to_core(obj)
    involved = obj.get("involvedObject") or {}
    source = obj.get("source") or {}
    first = (
        _since(obj.get("firstTimestamp"), now)
        if _instant(obj.get("firstTimestamp"))
        else _since(obj.get("eventTime"), now)
    )
    last = _since(obj.get("lastTimestamp"), now) if _instant(obj.get("lastTimestamp")) else first
    count = obj.get("count") or 0
    series = obj.get("series")
    if series is not None:
        last = _since(series.get("lastObservedTime"), now)
        count = series.get("count") or 0
    elif count == 0:
        # Singletons of the new API carry no count.
        count = 1
    kind, name = str(involved.get("kind") or "").lower(), involved.get("name") or ""
    component = source.get("component") or obj.get("reportingComponent") or ""
    instance = source.get("host") or obj.get("reportingInstance") or ""
    return [
        last,
        obj.get("type", ""),
        obj.get("reason", ""),
        f"{kind}/{name}" if name else kind,
        involved.get("fieldPath", ""),
        f"{component}, {instance}" if instance else component,
        (obj.get("message") or "").strip(_GO_SPACE),
        first,
        count,
        _name(obj),
    ]


def _endpoints(obj: Object) -> str:
    addresses = []
    for subset in obj.get("subsets") or []:
        ports = [p.get("port") for p in subset.get("ports") or []] or [None]
        for address in subset.get("addresses") or []:
            for port in ports:
                addresses.append(f"{address.get('ip')}:{port}" if port else str(address.get("ip")))
    if not addresses:
        return "<none>"
    shown = ",".join(addresses[:3])
    return shown + (f" + {len(addresses) - 3} more..." if len(addresses) > 3 else "")


_S, _I = "string", "integer"

PRINTERS: dict[str, Printer] = {
    "ConfigMap": ([("Name", _S, 0), ("Data", _I, 0), ("Age", _S, 0)],
                  lambda o, n: [_name(o), len(o.get("data") or {}) + len(o.get("binaryData") or {}), _age(o, n)]),
    "Secret": ([("Name", _S, 0), ("Type", _S, 0), ("Data", _I, 0), ("Age", _S, 0)],
               lambda o, n: [_name(o), o.get("type", ""), len(o.get("data") or {}), _age(o, n)]),
    "Namespace": ([("Name", _S, 0), ("Status", _S, 0), ("Age", _S, 0)],
                  lambda o, n: [_name(o), _get(o, "status", "phase"), _age(o, n)]),
    "Service": ([("Name", _S, 0), ("Type", _S, 0), ("Cluster-IP", _S, 0), ("External-IP", _S, 0),
                 ("Port(s)", _S, 0), ("Age", _S, 0), ("Selector", _S, 1)], _service),
    "Pod": ([("Name", _S, 0), ("Ready", _S, 0), ("Status", _S, 0), ("Restarts", _S, 0), ("Age", _S, 0),
             ("IP", _S, 1), ("Node", _S, 1), ("Nominated Node", _S, 1), ("Readiness Gates", _S, 1)], _pod),
    "Node": ([("Name", _S, 0), ("Status", _S, 0), ("Roles", _S, 0), ("Age", _S, 0), ("Version", _S, 0)], _node),
    "ServiceAccount": ([("Name", _S, 0), ("Secrets", _I, 0), ("Age", _S, 0)],
                       lambda o, n: [_name(o), len(o.get("secrets") or []), _age(o, n)]),
    "Endpoints": ([("Name", _S, 0), ("Endpoints", _S, 0), ("Age", _S, 0)],
                  lambda o, n: [_name(o), _endpoints(o), _age(o, n)]),
    "Lease": ([("Name", _S, 0), ("Holder", _S, 0), ("Age", _S, 0)],
              lambda o, n: [_name(o), _get(o, "spec", "holderIdentity"), _age(o, n)]),
    "EndpointSlice": ([("Name", _S, 0), ("AddressType", _S, 0), ("Ports", _S, 0), ("Endpoints", _S, 0), ("Age", _S, 0)],
                      lambda o, n: [_name(o), o.get("addressType", ""),
                                    ",".join(str(p.get("port")) for p in o.get("ports") or []) or "<unset>",
                                    ",".join(a for e in o.get("endpoints") or [] for a in e.get("addresses") or [])[:60] or "<unset>",
                                    _age(o, n)]),
    "PersistentVolumeClaim": ([("Name", _S, 0), ("Status", _S, 0), ("Volume", _S, 0), ("Capacity", _S, 0),
                               ("Access Modes", _S, 0), ("StorageClass", _S, 0), ("VolumeAttributesClass", _S, 0),
                               ("Age", _S, 0), ("VolumeMode", _S, 1)],
                              lambda o, n: [_name(o), _get(o, "status", "phase"), _get(o, "spec", "volumeName"),
                                            _get(o, "status", "capacity", "storage"),
                                            ",".join(_get(o, "status", "accessModes", default=[])),
                                            _get(o, "spec", "storageClassName") or "<unset>", "<unset>",
                                            _age(o, n), _get(o, "spec", "volumeMode")]),
    "ResourceQuota": ([("Name", _S, 0), ("Age", _S, 0), ("Request", _S, 0), ("Limit", _S, 0)],
                      lambda o, n: [_name(o), _age(o, n),
                                    ", ".join(f"{k}: {_get(o, 'status', 'used', k, default='0')}/{v}"
                                              for k, v in sorted(_get(o, "spec", "hard", default={}).items())), ""]),
    "Event": ([("Last Seen", _S, 0), ("Type", _S, 0), ("Reason", _S, 0), ("Object", _S, 0), ("Subobject", _S, 1),
               ("Source", _S, 1), ("Message", _S, 0), ("First Seen", _S, 1), ("Count", _S, 1), ("Name", _S, 1)], _event),
}  # fmt: skip

_DEFAULT: Printer = ([("Name", _S, 0), ("Age", _S, 0)], lambda o, n: [_name(o), _age(o, n)])


def _column_definitions(columns: list[Column]) -> list[dict[str, Any]]:
    return [
        {
            "name": name,
            "type": type_,
            "format": "name" if name == "Name" else "",
            "description": "",
            "priority": priority,
        }
        for name, type_, priority in columns
    ]


def _partial(obj: Object) -> dict[str, Any]:
    return {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj.get("metadata") or {},
    }


def table(
    kind: str,
    objects: Iterable[Object],
    metadata: dict[str, Any],
    *,
    include_object: str = "Metadata",
) -> dict[str, Any]:
    columns, cells = PRINTERS.get(kind, _DEFAULT)
    now = datetime.datetime.now(datetime.UTC)
    rows = []
    for obj in objects:
        row: dict[str, Any] = {"cells": cells(obj, now)}
        if include_object == "Object":
            row["object"] = obj
        elif include_object != "None":
            row["object"] = _partial(obj)
        rows.append(row)
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata,
        "columnDefinitions": _column_definitions(columns),
        "rows": rows,
    }
