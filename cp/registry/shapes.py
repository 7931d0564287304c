"""The JSON shape of the built-in types' fields: what a typed decoder would refuse.

kube-apiserver decodes bodies into Go structs, so `"data": "x"` on a ConfigMap is a 400
before anything else runs.  Strategies here read fields the same way Go code would, so
they rely on this check having run: every field a strategy, field selector or table
printer reads is declared with its type.  Undeclared nested fields pass unchecked.
A null is Go's zero value: it is dropped, as re-encoding with omitempty would.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cp.meta import status

__all__ = ["Shape", "check_shape", "SHAPES"]


class Shape:
    """A Go type: `go` is its name in messages; `kind` one of str/int/bool/intstr/map/list/struct."""

    __slots__ = ("go", "kind", "item", "fields", "types", "rejects_bool", "struct_name")

    def __init__(
        self,
        go: str,
        kind: str,
        item: Shape | None = None,
        fields: Mapping[str, Shape] | None = None,
    ) -> None:
        self.go = go
        self.kind = kind
        self.item = item
        self.fields = fields or {}
        # What the check needs, worked out once: the Python types a JSON value of this
        # shape decodes to (bool is an int to Python, not to Go), and the struct's
        # name as Go's errors print it.
        self.types: type | tuple[type, ...] = _PYTHON_TYPES[kind]
        self.rejects_bool = kind in ("int", "intstr")
        self.struct_name = go.rsplit(".", 1)[-1]


_PYTHON_TYPES: dict[str, type | tuple[type, ...]] = {
    "str": str, "int": int, "bool": bool, "intstr": (str, int), "list": list, "map": dict,
    "struct": dict,
}  # fmt: skip


STR = Shape("string", "str")
INT32 = Shape("int32", "int")
INT64 = Shape("int64", "int")
BOOL = Shape("bool", "bool")
INTSTR = Shape("intstr.IntOrString", "intstr")
STRMAP = Shape("map[string]string", "map", STR)
STRLIST = Shape("[]string", "list", STR)
TIME = Shape("v1.Time", "str")
MICROTIME = Shape("v1.MicroTime", "str")


def struct(go: str, **fields: Shape) -> Shape:
    return Shape(go, "struct", fields=fields)


def list_of(item: Shape) -> Shape:
    return Shape(f"[]{item.go}", "list", item)


OBJECT_META = struct(
    "v1.ObjectMeta",
    name=STR, generateName=STR, namespace=STR, uid=STR, resourceVersion=STR, generation=INT64,
    creationTimestamp=TIME, deletionTimestamp=TIME, deletionGracePeriodSeconds=INT64,
    labels=STRMAP, annotations=STRMAP, finalizers=STRLIST,
    ownerReferences=list_of(struct("v1.OwnerReference", apiVersion=STR, kind=STR, name=STR, uid=STR,
                                   controller=BOOL, blockOwnerDeletion=BOOL)),
    managedFields=list_of(struct("v1.ManagedFieldsEntry", manager=STR, operation=STR, apiVersion=STR,
                                 time=TIME, fieldsType=STR)),
)  # fmt: skip
_PORT = struct("v1.ContainerPort", name=STR, containerPort=INT32, protocol=STR, hostPort=INT32)
_CONTAINER = struct(
    "v1.Container", name=STR, image=STR, imagePullPolicy=STR, ports=list_of(_PORT),
    env=list_of(struct("v1.EnvVar", name=STR, value=STR)), command=STRLIST, args=STRLIST,
    resources=struct("v1.ResourceRequirements", limits=STRMAP, requests=STRMAP),
)  # fmt: skip
_OBJECT_REFERENCE = struct(
    "v1.ObjectReference", kind=STR, namespace=STR, name=STR, uid=STR, apiVersion=STR,
    resourceVersion=STR, fieldPath=STR,
)  # fmt: skip
_EVENT_SOURCE = struct("v1.EventSource", component=STR, host=STR)
# Both groups' EventSeries: same fields, and both packages are named v1.
_EVENT_SERIES = struct("v1.EventSeries", count=INT32, lastObservedTime=MICROTIME)
_CONDITIONS = list_of(struct("v1.Condition", type=STR, status=STR, reason=STR, message=STR))

_TOP: dict[str, dict[str, Shape]] = {
    "ConfigMap": {"data": STRMAP, "binaryData": STRMAP, "immutable": BOOL},
    "Secret": {"data": STRMAP, "stringData": STRMAP, "type": STR, "immutable": BOOL},
    "Namespace": {
        "spec": struct("v1.NamespaceSpec", finalizers=STRLIST),
        "status": struct("v1.NamespaceStatus", phase=STR, conditions=_CONDITIONS),
    },
    "Service": {
        "spec": struct(
            "v1.ServiceSpec", type=STR, clusterIP=STR, clusterIPs=STRLIST, externalIPs=STRLIST,
            selector=STRMAP, sessionAffinity=STR, externalName=STR,
            ports=list_of(struct("v1.ServicePort", name=STR, protocol=STR, port=INT32, targetPort=INTSTR,
                                 nodePort=INT32)),
        ),
        "status": struct("v1.ServiceStatus", loadBalancer=struct("v1.LoadBalancerStatus")),
    },
    "Endpoints": {
        "subsets": list_of(struct(
            "v1.EndpointSubset",
            addresses=list_of(struct("v1.EndpointAddress", ip=STR, hostname=STR, nodeName=STR)),
            notReadyAddresses=list_of(struct("v1.EndpointAddress", ip=STR)),
            ports=list_of(struct("v1.EndpointPort", name=STR, port=INT32, protocol=STR)),
        )),
    },
    # core/v1; events.k8s.io/v1's own field names are in _BY_API_VERSION.
    "Event": {
        "involvedObject": _OBJECT_REFERENCE, "reason": STR, "message": STR, "source": _EVENT_SOURCE,
        "firstTimestamp": TIME, "lastTimestamp": TIME, "count": INT32, "type": STR,
        "eventTime": MICROTIME, "series": _EVENT_SERIES, "action": STR, "related": _OBJECT_REFERENCE,
        "reportingComponent": STR, "reportingInstance": STR,
    },
    "ServiceAccount": {
        "secrets": list_of(_OBJECT_REFERENCE),
        "imagePullSecrets": list_of(struct("v1.LocalObjectReference", name=STR)),
        "automountServiceAccountToken": BOOL,
    },
    "Pod": {
        "spec": struct(
            "v1.PodSpec", containers=list_of(_CONTAINER), initContainers=list_of(_CONTAINER),
            nodeName=STR, restartPolicy=STR, schedulerName=STR, serviceAccountName=STR, hostNetwork=BOOL,
            terminationGracePeriodSeconds=INT64, activeDeadlineSeconds=INT64, nodeSelector=STRMAP,
            volumes=list_of(struct("v1.Volume", name=STR)),
        ),
        "status": struct(
            "v1.PodStatus", phase=STR, podIP=STR, nominatedNodeName=STR, reason=STR, conditions=_CONDITIONS,
            containerStatuses=list_of(struct("v1.ContainerStatus", name=STR, ready=BOOL, restartCount=INT32)),
        ),
    },
    "Node": {
        "spec": struct("v1.NodeSpec", unschedulable=BOOL, podCIDR=STR, providerID=STR),
        "status": struct("v1.NodeStatus", conditions=_CONDITIONS, capacity=STRMAP, allocatable=STRMAP,
                         nodeInfo=struct("v1.NodeSystemInfo", kubeletVersion=STR)),
    },
    "ResourceQuota": {
        "spec": struct("v1.ResourceQuotaSpec", hard=STRMAP, scopes=STRLIST),
        "status": struct("v1.ResourceQuotaStatus", hard=STRMAP, used=STRMAP),
    },
    "LimitRange": {"spec": struct("v1.LimitRangeSpec", limits=list_of(struct("v1.LimitRangeItem", type=STR)))},
    "PersistentVolumeClaim": {
        "spec": struct(
            "v1.PersistentVolumeClaimSpec", accessModes=STRLIST, volumeName=STR, volumeMode=STR,
            storageClassName=STR,
            resources=struct("v1.VolumeResourceRequirements", requests=STRMAP, limits=STRMAP),
        ),
        "status": struct("v1.PersistentVolumeClaimStatus", phase=STR, accessModes=STRLIST, capacity=STRMAP),
    },
    "Lease": {
        "spec": struct("v1.LeaseSpec", holderIdentity=STR, leaseDurationSeconds=INT32, acquireTime=TIME,
                       renewTime=TIME, leaseTransitions=INT32),
    },
    "EndpointSlice": {
        "addressType": STR,
        "endpoints": list_of(struct("v1.Endpoint", addresses=STRLIST, hostname=STR, nodeName=STR)),
        "ports": list_of(struct("v1.EndpointPort", name=STR, protocol=STR, port=INT32)),
    },
}  # fmt: skip

SHAPES: dict[str, Shape] = {
    kind: struct(f"v1.{kind}", metadata=OBJECT_META, **fields) for kind, fields in _TOP.items()
}

# Kinds whose fields differ by group, keyed by (apiVersion, kind): the same kind name in
# another group is another Go struct, and its fields must not constrain SHAPES' type.
_BY_API_VERSION: dict[tuple[str, str], Shape] = {
    ("events.k8s.io/v1", "Event"): struct(
        "v1.Event", metadata=OBJECT_META,
        eventTime=MICROTIME, series=_EVENT_SERIES, reportingController=STR, reportingInstance=STR,
        action=STR, reason=STR, regarding=_OBJECT_REFERENCE, related=_OBJECT_REFERENCE, note=STR,
        type=STR, deprecatedSource=_EVENT_SOURCE, deprecatedFirstTimestamp=TIME,
        deprecatedLastTimestamp=TIME, deprecatedCount=INT32,
    ),
}  # fmt: skip


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _check(shape: Shape, value: Any, struct_name: str, path: str) -> str | None:
    """Go names the innermost struct and the whole field path: `PodSpec.spec.containers`."""
    if not isinstance(value, shape.types) or (shape.rejects_bool and type(value) is bool):
        return (
            f"json: cannot unmarshal {_json_type(value)} into Go struct field "
            f"{struct_name}.{path} of type {shape.go}"
        )
    item_shape = shape.item
    if shape.kind == "struct":
        fields = shape.fields
        if None in value.values():
            for key in [k for k, v in value.items() if v is None and k in fields]:
                del value[key]
        inner = shape.struct_name
        # In the body's order, as Go's decoder meets (and reports) them.
        for key, item in value.items():
            sub = fields.get(key)
            if sub is None or (sub.kind == "str" and type(item) is str):
                continue  # undeclared, or the commonest leaf, well typed
            problem = _check(sub, item, inner, f"{path}.{key}")
            if problem:
                return problem
    elif item_shape is not None:  # a list or a map
        items = value if shape.kind == "list" else value.values()
        if item_shape.kind == "str" and all(type(i) is str or i is None for i in items):
            return None  # the common case (labels, data, finalizers), in one pass
        for item in items:
            if item is None and item_shape.kind in ("struct", "str"):
                continue
            problem = _check(item_shape, item, struct_name, path)
            if problem:
                return problem
    return None


def check_shape(kind: str, version: str, obj: dict[str, Any]) -> None:
    """Raise 400 as kube-apiserver's decoder would for a wrongly typed declared field.

    The shape is that of `obj`'s apiVersion when its group declares one of its own."""
    shape = _BY_API_VERSION.get((obj.get("apiVersion"), kind)) or SHAPES.get(kind)
    if shape is None:
        return
    fields = shape.fields
    if None in obj.values():
        for key in [k for k, v in obj.items() if v is None and k in fields]:
            del obj[key]
    for key, item in obj.items():
        sub = fields.get(key)
        if sub is not None:
            problem = _check(sub, item, kind, key)
            if problem:
                raise status.bad_request(
                    f'{kind} in version "{version}" cannot be handled as a {kind}: {problem}'
                )
