"""The built-in resource types, as one declarative table.

Names, scope, verbs, short names and categories are those kube-apiserver 1.32 publishes
in discovery, so kubectl's shortcuts (`cm`, `svc`, `po`...) and `get all` behave the same.
"""

from __future__ import annotations

from cp.registry import core
from cp.registry.events import EventsStrategy
from cp.registry.resource import ResourceDef

_SPEC = ("spec", "status")
_CORE_EVENT = (
    "involvedObject",
    "reason",
    "message",
    "source",
    "firstTimestamp",
    "lastTimestamp",
    "count",
    "type",
    "eventTime",
    "series",
    "action",
    "related",
    "reportingComponent",
    "reportingInstance",
)
_EVENT = (
    "eventTime",
    "series",
    "reportingController",
    "reportingInstance",
    "action",
    "reason",
    "regarding",
    "related",
    "note",
    "type",
    "deprecatedSource",
    "deprecatedFirstTimestamp",
    "deprecatedLastTimestamp",
    "deprecatedCount",
)
_NO_COLLECTION_DELETE = ("create", "delete", "get", "list", "patch", "update", "watch")

BUILTIN: tuple[ResourceDef, ...] = (
    ResourceDef("", "v1", "namespaces", "Namespace", False, core.NamespaceStrategy(),
                short_names=("ns",), verbs=_NO_COLLECTION_DELETE, subresources=("status", "finalize"), fields=_SPEC),
    ResourceDef("", "v1", "configmaps", "ConfigMap", True, core.ConfigMapStrategy(), short_names=("cm",),
                fields=("data", "binaryData", "immutable")),
    ResourceDef("", "v1", "secrets", "Secret", True, core.SecretStrategy(),
                fields=("data", "stringData", "type", "immutable")),
    ResourceDef("", "v1", "services", "Service", True, core.ServiceStrategy(),
                short_names=("svc",), categories=("all",), subresources=("status",), fields=_SPEC),
    ResourceDef("", "v1", "endpoints", "Endpoints", True, core.EndpointsStrategy(),
                short_names=("ep",), allow_create_on_update=True, singular="endpoints", fields=("subsets",)),
    ResourceDef("", "v1", "events", "Event", True, core.EventStrategy(),
                short_names=("ev",), allow_create_on_update=True, fields=_CORE_EVENT),
    ResourceDef("", "v1", "serviceaccounts", "ServiceAccount", True, core.ServiceAccountStrategy(),
                short_names=("sa",), fields=("secrets", "imagePullSecrets", "automountServiceAccountToken")),
    ResourceDef("", "v1", "pods", "Pod", True, core.PodStrategy(), short_names=("po",),
                categories=("all",), subresources=("status",), return_deleted_object=True, fields=_SPEC),
    ResourceDef("", "v1", "nodes", "Node", False, core.NodeStrategy(), short_names=("no",),
                subresources=("status",), fields=_SPEC),
    ResourceDef("", "v1", "resourcequotas", "ResourceQuota", True, core.StatusSpecStrategy(),
                short_names=("quota",), subresources=("status",), fields=_SPEC),
    ResourceDef("", "v1", "limitranges", "LimitRange", True, core.SpecStrategy(),
                short_names=("limits",), fields=_SPEC),
    ResourceDef("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", True,
                core.PersistentVolumeClaimStrategy(), short_names=("pvc",), subresources=("status",), fields=_SPEC),
    ResourceDef("coordination.k8s.io", "v1", "leases", "Lease", True, core.SpecStrategy(), fields=_SPEC),
    # Stored as core/v1 Events (cp.registry.shared_storage): one object, two groups.
    ResourceDef("events.k8s.io", "v1", "events", "Event", True, EventsStrategy(),
                short_names=("ev",), allow_create_on_update=True, fields=_EVENT,
                stored_type=("", "v1", "Event")),
    ResourceDef("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice", True,
                core.EndpointSliceStrategy(), fields=("addressType", "endpoints", "ports")),
)  # fmt: skip
