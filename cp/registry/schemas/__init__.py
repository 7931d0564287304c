"""OpenAPI schemas of the built-in types, as Kubernetes publishes them.

definitions.json holds every served kind, its list, and each type they reference
(ObjectMeta, PodSpec, Container, ... transitively): properties with their types,
descriptions, required fields, x-kubernetes-group-version-kind and the strategic-merge
extensions, as Kubernetes 1.32 (the version the server reports) publishes them.  It is
generated from the models of the `kubernetes` client of that release and the
descriptions of a Kubernetes 1.32 OpenAPI document by
`python -m cp.registry.schemas.generate` (never imported at runtime) and shipped as
package data.  References use the OpenAPI v3 form (`#/components/schemas/NAME`; a
described one, or one with a default, wrapped in a one-element allOf as Kubernetes
does); `closure(..., v2=True)` gives the Swagger 2.0 form, whose references are
rewritten to `V2_REF_PREFIX` (`#/definitions/NAME`) by the caller.  unknown_fields
compiles them into what fieldValidation checks a body against.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Mapping
from importlib import resources
from typing import Any

__all__ = [
    "V2_REF_PREFIX",
    "V2_SCALAR_TYPES",
    "V3_REF_PREFIX",
    "closure",
    "definitions",
    "name_for_kind",
]

V3_REF_PREFIX = "#/components/schemas/"
V2_REF_PREFIX = "#/definitions/"

# Swagger 2.0 has no oneOf: there, as in Kubernetes' /openapi/v2, these two are strings
# (format int-or-string is what kubectl's v2 validation accepts an integer for).
V2_SCALAR_TYPES: Mapping[str, Mapping[str, str]] = {
    "io.k8s.apimachinery.pkg.api.resource.Quantity": {"type": "string"},
    "io.k8s.apimachinery.pkg.util.intstr.IntOrString": {
        "type": "string",
        "format": "int-or-string",
    },
}


@functools.cache
def definitions() -> Mapping[str, Any]:
    """Definition name -> schema (shared; callers must not mutate it)."""
    text = resources.files(__package__).joinpath("definitions.json").read_text("utf-8")
    return json.loads(text)


@functools.cache
def _by_gvk() -> Mapping[tuple[str, str, str], str]:
    index = {}
    for name, schema in definitions().items():
        for gvk in schema.get("x-kubernetes-group-version-kind", ()):
            index[gvk["group"], gvk["version"], gvk["kind"]] = name
    return index


def name_for_kind(group: str, version: str, kind: str) -> str | None:
    """The definition name of a served kind, or None when it has no published schema."""
    return _by_gvk().get((group, version, kind))


def _refs(schema: Any, out: set[str]) -> None:
    if isinstance(schema, dict):
        ref = schema.get("$ref")
        if isinstance(ref, str):
            out.add(ref.removeprefix(V3_REF_PREFIX))
        for value in schema.values():
            _refs(value, out)
    elif isinstance(schema, list):
        for value in schema:
            _refs(value, out)


def closure(names: Iterable[str], *, v2: bool = False) -> dict[str, Any]:
    """The named definitions and every definition they reference, transitively (with
    the Swagger 2.0 form of the scalars when `v2`)."""
    defs = definitions()
    out: dict[str, Any] = {}
    todo = [n for n in names if n in defs]
    while todo:
        name = todo.pop()
        if name in out:
            continue
        out[name] = defs[name]
        found: set[str] = set()
        _refs(defs[name], found)
        todo.extend(n for n in found if n in defs and n not in out)
    if v2:
        out = {name: _v2(schema) for name, schema in out.items()}
        for name, typ in V2_SCALAR_TYPES.items():
            if name in out:
                scalar = {k: v for k, v in out[name].items() if k != "oneOf"}
                out[name] = {**scalar, **typ}
    return dict(sorted(out.items()))


def _v2(schema: Any) -> Any:
    """Swagger 2.0 form: a described reference is `{"$ref", "description"}`, not allOf."""
    if isinstance(schema, list):
        return [_v2(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: _v2(value) for key, value in schema.items()}
    all_of = out.get("allOf")
    if isinstance(all_of, list) and len(all_of) == 1 and "$ref" in all_of[0]:
        del out["allOf"]
        out.update(all_of[0])
    return out
