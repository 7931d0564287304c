"""Storage errors to metav1.Status: the one place they are translated.

The verb matters: a failed resourceVersion check on an update is "the object has been
modified", on a delete it is the precondition that failed, as kube-apiserver words them.
"""

from __future__ import annotations

from cp.meta import status
from cp.meta.status import ApiError
from cp.registry.resource import ResourceDef
from cp.storage import (
    AlreadyExists,
    Conflict,
    Gone,
    InvalidRequest,
    NotFound,
    StorageError,
    TooLargeResourceVersion,
    Unavailable,
)


def translate(exc: StorageError, rdef: ResourceDef, name: str, verb: str) -> ApiError:
    resource, group = rdef.resource, rdef.group
    if isinstance(exc, NotFound):
        return status.not_found(resource, group, name)
    if isinstance(exc, AlreadyExists):
        return status.already_exists(resource, group, name)
    if isinstance(exc, Conflict):
        if verb == "delete":
            return status.precondition_conflict(
                resource, group, name, exc.field, exc.expected, exc.actual
            )
        return status.conflict(resource, group, name)
    if isinstance(exc, Gone):
        return status.expired(exc.message)
    if isinstance(exc, TooLargeResourceVersion):
        return status.too_large_resource_version(exc.requested, exc.current)
    if isinstance(exc, InvalidRequest):
        return status.bad_request(exc.message)
    if isinstance(exc, Unavailable):
        return status.service_unavailable(exc.message)
    return status.internal_error(exc.message)
