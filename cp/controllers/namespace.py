"""The namespace controller: empties a deleted namespace, then lets it go.

Why a controller and not the DELETE handler: a namespace may hold thousands of objects,
some held by finalizers for minutes, so deleting it is a process, not a request. The
DELETE marks it (deletionTimestamp, phase Terminating, ``kubernetes`` still in
``spec.finalizers``) and this controller does the rest, as kube-controller-manager's:

1. phase Terminating (if the REST delete did not already set it);
2. delete every object of every namespaced type in it; objects with finalizers only get
   a deletionTimestamp, and the namespace waits for their owners to let them go;
3. record progress in the five namespace conditions Kubernetes sets
   (``NamespaceDeletionDiscoveryFailure``, ``NamespaceDeletionGroupVersionParsingFailure``,
   ``NamespaceDeletionContentFailure``, ``NamespaceContentRemaining``,
   ``NamespaceFinalizersRemaining``: False when fine, True with the reason when not);
4. once nothing is left, remove ``kubernetes`` from ``spec.finalizers``; with no
   finalizer left the namespace object is deleted.

``deletion_grace_period`` is how long a namespace stays marked before its content is
deleted. Kubernetes waits 5 s so that, in HA setups, every apiserver's admission has
seen the namespace Terminating (and refuses new content) before the cleanup lists it.
One process's admission reads the deletion live (see
:class:`cp.admission.NamespaceLifecycle`), so the default here is 0; give 5 when several
server processes share a store.

Namespace status and finalizers are written with a read-modify-write on the store: the
registry has no ``namespaces/finalize`` subresource yet, and a status update of a
namespace with a deletionTimestamp through :class:`~cp.registry.ResourceStorage` would
delete it early (its update path deletes any object with a deletionTimestamp and no
``metadata.finalizers``). Content is deleted through the registry, so each type's rules
(finalizers, preconditions) apply.

A namespace that is gone while content remains (deleted directly in the store, or by a
REST delete that does not honour ``spec.finalizers``) has that content deleted too, so
nothing is left orphaned.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import anyio

from cp.controllers.controller import Controller, Result
from cp.registry import Registry, ResourceStorage
from cp.registry.rest import Preconditions
from cp.registry.strategy import now_rfc3339
from cp.storage import Conflict, Filter, NotFound, StorageError, guaranteed_update

NAMESPACES = "core/namespaces"
FINALIZER = "kubernetes"
TERMINATING = "Terminating"

DISCOVERY_FAILURE = "NamespaceDeletionDiscoveryFailure"
GROUP_VERSION_PARSING_FAILURE = "NamespaceDeletionGroupVersionParsingFailure"
CONTENT_FAILURE = "NamespaceDeletionContentFailure"
CONTENT_REMAINING = "NamespaceContentRemaining"
FINALIZERS_REMAINING = "NamespaceFinalizersRemaining"

# Type -> (reason, message) when all is well (status "False"), as Kubernetes words them.
_OK: dict[str, tuple[str, str]] = {
    DISCOVERY_FAILURE: ("ResourcesDiscovered", "All resources successfully discovered"),
    GROUP_VERSION_PARSING_FAILURE: (
        "ParsedGroupVersions",
        "All legacy kube types successfully parsed",
    ),
    CONTENT_FAILURE: (
        "ContentDeleted",
        "All content successfully deleted, may be waiting on finalization",
    ),
    CONTENT_REMAINING: ("ContentRemoved", "All content successfully removed"),
    FINALIZERS_REMAINING: ("ContentHasNoFinalizers", "All content-preserving finalizers finished"),
}
CONDITION_TYPES = tuple(_OK)


class ContentDeletionFailed(Exception):
    """Some types' content could not be deleted; recorded in the conditions and retried
    with backoff."""


@dataclass(slots=True)
class ContentTotals:
    """What is left in a namespace after a deletion pass."""

    remaining: Counter[str] = field(default_factory=Counter)  # "resource.group" -> count
    finalizers: Counter[str] = field(default_factory=Counter)  # finalizer -> objects
    errors: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.remaining and not self.errors


def desired_conditions(totals: ContentTotals) -> dict[str, tuple[str, str, str]]:
    """Type -> (status, reason, message) for a pass that left ``totals``."""
    out = {kind: ("False", *ok) for kind, ok in _OK.items()}
    if totals.errors:
        listed = (
            totals.errors[0] if len(totals.errors) == 1 else "[" + ", ".join(totals.errors) + "]"
        )
        out[CONTENT_FAILURE] = (
            "True",
            "ContentDeletionFailed",
            f"Failed to delete all resource types, {len(totals.errors)} remaining: {listed}",
        )
    if totals.remaining:
        parts = sorted(f"{gr} has {n} resource instances" for gr, n in totals.remaining.items())
        out[CONTENT_REMAINING] = (
            "True",
            "SomeResourcesRemain",
            f"Some resources are remaining: {', '.join(parts)}",
        )
    if totals.finalizers:
        parts = sorted(f"{f} in {n} resource instances" for f, n in totals.finalizers.items())
        out[FINALIZERS_REMAINING] = (
            "True",
            "SomeFinalizersRemain",
            f"Some content in the namespace has finalizers remaining: {', '.join(parts)}",
        )
    return out


def apply_conditions(obj: dict[str, Any], wanted: dict[str, tuple[str, str, str]]) -> bool:
    """Set the namespace's conditions in place; a transition time changes only with the
    condition. Returns whether anything changed."""
    status = obj.setdefault("status", {})
    conditions: list[dict[str, Any]] = status.setdefault("conditions", [])
    by_type = {c.get("type"): c for c in conditions}
    changed = False
    for kind in CONDITION_TYPES:
        state, reason, message = wanted[kind]
        current = by_type.get(kind)
        if current is None:
            conditions.append(
                {
                    "type": kind,
                    "status": state,
                    "lastTransitionTime": now_rfc3339(),
                    "reason": reason,
                    "message": message,
                }
            )
            changed = True
        elif (current.get("status"), current.get("reason"), current.get("message")) != (
            state,
            reason,
            message,
        ):
            current.update(
                status=state, reason=reason, message=message, lastTransitionTime=now_rfc3339()
            )
            changed = True
    return changed


class NamespaceController(Controller):
    """Reconciles namespaces by name; only deleted ones have anything to do."""

    def __init__(
        self,
        api: Registry,
        *,
        deletion_grace_period: float = 0.0,
        content_requeue: float = 1.0,
        **options: Any,
    ) -> None:
        super().__init__(**options)
        if deletion_grace_period < 0 or content_requeue <= 0:
            raise ValueError("need deletion_grace_period >= 0 and content_requeue > 0")
        namespaces = api.lookup("", "v1", "namespaces")
        if namespaces is None:
            raise LookupError("the registry serves no namespaces")
        self.api = api
        self.namespace_storage = api.storage(namespaces)
        self.namespaces = self.add_informer(self.namespace_storage.cache)
        seen: set[str] = set()
        self.content: list[ResourceStorage] = []
        for rdef in api.defs:
            if rdef.namespaced and rdef.storage_name not in seen:
                seen.add(rdef.storage_name)
                self.content.append(api.storage(rdef))
        self.deletion_grace_period = deletion_grace_period
        self.content_requeue = content_requeue
        self._deleting_since: dict[str, float] = {}

    async def reconcile(self, key: str) -> Result | None:
        namespace = self.namespaces.get(key)
        if namespace is None:
            self._deleting_since.pop(key, None)
            await self._sweep_if_gone(key)
            return None
        meta = namespace["metadata"]
        if not meta.get("deletionTimestamp"):
            self._deleting_since.pop(key, None)
            return None
        uid = meta.get("uid")
        wait = self._grace_left(key)
        if wait > 0:
            return Result(requeue_after=wait)
        current = await self._update(key, uid, _mark_terminating)
        if current is None or not current["metadata"].get("deletionTimestamp"):
            return None
        if FINALIZER not in _spec_finalizers(current):
            await self._delete_if_finalized(key, current)
            return None
        totals = await self.delete_content(key)
        wanted = desired_conditions(totals)
        await self._update(key, uid, lambda obj: obj if apply_conditions(obj, wanted) else None)
        if totals.errors:
            raise ContentDeletionFailed(wanted[CONTENT_FAILURE][2])
        if not totals.empty:
            return Result(requeue_after=self.content_requeue)
        current = await self._update(key, uid, _remove_finalizer)
        if current is not None:
            await self._delete_if_finalized(key, current)
        self._deleting_since.pop(key, None)
        return None

    def _grace_left(self, key: str) -> float:
        if not self.deletion_grace_period:
            return 0.0
        now = anyio.current_time()
        since = self._deleting_since.setdefault(key, now)
        return since + self.deletion_grace_period - now

    async def delete_content(self, namespace: str) -> ContentTotals:
        """One pass: delete what is in ``namespace``, then count what is still there."""
        totals = ContentTotals()
        scope = Filter(namespace)
        for storage in self.content:
            rdef = storage.rdef
            try:
                listed = await storage.list(scope)
                for item in listed.items:
                    meta = item.obj.get("metadata") or {}
                    if meta.get("deletionTimestamp"):
                        continue  # already deleting: its finalizers' owners decide
                    try:
                        await storage.delete(
                            namespace, meta.get("name", ""), Preconditions(uid=meta.get("uid"))
                        )
                    except (NotFound, Conflict):
                        pass  # gone, or replaced by a newer object the next pass sees
                left = await storage.list(scope)
            except StorageError as error:
                totals.errors.append(f"{rdef.resource}.{rdef.group}: {error.message}")
                continue
            if left.items:
                totals.remaining[f"{rdef.resource}.{rdef.group}"] += len(left.items)
                for item in left.items:
                    for finalizer in (item.obj.get("metadata") or {}).get("finalizers") or []:
                        totals.finalizers[finalizer] += 1
        return totals

    async def _sweep_if_gone(self, name: str) -> None:
        """Delete content left in a namespace that no longer exists (read live: the
        informer may simply not have seen it yet)."""
        try:
            await self.namespace_storage.store.get(NAMESPACES, name)
        except NotFound:
            pass
        else:
            return
        totals = await self.delete_content(name)
        if totals.errors:
            raise ContentDeletionFailed("; ".join(totals.errors))

    async def _update(self, name: str, uid: str | None, mutate: Any) -> dict[str, Any] | None:
        """Read-modify-write of the namespace; None once it is gone."""

        async def change(obj: dict[str, Any]) -> dict[str, Any] | None:
            return mutate(obj)

        try:
            record = await guaranteed_update(
                self.namespace_storage.store, NAMESPACES, name, change, uid=uid
            )
        except NotFound:
            return None
        return record.decode()

    async def _delete_if_finalized(self, name: str, obj: dict[str, Any]) -> None:
        meta = obj["metadata"]
        if meta.get("finalizers") or _spec_finalizers(obj):
            return  # someone else's finalizer: its removal brings the namespace back here
        try:
            await self.namespace_storage.delete(None, name, Preconditions(uid=meta.get("uid")))
        except NotFound:
            pass  # the registry deleted it when the last finalizer went


def _spec_finalizers(obj: dict[str, Any]) -> list[str]:
    return list((obj.get("spec") or {}).get("finalizers") or [])


def _mark_terminating(obj: dict[str, Any]) -> dict[str, Any] | None:
    if not obj["metadata"].get("deletionTimestamp"):
        return None  # no longer deleting (a new namespace of the same name is uid-fenced)
    status = obj.setdefault("status", {})
    if status.get("phase") == TERMINATING:
        return None
    status["phase"] = TERMINATING
    return obj


def _remove_finalizer(obj: dict[str, Any]) -> dict[str, Any] | None:
    finalizers = _spec_finalizers(obj)
    if FINALIZER not in finalizers:
        return None
    obj.setdefault("spec", {})["finalizers"] = [f for f in finalizers if f != FINALIZER]
    return obj
