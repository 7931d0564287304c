"""Field errors and object-name rules, worded as k8s.io/apimachinery/pkg/util/validation.

A strategy collects `Cause`s (one per bad field) and the endpoint turns them into one
422 Invalid Status, so a client sees every problem at once with its field path, as
kube-apiserver reports them.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from cp.meta.labels import label_key_errors, label_value_errors
from cp.meta.status import Cause

__all__ = [
    "NameRule",
    "dns1035_label_errors",
    "dns1123_label_errors",
    "dns1123_subdomain_errors",
    "duplicate",
    "forbidden",
    "invalid",
    "not_supported",
    "object_meta_causes",
    "path_segment_errors",
    "required",
]

NameRule = Callable[[str], list[str]]


def _render(value: Any) -> str:
    """How field.Invalid prints a bad value: %q for strings, JSON-ish otherwise."""
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def invalid(field: str, value: Any, detail: str) -> Cause:
    body = f"Invalid value: {_render(value)}"
    return Cause("FieldValueInvalid", f"{body}: {detail}" if detail else body, field)


def required(field: str, detail: str = "") -> Cause:
    return Cause(
        "FieldValueRequired", f"Required value: {detail}" if detail else "Required value", field
    )


def forbidden(field: str, detail: str) -> Cause:
    return Cause("FieldValueForbidden", f"Forbidden: {detail}", field)


def duplicate(field: str, value: Any) -> Cause:
    return Cause("FieldValueDuplicate", f"Duplicate value: {_render(value)}", field)


def not_supported(field: str, value: Any, supported: list[str]) -> Cause:
    quoted = ", ".join(json.dumps(s) for s in supported)
    return Cause(
        "FieldValueNotSupported",
        f"Unsupported value: {_render(value)}: supported values: {quoted}",
        field,
    )


def _regex_error(msg: str, regex: str, *examples: str) -> str:
    if not examples:
        return f"{msg} (regex used for validation is '{regex}')"
    shown = " or ".join(f"'{e}', " for e in examples)
    return f"{msg} (e.g. {shown}regex used for validation is '{regex}')"


_LABEL = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_LABEL_RE = re.compile(_LABEL)
_SUBDOMAIN = _LABEL + "(\\." + _LABEL + ")*"
_SUBDOMAIN_RE = re.compile(_SUBDOMAIN)
_DNS1035 = "[a-z]([-a-z0-9]*[a-z0-9])?"
_DNS1035_RE = re.compile(_DNS1035)


def _too_long(n: int) -> str:
    return f"must be no more than {n} bytes"


def dns1123_subdomain_errors(value: str) -> list[str]:
    errs = []
    if len(value.encode()) > 253:
        errs.append(_too_long(253))
    if not _SUBDOMAIN_RE.fullmatch(value):
        errs.append(
            _regex_error(
                "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
                "characters, '-' or '.', and must start and end with an alphanumeric character",
                _SUBDOMAIN,
                "example.com",
            )
        )
    return errs


def dns1123_label_errors(value: str) -> list[str]:
    errs = []
    if len(value.encode()) > 63:
        errs.append(_too_long(63))
    if not _LABEL_RE.fullmatch(value):
        errs.append(
            _regex_error(
                "a lowercase RFC 1123 label must consist of lower case alphanumeric "
                "characters or '-', and must start and end with an alphanumeric character",
                _LABEL,
                "my-name",
                "123-abc",
            )
        )
    return errs


def dns1035_label_errors(value: str) -> list[str]:
    errs = []
    if len(value.encode()) > 63:
        errs.append(_too_long(63))
    if not _DNS1035_RE.fullmatch(value):
        errs.append(
            _regex_error(
                "a DNS-1035 label must consist of lower case alphanumeric characters or '-', "
                "start with an alphabetic character, and end with an alphanumeric character",
                _DNS1035,
                "my-name",
                "abc-123",
            )
        )
    return errs


def path_segment_errors(value: str) -> list[str]:
    """path.IsValidPathSegmentName: any name that is safe in a URL path."""
    if value in (".", ".."):
        return [f"may not be '{value}'"]
    for bad in ("/", "%"):
        if bad in value:
            return [f"may not contain '{bad}'"]
    return []


def _string_map_causes(field: str, value: Any) -> list[Cause]:
    if value is None:
        return []
    if not isinstance(value, Mapping):
        return [invalid(field, value, "must be a map of strings")]
    return [
        invalid(f"{field}[{k}]", v, "must be a string")
        for k, v in value.items()
        if not isinstance(v, str)
    ]


@functools.lru_cache(maxsize=1024)
def _namespace_errors(namespace: str) -> tuple[str, ...]:
    """Namespaces repeat from write to write (names do not): their verdicts are kept."""
    return tuple(dns1123_label_errors(namespace))


def object_meta_causes(
    meta: Mapping[str, Any], *, namespaced: bool, name_rule: NameRule
) -> list[Cause]:
    """ValidateObjectMeta: name (or generateName), namespace, labels and annotations."""
    causes: list[Cause] = []
    name = meta.get("name")
    if not name:
        causes.append(required("metadata.name", "name or generateName is required"))
    elif not isinstance(name, str):
        causes.append(invalid("metadata.name", name, "must be a string"))
    else:
        errors = name_rule(name)
        if errors:
            causes.extend(invalid("metadata.name", name, e) for e in errors)
    namespace = meta.get("namespace")
    if namespaced:
        if not namespace:
            causes.append(required("metadata.namespace"))
        elif isinstance(namespace, str):
            errors = _namespace_errors(namespace)
            if errors:
                causes.extend(invalid("metadata.namespace", namespace, e) for e in errors)
    elif namespace:
        causes.append(forbidden("metadata.namespace", "not allowed on this type"))
    labels = meta.get("labels")
    if labels is not None:
        label_causes = _string_map_causes("metadata.labels", labels)
        causes.extend(label_causes)
        if labels and not label_causes:
            for key, value in labels.items():
                causes.extend(invalid("metadata.labels", key, e) for e in label_key_errors(key))
                causes.extend(
                    invalid("metadata.labels", value, e) for e in label_value_errors(value)
                )
    annotations = meta.get("annotations")
    if annotations is not None:
        annotation_causes = _string_map_causes("metadata.annotations", annotations)
        causes.extend(annotation_causes)
        if annotations and not annotation_causes:
            for key in annotations:
                causes.extend(
                    invalid("metadata.annotations", key, e) for e in label_key_errors(key.lower())
                )
            size = sum(len(k) + len(v) for k, v in annotations.items())
            if size > 256 * 1024:
                causes.append(
                    Cause(
                        "FieldValueTooLong",
                        f"Too long: must have at most {256 * 1024} bytes",
                        "metadata.annotations",
                    )
                )
    finalizers = meta.get("finalizers")
    if finalizers is not None and not (
        isinstance(finalizers, list) and all(isinstance(f, str) for f in finalizers)
    ):
        causes.append(invalid("metadata.finalizers", finalizers, "must be a list of strings"))
    return causes
