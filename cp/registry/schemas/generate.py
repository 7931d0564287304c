"""Regenerate definitions.json, the OpenAPI schemas of the built-in types.

    .venv/bin/python -m cp.registry.schemas.generate      # rewrites definitions.json

Run it after adding a type to cp.registry.builtin.BUILTIN (or upgrading the `kubernetes`
client), and commit the result.  The server never imports this module: the `kubernetes`
client package is a test extra, so the schemas it knows are frozen here into a data
file that cp.registry.schemas loads at runtime.

Source: the client's generated model classes (pydantic models: `openapi_types` gives each
field's type as a string such as 'List[V1Container]' or 'Dict[str, str]',
`attribute_map` its JSON name, `model_fields` its description and whether it is
required).  Where the client loses what Kubernetes' own OpenAPI says, small tables below
restore it: which integers are int64, which strings are resource.Quantity or
MicroTime, and the strategic-merge patch strategies and merge keys of list fields (from
the `patchStrategy`/`patchMergeKey` tags of k8s.io/api).  Only the definitions reachable
from the served kinds (and their lists) are written.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

from kubernetes.client import models

from cp.registry.builtin import BUILTIN

OUTPUT = Path(__file__).with_name("definitions.json")

META = "io.k8s.apimachinery.pkg.apis.meta.v1"
QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"
INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
TIME = f"{META}.Time"
MICRO_TIME = f"{META}.MicroTime"

# Client classes of apimachinery's meta/v1 (the rest are named after their group).
_META_CLASSES = {
    "V1ObjectMeta",
    "V1ListMeta",
    "V1ManagedFieldsEntry",
    "V1OwnerReference",
    "V1Condition",
    "V1LabelSelector",
    "V1LabelSelectorRequirement",
}
_PREFIXES = {"CoreV1": "core", "EventsV1": "events", "DiscoveryV1": "discovery"}

# Integer fields Kubernetes declares int64 (the rest of the reachable ones are int32).
_INT64 = {
    "generation",
    "deletionGracePeriodSeconds",
    "activeDeadlineSeconds",
    "terminationGracePeriodSeconds",
    "runAsUser",
    "runAsGroup",
    "fsGroup",
    "supplementalGroups",
    "expirationSeconds",
    "observedGeneration",
    "sizeBytes",
    "seconds",
    "uid",
    "gid",
    "gracePeriodSeconds",
}
# map[ResourceName]Quantity and Quantity fields (the client types them as strings).
_QUANTITIES = {
    "limits",
    "requests",
    "hard",
    "used",
    "max",
    "min",
    "default",
    "defaultRequest",
    "maxLimitRequestRatio",
    "capacity",
    "allocatable",
    "allocatedResources",
    "overhead",
    "sizeLimit",
    "divisor",
}
# metav1.MicroTime fields (the client types them as datetime, like metav1.Time).
_MICRO_TIMES = {
    ("io.k8s.api.core.v1.Event", "eventTime"),
    ("io.k8s.api.core.v1.EventSeries", "lastObservedTime"),
    ("io.k8s.api.events.v1.Event", "eventTime"),
    ("io.k8s.api.events.v1.EventSeries", "lastObservedTime"),
    ("io.k8s.api.coordination.v1.LeaseSpec", "acquireTime"),
    ("io.k8s.api.coordination.v1.LeaseSpec", "renewTime"),
}
# Strategic-merge tags: definition -> field -> (patchStrategy, patchMergeKey or "").
_CONTAINER_PATCH = {
    "ports": ("merge", "containerPort"),
    "env": ("merge", "name"),
    "volumeMounts": ("merge", "mountPath"),
    "volumeDevices": ("merge", "devicePath"),
}
_CONDITIONS = {"conditions": ("merge", "type")}
_PATCH: dict[str, dict[str, tuple[str, str]]] = {
    f"{META}.ObjectMeta": {"finalizers": ("merge", ""), "ownerReferences": ("merge", "uid")},
    "io.k8s.api.core.v1.PodSpec": {
        "volumes": ("merge,retainKeys", "name"),
        "initContainers": ("merge", "name"),
        "containers": ("merge", "name"),
        "ephemeralContainers": ("merge", "name"),
        "imagePullSecrets": ("merge", "name"),
        "hostAliases": ("merge", "ip"),
        "topologySpreadConstraints": ("merge", "topologyKey"),
        "schedulingGates": ("merge", "name"),
        "resourceClaims": ("merge,retainKeys", "name"),
    },
    "io.k8s.api.core.v1.Container": _CONTAINER_PATCH,
    "io.k8s.api.core.v1.EphemeralContainer": _CONTAINER_PATCH,
    "io.k8s.api.core.v1.PodStatus": {
        **_CONDITIONS,
        "podIPs": ("merge", "ip"),
        "hostIPs": ("merge", "ip"),
        "resourceClaimStatuses": ("merge,retainKeys", "name"),
    },
    "io.k8s.api.core.v1.ServiceSpec": {"ports": ("merge", "port")},
    "io.k8s.api.core.v1.ServiceStatus": _CONDITIONS,
    "io.k8s.api.core.v1.ServiceAccount": {"secrets": ("merge", "name")},
    "io.k8s.api.core.v1.NodeSpec": {"podCIDRs": ("merge", "")},
    "io.k8s.api.core.v1.NodeStatus": {**_CONDITIONS, "addresses": ("merge", "type")},
    "io.k8s.api.core.v1.NamespaceStatus": _CONDITIONS,
    "io.k8s.api.core.v1.PersistentVolumeClaimStatus": _CONDITIONS,
}
_FIELDS_V1_DESCRIPTION = (
    "FieldsV1 stores a set of fields in a data structure like a Trie, in JSON format."
)
# The scalar definitions, in their OpenAPI v3 form (cp.registry.schemas.V2_SCALAR_TYPES
# gives the v2 form of the two that differ: Quantity and IntOrString are strings there).
_SCALARS: dict[str, dict[str, Any]] = {
    TIME: {
        "description": "Time is a wrapper around time.Time which supports correct marshaling to "
        "YAML and JSON.  Wrappers are provided for many of the factory methods that the time "
        "package provides.",
        "type": "string",
        "format": "date-time",
    },
    MICRO_TIME: {
        "description": "MicroTime is version of Time with microsecond level precision.",
        "type": "string",
        "format": "date-time",
    },
    QUANTITY: {
        "description": "Quantity is a fixed-point representation of a number. It provides "
        "convenient marshaling/unmarshaling in JSON and YAML, in addition to String() and "
        "AsInt64() accessors.\n\nThe serialization format is:\n\n``` <quantity>        ::= "
        "<signedNumber><suffix>\n```\n\nExamples: 100m, 1.5Gi, 2, 128974848, 129e6, 129M.",
        "oneOf": [{"type": "string"}, {"type": "number"}],
    },
    INT_OR_STRING: {
        "description": "IntOrString is a type that can hold an int32 or a string.  When used in "
        "JSON or YAML marshalling and unmarshalling, it produces or consumes the inner type.  "
        "This allows you to have, for example, a JSON field that can accept a name or number.",
        "x-kubernetes-int-or-string": True,
    },
    f"{META}.FieldsV1": {"description": _FIELDS_V1_DESCRIPTION, "type": "object"},
}


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _description(doc: str | None) -> str:
    text = (doc or "").split("Attributes:")[0]
    return re.sub(r"\n\s*", "\n", text.strip()).replace("\n", " ").strip()


def _field_info(cls: Any, attr: str) -> Any:
    """The pydantic field of an `openapi_types` attribute ('_continue' is 'var_continue')."""
    fields = cls.model_fields
    for candidate in (attr, "var" + attr, attr.lstrip("_"), attr.lstrip("_") + "_"):
        if candidate in fields:
            return fields[candidate]
    raise KeyError(f"{cls.__name__}.{attr}")


class Generator:
    def __init__(self) -> None:
        self.definitions: dict[str, dict[str, Any]] = {}
        self.names: dict[str, str] = {}  # client class name -> definition name
        self.pending: list[tuple[str, str]] = []

    def name_of(self, cls_name: str, package: str) -> str:
        """The definition name of a client class, in the group of its first referrer."""
        if cls_name not in self.names:
            kind = cls_name
            for prefix, pkg in _PREFIXES.items():
                if kind.startswith(prefix):
                    kind, package = kind.removeprefix(prefix), f"io.k8s.api.{pkg}.v1"
                    break
            else:
                kind = kind.removeprefix("V1")
                if cls_name in _META_CLASSES:
                    package = META
            self.names[cls_name] = f"{package}.{kind}"
            self.pending.append((cls_name, package))
        return self.names[cls_name]

    def field(self, owner: str, json_name: str, typ: str, info: Any, package: str) -> dict:
        if typ.startswith("List["):
            schema = {
                "type": "array",
                "items": self.type_schema(owner, json_name, typ[5:-1], info, package),
            }
            patch = _PATCH.get(owner, {}).get(json_name)
            if patch:
                if patch[1]:
                    schema["x-kubernetes-patch-merge-key"] = patch[1]
                schema["x-kubernetes-patch-strategy"] = patch[0]
            return schema
        if typ.startswith("Dict[str, "):
            item = self.type_schema(owner, json_name, typ[10:-1], info, package)
            return {"type": "object", "additionalProperties": item}
        return self.type_schema(owner, json_name, typ, info, package)

    def type_schema(self, owner: str, json_name: str, typ: str, info: Any, package: str) -> dict:
        if typ == "str":
            return _ref(QUANTITY) if json_name in _QUANTITIES else {"type": "string"}
        if typ == "int":
            fmt = "int64" if json_name in _INT64 else "int32"
            return {"type": "integer", "format": fmt}
        if typ == "float":
            return {"type": "number", "format": "double"}
        if typ == "bool":
            return {"type": "boolean"}
        if typ in ("bytearray", "bytes"):
            return {"type": "string", "format": "byte"}
        if typ == "datetime":
            return _ref(MICRO_TIME if (owner, json_name) in _MICRO_TIMES else TIME)
        if typ == "object":
            annotation = str(info.annotation)
            if "int" in annotation and "str" in annotation:
                return _ref(INT_OR_STRING)
            if json_name == "fieldsV1":
                return _ref(f"{META}.FieldsV1")
            return {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
        if typ.startswith("V1") or any(typ.startswith(p) for p in _PREFIXES):
            return _ref(self.name_of(typ, package))
        raise ValueError(f"{owner}.{json_name}: unmapped client type {typ!r}")

    def model(self, cls_name: str, package: str) -> None:
        cls = getattr(models, cls_name)
        name = self.names[cls_name]
        properties: dict[str, Any] = {}
        required: list[str] = []
        for attr, typ in cls.openapi_types.items():
            json_name = cls.attribute_map[attr]
            info = _field_info(cls, attr)
            schema = self.field(name, json_name, typ, info, package)
            if info.description and "$ref" in schema:
                # OpenAPI v3 ignores a $ref's siblings: Kubernetes wraps it in allOf.
                schema = {"description": info.description, "allOf": [schema]}
            elif info.description:
                schema = {"description": info.description, **schema}
            properties[json_name] = schema
            if info.is_required():
                required.append(json_name)
        definition: dict[str, Any] = {"description": _description(cls.__doc__), "type": "object"}
        if required:
            definition["required"] = sorted(required)
        definition["properties"] = properties
        self.definitions[name] = definition

    def run(self) -> dict[str, dict[str, Any]]:
        roots = []
        for d in sorted(BUILTIN, key=lambda d: d.group != ""):  # core first: it owns shared types
            group = d.group.removesuffix(".k8s.io") or "core"
            package = f"io.k8s.api.{group}.v1"
            cls_name = self._client_class(d.group, d.kind)
            for suffix in ("", "List"):
                kind = d.kind + suffix
                name = self.name_of(cls_name + suffix, package)
                roots.append((name, {"group": d.group, "version": d.version, "kind": kind}))
                # Each root's closure before the next root's, so a shared type is named
                # after the group that first references it (core before the others).
                while self.pending:
                    self.model(*self.pending.pop())
        for name, gvk in roots:
            self.definitions[name]["x-kubernetes-group-version-kind"] = [gvk]
        self.definitions.update(_SCALARS)
        return dict(sorted(self.definitions.items()))

    @staticmethod
    def _client_class(group: str, kind: str) -> str:
        if kind == "Event":
            return "EventsV1Event" if group == "events.k8s.io" else "CoreV1Event"
        return f"V1{kind}"


def main() -> int:
    definitions = Generator().run()
    text = json.dumps(definitions, separators=(",", ":"), sort_keys=False, ensure_ascii=False)
    OUTPUT.write_text(text + "\n", encoding="utf-8")
    print(f"wrote {len(definitions)} definitions, {len(text)} bytes, to {OUTPUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
