"""Storage errors: the one vocabulary both backends speak.

The endpoint layer translates each of these once into a metav1.Status; nothing below
it knows about HTTP.  Backend failures (Redis down, data loss) are `Unavailable`, so
a client sees 503 and retries instead of trusting a half-done write.

    StorageError
    ├── NotFound
    ├── AlreadyExists
    ├── Conflict                   stale resourceVersion or UID precondition
    ├── Gone                       history compacted past the requested version
    ├── TooLargeResourceVersion    cache did not reach the version in time
    ├── InvalidRequest             a malformed version or continue token
    └── Unavailable                backend unreachable, or it lost data (epoch)
"""

from __future__ import annotations


class StorageError(Exception):
    """Base of every error the storage layer raises on purpose."""

    def __init__(self, message: str, *, resource: str = "", key: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.resource = resource
        self.key = key


class NotFound(StorageError):
    pass


class AlreadyExists(StorageError):
    pass


class Conflict(StorageError):
    """An optimistic-concurrency precondition failed; re-read and retry.

    `field` says which precondition: "resourceVersion" or "uid"; `expected` and `actual`
    are the two values, so the API layer can word the Status as Kubernetes does.
    """

    def __init__(self, message: str, *, field: str, expected: str, actual: str, **kw: str) -> None:
        super().__init__(message, **kw)
        self.field = field
        self.expected = expected
        self.actual = actual


def precondition_failed(
    field: str, expected: str, actual: str, resource: str, key: str
) -> Conflict:
    """The Conflict both stores raise for a failed write precondition, worded as
    kube-apiserver's storage layer words it."""
    label = "UID" if field == "uid" else "ResourceVersion"
    return Conflict(
        f"Precondition failed: {label} in precondition: {expected}, "
        f"{label} in object meta: {actual}",
        field=field,
        expected=expected,
        actual=actual,
        resource=resource,
        key=key,
    )


class Gone(StorageError):
    """The requested version is older than the retained history (HTTP 410)."""


class TooLargeResourceVersion(StorageError):
    """The cache did not reach the requested version within the wait (HTTP 504)."""

    def __init__(self, message: str, *, requested: int, current: int, **kw: str) -> None:
        super().__init__(message, **kw)
        self.requested = requested
        self.current = current


class InvalidRequest(StorageError):
    """A resourceVersion or continue token that cannot be parsed or was tampered with."""


class Unavailable(StorageError):
    """The backend cannot serve: unreachable, or it came back empty or older.

    `data_loss` marks the second kind: retrying will not help, and serving from it
    would reissue versions clients have already seen.
    """

    def __init__(self, message: str, *, data_loss: bool = False, **kw: str) -> None:
        super().__init__(message, **kw)
        self.data_loss = data_loss
