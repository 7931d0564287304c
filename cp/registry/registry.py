"""The set of served resource types, indexed the ways the HTTP layer looks them up."""

from __future__ import annotations

from collections.abc import Iterable

from cp.registry.allocation import ServiceAllocation
from cp.registry.resource import ResourceDef
from cp.registry.rest import ResourceStorage


class Registry:
    """Resource definitions by group/version/resource, and their storages once bound."""

    def __init__(self, defs: Iterable[ResourceDef]) -> None:
        self.defs: tuple[ResourceDef, ...] = tuple(defs)
        self._by_path = {(d.group, d.version, d.resource): d for d in self.defs}
        self._storages: dict[tuple[str, str, str], ResourceStorage] = {}
        # The Service allocators, when bound (controllers repair through them).
        self.allocation: ServiceAllocation | None = None

    def lookup(self, group: str, version: str, resource: str) -> ResourceDef | None:
        return self._by_path.get((group, version, resource))

    def group_versions(self) -> list[tuple[str, list[str]]]:
        """Served groups in table order ("" is the legacy core group), versions newest first."""
        out: dict[str, list[str]] = {}
        for d in self.defs:
            versions = out.setdefault(d.group, [])
            if d.version not in versions:
                versions.append(d.version)
        return list(out.items())

    def resources_in(self, group: str, version: str) -> list[ResourceDef]:
        return [d for d in self.defs if d.group == group and d.version == version]

    def bind(self, rdef: ResourceDef, storage: ResourceStorage) -> None:
        self._storages[(rdef.group, rdef.version, rdef.resource)] = storage

    def storage(self, rdef: ResourceDef) -> ResourceStorage:
        return self._storages[(rdef.group, rdef.version, rdef.resource)]

    @property
    def storages(self) -> list[ResourceStorage]:
        return list(self._storages.values())
