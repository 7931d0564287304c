"""kube-apiserver's authentication metrics, in the Prometheus text format.

authentication_attempts{result} counts every request: "success", "failure" (no
credentials and anonymous disabled) and "error" (credentials rejected); together the
last two are the 401s.  kube-apiserver does not count 401s in apiserver_request_total
(authentication runs before the handlers that record it), and neither does this
server, so dashboards built for one read the other the same way.

authenticated_user_requests{username} puts user names into a few buckets, as kube's
compressUsername does, so that the number of series stays small and user names stay
out of the metrics.  kube also has an authentication_duration_seconds histogram; a
token lookup here takes well under a microsecond, so it is left out.
"""

from __future__ import annotations

from collections import defaultdict

from cp.auth.user import UserInfo

__all__ = ["AuthenticationMetrics", "compress_username"]

_KNOWN_USERS = frozenset(
    ("admin", "client", "kube_proxy", "kubelet", "system:serviceaccount:kube-system:default")
)


def compress_username(name: str) -> str:
    if name in _KNOWN_USERS:
        return name
    if "@" in name:
        return "email_id"
    return "other"


class AuthenticationMetrics:
    """Plain counters updated without awaiting, as cp.endpoints.metrics does."""

    __slots__ = ("errors", "failures", "users")

    def __init__(self) -> None:
        # Successes by user name, bucketed only when rendered: one dict update per
        # request.  As many entries as there are users (token file rows, anonymous).
        self.users: defaultdict[str, int] = defaultdict(int)
        self.failures = 0
        self.errors = 0

    def success(self, user: UserInfo) -> None:
        self.users[user.name] += 1

    def render(self) -> str:
        out = [
            "# HELP authenticated_user_requests Counter of authenticated requests broken out by username.",
            "# TYPE authenticated_user_requests counter",
        ]
        buckets: dict[str, int] = defaultdict(int)
        for name, count in self.users.items():
            buckets[compress_username(name)] += count
        out += [
            f'authenticated_user_requests{{username="{bucket}"}} {count}'
            for bucket, count in sorted(buckets.items())
        ]
        out += [
            "# HELP authentication_attempts Counter of authenticated attempts.",
            "# TYPE authentication_attempts counter",
        ]
        results = {
            "error": self.errors,
            "failure": self.failures,
            "success": sum(self.users.values()),
        }
        out += [
            f'authentication_attempts{{result="{result}"}} {count}'
            for result, count in results.items()
            if count
        ]
        return "\n".join(out) + "\n"
