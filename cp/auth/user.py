"""Who a request speaks for, as later steps (authorization, admission, managedFields'
manager) need to know it.

The names of the anonymous user and of the two virtual groups are kube-apiserver's,
because RBAC bindings, audit policies and clients' expectations refer to them by name.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

__all__ = [
    "ALL_AUTHENTICATED",
    "ALL_UNAUTHENTICATED",
    "ANONYMOUS",
    "ANONYMOUS_USER",
    "UserInfo",
]

ANONYMOUS = "system:anonymous"
ALL_AUTHENTICATED = "system:authenticated"
ALL_UNAUTHENTICATED = "system:unauthenticated"

_NO_EXTRA: Mapping[str, Sequence[str]] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class UserInfo:
    """user.Info: immutable, so one instance per token can serve every request."""

    name: str
    uid: str = ""
    groups: tuple[str, ...] = ()
    # Authenticator-specific attributes (kube's map[string][]string); left out of the
    # hash so that a UserInfo stays usable as a key.
    extra: Mapping[str, Sequence[str]] = field(default_factory=lambda: _NO_EXTRA, hash=False)


ANONYMOUS_USER = UserInfo(ANONYMOUS, groups=(ALL_UNAUTHENTICATED,))
