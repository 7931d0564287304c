"""The generic registry store of one type: kube-apiserver's genericregistry.Store.

Writes go to the Store after the type's strategy prepared and validated them; reads and
watches go to the type's WatchCache.  Storage errors propagate unchanged (the HTTP
layer translates them once, knowing the verb); validation failures are ApiErrors
carrying the 422 Status.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

import anyio

from cp.meta.fields import FieldSelector
from cp.meta.labels import LabelSelector
from cp.meta.managed_fields import update_managed_fields
from cp.meta.status import ApiError, Cause, bad_request, invalid
from cp.registry.allocation import ServiceAllocation
from cp.registry.resource import ResourceDef
from cp.registry.shapes import check_shape
from cp.registry.strategy import Object, now_rfc3339
from cp.storage import (
    CachedObject,
    Conflict,
    Filter,
    ListResult,
    NotFound,
    Record,
    Store,
    WatchCache,
    Watcher,
)
from cp.storage.records import leading_fields_first, stored_prefix, with_resource_version

Mutation = Callable[[Object], Object]


@dataclass(frozen=True, slots=True)
class Preconditions:
    uid: str | None = None
    resource_version: int | None = None


@dataclass(frozen=True, slots=True)
class DeleteResult:
    object: Object
    # False while finalizers keep the object (it got a deletionTimestamp instead).
    deleted: bool


class ResourceStorage:
    def __init__(
        self,
        rdef: ResourceDef,
        store: Store,
        cache: WatchCache,
        *,
        max_conflict_retries: int = 16,
        allocation: ServiceAllocation | None = None,
        validation_group: str | None = None,
    ) -> None:
        self.rdef = rdef
        self.store = store
        self.cache = cache
        self.strategy = rdef.strategy
        self.max_conflict_retries = max_conflict_retries
        # Services only: ClusterIPs and NodePorts taken with the write, freed on delete.
        self.allocation = allocation
        # The group Invalid errors name; a type stored as another's names that one.
        self.validation_group = rdef.group if validation_group is None else validation_group
        # How this type's stored bytes begin (see cp.storage.records.encode_object).
        self._stored_prefix = stored_prefix(rdef.kind, rdef.api_version)

    def _allocating_update(
        self, old: Object, new: Object, subresource: str
    ) -> AbstractAsyncContextManager[Any]:
        if self.allocation is None or subresource:
            return nullcontext()
        return self.allocation.updating(old, new)

    async def _release(self, record: Record) -> None:
        """Free what a deleted object held; bounded and not cancellable mid-way, since
        the delete has happened (a leak left here is found by the repair loop)."""
        if self.allocation is None:
            return
        with anyio.CancelScope(shield=True), anyio.move_on_after(5):
            await self.allocation.release(record.decode())

    # -- reads, from the cache -----------------------------------------------------------

    def filter(
        self, namespace: str | None, labels: LabelSelector | None, fields: FieldSelector | None
    ) -> Filter:
        return Filter(
            namespace if self.rdef.namespaced else None,
            labels if labels is not None and not labels.empty else None,
            fields if fields is not None and not fields.empty else None,
        )

    async def get(
        self, namespace: str | None, name: str, *, rv: int | None = None, match: str | None = None
    ) -> CachedObject:
        return await self.cache.get(self.rdef.key(namespace, name), rv=rv, match=match)

    async def list(self, filter_: Filter, **kw: Any) -> ListResult:
        return await self.cache.list(filter_, **kw)

    async def watch(self, filter_: Filter, **kw: Any) -> Watcher:
        return await self.cache.watch(filter_, **kw)

    # -- writes, to the store ----------------------------------------------------------

    def _invalid(self, name: str, causes: list[Cause]) -> ApiError:
        return invalid(self.rdef.kind, self.validation_group, name, causes)

    def _check_identity(self, obj: Object, namespace: str | None) -> dict[str, Any]:
        """Apply the request's kind and namespace to a decoded body, as the decoder and
        rest.BeforeCreate do, refusing bodies meant for another type or namespace."""
        if not isinstance(obj, dict):
            raise bad_request("the body of the request was in an unknown format")
        kind = obj.get("kind")
        api_version = obj.get("apiVersion")
        if kind and kind != self.rdef.kind:
            raise bad_request(
                f"the kind in the data ({kind}) does not match the expected kind ({self.rdef.kind})"
            )
        if api_version and api_version != self.rdef.api_version:
            raise bad_request(
                f"the API version in the data ({api_version}) does not match the expected API version ({self.rdef.api_version})"
            )
        obj["kind"] = self.rdef.kind
        obj["apiVersion"] = self.rdef.api_version
        leading_fields_first(obj)
        check_shape(self.rdef.kind, self.rdef.version, obj)
        meta = obj.get("metadata")
        if meta is None:
            meta = obj["metadata"] = {}
        if not isinstance(meta, dict):
            raise bad_request("metadata must be an object")
        if self.rdef.namespaced:
            body_ns = meta.get("namespace")
            if body_ns and body_ns != namespace:
                raise bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request"
                )
            meta["namespace"] = namespace
        else:
            meta.pop("namespace", None)
        return meta

    async def create(
        self, namespace: str | None, obj: Object, *, dry_run: bool = False, manager: str = ""
    ) -> Object:
        """Create `obj`, prepared in place (server-set metadata, managedFields, the
        assigned resourceVersion), and return it as stored."""
        await self._create(namespace, obj, dry_run=dry_run, manager=manager)
        return obj

    async def create_json(
        self, namespace: str | None, obj: Object, *, dry_run: bool = False, manager: str = ""
    ) -> bytes | None:
        """`create` for a response: the stored bytes with the version spliced in, as the
        watch cache serves them, so the object is not encoded a second time.  None for
        a dry run, or bytes not in stored order (then encode `obj`, prepared in place)."""
        record = await self._create(namespace, obj, dry_run=dry_run, manager=manager)
        if record is None:
            return None
        return with_resource_version(record.data, record.rv, self._stored_prefix)

    async def _create(
        self, namespace: str | None, obj: Object, *, dry_run: bool, manager: str
    ) -> Record | None:
        meta = self._check_identity(obj, namespace)
        causes = self.strategy.before_create(obj, namespaced=self.rdef.namespaced)
        name = str(meta.get("name") or "")
        if causes:
            raise self._invalid(name, causes)
        self._track(obj, None, manager, "")
        if dry_run:
            return None
        key = self.rdef.key(namespace, name)
        if self.allocation is None:
            record = await self.store.create(self.rdef.storage_name, key, obj)
        else:
            async with self.allocation.creating(obj):
                record = await self.store.create(self.rdef.storage_name, key, obj)
        # The stored bytes are exactly `obj` encoded (without resourceVersion), so the
        # object itself plus the assigned version is what record.decode() would rebuild;
        # skipping that decode is measurable on the create path.
        stored_meta = obj["metadata"]
        stored_meta.pop("resourceVersion", None)
        stored_meta["resourceVersion"] = str(record.rv)
        return record

    def _track(self, new: Object, old: Object | None, manager: str, subresource: str) -> None:
        if not manager:
            return
        skip = ("status",) if self.strategy.status_subresource and not subresource else ()
        update_managed_fields(
            new,
            old,
            manager=manager,
            api_version=self.rdef.api_version,
            now=now_rfc3339(),
            merge_keys=self.strategy.merge_keys,
            subresource=subresource,
            skip=skip,
        )

    def _prepare_update(
        self,
        namespace: str | None,
        name: str,
        new: Object,
        old: Object,
        subresource: str,
        manager: str = "",
    ) -> Object:
        meta = self._check_identity(new, namespace)
        if meta.get("name") != name:
            raise bad_request(
                f"the name of the object ({meta.get('name') or ''}) does not match the name on the URL ({name})"
            )
        causes = self.strategy.before_update(
            new, old, namespaced=self.rdef.namespaced, subresource=subresource
        )
        if causes:
            raise self._invalid(name, causes)
        self._track(new, old, manager, subresource)
        return new

    async def update(
        self,
        namespace: str | None,
        name: str,
        obj: Object,
        *,
        subresource: str = "",
        dry_run: bool = False,
        body_rv: int | None = None,
        manager: str = "",
    ) -> tuple[Object, bool]:
        """PUT: replace the object, conditional on the body's resourceVersion if it has one.

        Returns the stored object and whether it was created (allow_create_on_update).
        """
        key = self.rdef.key(namespace, name)
        try:
            current = await self.store.get(self.rdef.storage_name, key)
        except NotFound:
            if not self.rdef.allow_create_on_update or subresource:
                raise
            meta = obj.get("metadata") if isinstance(obj, dict) else None
            if isinstance(meta, dict) and meta.get("name") != name:
                raise bad_request(
                    f"the name of the object ({meta.get('name') or ''}) does not match the name on the URL ({name})"
                ) from None
            return await self.create(namespace, obj, dry_run=dry_run, manager=manager), True
        old = current.decode()
        new = self._prepare_update(namespace, name, obj, old, subresource, manager)
        if dry_run:
            new["metadata"]["resourceVersion"] = str(current.rv)
            return new, False
        rv = body_rv if body_rv is not None else current.rv
        async with self._allocating_update(old, new, subresource):
            record = await self.store.update(self.rdef.storage_name, key, new, rv=rv)
        return await self._finish_update(key, record), False

    async def patch(
        self,
        namespace: str | None,
        name: str,
        mutate: Mutation,
        *,
        subresource: str = "",
        dry_run: bool = False,
        manager: str = "",
    ) -> Object:
        """Read, apply the patch, write conditionally; retry when someone wrote meanwhile,
        unless the patch itself pinned a resourceVersion (then the conflict is the answer)."""
        key = self.rdef.key(namespace, name)
        for attempt in range(self.max_conflict_retries):
            current = await self.store.get(self.rdef.storage_name, key)
            old = current.decode()
            patched = mutate(copy.deepcopy(old))
            if not isinstance(patched, dict):
                raise bad_request("the patched object is not a JSON object")
            pinned = _meta(patched).get("resourceVersion")
            new = self._prepare_update(namespace, name, patched, old, subresource, manager)
            if dry_run:
                return new
            rv = current.rv
            if pinned is not None and str(pinned) != str(current.rv):
                rv = _parse_rv(pinned)
            try:
                async with self._allocating_update(old, new, subresource):
                    record = await self.store.update(self.rdef.storage_name, key, new, rv=rv)
            except Conflict:
                if rv != current.rv or attempt + 1 == self.max_conflict_retries:
                    raise
                continue
            return await self._finish_update(key, record)
        raise AssertionError("unreachable")

    async def _finish_update(self, key: str, record: Record) -> Object:
        """An update that emptied the finalizers of an object being deleted deletes it."""
        obj = record.decode()
        if self.strategy.should_delete_during_update(obj):
            try:
                deleted = await self.store.delete(self.rdef.storage_name, key, rv=record.rv)
            except (NotFound, Conflict):
                pass  # someone else deleted or changed it meanwhile; their write wins
            else:
                await self._release(deleted)
        return obj

    async def delete(
        self,
        namespace: str | None,
        name: str,
        preconditions: Preconditions = Preconditions(),
        *,
        grace_period: int | None = None,
        dry_run: bool = False,
    ) -> DeleteResult:
        """Delete now, or mark for deletion (deletionTimestamp) while finalizers or a
        grace period (pods on a node) keep the object; retried if written meanwhile."""
        key = self.rdef.key(namespace, name)
        for attempt in range(self.max_conflict_retries):
            current = await self.store.get(self.rdef.storage_name, key)
            obj = current.decode()
            meta = obj["metadata"]
            _check_preconditions(preconditions, current, meta)
            grace = self.strategy.grace_period(obj, grace_period)
            pending = meta.get("deletionTimestamp")
            shorter = pending is not None and grace < int(
                meta.get("deletionGracePeriodSeconds") or 0
            )
            immediate = not self.strategy.deletion_held(obj) and grace == 0
            if dry_run:
                return DeleteResult(obj, immediate)
            if pending and not shorter and not immediate:
                return DeleteResult(obj, False)
            # Writes are conditional on the version just checked; a concurrent write
            # means re-reading (and re-checking the client's preconditions).
            try:
                if immediate:
                    record = await self.store.delete(
                        self.rdef.storage_name, key, rv=current.rv, uid=preconditions.uid
                    )
                    await self._release(record)
                    return DeleteResult(record.decode(), True)
                meta["deletionTimestamp"] = now_rfc3339(offset=grace)
                meta["deletionGracePeriodSeconds"] = grace
                self.strategy.mark_deleting(obj)
                record = await self.store.update(
                    self.rdef.storage_name, key, obj, rv=current.rv, uid=preconditions.uid
                )
                return DeleteResult(record.decode(), False)
            except Conflict as exc:
                if exc.field == "uid" or attempt + 1 == self.max_conflict_retries:
                    raise

        raise AssertionError("unreachable")

    async def delete_collection(
        self, filter_: Filter, *, grace_period: int | None = None, dry_run: bool = False
    ) -> list[Object]:
        listed = await self.cache.list(filter_)
        out = []
        for item in listed.items:
            meta = item.obj.get("metadata") or {}
            try:
                result = await self.delete(
                    meta.get("namespace"),
                    meta.get("name", ""),
                    grace_period=grace_period,
                    dry_run=dry_run,
                )
            except NotFound:
                continue
            out.append(result.object)
        return out


def _meta(obj: Object) -> dict[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, dict) else {}


def _parse_rv(value: Any) -> int:
    text = str(value)
    if not text.isdigit():
        raise bad_request(f"invalid resource version: {text}")
    return int(text)


def _check_preconditions(pre: Preconditions, current: Record, meta: dict[str, Any]) -> None:
    if pre.uid is not None and pre.uid != meta.get("uid", ""):
        raise Conflict(
            "uid precondition", field="uid", expected=pre.uid, actual=str(meta.get("uid", ""))
        )
    if pre.resource_version is not None and pre.resource_version != current.rv:
        raise Conflict(
            "resourceVersion precondition",
            field="resourceVersion",
            expected=str(pre.resource_version),
            actual=str(current.rv),
        )
