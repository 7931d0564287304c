"""metav1.Status: the one shape every API failure takes on the wire.

Clients branch on `reason` and `code` and print `message` verbatim (kubectl shows
"Error from server (NotFound): configmaps "x" not found"), so the builders here word
each failure exactly as k8s.io/apimachinery/pkg/api/errors does.  `ApiError` carries a
finished Status up through the layers; the HTTP layer only serialises it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

__all__ = [
    "ApiError",
    "Cause",
    "already_exists",
    "bad_request",
    "conflict",
    "expired",
    "forbidden",
    "internal_error",
    "invalid",
    "method_not_allowed",
    "not_acceptable",
    "not_found",
    "path_not_found",
    "precondition_conflict",
    "request_entity_too_large",
    "service_unavailable",
    "status_object",
    "success",
    "timeout",
    "too_large_resource_version",
    "too_many_requests",
    "unsupported_media_type",
]


class Cause(NamedTuple):
    """A metav1.StatusCause: why one field is invalid."""

    reason: str
    message: str
    field: str

    def as_dict(self) -> dict[str, str]:
        return {"reason": self.reason, "message": self.message, "field": self.field}


class ApiError(Exception):
    """A request failure with the Status the client must see."""

    def __init__(self, status: dict[str, Any], headers: Sequence[tuple[str, str]] = ()) -> None:
        super().__init__(status.get("message", ""))
        self.status = status
        self.headers = list(headers)

    @property
    def code(self) -> int:
        return int(self.status["code"])

    @property
    def reason(self) -> str:
        return str(self.status.get("reason", ""))


def status_object(
    code: int, reason: str, message: str, details: dict[str, Any] | None = None
) -> dict[str, Any]:
    status: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
    }
    if details is not None:
        status["details"] = details
    status["code"] = code
    return status


def success(details: dict[str, Any] | None = None) -> dict[str, Any]:
    status: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
    }
    if details is not None:
        status["details"] = details
    return status


def _details(resource: str, group: str, name: str) -> dict[str, Any]:
    details: dict[str, Any] = {}
    if name:
        details["name"] = name
    if group:
        details["group"] = group
    details["kind"] = resource
    return details


def _qualified(resource: str, group: str) -> str:
    return f"{resource}.{group}" if group else resource


def not_found(resource: str, group: str, name: str) -> ApiError:
    message = f'{_qualified(resource, group)} "{name}" not found'
    return ApiError(status_object(404, "NotFound", message, _details(resource, group, name)))


def path_not_found() -> ApiError:
    return ApiError(
        status_object(404, "NotFound", "the server could not find the requested resource", {})
    )


def already_exists(resource: str, group: str, name: str) -> ApiError:
    message = f'{_qualified(resource, group)} "{name}" already exists'
    return ApiError(status_object(409, "AlreadyExists", message, _details(resource, group, name)))


_MODIFIED = (
    "the object has been modified; please apply your changes to the latest version and try again"
)


def conflict(resource: str, group: str, name: str, why: str = _MODIFIED) -> ApiError:
    message = f'Operation cannot be fulfilled on {_qualified(resource, group)} "{name}": {why}'
    return ApiError(status_object(409, "Conflict", message, _details(resource, group, name)))


def precondition_conflict(
    resource: str, group: str, name: str, field: str, expected: str, actual: str
) -> ApiError:
    """A delete precondition that failed, worded as the registry's Store words it."""
    label = "UID" if field == "uid" else "ResourceVersion"
    why = f"Precondition failed: {label} in precondition: {expected}, {label} in object meta: {actual}"
    return conflict(resource, group, name, why)


def expired(message: str) -> ApiError:
    return ApiError(status_object(410, "Expired", message))


def too_large_resource_version(requested: int, current: int, retry_after: int = 1) -> ApiError:
    message = f"Timeout: Too large resource version: {requested}, current: {current}"
    details = {
        "causes": [{"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}],
        "retryAfterSeconds": retry_after,
    }
    return ApiError(
        status_object(504, "Timeout", message, details), [("Retry-After", str(retry_after))]
    )


def too_many_requests(message: str, retry_after: int = 1) -> ApiError:
    return ApiError(
        status_object(429, "TooManyRequests", message, {"retryAfterSeconds": retry_after}),
        [("Retry-After", str(retry_after))],
    )


def timeout(message: str, retry_after: int = 1) -> ApiError:
    return ApiError(
        status_object(504, "Timeout", f"Timeout: {message}", {"retryAfterSeconds": retry_after}),
        [("Retry-After", str(retry_after))],
    )


def bad_request(message: str) -> ApiError:
    return ApiError(status_object(400, "BadRequest", message))


def forbidden(resource: str, group: str, name: str, why: str) -> ApiError:
    subject = _qualified(resource, group)
    message = (
        f'{subject} "{name}" is forbidden: {why}' if name else f"{subject} is forbidden: {why}"
    )
    return ApiError(status_object(403, "Forbidden", message, _details(resource, group, name)))


def invalid(kind: str, group: str, name: str, causes: Sequence[Cause]) -> ApiError:
    """422 Invalid: field.ErrorList.ToAggregate() wording, one cause per field error."""
    texts = [f"{c.field}: {c.message}" if c.field else c.message for c in causes]
    seen: list[str] = []
    for text in texts:
        if text not in seen:
            seen.append(text)
    summary = seen[0] if len(seen) == 1 else "[" + ", ".join(seen) + "]"
    message = f'{_qualified(kind, group)} "{name}" is invalid: {summary}'
    details = _details(kind, group, name)
    details["causes"] = [c.as_dict() for c in causes]
    return ApiError(status_object(422, "Invalid", message, details))


def patch_does_not_apply() -> ApiError:
    """A well-formed JSON patch that fails on the object: kube-apiserver's generic 422."""
    return ApiError(
        status_object(
            422, "Invalid", "the server rejected our request due to an error in our request", {}
        )
    )


def method_not_allowed(resource: str, group: str, action: str) -> ApiError:
    message = f'{action} is not supported on resources of kind "{_qualified(resource, group)}"'
    return ApiError(status_object(405, "MethodNotAllowed", message, _details(resource, group, "")))


def not_acceptable(accepted: Sequence[str]) -> ApiError:
    message = "only the following media types are accepted: " + ", ".join(accepted)
    return ApiError(status_object(406, "NotAcceptable", message))


def unsupported_media_type(message: str) -> ApiError:
    return ApiError(status_object(415, "UnsupportedMediaType", message))


def request_entity_too_large(message: str) -> ApiError:
    # The unread rest of the body makes the connection unusable: tell the client.
    return ApiError(
        status_object(413, "RequestEntityTooLarge", f"Request entity too large: {message}"),
        [("Connection", "close")],
    )


def service_unavailable(message: str) -> ApiError:
    return ApiError(status_object(503, "ServiceUnavailable", message))


def internal_error(message: str) -> ApiError:
    details = {"causes": [{"message": message}]}
    return ApiError(
        status_object(500, "InternalError", f"Internal error occurred: {message}", details)
    )
