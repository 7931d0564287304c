"""Event validation for both groups, and the events.k8s.io/v1 strategy.

Kubernetes validates every Event in its internal (core) form and only varies the rules
by the group of the request: core/v1 keeps the legacy rules for old clients, while
events.k8s.io/v1 adds the strict ones (eventTime, type, the deprecated fields left
unset, most fields immutable).  So the rules here read core/v1 objects, and the
events.k8s.io strategy converts before validating; field paths in the errors are the
core ones in both groups, exactly as kube-apiserver words them (a `note` too long
is reported as `message`, a changed `regarding` as `involvedObject`).
"""

from __future__ import annotations

import datetime
import re
from typing import Any

from cp.meta.labels import label_key_errors
from cp.meta.status import ApiError, Cause, bad_request
from cp.meta.validation import dns1123_subdomain_errors, invalid, required
from cp.registry.event_conversion import (
    CORE_API_VERSION,
    EVENTS_FIELD_LABELS,
    EVENTS_NAME_OF,
    events_to_core,
)
from cp.registry.shapes import check_shape
from cp.registry.strategy import Object, Strategy, nested

__all__ = ["CORE_EVENT_FIELDS", "EventsStrategy", "core_event_fields", "legacy_causes"]

NORMAL = "Normal"
WARNING = "Warning"
REPORTING_INSTANCE_LIMIT = 128
ACTION_LIMIT = 128
REASON_LIMIT = 128
NOTE_LIMIT = 1024

_INVOLVED_FIELDS = (
    "kind",
    "namespace",
    "name",
    "uid",
    "apiVersion",
    "resourceVersion",
    "fieldPath",
)
CORE_EVENT_FIELDS: tuple[str, ...] = (
    *(f"involvedObject.{f}" for f in _INVOLVED_FIELDS),
    "reason",
    "reportingComponent",
    "source",
    "type",
)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _unset_time(value: Any) -> bool:
    """Go's zero time: absent, null, empty, or year 1 (what a zero time.Time encodes)."""
    return not value or (isinstance(value, str) and value.startswith("0001-01-01T00:00:00"))


def _qualified_name_errors(value: str) -> list[str]:
    """validation.IsQualifiedName, which label keys share but for one wording."""
    return [
        e.replace("a valid label key ", "a qualified name ", 1) for e in label_key_errors(value)
    ]


def _too_long(field: str, limit: int) -> Cause:
    return invalid(field, "", f"can have at most {limit} characters")


def core_event_fields(event: Object) -> dict[str, str]:
    """The field-selector fields of a core/v1 Event (ToSelectableFields): `source` falls
    back to the reporting controller for events that only carry the new fields."""
    involved = _mapping(event.get("involvedObject"))
    fields = {f"involvedObject.{f}": str(involved.get(f) or "") for f in _INVOLVED_FIELDS}
    controller = str(event.get("reportingComponent") or "")
    fields["reason"] = str(event.get("reason") or "")
    fields["reportingComponent"] = controller
    fields["source"] = str(nested(event, "source", "component") or "") or controller
    fields["type"] = str(event.get("type") or "")
    return fields


def legacy_causes(event: Object, *, reporting_field: str) -> list[Cause]:
    """The rules every Event passes in either group (legacyValidateEvent).

    An event without eventTime is an old-style one: its involvedObject must be in the
    event's namespace.  One with eventTime must carry the new fields.  The reporting
    controller is named as the request's group names it (`reportingComponent` in
    core/v1), every other field by its core name.
    """
    causes: list[Cause] = []
    involved_ns = _text(_mapping(event.get("involvedObject")).get("namespace"))
    namespace = _text(_mapping(event.get("metadata")).get("namespace"))
    mismatch = invalid("involvedObject.namespace", involved_ns, "does not match event.namespace")
    if _unset_time(event.get("eventTime")):
        if (not involved_ns and namespace not in ("", "default")) or (
            involved_ns and involved_ns != namespace
        ):
            causes.append(mismatch)
        return causes
    if not involved_ns and namespace not in ("default", "kube-system"):
        causes.append(mismatch)
    controller = _text(event.get("reportingComponent"))
    if not controller:
        causes.append(required(reporting_field))
    causes.extend(
        invalid(reporting_field, controller, e) for e in _qualified_name_errors(controller)
    )
    instance = _text(event.get("reportingInstance"))
    if not instance:
        causes.append(required("reportingInstance"))
    if len(instance.encode()) > REPORTING_INSTANCE_LIMIT:
        causes.append(_too_long("reportingInstance", REPORTING_INSTANCE_LIMIT))
    for field, limit in (("action", ACTION_LIMIT), ("reason", REASON_LIMIT)):
        value = _text(event.get(field))
        if not value:
            causes.append(required(field))
        if len(value.encode()) > limit:
            causes.append(_too_long(field, limit))
    if len(_text(event.get("message")).encode()) > NOTE_LIMIT:
        causes.append(_too_long("message", NOTE_LIMIT))
    return causes


