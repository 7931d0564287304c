"""Decoding the Kubernetes protobuf wire format for the types typed clients send.

kubectl's typed commands (`create configmap`, `create secret`, `create namespace`,
`create service`, `create serviceaccount`, `create quota`) use client-go's typed clients,
which always send request bodies as application/vnd.kubernetes.protobuf (responses are
accepted as JSON).  So the server must read those bodies.  Rather than generated code,
each message is a small table of field number -> (json name, type), taken from
k8s.io/api/core/v1/generated.proto; zero values are dropped, as the JSON omitempty tags
would.  Types without a table are refused with 415, and the client can send JSON.
"""

from __future__ import annotations

import base64
import datetime
from typing import Any

__all__ = ["MAGIC", "ProtobufError", "decode_object"]

MAGIC = b"k8s\x00"


class ProtobufError(ValueError):
    pass


# Field types: "string", "bytes" (base64 in JSON), "int", "bool", "time", "map", a message
# name, "intorstr", "quantity"; ("repeated", T); ("map", V) for map<string, V>.
Field = tuple[str, Any]
Schema = dict[int, Field]

_MESSAGES: dict[str, Schema] = {
    "Unknown": {
        1: ("typeMeta", "TypeMeta"),
        2: ("raw", "rawbytes"),
        3: ("contentEncoding", "string"),
        4: ("contentType", "string"),
    },
    "TypeMeta": {1: ("apiVersion", "string"), 2: ("kind", "string")},
    "ObjectMeta": {
        1: ("name", "string"),
        2: ("generateName", "string"),
        3: ("namespace", "string"),
        5: ("uid", "string"),
        6: ("resourceVersion", "string"),
        7: ("generation", "int"),
        8: ("creationTimestamp", "time"),
        9: ("deletionTimestamp", "time"),
        10: ("deletionGracePeriodSeconds", "int"),
        11: ("labels", ("map", "string")),
        12: ("annotations", ("map", "string")),
        13: ("ownerReferences", ("repeated", "OwnerReference")),
        14: ("finalizers", ("repeated", "string")),
    },
    "OwnerReference": {
        1: ("kind", "string"),
        3: ("name", "string"),
        4: ("uid", "string"),
        5: ("apiVersion", "string"),
        6: ("controller", "bool"),
        7: ("blockOwnerDeletion", "bool"),
    },
    "ConfigMap": {
        1: ("metadata", "ObjectMeta"),
        2: ("data", ("map", "string")),
        3: ("binaryData", ("map", "bytes")),
        4: ("immutable", "bool!"),
    },
    "Secret": {
        1: ("metadata", "ObjectMeta"),
        2: ("data", ("map", "bytes")),
        3: ("type", "string"),
        4: ("stringData", ("map", "string")),
        5: ("immutable", "bool!"),
    },
    "Namespace": {
        1: ("metadata", "ObjectMeta"),
        2: ("spec", "NamespaceSpec"),
        3: ("status", "NamespaceStatus"),
    },
    "NamespaceSpec": {1: ("finalizers", ("repeated", "string"))},
    "NamespaceStatus": {1: ("phase", "string")},
    "ServiceAccount": {
        1: ("metadata", "ObjectMeta"),
        2: ("secrets", ("repeated", "ObjectReference")),
        3: ("imagePullSecrets", ("repeated", "LocalObjectReference")),
        4: ("automountServiceAccountToken", "bool!"),
    },
    "ObjectReference": {
        1: ("kind", "string"),
        2: ("namespace", "string"),
        3: ("name", "string"),
        4: ("uid", "string"),
        5: ("apiVersion", "string"),
        6: ("resourceVersion", "string"),
        7: ("fieldPath", "string"),
    },
    "LocalObjectReference": {1: ("name", "string")},
    "Service": {1: ("metadata", "ObjectMeta"), 2: ("spec", "ServiceSpec")},
    "ServiceSpec": {
        1: ("ports", ("repeated", "ServicePort")),
        2: ("selector", ("map", "string")),
        3: ("clusterIP", "string"),
        4: ("type", "string"),
        5: ("externalIPs", ("repeated", "string")),
        7: ("sessionAffinity", "string"),
        8: ("loadBalancerIP", "string"),
        9: ("loadBalancerSourceRanges", ("repeated", "string")),
        10: ("externalName", "string"),
        11: ("externalTrafficPolicy", "string"),
        12: ("healthCheckNodePort", "int"),
        13: ("publishNotReadyAddresses", "bool"),
        17: ("ipFamilyPolicy", "string"),
        18: ("clusterIPs", ("repeated", "string")),
        19: ("ipFamilies", ("repeated", "string")),
        20: ("allocateLoadBalancerNodePorts", "bool!"),
        21: ("loadBalancerClass", "string"),
        22: ("internalTrafficPolicy", "string"),
    },
    "ServicePort": {
        1: ("name", "string"),
        2: ("protocol", "string"),
        3: ("port", "int"),
        4: ("targetPort", "intorstr"),
        5: ("nodePort", "int"),
        6: ("appProtocol", "string"),
    },
    "ResourceQuota": {1: ("metadata", "ObjectMeta"), 2: ("spec", "ResourceQuotaSpec")},
    "ResourceQuotaSpec": {1: ("hard", ("map", "quantity")), 2: ("scopes", ("repeated", "string"))},
}


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data):
            raise ProtobufError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ProtobufError("varint too long")


