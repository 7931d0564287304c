"""`Authorization: Bearer <token>`, judged by a TokenAuthenticator.

The header is parsed as k8s.io/apiserver's bearertoken authenticator parses it, so the
same requests count as "no credentials" (anonymous, when allowed) there and here: no
header, another scheme (`Basic ...`), `Bearer` alone, or an empty token after a double
space.  Only a well-formed bearer token that is not known is an error, and that is a
401 even when anonymous requests are allowed: a client with a wrong or expired token
must find out rather than silently act as system:anonymous.
"""

from __future__ import annotations

from cp.auth.interface import AuthenticationError, Headers, TokenAuthenticator
from cp.auth.user import UserInfo

__all__ = ["BearerTokenAuthenticator"]


class BearerTokenAuthenticator:
    __slots__ = ("_tokens",)

    def __init__(self, tokens: TokenAuthenticator) -> None:
        self._tokens = tokens

    def authenticate(self, headers: Headers) -> UserInfo | None:
        value = headers.get("authorization")
        if value is None:
            return None
        parts = value.strip().split(" ")
        if len(parts) < 2 or parts[0].lower() != "bearer" or not parts[1]:
            return None
        user = self._tokens.authenticate_token(parts[1])
        if user is None:
            raise AuthenticationError("invalid bearer token")
        return user
