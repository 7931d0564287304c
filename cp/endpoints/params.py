"""Query parameters of list, watch and write requests, validated as ValidateListOptions.

Bad values are 400 BadRequest (unparseable) or 422 Invalid on ListOptions (forbidden
combinations), never silently ignored: a client with a typo must find out.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from cp.endpoints.http import Request
from cp.meta.fields import FieldSelector, parse_field_selector
from cp.meta.labels import LabelSelector, SelectorError, parse_label_selector
from cp.meta.status import ApiError, bad_request, invalid
from cp.meta.validation import forbidden, not_supported
from cp.registry.resource import ResourceDef
from cp.storage import EXACT, NOT_OLDER_THAN, parse_resource_version

_TRUE = ("1", "true", "True")


@dataclass(frozen=True, slots=True)
class ListOptions:
    labels: LabelSelector
    fields: FieldSelector
    rv: int | None
    match: str | None
    limit: int | None
    continue_token: str | None
    timeout_seconds: float | None
    bookmarks: bool
    send_initial_events: bool | None


def _list_options_invalid(causes: list) -> ApiError:
    return invalid("ListOptions", "meta.k8s.io", "", causes)


def parse_rv(text: str | None) -> int | None:
    try:
        return parse_resource_version(text)
    except ValueError as exc:
        raise bad_request(f'invalid resource version: "{text}"') from exc


def parse_bool(request: Request, name: str) -> bool | None:
    value = request.param(name)
    if value is None or value == "":
        return None
    if value in _TRUE:
        return True
    if value in ("0", "false", "False"):
        return False
    raise bad_request(f'invalid value for {name}: "{value}"')


def parse_list_options(request: Request, rdef: ResourceDef, *, watch: bool) -> ListOptions:
    try:
        labels = parse_label_selector(request.param("labelSelector") or "")
        fields = parse_field_selector(request.param("fieldSelector") or "")
        fields.check_supported(
            rdef.strategy.supported_fields(namespaced=rdef.namespaced), rdef.resource
        )
    except SelectorError as exc:
        raise bad_request(str(exc)) from exc
    rv_text = request.param("resourceVersion")
    rv = parse_rv(rv_text)
    match = request.param("resourceVersionMatch") or None
    causes = []
    if match is not None:
        if match not in (EXACT, NOT_OLDER_THAN):
            causes.append(not_supported("resourceVersionMatch", match, [EXACT, NOT_OLDER_THAN]))
        elif rv is None:
            causes.append(
                forbidden(
                    "resourceVersionMatch",
                    "resourceVersionMatch is forbidden unless resourceVersion is provided",
                )
            )
        elif match == EXACT and rv == 0:
            causes.append(
                forbidden(
                    "resourceVersionMatch",
                    'resourceVersionMatch "exact" is forbidden for resourceVersion "0"',
                )
            )
        elif watch and match == EXACT:
            causes.append(
                forbidden(
                    "resourceVersionMatch",
                    "resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided",
                )
            )
    limit_text = request.param("limit")
    limit = None
    if limit_text:
        if not limit_text.lstrip("-").isdigit():
            raise bad_request(f'invalid value for limit: "{limit_text}"')
        limit = int(limit_text) if int(limit_text) > 0 else None
    continue_token = request.param("continue") or None
    if continue_token and rv is not None and rv != 0 and not watch:
        causes.append(
            forbidden(
                "resourceVersion", "specifying resource version is not allowed when using continue"
            )
        )
    timeout_text = request.param("timeoutSeconds")
    timeout_seconds: float | None = None
    if timeout_text:
        if not timeout_text.isdigit():
            raise bad_request(f'invalid value for timeoutSeconds: "{timeout_text}"')
        timeout_seconds = float(timeout_text) or None  # 0 means the default, as in Kubernetes
    bookmarks = bool(parse_bool(request, "allowWatchBookmarks"))
    send_initial = parse_bool(request, "sendInitialEvents")
    if send_initial is not None:
        if not watch:
            causes.append(forbidden("sendInitialEvents", "sendInitialEvents is forbidden for list"))
        elif match != NOT_OLDER_THAN:
            causes.append(
                forbidden(
                    "resourceVersionMatch",
                    "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan",
                )
            )
        elif not bookmarks:
            causes.append(
                forbidden(
                    "allowWatchBookmarks",
                    "sendInitialEvents requires setting allowWatchBookmarks to true",
                )
            )
    if causes:
        raise _list_options_invalid(causes)
    return ListOptions(
        labels, fields, rv, match, limit, continue_token, timeout_seconds, bookmarks, send_initial
    )


def watch_timeout(options: ListOptions, min_request_timeout: float = 1800.0) -> float:
    """timeoutSeconds, else kube-apiserver's randomised [min, 2*min) so reconnects spread."""
    if options.timeout_seconds is not None:
        return options.timeout_seconds
    return min_request_timeout * (1 + random.random())


def dry_run(request: Request) -> bool:
    values = request.query.get("dryRun") or []
    for value in values:
        if value != "All":
            raise invalid(
                "CreateOptions", "meta.k8s.io", "", [not_supported("dryRun", value, ["All"])]
            )
    return bool(values)
