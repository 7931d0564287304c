"""Regenerate definitions.json, the OpenAPI schemas of the built-in types.

The schemas are those of Kubernetes 1.32, the version the server reports, so they come
from the `kubernetes` client release of that version (32.x), which need not be the one
installed in the venv, plus a Kubernetes 1.32 OpenAPI document for the descriptions:

    pip download kubernetes==32.0.1 six kubernetes-validate==1.32.0 --no-deps -d /tmp/k32
    cd /tmp/k32 && unzip -qo 'kubernetes-*.whl' -d site && unzip -qo 'six-*.whl' -d site
    unzip -qo 'kubernetes_validate-*.whl' -d site \
        'kubernetes_validate/kubernetes-json-schema/v1.32.0-local/_definitions.json'
    .venv/bin/python -m cp.registry.schemas.generate --client-path /tmp/k32/site \
        --descriptions /tmp/k32/site/kubernetes_validate/kubernetes-json-schema/v1.32.0-local/_definitions.json

Run it after adding a type to cp.registry.builtin.BUILTIN (or moving to another
Kubernetes version), and commit the result.  The server never imports this module: the
`kubernetes` client package is a test extra, so the schemas it knows are frozen here
into a data file that cp.registry.schemas loads at runtime.  Without --client-path the
installed client is used.

Source of the shape: the client's generated model classes.  `openapi_types` gives each
field's type as a string ('list[V1Container]', 'dict(str, str)' in the 32.x clients,
'List[V1Container]', 'Dict[str, str]' in the later pydantic ones), `attribute_map` its
JSON name; whether it is required is in the pydantic field or, in the older clients,
in the setter that refuses None.  Where the client loses what Kubernetes' own OpenAPI
says, small tables below restore it: which integers are int64, which strings are
resource.Quantity, MicroTime or base64 bytes, which untyped values are int-or-string,
and the strategic-merge patch strategies and merge keys of list fields (from the
`patchStrategy`/`patchMergeKey` tags of k8s.io/api).  Only the definitions reachable
from the served kinds (and their lists) are written.

Source of the descriptions: the clients keep those of scalar fields only, with
paragraph breaks flattened; the 32.x models have no type descriptions at all, and no
client describes a field that references another type (Pod.spec, Container.resources).
`--descriptions` names a Kubernetes OpenAPI document of the same release whose
descriptions win wherever it has them: Kubernetes' own api/openapi-spec/swagger.json or
v3 documents, or the JSON-schema rendering of them shipped in the kubernetes-validate
wheel (`$defs`), as above.  A described reference is written as Kubernetes' v3
documents write it, `{"description", "allOf": [{"$ref"}]}`, with `"default": {}` where
the Go field is a struct value rather than a pointer.  The client does not say which
fields are pointers, so that default is only written where Kubernetes' conventions fix
it: the metadata, spec and status of objects and templates, and the elements of lists
and maps of structs.
"""

from __future__ import annotations

import argparse
import inspect
import json
import re
import sys
import types
from collections.abc import Mapping
from pathlib import Path
from typing import Any

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
    "tolerationSeconds",
    "remainingItemCount",
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
# Base64 bytes ([]byte; the 32.x clients type them as plain strings).
_BYTES = {
    ("io.k8s.api.core.v1.Secret", "data"),
    ("io.k8s.api.core.v1.ConfigMap", "binaryData"),
}
# intstr.IntOrString fields (the clients type them as untyped objects, like any JSON).
_INT_OR_STRING = {
    ("io.k8s.api.core.v1.HTTPGetAction", "port"),
    ("io.k8s.api.core.v1.TCPSocketAction", "port"),
    ("io.k8s.api.core.v1.ServicePort", "targetPort"),
}
# Struct-valued fields that are values, not pointers, by Kubernetes' conventions: their
# published schemas carry `"default": {}` (see the module docstring).
_STRUCT_VALUES = {"metadata", "spec", "status"}
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
    "io.k8s.api.core.v1.ContainerStatus": {
        "volumeMounts": ("merge", "mountPath"),
        "allocatedResourcesStatus": ("merge", "name"),
    },
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


