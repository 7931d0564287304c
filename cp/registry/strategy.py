"""How one type's objects are created and updated: defaulting, validation, immutability.

The generic part is kube-apiserver's rest.BeforeCreate / BeforeUpdate: the server owns
uid, creationTimestamp, generation and resourceVersion, names come from generateName,
and identity fields never change.  A type subclasses `Strategy` and overrides only the
hooks it needs (as pkg/registry/core/*/strategy.go do), so type rules stay small.
"""

from __future__ import annotations

import copy
import datetime
import os
import secrets
import string
import time
from collections.abc import Mapping
from typing import Any

from cp.meta.fields import object_meta_fields
from cp.meta.patch import PRIMITIVE, MergeKeys
from cp.meta.status import Cause
from cp.meta.validation import (
    NameRule,
    dns1123_subdomain_errors,
    forbidden,
    invalid,
    object_meta_causes,
)

Object = dict[str, Any]

# Merge keys every type shares (from ObjectMeta's patch strategy tags).
META_MERGE_KEYS: dict[str, str] = {
    "metadata.ownerReferences": "uid",
    "metadata.finalizers": PRIMITIVE,
}

_SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # k8s.io/apimachinery/pkg/util/rand


_last_stamp: tuple[int, str] = (0, "")


def now_rfc3339(offset: float = 0) -> str:
    """The current time (plus `offset` seconds) as RFC 3339 with seconds, in UTC.

    Every write stamps it (creationTimestamp, managedFields), so the string of the
    current second is kept instead of formatting it again.
    """
    global _last_stamp
    second = int(time.time() + offset)
    if _last_stamp[0] != second:
        stamp = datetime.datetime.fromtimestamp(second, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        if offset:
            return stamp
        _last_stamp = (second, stamp)
    return _last_stamp[1]


def new_uid() -> str:
    """str(uuid.uuid4()), formatted directly: every create stamps one, and building a
    uuid.UUID only to format it costs twice as much."""
    b = bytearray(os.urandom(16))
    b[6] = (b[6] & 0x0F) | 0x40  # version 4
    b[8] = (b[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = b.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def generate_name(base: str) -> str:
    """names.SimpleNameGenerator: base (cut to 58 bytes) plus five random characters."""
    return base[:58] + "".join(secrets.choice(_SUFFIX_ALPHABET) for _ in range(5))


assert set(_SUFFIX_ALPHABET) <= set(string.ascii_lowercase + string.digits)


class Strategy:
    name_rule: NameRule = staticmethod(dns1123_subdomain_errors)  # type: ignore[assignment]
    # Types with a spec get metadata.generation, bumped when these sections change.
    generation_fields: tuple[str, ...] = ()
    # With a status subresource, the main resource ignores status and vice versa.
    status_subresource: bool = False
    merge_keys: MergeKeys = META_MERGE_KEYS
    # Field selector fields beyond metadata.name / metadata.namespace.
    extra_fields: tuple[str, ...] = ()

    # -- hooks a type overrides ------------------------------------------------------

    def default(self, obj: Object) -> None:
        """Fill defaults in place (create, and every update, as the decoder does)."""

    def prepare_for_create(self, obj: Object) -> None:
        if self.status_subresource:
            obj.pop("status", None)

    def prepare_for_update(self, new: Object, old: Object) -> None:
        if self.status_subresource:
            _copy_field(new, old, "status")

    def prepare_for_status_update(self, new: Object, old: Object) -> None:
        """A status write changes status only; everything else is kept from `old`."""
        status = new.get("status")
        new.clear()
        new.update(copy.deepcopy(old))
        if status is None:
            new.pop("status", None)
        else:
            new["status"] = status

    def prepare_for_finalize_update(self, new: Object, old: Object) -> None:
        """namespaces/finalize: only spec.finalizers changes."""
        finalizers = (new.get("spec") or {}).get("finalizers")
        new.clear()
        new.update(copy.deepcopy(old))
        spec = new.setdefault("spec", {})
        if finalizers:
            spec["finalizers"] = finalizers
        else:
            spec.pop("finalizers", None)

    def deletion_held(self, obj: Object) -> bool:
        """Whether a delete must only mark the object (finalizers keep it)."""
        return bool((obj.get("metadata") or {}).get("finalizers"))

    def mark_deleting(self, obj: Object) -> None:
        """Changes a type makes when a delete marks an object instead of removing it."""

    def should_delete_during_update(self, obj: Object) -> bool:
        """An update that leaves a deleted object with nothing holding it removes it."""
        meta = obj.get("metadata") or {}
        return bool(
            meta.get("deletionTimestamp")
            and not self.deletion_held(obj)
            and not meta.get("deletionGracePeriodSeconds")
        )

    def validate(self, obj: Object) -> list[Cause]:
        return []

    def validate_update(self, new: Object, old: Object) -> list[Cause]:
        return self.validate(new)

    def selectable_fields(self, obj: Object) -> dict[str, str]:
        return {}

    def grace_period(self, obj: Object, requested: int | None) -> int:
        """Seconds a delete waits (with deletionTimestamp set) before removal; 0: now."""
        return 0

    # -- generic, as rest.BeforeCreate / BeforeUpdate ----------------------------------

    def fields_of(self, obj: Object, *, namespaced: bool) -> dict[str, str]:
        fields = object_meta_fields(obj, namespaced=namespaced)
        if self.extra_fields:
            fields.update(self.selectable_fields(obj))
        return fields

    def supported_fields(self, *, namespaced: bool) -> frozenset[str]:
        base = {"metadata.name", "metadata.namespace"} if namespaced else {"metadata.name"}
        return frozenset(base | set(self.extra_fields))

    def before_create(self, obj: Object, *, namespaced: bool) -> list[Cause]:
        meta = obj["metadata"]
        if (
            not meta.get("name")
            and isinstance(meta.get("generateName"), str)
            and meta["generateName"]
        ):
            meta["name"] = generate_name(meta["generateName"])
        for field in (
            "resourceVersion",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "selfLink",
        ):
            meta.pop(field, None)
        meta["uid"] = new_uid()
        meta["creationTimestamp"] = now_rfc3339()
        if self.generation_fields:
            meta["generation"] = 1
        else:
            meta.pop("generation", None)
        self.prepare_for_create(obj)
        self.default(obj)
        causes = object_meta_causes(meta, namespaced=namespaced, name_rule=self.name_rule)
        return causes + self.validate(obj)

    def before_update(
        self, new: Object, old: Object, *, namespaced: bool, subresource: str = ""
    ) -> list[Cause]:
        new_meta = new["metadata"]
        old_meta = old["metadata"]
        # The server owns these; a client cannot change them.
        for field in (
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
        ):
            if field in old_meta:
                new_meta[field] = old_meta[field]
            else:
                new_meta.pop(field, None)
        new_meta.pop("selfLink", None)
        if subresource:
            if subresource == "finalize":
                self.prepare_for_finalize_update(new, old)
            else:
                self.prepare_for_status_update(new, old)
            return object_meta_causes(
                new["metadata"], namespaced=namespaced, name_rule=self.name_rule
            )
        self.prepare_for_update(new, old)
        self.default(new)
        if self.generation_fields and any(new.get(f) != old.get(f) for f in self.generation_fields):
            new_meta["generation"] = int(old_meta.get("generation") or 0) + 1
        causes = object_meta_causes(new_meta, namespaced=namespaced, name_rule=self.name_rule)
        if old_meta.get("deletionTimestamp"):
            added = set(new_meta.get("finalizers") or []) - set(old_meta.get("finalizers") or [])
            if added:
                causes.append(
                    forbidden(
                        "metadata.finalizers",
                        f"no new finalizers can be added if the object is being deleted, found new finalizers {_go_list(sorted(added))}",
                    )
                )
        return causes + self.validate_update(new, old)


def _copy_field(new: Object, old: Object, field: str) -> None:
    if field in old:
        new[field] = copy.deepcopy(old[field])
    else:
        new.pop(field, None)


def _go_list(items: list[str]) -> str:
    return '[]string{"' + '", "'.join(items) + '"}'


def immutable(field: str, new: Any, old: Any) -> list[Cause]:
    """ValidateImmutableField."""
    return [] if new == old else [invalid(field, new, "field is immutable")]


def nested(obj: Mapping[str, Any], *path: str) -> Any:
    node: Any = obj
    for part in path:
        if not isinstance(node, Mapping):
            return None
        node = node.get(part)
    return node
