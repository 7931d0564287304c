"""The two shapes an authenticator takes, as in k8s.io/apiserver: one that looks at a
whole request (bearer header, anonymous, a union of others) and one that only judges
a token (the token file).

Both are synchronous: every authenticator here answers from memory, and the default
(anonymous) one runs on every request, where a coroutine per request would be the
largest part of its cost.  A remote authenticator (a token webhook) would make
`authenticate` a coroutine.

Three outcomes, as kube's (response, ok, err):

    UserInfo               authenticated
    None                   no credentials this authenticator understands: ask the next
    raises AuthenticationError
                           credentials were presented and are wrong: 401, even when
                           anonymous requests are allowed
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from cp.auth.user import UserInfo

__all__ = ["AuthenticationError", "Authenticator", "Headers", "TokenAuthenticator"]

# Request headers by lower-case name, values decoded as latin-1 (byte for byte).
Headers = Mapping[str, str]


class AuthenticationError(Exception):
    """Credentials were presented and rejected.  The message is for the server's log,
    never the client's (which gets a bare "Unauthorized"), and never holds a secret."""

    @classmethod
    def aggregate(cls, errors: Sequence[AuthenticationError]) -> AuthenticationError:
        """utilerrors.NewAggregate: one error as itself, several as "[a, b]"."""
        if len(errors) == 1:
            return errors[0]
        return cls("[" + ", ".join(str(e) for e in errors) + "]")


class Authenticator(Protocol):
    def authenticate(self, headers: Headers) -> UserInfo | None: ...


class TokenAuthenticator(Protocol):
    def authenticate_token(self, token: str) -> UserInfo | None: ...
