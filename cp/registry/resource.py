"""What the API knows about one resource type: its names, scope, verbs and strategy.

One `ResourceDef` per type drives everything above storage: discovery documents, URL
routing, storage naming, field selectors and the type's create/update rules, so adding
a built-in type is one table entry (see cp.registry.builtin).
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cp.registry.strategy import Strategy

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
STATUS_VERBS = ("get", "patch", "update")
# Verbs of each subresource kind, as kube-apiserver publishes them.
SUBRESOURCE_VERBS = {"status": STATUS_VERBS, "finalize": ("update",)}


@dataclass(frozen=True)
class ResourceDef:
    group: str
    version: str
    resource: str
    kind: str
    namespaced: bool
    strategy: Strategy
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ALL_VERBS
    subresources: tuple[str, ...] = ()
    # The deleted object is the DELETE response (pods) rather than a Success Status.
    return_deleted_object: bool = False
    # PUT of a missing object creates it (endpoints, events), as Kubernetes allows.
    allow_create_on_update: bool = False
    singular: str = field(default="")
    # Top-level fields besides apiVersion/kind/metadata, for fieldValidation; None: any.
    fields: tuple[str, ...] | None = None
    # (group, version, kind) of the type whose storage holds these objects, when that is
    # another type's (cp.registry.shared_storage); None: this type's own.
    stored_type: tuple[str, str, str] | None = None

    @property
    def singular_name(self) -> str:
        return self.singular or self.kind.lower()

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def list_kind(self) -> str:
        return self.kind + "List"

    @property
    def storage_name(self) -> str:
        """The store's resource name: "group/resource", with "core" for the legacy group."""
        return f"{self.group or 'core'}/{self.resource}"

    @property
    def storage_version_hash(self) -> str:
        """As discovery publishes it: the first 8 bytes of sha256("group/version/kind") of
        the version objects are stored in, which is what the hash lets clients compare:
        two resources with one hash are one set of stored objects (events.k8s.io/v1
        events hash as core/v1 events do)."""
        group, version, kind = self.stored_type or (self.group, self.version, self.kind)
        digest = hashlib.sha256(f"{group}/{version}/{kind}".encode()).digest()
        return base64.b64encode(digest[:8]).decode()

    def subresource_verbs(self, subresource: str) -> tuple[str, ...]:
        return SUBRESOURCE_VERBS.get(subresource, ()) if subresource in self.subresources else ()

    def key(self, namespace: str | None, name: str) -> str:
        return f"{namespace}/{name}" if self.namespaced else name
