"""NamespaceLifecycle: kube-apiserver's admission plugin guarding namespace lifetimes.

Why: content in a namespace that does not exist, or that is being emptied by the
namespace controller, would be orphaned or would race the deletion forever. So:

* creating (or updating) a namespaced object in a missing namespace is refused with
  ``namespaces "x" not found`` (404, NotFound);
* creating one in a Terminating namespace is refused with 403 Forbidden, cause
  ``NamespaceTerminating`` (updates and deletes there stay allowed, so finalizers can
  be removed and content deleted);
* deleting ``default``, ``kube-system`` or ``kube-public`` is refused with 403.

Namespaces are read from the namespaces watch cache. The cache may lag a namespace
created a moment ago (possibly by another server process on the same Redis), so a
miss is confirmed by a live read of the store before refusing, as kube-apiserver does.
After a namespace delete passes through here, the same name is read live for
``force_live_lookup_ttl`` seconds, so a create racing the deletion sees Terminating
even when this process's cache has not caught up.
"""

from __future__ import annotations

import collections
from typing import Any

import anyio

from cp.admission.interface import Attributes, Operation
from cp.meta import status
from cp.registry.registry import Registry
from cp.storage import NotFound, StorageError, Store, Unavailable, WatchCache

NAMESPACES = "core/namespaces"
IMMORTAL_NAMESPACES = frozenset({"default", "kube-system", "kube-public"})
TERMINATING_CAUSE = "NamespaceTerminating"


class NamespaceLifecycle:
    """The plugin. Build it with :meth:`from_registry` for the server's registry."""

    name = "NamespaceLifecycle"

    def __init__(
        self,
        namespaces: WatchCache,
        store: Store,
        *,
        immortal: frozenset[str] = IMMORTAL_NAMESPACES,
        force_live_lookup_ttl: float = 30.0,
        max_live_lookups: int = 4096,
    ) -> None:
        self.namespaces = namespaces
        self.store = store
        self.immortal = immortal
        self.force_live_lookup_ttl = force_live_lookup_ttl
        self.max_live_lookups = max_live_lookups
        # name -> until when (monotonic) to read it live; bounded like kube's LRU.
        self._live_until: collections.OrderedDict[str, float] = collections.OrderedDict()
        self.live_lookups = 0

    @classmethod
    def from_registry(cls, registry: Registry, **options: Any) -> NamespaceLifecycle:
        rdef = registry.lookup("", "v1", "namespaces")
        if rdef is None:
            raise LookupError("the registry serves no namespaces")
        storage = registry.storage(rdef)
        return cls(storage.cache, storage.store, **options)

    async def admit(self, attributes: Attributes) -> None:
        rdef = attributes.rdef
        is_namespace = rdef.group == "" and rdef.resource == "namespaces"
        if is_namespace:
            if attributes.operation is Operation.DELETE:
                if attributes.name in self.immortal:
                    raise status.forbidden(
                        rdef.resource,
                        rdef.group,
                        attributes.name,
                        "this namespace may not be deleted",
                    )
                self._force_live_lookup(attributes.name)
            return  # every other operation on namespaces themselves is allowed
        if not rdef.namespaced or not attributes.namespace:
            return
        if attributes.operation not in (Operation.CREATE, Operation.UPDATE):
            return  # deleting content is always allowed: it is how a namespace empties
        phase = self._cached_phase(attributes.namespace)
        if phase is None:
            phase = await self._live_phase(attributes.namespace)
        if attributes.operation is not Operation.CREATE or phase != "Terminating":
            return
        ns = attributes.namespace
        error = status.forbidden(
            rdef.resource,
            rdef.group,
            attributes.object_name,
            f"unable to create new content in namespace {ns} because it is being terminated",
        )
        error.status["details"]["causes"] = [
            {
                "reason": TERMINATING_CAUSE,
                "message": f"namespace {ns} is being terminated",
                "field": "metadata.namespace",
            }
        ]
        raise error

    def _cached_phase(self, name: str) -> str | None:
        """The namespace's status.phase from the cache, or None when the cache cannot
        be trusted with it (a miss, or a recent delete).  The cache indexes the phase
        as a selectable field, so this decodes nothing and does not wait."""
        if self._must_look_live(name):
            return None
        cached = self.namespaces.peek(name)
        return None if cached is None else cached.fields.get("status.phase", "")

    async def _live_phase(self, name: str) -> str:
        """The phase read from the store, as kube-apiserver confirms a cache miss."""
        self.live_lookups += 1
        try:
            record = await self.store.get(NAMESPACES, name)
        except NotFound as error:
            raise status.not_found("namespaces", "", name) from error
        except Unavailable as error:
            raise status.service_unavailable(error.message) from error
        except StorageError as error:
            raise status.internal_error(error.message) from error
        return str((record.decode().get("status") or {}).get("phase") or "")

    def _force_live_lookup(self, name: str) -> None:
        live = self._live_until
        live[name] = anyio.current_time() + self.force_live_lookup_ttl
        live.move_to_end(name)
        while len(live) > self.max_live_lookups:
            live.popitem(last=False)

    def _must_look_live(self, name: str) -> bool:
        until = self._live_until.get(name)
        if until is None:
            return False
        if anyio.current_time() < until:
            return True
        del self._live_until[name]
        return False


__all__ = ["IMMORTAL_NAMESPACES", "TERMINATING_CAUSE", "NamespaceLifecycle"]
