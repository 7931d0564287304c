"""Strategies of the built-in types: their defaults, validation and immutable fields.

Each mirrors the corresponding pkg/registry/.../strategy.go and pkg/apis/.../validation
closely enough for clients to see Kubernetes' answers for the common cases; the rest
of each type is stored as sent.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from cp.meta.patch import PRIMITIVE
from cp.meta.status import Cause
from cp.meta.validation import (
    dns1035_label_errors,
    dns1123_label_errors,
    forbidden,
    invalid,
    not_supported,
    path_segment_errors,
    required,
)
from cp.registry.events import CORE_EVENT_FIELDS, core_event_fields, legacy_causes
from cp.registry.strategy import META_MERGE_KEYS, Object, Strategy, immutable, nested

_CONFIG_KEY = "[-._a-zA-Z0-9]+"
_CONFIG_KEY_RE = re.compile(_CONFIG_KEY)
_CONFIG_KEY_MSG = (
    "a valid config key must consist of alphanumeric characters, '-', '_' or '.' "
    f"(e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '{_CONFIG_KEY}')"
)


def _config_key_causes(field: str, data: Any) -> list[Cause]:
    if data is None:
        return []
    if not isinstance(data, dict):
        return [invalid(field, data, "must be a map")]
    causes = []
    for key in data:
        if len(key) > 253:
            causes.append(invalid(f"{field}[{key}]", key, "must be no more than 253 bytes"))
        if not _CONFIG_KEY_RE.fullmatch(key):
            causes.append(invalid(f"{field}[{key}]", key, _CONFIG_KEY_MSG))
        elif key in (".", ".."):
            causes.append(invalid(f"{field}[{key}]", key, f"must not be '{key}'"))
    return causes


class ConfigMapStrategy(Strategy):
    def validate(self, obj: Object) -> list[Cause]:
        data, binary = obj.get("data"), obj.get("binaryData")
        causes = _config_key_causes("data", data)
        if binary is not None:
            causes += _config_key_causes("binaryData", binary)
            if data and binary and isinstance(data, dict) and isinstance(binary, dict):
                for key in data.keys() & binary.keys():
                    causes.append(
                        invalid(f"data[{key}]", key, "duplicate of key present in binaryData")
                    )
        return causes

    def validate_update(self, new: Object, old: Object) -> list[Cause]:
        causes = []
        if old.get("immutable"):
            if not new.get("immutable"):
                causes.append(forbidden("immutable", "field is immutable when `immutable` is set"))
            if new.get("data") != old.get("data"):
                causes.append(forbidden("data", "field is immutable when `immutable` is set"))
            if new.get("binaryData") != old.get("binaryData"):
                causes.append(forbidden("binaryData", "field is immutable when `immutable` is set"))
        return causes + self.validate(new)


class SecretStrategy(ConfigMapStrategy):
    extra_fields = ("type",)

    def default(self, obj: Object) -> None:
        obj.setdefault("type", "Opaque")
        string_data = obj.pop("stringData", None)
        if isinstance(string_data, dict):
            data = obj.setdefault("data", {})
            for key, value in string_data.items():
                if isinstance(value, str):
                    data[key] = base64.b64encode(value.encode()).decode()

    def validate(self, obj: Object) -> list[Cause]:
        causes = _config_key_causes("data", obj.get("data"))
        for key, value in (obj.get("data") or {}).items():
            try:
                base64.b64decode(value, validate=True)
            except (binascii.Error, TypeError, ValueError):
                causes.append(
                    invalid(f"data[{key}]", "<secret contents redacted>", "must be base64 encoded")
                )
        return causes

    def validate_update(self, new: Object, old: Object) -> list[Cause]:
        causes = immutable("type", new.get("type"), old.get("type"))
        if old.get("immutable"):
            if not new.get("immutable"):
                causes.append(forbidden("immutable", "field is immutable when `immutable` is set"))
            if new.get("data") != old.get("data"):
                causes.append(forbidden("data", "field is immutable when `immutable` is set"))
        return causes + self.validate(new)

    def selectable_fields(self, obj: Object) -> dict[str, str]:
        return {"type": str(obj.get("type") or "")}


class NamespaceStrategy(Strategy):
    name_rule = staticmethod(dns1123_label_errors)  # type: ignore[assignment]
    status_subresource = True
    extra_fields = ("status.phase",)

    def prepare_for_create(self, obj: Object) -> None:
        obj["status"] = {"phase": "Active"}
        # The namespace controller's token: a deleted namespace stays (Terminating)
        # until the controller has emptied it and removed this through /finalize.
        spec = obj.setdefault("spec", {})
        if isinstance(spec, dict):
            finalizers = spec.get("finalizers")
            finalizers = list(finalizers) if isinstance(finalizers, list) else []
            if "kubernetes" not in finalizers:
                finalizers.append("kubernetes")
            spec["finalizers"] = finalizers

    def prepare_for_update(self, new: Object, old: Object) -> None:
        super().prepare_for_update(new, old)
        # spec.finalizers change only through namespaces/finalize.
        finalizers = nested(old, "spec", "finalizers")
        spec = new.setdefault("spec", {})
        if isinstance(spec, dict):
            if finalizers is None:
                spec.pop("finalizers", None)
            else:
                spec["finalizers"] = list(finalizers)

    def default(self, obj: Object) -> None:
        labels = obj["metadata"].setdefault("labels", {})
        if isinstance(labels, dict):
            labels["kubernetes.io/metadata.name"] = obj["metadata"].get("name", "")

    def selectable_fields(self, obj: Object) -> dict[str, str]:
        return {"status.phase": str(nested(obj, "status", "phase") or "")}

    def deletion_held(self, obj: Object) -> bool:
        """Namespaces are also held by spec.finalizers ("kubernetes": the namespace
        controller empties the namespace, then finalizes it through namespaces/finalize)."""
        return super().deletion_held(obj) or bool(nested(obj, "spec", "finalizers"))

    def mark_deleting(self, obj: Object) -> None:
        status = obj.get("status")
        obj["status"] = {**(status if isinstance(status, dict) else {}), "phase": "Terminating"}


_PROTOCOLS = ["SCTP", "TCP", "UDP"]


class ServiceStrategy(Strategy):
    name_rule = staticmethod(dns1035_label_errors)  # type: ignore[assignment]
    status_subresource = True
    merge_keys = {**META_MERGE_KEYS, "spec.ports": "port"}
    extra_fields = ("spec.clusterIP", "spec.type")

    def prepare_for_create(self, obj: Object) -> None:
        obj["status"] = {"loadBalancer": {}}

    def prepare_for_update(self, new: Object, old: Object) -> None:
        """Values the server allocated survive an update that leaves them out, as
        kube-apiserver's patchAllocatedValues does (a PUT of a manifest without
        clusterIP keeps the allocated one instead of failing immutability)."""
        super().prepare_for_update(new, old)
        new_spec, old_spec = new.get("spec"), old.get("spec")
        if not isinstance(new_spec, dict) or not isinstance(old_spec, dict):
            return
        if not new_spec.get("clusterIP") and old_spec.get("clusterIP"):
            new_spec["clusterIP"] = old_spec["clusterIP"]
            if not new_spec.get("clusterIPs") and old_spec.get("clusterIPs"):
                new_spec["clusterIPs"] = list(old_spec["clusterIPs"])
        if new_spec.get("type") in ("NodePort", "LoadBalancer"):
            old_ports = {
                (p.get("name"), p.get("port")): p.get("nodePort")
                for p in old_spec.get("ports") or []
                if isinstance(p, dict) and p.get("nodePort")
            }
            for port in new_spec.get("ports") or []:
                if isinstance(port, dict) and not port.get("nodePort"):
                    kept = old_ports.get((port.get("name"), port.get("port")))
                    if kept:
                        port["nodePort"] = kept

    def default(self, obj: Object) -> None:
        spec = obj.setdefault("spec", {})
        if not isinstance(spec, dict):
            return
        spec.setdefault("type", "ClusterIP")
        spec.setdefault("sessionAffinity", "None")
        if spec["type"] != "ExternalName":
            spec.setdefault("ipFamilyPolicy", "SingleStack")
            spec.setdefault("internalTrafficPolicy", "Cluster")
        for port in spec.get("ports") or []:
            if isinstance(port, dict):
                port.setdefault("protocol", "TCP")
                if "port" in port:
                    port.setdefault("targetPort", port["port"])

    def validate(self, obj: Object) -> list[Cause]:
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            return [required("spec")]
        causes = []
        types = ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"]
        if spec.get("type") not in types:
            causes.append(not_supported("spec.type", spec.get("type"), types))
        ports = spec.get("ports") or []
        if not ports and spec.get("type") != "ExternalName" and spec.get("clusterIP") != "None":
            causes.append(required("spec.ports"))
        seen: set[tuple[Any, Any]] = set()
        for i, port in enumerate(ports):
            where = f"spec.ports[{i}]"
            if not isinstance(port, dict):
                causes.append(invalid(where, port, "must be an object"))
                continue
            number = port.get("port")
            if not isinstance(number, int) or not 1 <= number <= 65535:
                causes.append(
                    invalid(f"{where}.port", number, "must be between 1 and 65535, inclusive")
                )
            if port.get("protocol") not in _PROTOCOLS:
                causes.append(not_supported(f"{where}.protocol", port.get("protocol"), _PROTOCOLS))
            if len(ports) > 1 and not port.get("name"):
                causes.append(required(f"{where}.name"))
            if (number, port.get("protocol")) in seen:
                causes.append(invalid(f"{where}", port, "duplicate port"))
            seen.add((number, port.get("protocol")))
        return causes

    def validate_update(self, new: Object, old: Object) -> list[Cause]:
        causes = []
        old_ip = nested(old, "spec", "clusterIP")
        if old_ip:
            causes += immutable("spec.clusterIP", nested(new, "spec", "clusterIP"), old_ip)
        return causes + self.validate(new)

    def selectable_fields(self, obj: Object) -> dict[str, str]:
        return {
            "spec.clusterIP": str(nested(obj, "spec", "clusterIP") or ""),
            "spec.type": str(nested(obj, "spec", "type") or ""),
        }


_CONTAINER_KEYS = {
    "ports": "containerPort",
    "env": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "resizePolicy": "resourceName",
}


def _pod_spec_merge_keys(prefix: str) -> dict[str, str]:
    keys = {
        f"{prefix}.volumes": "name",
        f"{prefix}.imagePullSecrets": "name",
        f"{prefix}.hostAliases": "ip",
        f"{prefix}.topologySpreadConstraints": "topologyKey",
        f"{prefix}.resourceClaims": "name",
        f"{prefix}.schedulingGates": "name",
    }
    for containers in ("containers", "initContainers", "ephemeralContainers"):
        keys[f"{prefix}.{containers}"] = "name"
        for field, key in _CONTAINER_KEYS.items():
            keys[f"{prefix}.{containers}.{field}"] = key
    return keys


_PULL_POLICIES = ["Always", "IfNotPresent", "Never"]


class PodStrategy(Strategy):
    status_subresource = True
    merge_keys = {
        **META_MERGE_KEYS,
        **_pod_spec_merge_keys("spec"),
        "status.conditions": "type",
        "status.podIPs": "ip",
        "status.hostIPs": "ip",
    }
    extra_fields = (
        "spec.nodeName",
        "spec.restartPolicy",
        "spec.schedulerName",
        "spec.serviceAccountName",
        "spec.hostNetwork",
        "status.phase",
        "status.podIP",
        "status.nominatedNodeName",
    )

    def prepare_for_create(self, obj: Object) -> None:
        obj["status"] = {"phase": "Pending", "qosClass": "BestEffort"}

    def grace_period(self, obj: Object, requested: int | None) -> int:
        """podStrategy.CheckGracefulDelete: only a pod on a node that may still be running
        waits for its kubelet; unscheduled and finished pods go at once."""
        spec, status = obj.get("spec") or {}, obj.get("status") or {}
        if not spec.get("nodeName") or status.get("phase") in ("Succeeded", "Failed"):
            return 0
        grace = (
            requested if requested is not None else spec.get("terminationGracePeriodSeconds", 30)
        )
        return 1 if grace < 0 else int(grace)

    def default(self, obj: Object) -> None:
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            return
        spec.setdefault("restartPolicy", "Always")
        spec.setdefault("terminationGracePeriodSeconds", 30)
        spec.setdefault("dnsPolicy", "ClusterFirst")
        spec.setdefault("securityContext", {})
        spec.setdefault("schedulerName", "default-scheduler")
        spec.setdefault("enableServiceLinks", True)
        spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
        spec.setdefault("priority", 0)
        for key in ("containers", "initContainers"):
            for container in spec.get(key) or []:
                if not isinstance(container, dict):
                    continue
                image = str(container.get("image") or "")
                tagless = ":" not in image.rsplit("/", 1)[-1] and "@" not in image
                latest = tagless or image.endswith(":latest")
                container.setdefault("imagePullPolicy", "Always" if latest else "IfNotPresent")
                container.setdefault("terminationMessagePath", "/dev/termination-log")
                container.setdefault("terminationMessagePolicy", "File")
                container.setdefault("resources", {})
                for port in container.get("ports") or []:
                    if isinstance(port, dict):
                        port.setdefault("protocol", "TCP")

    def validate(self, obj: Object) -> list[Cause]:
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            return [required("spec")]
        causes = []
        containers = spec.get("containers")
        if not containers:
            causes.append(required("spec.containers"))
        names: set[str] = set()
        for key in ("containers", "initContainers"):
            for i, c in enumerate(spec.get(key) or []):
                where = f"spec.{key}[{i}]"
                if not isinstance(c, dict):
                    causes.append(invalid(where, c, "must be an object"))
                    continue
                name = c.get("name")
                if not name:
                    causes.append(required(f"{where}.name"))
                else:
                    causes += [
                        invalid(f"{where}.name", name, e) for e in dns1123_label_errors(str(name))
                    ]
                    if name in names:
                        causes.append(
                            Cause(
                                "FieldValueDuplicate", f'Duplicate value: "{name}"', f"{where}.name"
                            )
                        )
                    names.add(name)
                if not c.get("image"):
                    causes.append(required(f"{where}.image"))
                policy = c.get("imagePullPolicy")
                if policy not in _PULL_POLICIES:
                    causes.append(not_supported(f"{where}.imagePullPolicy", policy, _PULL_POLICIES))
        policies = ["Always", "Never", "OnFailure"]
        if spec.get("restartPolicy") not in policies:
            causes.append(not_supported("spec.restartPolicy", spec.get("restartPolicy"), policies))
        return causes

    def validate_update(self, new: Object, old: Object) -> list[Cause]:
        old_spec, new_spec = dict(old.get("spec") or {}), dict(new.get("spec") or {})
        # Only images (and a few scheduling fields) may change on a running pod.
        for spec in (old_spec, new_spec):
            spec["containers"] = [
                {k: v for k, v in c.items() if k != "image"}
                for c in spec.get("containers") or []
                if isinstance(c, dict)
            ]
            for field in ("activeDeadlineSeconds", "tolerations", "terminationGracePeriodSeconds"):
                spec.pop(field, None)
        causes = []
        if new_spec != old_spec:
            causes.append(
                forbidden(
                    "spec",
                    "pod updates may not change fields other than `spec.containers[*].image`,"
                    "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,"
                    "`spec.tolerations` (only additions to existing tolerations),"
                    "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)",
                )
            )
        return causes + self.validate(new)

    def selectable_fields(self, obj: Object) -> dict[str, str]:
        spec = obj.get("spec") or {}
        status = obj.get("status") or {}
        return {
            "spec.nodeName": str(spec.get("nodeName") or ""),
            "spec.restartPolicy": str(spec.get("restartPolicy") or ""),
            "spec.schedulerName": str(spec.get("schedulerName") or ""),
            "spec.serviceAccountName": str(spec.get("serviceAccountName") or ""),
            "spec.hostNetwork": "true" if spec.get("hostNetwork") else "false",
            "status.phase": str(status.get("phase") or ""),
            "status.podIP": str(status.get("podIP") or ""),
            "status.nominatedNodeName": str(status.get("nominatedNodeName") or ""),
        }


class NodeStrategy(Strategy):
    status_subresource = True
    merge_keys = {
        **META_MERGE_KEYS,
        "status.conditions": "type",
        "status.addresses": "type",
        "status.images": PRIMITIVE,
    }
    extra_fields = ("spec.unschedulable",)

    def prepare_for_create(self, obj: Object) -> None:
        pass  # kubelets create nodes with their status

    def selectable_fields(self, obj: Object) -> dict[str, str]:
        return {"spec.unschedulable": "true" if nested(obj, "spec", "unschedulable") else "false"}


class ServiceAccountStrategy(Strategy):
    merge_keys = {**META_MERGE_KEYS, "secrets": "name", "imagePullSecrets": "name"}


class EndpointsStrategy(Strategy):
    pass


class EventStrategy(Strategy):
    """core/v1 Events: the legacy rules (see cp.registry.events, shared with
    events.k8s.io/v1, whose Events are these same objects)."""

    name_rule = staticmethod(path_segment_errors)  # type: ignore[assignment]
    extra_fields = CORE_EVENT_FIELDS

    def validate(self, obj: Object) -> list[Cause]:
        return legacy_causes(obj, reporting_field="reportingComponent")

    def selectable_fields(self, obj: Object) -> dict[str, str]:
        return core_event_fields(obj)


class SpecStrategy(Strategy):
    """Types whose spec is stored as sent, with generation tracking (leases, quotas...)."""

    generation_fields = ("spec",)


class StatusSpecStrategy(SpecStrategy):
    status_subresource = True


class PersistentVolumeClaimStrategy(StatusSpecStrategy):
    def prepare_for_create(self, obj: Object) -> None:
        obj["status"] = {"phase": "Pending"}
        spec = obj.get("spec")
        if isinstance(spec, dict):
            spec.setdefault("volumeMode", "Filesystem")

    def validate(self, obj: Object) -> list[Cause]:
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            return [required("spec")]
        causes = []
        if not spec.get("accessModes"):
            causes.append(required("spec.accessModes"))
        if not nested(spec, "resources", "requests", "storage"):
            causes.append(required("spec.resources[storage]"))
        return causes


class EndpointSliceStrategy(Strategy):
    generation_fields = ("endpoints", "ports")
    merge_keys = META_MERGE_KEYS

    def validate(self, obj: Object) -> list[Cause]:
        types = ["FQDN", "IPv4", "IPv6"]
        if obj.get("addressType") not in types:
            return [not_supported("addressType", obj.get("addressType"), types)]
        return []

    def validate_update(self, new: Object, old: Object) -> list[Cause]:
        return immutable(
            "addressType", new.get("addressType"), old.get("addressType")
        ) + self.validate(new)
