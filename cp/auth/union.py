"""Combining authenticators as k8s.io/apiserver does: a union, and the group adder.

`UnionAuthenticator` asks each in turn and takes the first user.  With
`fail_on_error` the first AuthenticationError ends the search: that is how a bad token
stays a 401 when anonymous comes after it.  Without it, errors are remembered and
raised together only if nobody authenticated the request.

`AuthenticatedGroupAdder` adds system:authenticated to every user who is not
anonymous and not already in system:authenticated or system:unauthenticated, so
that RBAC can grant "every signed-in user" without listing them.
"""

from __future__ import annotations

from collections.abc import Iterable

from cp.auth.interface import AuthenticationError, Authenticator, Headers
from cp.auth.user import ALL_AUTHENTICATED, ALL_UNAUTHENTICATED, ANONYMOUS, UserInfo

__all__ = ["AuthenticatedGroupAdder", "UnionAuthenticator"]

_CACHE_SIZE = 1024


class UnionAuthenticator:
    __slots__ = ("_authenticators", "_fail_on_error")

    def __init__(
        self, authenticators: Iterable[Authenticator], *, fail_on_error: bool = False
    ) -> None:
        self._authenticators = tuple(authenticators)
        self._fail_on_error = fail_on_error

    def authenticate(self, headers: Headers) -> UserInfo | None:
        errors: list[AuthenticationError] = []
        for authenticator in self._authenticators:
            try:
                user = authenticator.authenticate(headers)
            except AuthenticationError as exc:
                if self._fail_on_error:
                    raise
                errors.append(exc)
                continue
            if user is not None:
                return user
        if errors:
            raise AuthenticationError.aggregate(errors)
        return None


class AuthenticatedGroupAdder:
    """The answer for a user object is remembered: a token file hands out the same
    UserInfo on every request, and building a new one costs more than the rest of
    authentication together.  Bounded by starting over when full."""

    __slots__ = ("_added", "_authenticator")

    def __init__(self, authenticator: Authenticator) -> None:
        self._authenticator = authenticator
        # id(user) -> (user, answer); keeping `user` keeps its id from being reused.
        self._added: dict[int, tuple[UserInfo, UserInfo]] = {}

    def authenticate(self, headers: Headers) -> UserInfo | None:
        user = self._authenticator.authenticate(headers)
        if user is None:
            return None
        known = self._added.get(id(user))
        if known is not None and known[0] is user:
            return known[1]
        answer = user
        groups = user.groups
        if not (
            user.name == ANONYMOUS or ALL_AUTHENTICATED in groups or ALL_UNAUTHENTICATED in groups
        ):
            answer = UserInfo(user.name, user.uid, (*groups, ALL_AUTHENTICATED), user.extra)
        if len(self._added) >= _CACHE_SIZE:
            self._added.clear()
        self._added[id(user)] = (user, answer)
        return answer