def _series_causes(event: Object) -> list[Cause]:
    series = event.get("series")
    if series is None:
        return []
    series = _mapping(series)
    causes = []
    count = series.get("count")
    if not isinstance(count, int) or isinstance(count, bool) or count < 2:
        causes.append(invalid("series.count", "", "should be at least 2"))
    if _unset_time(series.get("lastObservedTime")):
        causes.append(required("series.lastObservedTime"))
    return causes


def _strict_create_causes(event: Object) -> list[Cause]:
    """What events.k8s.io/v1 adds on create (ValidateEventCreate)."""
    causes = _series_causes(event)
    if _unset_time(event.get("eventTime")):
        causes.append(required("eventTime"))
    kind = event.get("type")
    if kind not in (NORMAL, WARNING):
        shown = "" if kind is None else kind
        causes.append(invalid("type", "", f"has invalid value: {shown}"))
    for field in ("firstTimestamp", "lastTimestamp"):
        if not _unset_time(event.get(field)):
            causes.append(invalid(field, "", "needs to be unset"))
    if event.get("count"):
        causes.append(invalid("count", "", "needs to be unset"))
    source = event.get("source")
    if isinstance(source, dict) and (source.get("component") or source.get("host")):
        causes.append(invalid("source", "", "needs to be unset"))
    return causes


def _instant(value: Any) -> Any:
    """A timestamp as a comparable instant (microseconds, UTC), as Go compares times."""
    if _unset_time(value):
        return None
    if isinstance(value, str):
        try:
            return datetime.datetime.fromisoformat(value).astimezone(datetime.UTC)
        except ValueError:
            return value
    return value


def _zero_free(value: Any) -> Any:
    """A value with Go's zero values left out, so `{}` equals an absent struct and ""
    an absent string, as they do once decoded."""
    if isinstance(value, dict):
        kept = {k: _zero_free(v) for k, v in value.items()}
        return {k: v for k, v in kept.items() if v not in (None, "", 0, False, {})}
    return None if value in ("", 0, False) else value


# (core field, how its values compare): events.k8s.io/v1 fixes these once created.
_IMMUTABLE: tuple[tuple[str, Any], ...] = (
    ("involvedObject", _zero_free),
    ("reason", _zero_free),
    ("message", _zero_free),
    ("source", _zero_free),
    ("firstTimestamp", _instant),
    ("lastTimestamp", _instant),
    ("count", _zero_free),
    # Listed twice in Kubernetes, so a changed reason is reported twice there too.
    ("reason", _zero_free),
    ("type", _zero_free),
    ("eventTime", _instant),
    ("action", _zero_free),
    ("related", _zero_free),
    ("reportingComponent", _zero_free),
    ("reportingInstance", _zero_free),
)


def _strict_update_causes(new: Object, old: Object) -> list[Cause]:
    """What events.k8s.io/v1 adds on update (ValidateEventUpdate)."""
    causes = _series_causes(new) if new.get("series") != old.get("series") else []
    for field, norm in _IMMUTABLE:
        if norm(new.get(field)) != norm(old.get(field)):
            # The reporting controller keeps its internal name here, whatever the group.
            path = "reportingController" if field == "reportingComponent" else field
            causes.append(invalid(path, new.get(field), "field is immutable"))
    return causes


# Decoder errors name the field; named as the request named it.
_CORE_FIELD = re.compile(r"(?<=Go struct field Event\.)\w+")


def _events_field(match: re.Match[str]) -> str:
    return EVENTS_NAME_OF.get(match.group(0), match.group(0))


class EventsStrategy(Strategy):
    """events.k8s.io/v1 Events: stored as core/v1 Events, validated strictly.

    Names follow ValidateObjectMeta with DNS subdomain names, stricter than core/v1's
    path segments.  Field selectors are events.k8s.io's labels, each matching what the
    core label it converts to matches.
    """

    name_rule = staticmethod(dns1123_subdomain_errors)  # type: ignore[assignment]
    extra_fields = tuple(EVENTS_FIELD_LABELS)

    def default(self, obj: Object) -> None:
        """Refuse what core/v1's decoder would: the deprecated fields are stored as core
        ones, and a wrongly typed value there would reach every core/v1 reader."""
        try:
            check_shape("Event", CORE_API_VERSION, events_to_core(obj))
        except ApiError as exc:
            message = _CORE_FIELD.sub(_events_field, exc.status["message"])
            raise bad_request(message) from exc

    def validate(self, obj: Object) -> list[Cause]:
        event = events_to_core(obj)
        return legacy_causes(event, reporting_field="reportingController") + (
            _strict_create_causes(event)
        )

    def validate_update(self, new: Object, old: Object) -> list[Cause]:
        event = events_to_core(new)
        return legacy_causes(event, reporting_field="reportingController") + (
            _strict_update_causes(event, events_to_core(old))
        )

    def selectable_fields(self, obj: Object) -> dict[str, str]:
        core = core_event_fields(events_to_core(obj))
        return {label: core[core_label] for label, core_label in EVENTS_FIELD_LABELS.items()}