def _fields(data: bytes) -> list[tuple[int, int, Any]]:
    """(field number, wire type, value) triples; length-delimited values as bytes."""
    out = []
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(data, pos)
        elif wire == 2:
            length, pos = _varint(data, pos)
            if pos + length > len(data):
                raise ProtobufError("truncated field")
            value, pos = data[pos : pos + length], pos + length
        elif wire == 1:
            value, pos = data[pos : pos + 8], pos + 8
        elif wire == 5:
            value, pos = data[pos : pos + 4], pos + 4
        else:
            raise ProtobufError(f"unsupported wire type {wire}")
        out.append((number, wire, value))
    return out


def _signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def _scalar(kind: Any, value: Any, depth: int) -> Any:
    if kind == "string":
        return bytes(value).decode("utf-8")
    if kind == "bytes":
        return base64.b64encode(bytes(value)).decode()
    if kind == "rawbytes":
        return bytes(value)
    if kind == "int":
        return _signed(value)
    if kind in ("bool", "bool!"):
        return bool(value)
    if kind == "time":
        seconds = next((_signed(v) for n, _, v in _fields(value) if n == 1), 0)
        if seconds <= -62135596800:
            return None
        return datetime.datetime.fromtimestamp(seconds, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if kind == "intorstr":
        parts = {n: v for n, _, v in _fields(value)}
        if parts.get(1, 0) == 1:
            return bytes(parts.get(3, b"")).decode()
        return _signed(parts.get(2, 0))
    if kind == "quantity":
        return next((bytes(v).decode() for n, _, v in _fields(value) if n == 1), "")
    return _message(kind, value, depth + 1)


def _empty(kind: Any, value: Any) -> bool:
    if kind == "bool!":
        return False
    return value in ("", 0, False, None, {}, [])


def _message(name: str, data: bytes, depth: int = 0) -> dict[str, Any]:
    if depth > 32:
        raise ProtobufError("message nesting too deep")
    schema = _MESSAGES[name]
    out: dict[str, Any] = {}
    for number, _, value in _fields(data):
        field = schema.get(number)
        if field is None:
            continue
        key, kind = field
        if isinstance(kind, tuple) and kind[0] == "repeated":
            out.setdefault(key, []).append(_scalar(kind[1], value, depth))
        elif isinstance(kind, tuple) and kind[0] == "map":
            entry = {n: v for n, _, v in _fields(value)}
            map_key = bytes(entry.get(1, b"")).decode()
            out.setdefault(key, {})[map_key] = _scalar(kind[1], entry.get(2, b""), depth)
        else:
            decoded = _scalar(kind, value, depth)
            if not _empty(kind, decoded):
                out[key] = decoded
    return {k: v for k, v in out.items() if v not in ({}, [])} if name != "Unknown" else out


def decode_object(data: bytes) -> dict[str, Any]:
    """Decode an enveloped protobuf object into its JSON form. Raises ProtobufError."""
    if not data.startswith(MAGIC):
        raise ProtobufError(
            "provided data does not appear to be a protobuf message, expected prefix [107 56 115 0]"
        )
    try:
        unknown = _message("Unknown", data[len(MAGIC) :])
        type_meta = unknown.get("typeMeta") or {}
        kind = type_meta.get("kind", "")
        if kind not in _MESSAGES or kind in ("Unknown", "TypeMeta"):
            raise ProtobufError(f"protobuf bodies of kind {kind!r} are not supported; send JSON")
        obj: dict[str, Any] = {"kind": kind, "apiVersion": type_meta.get("apiVersion", "")}
        obj.update(_message(kind, unknown.get("raw", b"")))
        return obj
    except (UnicodeDecodeError, IndexError) as exc:
        raise ProtobufError(f"malformed protobuf body: {exc}") from exc
