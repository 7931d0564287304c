"""OpenAPI documents: v3 per group-version (paths and operations), and v2 in JSON and
in gnostic's protobuf.

kubectl decides between server-side and client-side validation by looking up, in the
OpenAPI v3 document of an object's group-version, the PATCH operation tagged with the
object's x-kubernetes-group-version-kind and checking it takes `fieldValidation`.
Publishing the operations lets `kubectl create -f`, `replace -f` and `apply -f` work
without --validate=false.

Schemas are Kubernetes' own (cp.registry.schemas: every field with its type,
description, required fields, group-version-kind and strategic-merge extensions), so
`kubectl explain` prints what it prints against a cluster.  Each v3 group-version
document carries its kinds, their lists and every definition they reference; the v2
document carries them all, with `#/definitions/` references.  A kind without a published
schema (none of the built-ins) falls back to one built from cp.registry.shapes: the
fields the server reads, the rest kept as sent.

kubectl validates the items of a `kind: List` against the v2 document, and it asks for
v2 only as protobuf (client-go's OpenAPISchema() decodes gnostic's openapi_v2.Document
and has no JSON fallback), so v2 is also served in that encoding
(cp.endpoints.openapi_v2_proto), negotiated on Accept as kube-openapi's handler does.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Mapping
from typing import Any

import msgspec

from cp.endpoints.http import JSON, encode_json
from cp.endpoints.openapi_v2_proto import encode_document
from cp.meta import status
from cp.registry import Registry, ResourceDef, schemas
from cp.registry.shapes import SHAPES, Shape

_COMMON_QUERY = ("dryRun", "fieldManager", "fieldValidation", "pretty")

# kube-openapi's media types for /openapi/v2; it answers the older `@v1.0` form (the one
# client-go asks for) with the newer content type, and so does this.
V2_PROTOBUF = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
_V2_PROTOBUF_OLD = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"
_V2_TYPES = (JSON, _V2_PROTOBUF_OLD, V2_PROTOBUF)


def _params(*names: str) -> list[dict[str, Any]]:
    return [
        {"name": n, "in": "query", "schema": {"type": "string", "uniqueItems": True}} for n in names
    ]


def _ref(d: ResourceDef, suffix: str = "") -> dict[str, Any]:
    name = _schema_name(d, suffix)
    if suffix and schemas.name_for_kind(d.group, d.version, d.kind + suffix) is None:
        name = _schema_name(d)  # no published list schema: answer with the item's
    return {"$ref": f"{schemas.V3_REF_PREFIX}{name}"}


def _schema_name(d: ResourceDef, suffix: str = "") -> str:
    published = schemas.name_for_kind(d.group, d.version, d.kind + suffix)
    if published is not None:
        return published
    group = d.group.removesuffix(".k8s.io") or "core"
    return f"io.k8s.api.{group}.{d.version}.{d.kind}{suffix}"


def _operation(
    d: ResourceDef, action: str, verb: str, params: tuple[str, ...], body: bool
) -> dict[str, Any]:
    response = _ref(d, "List" if action == "list" else "")
    op: dict[str, Any] = {
        "operationId": f"{verb}{d.kind}",
        "parameters": _params(*params),
        "responses": {
            "200": {"description": "OK", "content": {"application/json": {"schema": response}}}
        },
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": {"group": d.group, "version": d.version, "kind": d.kind},
    }
    if body:
        op["requestBody"] = {"content": {"application/json": {"schema": _ref(d)}}, "required": True}
    return op


def _paths(d: ResourceDef) -> dict[str, Any]:
    prefix = f"/apis/{d.group}/{d.version}" if d.group else f"/api/{d.version}"
    collection = (
        f"{prefix}/namespaces/{{namespace}}/{d.resource}"
        if d.namespaced
        else f"{prefix}/{d.resource}"
    )
    item = f"{collection}/{{name}}"
    return {
        collection: {
            "get": _operation(
                d,
                "list",
                "list",
                ("labelSelector", "fieldSelector", "limit", "continue", "watch"),
                False,
            ),
            "post": _operation(d, "post", "create", _COMMON_QUERY, True),
        },
        item: {
            "get": _operation(d, "get", "read", ("pretty",), False),
            "put": _operation(d, "put", "replace", _COMMON_QUERY, True),
            "patch": _operation(d, "patch", "patch", (*_COMMON_QUERY, "force"), True),
            "delete": _operation(
                d, "delete", "delete", ("dryRun", "gracePeriodSeconds", "propagationPolicy"), False
            ),
        },
    }


def _shape_schema(shape: Shape, path: str, merge_keys: Mapping[str, str]) -> dict[str, Any]:
    kind = shape.kind
    if kind == "str":
        return {"type": "string"}
    if kind == "int":
        return {"type": "integer", "format": shape.go}
    if kind == "bool":
        return {"type": "boolean"}
    if kind == "intstr":
        return {"x-kubernetes-int-or-string": True}
    assert shape.item is not None or kind == "struct"
    if kind == "map":
        return {
            "type": "object",
            "additionalProperties": _shape_schema(shape.item, path, merge_keys),
        }  # type: ignore[arg-type]
    if kind == "list":
        schema: dict[str, Any] = {
            "type": "array",
            "items": _shape_schema(shape.item, path, merge_keys),
        }  # type: ignore[arg-type]
        key = merge_keys.get(path)
        if key is not None:
            schema["x-kubernetes-patch-strategy"] = "merge"
            if key:
                schema["x-kubernetes-patch-merge-key"] = key
        return schema
    properties = {
        name: _shape_schema(sub, f"{path}.{name}" if path else name, merge_keys)
        for name, sub in shape.fields.items()
    }
    # Only the fields the server reads are described; the rest are kept as sent.
    return {
        "type": "object",
        "properties": properties,
        "x-kubernetes-preserve-unknown-fields": True,
    }


def _schema(d: ResourceDef) -> dict[str, Any]:
    shape = SHAPES.get(d.kind)
    schema = _shape_schema(shape, "", d.strategy.merge_keys) if shape else {"type": "object"}
    properties = schema.setdefault("properties", {})
    properties["apiVersion"] = {"type": "string"}
    properties["kind"] = {"type": "string"}
    schema["x-kubernetes-preserve-unknown-fields"] = True
    schema["x-kubernetes-group-version-kind"] = [
        {"group": d.group, "version": d.version, "kind": d.kind}
    ]
    return schema


def _components(defs: list[ResourceDef], *, v2: bool = False) -> dict[str, Any]:
    """The published schemas of `defs`, their lists and all they reference; a kind
    without a published schema gets its shapes-based one."""
    names = []
    components: dict[str, Any] = {}
    for d in defs:
        published = [
            name
            for name in (
                schemas.name_for_kind(d.group, d.version, d.kind),
                schemas.name_for_kind(d.group, d.version, d.kind + "List"),
            )
            if name is not None
        ]
        if published:
            names.extend(published)
        else:
            components[_schema_name(d)] = _schema(d)
    return {**schemas.closure(names, v2=v2), **components}


class OpenAPI:
    def __init__(self, registry: Registry) -> None:
        self.documents: dict[str, bytes] = {}
        paths: dict[str, Any] = {}
        for group, versions in registry.group_versions():
            for version in versions:
                key = f"apis/{group}/{version}" if group else f"api/{version}"
                defs = registry.resources_in(group, version)
                doc_paths: dict[str, Any] = {}
                for d in defs:
                    doc_paths.update(_paths(d))
                doc = encode_json(
                    {
                        "openapi": "3.0.0",
                        "info": {"title": "Kubernetes", "version": "v1.32.0"},
                        "paths": doc_paths,
                        "components": {"schemas": _components(defs)},
                    }
                )
                self.documents[key] = doc
                digest = hashlib.sha512(doc).hexdigest()[:128].upper()
                paths[key] = {"serverRelativeURL": f"/openapi/v3/{key}?hash={digest}"}
        self.root = encode_json({"paths": paths})
        v2 = encode_json(
            {
                "swagger": "2.0",
                "info": {"title": "Kubernetes", "version": "v1.32.0"},
                "paths": {},
                "definitions": _components(list(registry.defs), v2=True),
            }
        )
        # The same schemas; only the reference form differs (v2 `#/definitions/NAME`).
        self.v2 = v2.replace(
            b'"' + schemas.V3_REF_PREFIX.encode(), b'"' + schemas.V2_REF_PREFIX.encode()
        )

    @functools.cached_property
    def v2_protobuf(self) -> bytes:
        """The v2 document as gnostic's Document message, compiled from the JSON bytes so
        the two never differ; only kubectl validating a List asks, so it is built then."""
        return encode_document(msgspec.json.decode(self.v2))

    def v2_for(self, accept: str) -> tuple[bytes, str]:
        """The v2 document and its content type for an Accept header: the first clause,
        by quality, that names JSON or the protobuf encoding (wildcards allowed); 406
        when none does."""
        for media in _by_quality(accept or "*/*"):
            kind, _, sub = media.partition("/")
            for offered in _V2_TYPES:
                offered_kind, _, offered_sub = offered.partition("/")
                if kind in ("*", offered_kind) and sub in ("*", offered_sub):
                    if offered == JSON:
                        return self.v2, JSON
                    return self.v2_protobuf, V2_PROTOBUF
        raise status.not_acceptable(list(_V2_TYPES))


def _by_quality(accept: str) -> list[str]:
    """The media types of an Accept header, best first: by q, then exact before wildcard
    (as goautoneg orders them); q=0 means not acceptable."""
    clauses = []
    for position, entry in enumerate(accept.split(",")):
        media, *params = (part.strip() for part in entry.split(";"))
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if media and q > 0:
            media = media.lower()
            wildcards = media.count("*")
            clauses.append((-q, wildcards, position, media))
    return [media for *_, media in sorted(clauses)]