def _class_description(doc: str | None) -> str:
    text = (doc or "").split("Attributes:")[0].strip()
    if text.startswith("NOTE: This class is auto generated"):
        return ""  # the 32.x models carry no type description
    return re.sub(r"\n\s*", "\n", text).replace("\n", " ").strip()


def _noqa(line: str) -> str:
    return line.strip().removesuffix("# noqa: E501").strip()


class _Field:
    """One attribute of a client model: its description and whether it is required,
    from a pydantic field (later clients) or from the property (32.x clients)."""

    def __init__(self, cls: Any, attr: str) -> None:
        fields = getattr(cls, "model_fields", None)
        if fields is not None:
            info = self._pydantic(fields, cls, attr)
            self.description = info.description or ""
            self.required = info.is_required()
            self.annotation = str(info.annotation)
            return
        prop = getattr(cls, attr)
        lines = (prop.fget.__doc__ or "").splitlines()[1:]
        text = []
        for line in lines:
            if line.strip().startswith(":return:"):
                break
            text.append(_noqa(line))
        self.description = "\n".join(text).strip()
        self.required = "must not be `None`" in inspect.getsource(prop.fset)
        self.annotation = ""

    @staticmethod
    def _pydantic(fields: Mapping[str, Any], cls: Any, attr: str) -> Any:
        # '_continue' is 'var_continue' there.
        for candidate in (attr, "var" + attr, attr.lstrip("_"), attr.lstrip("_") + "_"):
            if candidate in fields:
                return fields[candidate]
        raise KeyError(f"{cls.__name__}.{attr}")


def _container(typ: str) -> tuple[str, str]:
    """('list' | 'map' | '', element type) of a client type string."""
    for prefix in ("List[", "list["):
        if typ.startswith(prefix):
            return "list", typ[len(prefix) : -1]
    for prefix in ("Dict[str, ", "dict(str, "):
        if typ.startswith(prefix):
            return "map", typ[len(prefix) : -1]
    return "", typ


def load_descriptions(path: Path) -> dict[str, Any]:
    """Definition name -> schema, from a swagger 2.0 document, an OpenAPI v3 document or
    a JSON-schema `$defs` file."""
    doc = json.loads(path.read_text("utf-8"))
    for found in (
        doc.get("definitions"),
        doc.get("components", {}).get("schemas"),
        doc.get("$defs"),
    ):
        if isinstance(found, dict):
            return found
    raise ValueError(f"{path}: no definitions, components.schemas or $defs")


