"""The request authenticator built from kube-apiserver's flags, in kube's order.

    --token-auth-file F    Authorization: Bearer tokens listed in F
    --anonymous-auth       (default true) anything else is system:anonymous

assembled as pkg/kubeapiserver/authenticator does it:

    union(fail on error)(
        authenticated-group-adder(bearer(token file)),
        anonymous,
    )

With nothing but anonymous configured, that is the anonymous authenticator alone:
every request is system:anonymous, without the union's cost.  kube-apiserver also
reads the token from a websocket's `base64url.bearer.authorization.k8s.io.` protocol
header; this server serves no websockets, so that authenticator is left out.

With neither tokens nor anonymous, every request is refused (401).  A generic
k8s.io/apiserver with no authenticator at all turns authentication off instead, but
kube-apiserver always has at least its service-account authenticator, and serving
everyone after `--anonymous-auth=false` would be the opposite of what was asked.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from cp.auth.anonymous import AnonymousAuthenticator
from cp.auth.bearer import BearerTokenAuthenticator
from cp.auth.interface import Authenticator
from cp.auth.tokenfile import TokenFileAuthenticator
from cp.auth.union import AuthenticatedGroupAdder, UnionAuthenticator

__all__ = ["AuthenticationConfig", "new_authenticator"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class AuthenticationConfig:
    token_auth_file: str | None = None
    anonymous: bool = True


def new_authenticator(config: AuthenticationConfig) -> Authenticator:
    """Reads the token file now: a file that cannot be used raises TokenFileError,
    so the server does not start."""
    authenticators: list[Authenticator] = []
    if config.token_auth_file:
        tokens = TokenFileAuthenticator.from_file(config.token_auth_file)
        log.info("%d tokens read from token file '%s'", len(tokens), config.token_auth_file)
        authenticators.append(BearerTokenAuthenticator(tokens))
    if not authenticators:
        if config.anonymous:
            return AnonymousAuthenticator()
        log.warning(
            "no authenticator is configured and anonymous requests are disabled: "
            "every request will be refused (401)"
        )
        return UnionAuthenticator(())
    authenticator: Authenticator = (
        authenticators[0] if len(authenticators) == 1 else UnionAuthenticator(authenticators)
    )
    authenticator = AuthenticatedGroupAdder(authenticator)
    if config.anonymous:
        # A rejected credential stays an error: it must not fall through to anonymous.
        authenticator = UnionAuthenticator(
            (authenticator, AnonymousAuthenticator()), fail_on_error=True
        )
    return authenticator
