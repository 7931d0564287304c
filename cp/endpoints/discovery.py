"""Discovery documents: legacy (/api, /apis, per group and version) and aggregated v2.

kubectl 1.32 first asks /api and /apis for the aggregated form
(application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList) and only falls
back to the per-group-version walk when the answer is not that media type, so both are
served from the same registry table.  Documents are built once: the table is static.
"""

from __future__ import annotations

from typing import Any

from cp.endpoints.http import encode_json
from cp.registry import Registry, ResourceDef

AGGREGATED_V2 = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"


def wants_aggregated(accept: str) -> bool:
    """Whether the Accept header's first acceptable entry is the v2 aggregated list."""
    for entry in accept.split(","):
        params = {p.strip() for p in entry.split(";")[1:]}
        media = entry.split(";")[0].strip()
        if media != "application/json":
            continue
        if {"g=apidiscovery.k8s.io", "v=v2", "as=APIGroupDiscoveryList"} <= params:
            return True
        if not any(p.startswith("as=") for p in params):
            return False
    return False


def _api_resource(d: ResourceDef) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": d.resource,
        "singularName": d.singular_name,
        "namespaced": d.namespaced,
        "kind": d.kind,
        "verbs": list(d.verbs),
    }
    if d.short_names:
        out["shortNames"] = list(d.short_names)
    if d.categories:
        out["categories"] = list(d.categories)
    out["storageVersionHash"] = d.storage_version_hash
    return out


def _subresource(d: ResourceDef, sub: str) -> dict[str, Any]:
    return {
        "name": f"{d.resource}/{sub}",
        "singularName": "",
        "namespaced": d.namespaced,
        "kind": d.kind,
        "verbs": list(d.subresource_verbs(sub)),
    }


def _group_version(group: str, version: str) -> dict[str, str]:
    return {"groupVersion": f"{group}/{version}", "version": version}


class Discovery:
    """Pre-encoded discovery documents for one registry."""

    def __init__(self, registry: Registry, server_address: str = "") -> None:
        self.registry = registry
        groups = registry.group_versions()
        core_versions = next((v for g, v in groups if g == ""), [])
        self.api = encode_json(
            {
                "kind": "APIVersions",
                "versions": core_versions,
                "serverAddressByClientCIDRs": [
                    {"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}
                ],
            }
        )
        self.group_docs: dict[str, bytes] = {}
        group_list = []
        for group, versions in groups:
            if not group:
                continue
            doc = {
                "name": group,
                "versions": [_group_version(group, v) for v in versions],
                "preferredVersion": _group_version(group, versions[0]),
            }
            group_list.append(doc)
            self.group_docs[group] = encode_json({"kind": "APIGroup", "apiVersion": "v1", **doc})
        self.apis = encode_json({"kind": "APIGroupList", "apiVersion": "v1", "groups": group_list})
        self.resource_lists: dict[tuple[str, str], bytes] = {}
        for group, versions in groups:
            for version in versions:
                resources: list[dict[str, Any]] = []
                for d in registry.resources_in(group, version):
                    resources.append(_api_resource(d))
                    resources.extend(_subresource(d, s) for s in d.subresources)
                self.resource_lists[(group, version)] = encode_json(
                    {
                        "kind": "APIResourceList",
                        "apiVersion": "v1",
                        "groupVersion": f"{group}/{version}" if group else version,
                        "resources": resources,
                    }
                )
        self.aggregated_api = encode_json(self._aggregated([(g, v) for g, v in groups if g == ""]))
        self.aggregated_apis = encode_json(self._aggregated([(g, v) for g, v in groups if g]))

    def _aggregated(self, groups: list[tuple[str, list[str]]]) -> dict[str, Any]:
        items = []
        for group, versions in groups:
            meta: dict[str, Any] = {"name": group} if group else {}
            meta["creationTimestamp"] = None
            items.append(
                {
                    "metadata": meta,
                    "versions": [
                        {
                            "version": v,
                            "resources": [
                                self._aggregated_resource(d)
                                for d in self.registry.resources_in(group, v)
                            ],
                            "freshness": "Current",
                        }
                        for v in versions
                    ],
                }
            )
        return {
            "kind": "APIGroupDiscoveryList",
            "apiVersion": "apidiscovery.k8s.io/v2",
            "metadata": {},
            "items": items,
        }

    @staticmethod
    def _aggregated_resource(d: ResourceDef) -> dict[str, Any]:
        kind = {"group": d.group, "version": d.version, "kind": d.kind}
        out: dict[str, Any] = {
            "resource": d.resource,
            "responseKind": kind,
            "scope": "Namespaced" if d.namespaced else "Cluster",
            "singularResource": d.singular_name,
            "verbs": list(d.verbs),
        }
        if d.short_names:
            out["shortNames"] = list(d.short_names)
        if d.categories:
            out["categories"] = list(d.categories)
        if d.subresources:
            out["subresources"] = [
                {"subresource": s, "responseKind": kind, "verbs": list(d.subresource_verbs(s))}
                for s in d.subresources
            ]
        return out
