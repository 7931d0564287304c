"""--anonymous-auth: a request nobody else claimed is system:anonymous.

It always answers, so it goes last; what anonymous users may do is for authorization
to decide (kube grants them /healthz, /livez, /readyz and /version through the
system:public-info-viewer role).
"""

from __future__ import annotations

from cp.auth.interface import Headers
from cp.auth.user import ANONYMOUS_USER, UserInfo

__all__ = ["AnonymousAuthenticator"]


class AnonymousAuthenticator:
    __slots__ = ()

    def authenticate(self, headers: Headers) -> UserInfo:
        return ANONYMOUS_USER
