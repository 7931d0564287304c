"""core/v1 Event <-> events.k8s.io/v1 Event: one stored object, two representations.

kube-apiserver keeps a single Event type and serves it in both groups, so a client of
either group sees every event, with one name, uid and resourceVersion.  The groups
differ only in field names (events.k8s.io renamed the legacy fields and prefixed the
ones it deprecated); every field has exactly one counterpart, so the conversion is a
renaming and loses nothing in either direction.

The conversion is shallow: the result shares metadata and nested values with its
input, which is safe because callers encode the result at once, only read it, or
change it as they would the input (the shape check drops nulls).  Fields unknown to the target representation are left out, as decoding into
the target's Go struct would drop them.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "CORE_API_VERSION",
    "EVENTS_API_VERSION",
    "EVENTS_FIELD_LABELS",
    "EVENTS_NAME_OF",
    "core_to_events",
    "events_to_core",
]

CORE_API_VERSION = "v1"
EVENTS_API_VERSION = "events.k8s.io/v1"

# (core/v1 name, events.k8s.io/v1 name), in core/v1's field order.
_CORE_ORDER: tuple[tuple[str, str], ...] = (
    ("involvedObject", "regarding"),
    ("reason", "reason"),
    ("message", "note"),
    ("source", "deprecatedSource"),
    ("firstTimestamp", "deprecatedFirstTimestamp"),
    ("lastTimestamp", "deprecatedLastTimestamp"),
    ("count", "deprecatedCount"),
    ("type", "type"),
    ("eventTime", "eventTime"),
    ("series", "series"),
    ("action", "action"),
    ("related", "related"),
    ("reportingComponent", "reportingController"),
    ("reportingInstance", "reportingInstance"),
)
# (events.k8s.io/v1 name, core/v1 name), in events.k8s.io/v1's field order.
_EVENTS_ORDER: tuple[tuple[str, str], ...] = (
    ("eventTime", "eventTime"),
    ("series", "series"),
    ("reportingController", "reportingComponent"),
    ("reportingInstance", "reportingInstance"),
    ("action", "action"),
    ("reason", "reason"),
    ("regarding", "involvedObject"),
    ("related", "related"),
    ("note", "message"),
    ("type", "type"),
    ("deprecatedSource", "source"),
    ("deprecatedFirstTimestamp", "firstTimestamp"),
    ("deprecatedLastTimestamp", "lastTimestamp"),
    ("deprecatedCount", "count"),
)
assert sorted(_EVENTS_ORDER) == sorted((e, c) for c, e in _CORE_ORDER)

# The events.k8s.io/v1 name of each core/v1 field.
EVENTS_NAME_OF: dict[str, str] = dict(_CORE_ORDER)

# Field-selector labels of events.k8s.io/v1 and the core/v1 label each one means, as
# kube-apiserver converts them before matching (metadata.* are the same in both).
EVENTS_FIELD_LABELS: dict[str, str] = {
    **{f"regarding.{f}": f"involvedObject.{f}" for f in (
        "kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath",
    )},
    "reason": "reason",
    "reportingController": "reportingComponent",
    "source": "source",
    "type": "type",
}  # fmt: skip


def _convert(
    obj: dict[str, Any], api_version: str, order: tuple[tuple[str, str], ...]
) -> dict[str, Any]:
    out: dict[str, Any] = {"kind": "Event", "apiVersion": api_version}
    if "metadata" in obj:
        out["metadata"] = obj["metadata"]
    for target, source in order:
        if source in obj:
            out[target] = obj[source]
    return out


def core_to_events(obj: dict[str, Any]) -> dict[str, Any]:
    """A core/v1 Event as events.k8s.io/v1 shows it."""
    return _convert(obj, EVENTS_API_VERSION, _EVENTS_ORDER)


def events_to_core(obj: dict[str, Any]) -> dict[str, Any]:
    """An events.k8s.io/v1 Event as core/v1 (and the store) holds it."""
    return _convert(obj, CORE_API_VERSION, _CORE_ORDER)
