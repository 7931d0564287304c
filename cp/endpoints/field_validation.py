"""fieldValidation (Strict / Warn / Ignore): unknown and duplicate fields in a body.

kubectl sends fieldValidation=Strict with `create -f`, `replace -f` and `apply` and
relies on the server to reject typos.  kube-apiserver finds them with its typed
decoder at any depth; here the kind's published schema stands in for the Go structs
(cp.registry.schemas.unknown_fields), so the same fields are found under the same
paths (`spec.containers[0].imagePullPolicyx`).  A kind without a published schema is
checked where it declares its fields: the top level (ResourceDef.fields) and ObjectMeta.
Duplicate keys are found anywhere in a JSON body.  Unknown fields are dropped in every
mode, as the typed decoder never keeps them.  Warnings travel in the standard
`Warning: 299 - "..."` header, which kubectl prints.
"""

from __future__ import annotations

import json
from typing import Any

from cp.endpoints.http import Request
from cp.meta import status
from cp.meta.go_quote import go_quote
from cp.registry.resource import ResourceDef
from cp.registry.schemas.unknown_fields import field_tree
from cp.registry.schemas.unknown_fields import prune_unknown_fields as prune_by_schema

OBJECT_META_FIELDS = frozenset(
    {
        "name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation",
        "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "labels",
        "annotations", "ownerReferences", "finalizers", "managedFields",
    }
)  # fmt: skip
_MODES = ("Ignore", "Warn", "Strict")
_STRATEGIC_PATCH = "application/strategic-merge-patch+json"
# sigs.k8s.io/json stops collecting strict errors at 100.
_MAX_PROBLEMS = 100


def validation_mode(request: Request) -> tuple[str, bool]:
    """(mode, explicitly requested). Kubernetes' default is Warn."""
    value = request.param("fieldValidation")
    if value is None or value == "":
        return "Warn", False
    if value not in _MODES:
        raise status.bad_request(
            f'fieldValidation: Unsupported value: "{value}": supported values: "Ignore", "Strict", "Warn"'
        )
    return value, True


def prune_unknown_fields(obj: Any, rdef: ResourceDef, *, directives: bool = False) -> list[str]:
    """Drop unknown fields (a typed decoder never keeps them) and say which they were."""
    if not isinstance(obj, dict):
        return []
    tree = field_tree(rdef.group, rdef.version, rdef.kind)
    if tree is not None:
        unknown = prune_by_schema(obj, tree, directives=directives)
        return [f"unknown field {go_quote(p)}" for p in unknown] if unknown else unknown
    if rdef.fields is None:
        return []
    allowed = {"apiVersion", "kind", "metadata", *rdef.fields}
    unknown = [k for k in obj if k not in allowed and not k.startswith("$")]
    problems = [f"unknown field {go_quote(k)}" for k in unknown]
    for key in unknown:
        del obj[key]
    meta = obj.get("metadata")
    if isinstance(meta, dict):
        unknown = [k for k in meta if k not in OBJECT_META_FIELDS and not k.startswith("$")]
        problems += [f"unknown field {go_quote('metadata.' + k)}" for k in unknown]
        for key in unknown:
            del meta[key]
    return problems


def duplicate_fields(data: bytes) -> list[str]:
    found: list[str] = []

    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                found.append(f'duplicate field "{key}"')
            seen.add(key)
        return dict(pairs)

    try:
        json.loads(data, object_pairs_hook=hook)
    except (ValueError, RecursionError):
        return []  # the real decoder reports malformed JSON
    return found


def check_fields(
    request: Request, rdef: ResourceDef, obj: Any, raw: bytes | None
) -> list[tuple[str, str]]:
    """Warning headers to send, or a 400 under Strict."""
    mode, explicit = validation_mode(request)
    content_type = request.content_type
    problems = prune_unknown_fields(obj, rdef, directives=content_type == _STRATEGIC_PATCH)
    if mode == "Ignore":
        return []
    json_body = content_type in ("", "application/json") or content_type.endswith("+json")
    if explicit and raw is not None and json_body:
        problems += duplicate_fields(raw)
    if not problems:
        return []
    problems = list(dict.fromkeys(problems))[:_MAX_PROBLEMS]
    if mode == "Strict":
        raise status.bad_request(
            f'{rdef.kind} in version "{rdef.version}" cannot be handled as a {rdef.kind}: '
            "strict decoding error: " + ", ".join(problems)
        )
    return [("Warning", _warning_value(p)) for p in problems]


def _warning_value(text: str) -> str:
    """A `Warning` header value as apimachinery's NewWarningHeader quotes it.  The text
    is sent as UTF-8; the header layer encodes values as Latin-1, so the UTF-8 bytes
    are handed over as the Latin-1 characters that encode to them."""
    quoted = '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return ("299 - " + quoted).encode("utf-8").decode("latin-1")