class Generator:
    def __init__(self, models: Any, descriptions: Mapping[str, Any] | None = None) -> None:
        self.models = models
        self.described = descriptions or {}
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

    def description(self, name: str, json_name: str | None = None) -> str | None:
        schema = self.described.get(name)
        if isinstance(schema, dict) and json_name is not None:
            schema = schema.get("properties", {}).get(json_name)
        text = schema.get("description") if isinstance(schema, dict) else None
        return text if isinstance(text, str) and text else None

    def field(self, owner: str, json_name: str, typ: str, info: _Field, package: str) -> dict:
        container, element = _container(typ)
        if container == "list":
            schema = {
                "type": "array",
                "items": self._element(self.type_schema(owner, json_name, element, info, package)),
            }
            patch = _PATCH.get(owner, {}).get(json_name)
            if patch:
                if patch[1]:
                    schema["x-kubernetes-patch-merge-key"] = patch[1]
                schema["x-kubernetes-patch-strategy"] = patch[0]
            return schema
        if container == "map":
            item = self._element(self.type_schema(owner, json_name, element, info, package))
            return {"type": "object", "additionalProperties": item}
        return self.type_schema(owner, json_name, typ, info, package)

    def _is_struct(self, schema: Mapping[str, Any]) -> bool:
        ref = schema.get("$ref")
        return isinstance(ref, str) and ref.removeprefix("#/components/schemas/") not in _SCALARS

    def _element(self, schema: dict[str, Any]) -> dict[str, Any]:
        """A list's or map's struct elements are values: wrapped, with their zero default."""
        if self._is_struct(schema):
            return {"allOf": [schema], "default": {}}
        return schema

    def type_schema(self, owner: str, json_name: str, typ: str, info: _Field, package: str) -> dict:
        if typ == "str":
            if (owner, json_name) in _BYTES:
                return {"type": "string", "format": "byte"}
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
            annotation = info.annotation
            if (owner, json_name) in _INT_OR_STRING or (
                "int" in annotation and "str" in annotation
            ):
                return _ref(INT_OR_STRING)
            if json_name == "fieldsV1":
                return _ref(f"{META}.FieldsV1")
            return {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
        if typ.startswith("V1") or any(typ.startswith(p) for p in _PREFIXES):
            return _ref(self.name_of(typ, package))
        raise ValueError(f"{owner}.{json_name}: unmapped client type {typ!r}")

    def model(self, cls_name: str, package: str) -> None:
        cls = getattr(self.models, cls_name)
        name = self.names[cls_name]
        properties: dict[str, Any] = {}
        required: list[str] = []
        for attr, typ in cls.openapi_types.items():
            json_name = cls.attribute_map[attr]
            info = _Field(cls, attr)
            schema = self.field(name, json_name, typ, info, package)
            description = self.description(name, json_name) or info.description
            if "$ref" in schema:
                # OpenAPI v3 ignores a $ref's siblings: Kubernetes wraps it in allOf.
                wrapped: dict[str, Any] = {"allOf": [schema]}
                if json_name in _STRUCT_VALUES and self._is_struct(schema):
                    wrapped["default"] = {}
                schema = wrapped if description or len(wrapped) > 1 else schema
            if description:
                schema = {"description": description, **schema}
            properties[json_name] = schema
            if info.required:
                required.append(json_name)
        description = self.description(name) or _class_description(cls.__doc__)
        definition: dict[str, Any] = {"description": description, "type": "object"}
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
        for name, scalar in _SCALARS.items():
            self.definitions[name] = {
                **scalar,
                "description": self.description(name) or scalar["description"],
            }
        return dict(sorted(self.definitions.items()))

    @staticmethod
    def _client_class(group: str, kind: str) -> str:
        if kind == "Event":
            return "EventsV1Event" if group == "events.k8s.io" else "CoreV1Event"
        return f"V1{kind}"


def load_models(client_path: Path | None) -> Any:
    """The client's `kubernetes.client.models`, from `client_path` when given.  Only
    the models are needed: the package's own __init__ also loads the kubeconfig
    machinery, whose dependencies (google-auth, ...) a bare unpacked client lacks."""
    if client_path is not None:
        package = client_path / "kubernetes"
        if not (package / "client" / "models").is_dir():
            raise SystemExit(f"{client_path}: no kubernetes/client/models here")
        sys.path.insert(0, str(client_path))  # its own dependencies (six) may sit beside it
        stub = types.ModuleType("kubernetes")
        stub.__path__ = [str(package)]
        sys.modules["kubernetes"] = stub
    from kubernetes.client import models  # noqa: PLC0415 - chosen by the command line

    return models


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cp.registry.schemas.generate")
    parser.add_argument(
        "--client-path",
        type=Path,
        help="a directory holding an unpacked `kubernetes` client package (default: the installed one)",
    )
    parser.add_argument(
        "--descriptions",
        type=Path,
        help="a Kubernetes OpenAPI document (swagger.json, a v3 document or a JSON-schema $defs file) "
        "of the same release, whose descriptions win",
    )
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    models = load_models(args.client_path)
    described = load_descriptions(args.descriptions) if args.descriptions else None
    definitions = Generator(models, described).run()
    undescribed = sum(1 for schema in definitions.values() if not schema.get("description"))
    if undescribed:
        print(
            f"note: {undescribed} types have no description (see --descriptions)", file=sys.stderr
        )
    text = json.dumps(definitions, separators=(",", ":"), sort_keys=False, ensure_ascii=False)
    args.output.write_text(text + "\n", encoding="utf-8")
    print(f"wrote {len(definitions)} definitions, {len(text)} bytes, to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
