"""fieldValidation (Strict / Warn / Ignore): unknown and duplicate fields in a body.

kubectl sends fieldValidation=Strict with `create -f`, `replace -f` and `apply` and
relies on the server to reject typos.  Without full schemas, the check covers what is
declared: each type's top-level fields (ResourceDef.fields) and ObjectMeta's, which is
where most typos land; duplicate keys are found anywhere in a JSON body.  Warnings
travel in the standard `Warning: 299 - "..."` header, which kubectl prints.
"""

from __future__ import annotations

import json
from typing import Any

from cp.endpoints.http import Request
from cp.meta import status
from cp.registry.resource import ResourceDef

OBJECT_META_FIELDS = frozenset(
    {
        "name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation",
        "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "labels",
        "annotations", "ownerReferences", "finalizers", "managedFields",
    }
)  # fmt: skip
_MODES = ("Ignore", "Warn", "Strict")


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


def prune_unknown_fields(obj: Any, rdef: ResourceDef) -> list[str]:
    """Drop unknown fields (a typed decoder never keeps them) and say which they were."""
    if not isinstance(obj, dict) or rdef.fields is None:
        return []
    allowed = {"apiVersion", "kind", "metadata", *rdef.fields}
    unknown = [k for k in obj if k not in allowed and not k.startswith("$")]
    problems = [f'unknown field "{k}"' for k in unknown]
    for key in unknown:
        del obj[key]
    meta = obj.get("metadata")
    if isinstance(meta, dict):
        unknown = [k for k in meta if k not in OBJECT_META_FIELDS and not k.startswith("$")]
        problems += [f'unknown field "metadata.{k}"' for k in unknown]
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
    problems = prune_unknown_fields(obj, rdef)
    if mode == "Ignore":
        return []
    json_body = request.content_type in ("", "application/json") or request.content_type.endswith(
        "+json"
    )
    if explicit and raw is not None and json_body:
        problems += duplicate_fields(raw)
    if not problems:
        return []
    if mode == "Strict":
        raise status.bad_request(
            f'{rdef.kind} in version "{rdef.version}" cannot be handled as a {rdef.kind}: '
            "strict decoding error: " + ", ".join(problems)
        )
    return [("Warning", f'299 - "{p.replace(chr(34), chr(92) + chr(34))}"') for p in problems]
