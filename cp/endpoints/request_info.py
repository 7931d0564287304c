"""What a URL asks for: kube-apiserver's RequestInfoFactory, for resource paths.

    /api/v1/namespaces/{ns}/{resource}/{name}/{subresource}
    /apis/{group}/{version}/{resource}/{name}
    /api/v1/watch/...  (the legacy watch prefix)

The verb comes from the method, the presence of a name and `watch=true|1`.
"""

from __future__ import annotations

from dataclasses import dataclass

# Parts after /namespaces/{name} that are the namespace's own subresources.
_NAMESPACE_SUBRESOURCES = frozenset({"status", "finalize"})
_TRUE = frozenset({"1", "true", "True"})


@dataclass(frozen=True, slots=True)
class RequestInfo:
    verb: str
    group: str
    version: str
    resource: str
    namespace: str | None = None
    name: str = ""
    subresource: str = ""


def parse_request_info(method: str, path: str, watch_param: str | None) -> RequestInfo | None:
    """None when the path is not a resource path (discovery or unknown)."""
    parts = path.strip("/").split("/")
    if len(parts) < 3 or parts[0] not in ("api", "apis"):
        return None
    if parts[0] == "api":
        group, version, rest = "", parts[1], parts[2:]
    else:
        if len(parts) < 4:
            return None
        group, version, rest = parts[1], parts[2], parts[3:]
    watch_prefix = False
    if rest and rest[0] == "watch":
        watch_prefix = True
        rest = rest[1:]
    if not rest or any(p == "" for p in rest):
        return None
    namespace: str | None = None
    if rest[0] == "namespaces" and len(rest) > 1:
        namespace = rest[1]
        if len(rest) > 2 and rest[2] not in _NAMESPACE_SUBRESOURCES:
            rest = rest[2:]
    if len(rest) > 3:
        return None
    resource = rest[0]
    name = rest[1] if len(rest) > 1 else ""
    subresource = rest[2] if len(rest) > 2 else ""
    if resource == "namespaces":
        namespace = None  # /api/v1/namespaces/{name}[/status]: the namespace object itself
    watching = watch_prefix or (watch_param in _TRUE)
    if method in ("GET", "HEAD"):
        verb = "watch" if watching else ("get" if name else "list")
    elif method == "POST":
        verb = "create"
    elif method == "PUT":
        verb = "update"
    elif method == "PATCH":
        verb = "patch"
    elif method == "DELETE":
        verb = "delete" if name else "deletecollection"
    else:
        verb = method.lower()
    return RequestInfo(verb, group, version, resource, namespace, name, subresource)
