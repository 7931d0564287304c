"""Request authentication: who is asking, decided before anything else is.

    headers ──> Authenticator.authenticate ──┬─> UserInfo       served as that user
                                             ├─> None           401 (nobody claimed it)
                                             └─> AuthenticationError
                                                                401 (credentials rejected)

`new_authenticator` builds kube-apiserver's chain from its flags (--token-auth-file,
--anonymous-auth); the HTTP layer runs it on every request, keeps the user on the
request for authorization, admission and managedFields, and answers 401 with
kube's Status.  Exceptions:

    ValueError
    ├── TokenFileError         the token file cannot be used (at start-up)
    Exception
    └── AuthenticationError    credentials presented and rejected (per request)
"""

from cp.auth.anonymous import AnonymousAuthenticator
from cp.auth.bearer import BearerTokenAuthenticator
from cp.auth.config import AuthenticationConfig, new_authenticator
from cp.auth.interface import AuthenticationError, Authenticator, Headers, TokenAuthenticator
from cp.auth.metrics import AuthenticationMetrics, compress_username
from cp.auth.tokenfile import TokenFileAuthenticator, TokenFileError, parse_token_file
from cp.auth.union import AuthenticatedGroupAdder, UnionAuthenticator
from cp.auth.user import (
    ALL_AUTHENTICATED,
    ALL_UNAUTHENTICATED,
    ANONYMOUS,
    ANONYMOUS_USER,
    UserInfo,
)

__all__ = [
    "ALL_AUTHENTICATED",
    "ALL_UNAUTHENTICATED",
    "ANONYMOUS",
    "ANONYMOUS_USER",
    "AnonymousAuthenticator",
    "AuthenticatedGroupAdder",
    "AuthenticationConfig",
    "AuthenticationError",
    "AuthenticationMetrics",
    "Authenticator",
    "BearerTokenAuthenticator",
    "Headers",
    "TokenAuthenticator",
    "TokenFileAuthenticator",
    "TokenFileError",
    "UnionAuthenticator",
    "UserInfo",
    "compress_username",
    "new_authenticator",
    "parse_token_file",
]
