"""What a store hands back: stored bytes plus the version they were written at.

Objects are kept encoded, without `metadata.resourceVersion`: the version is a property
of the write, not of the payload, exactly as etcd's mod revision is.  `decode()` puts it
back, so every reader sees the version the store assigned.
"""

from __future__ import annotations

import enum
from typing import Any

import msgspec

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder()


class EventType(enum.StrEnum):
    ADDED = "ADDED"
    MODIFIED = "MODIFIED"
    DELETED = "DELETED"


class Record(msgspec.Struct, frozen=True, gc=False):
    """One stored object: its key, the version of its last write, its UID and bytes."""

    key: str
    rv: int
    uid: str
    data: bytes

    def decode(self) -> dict[str, Any]:
        obj = _decoder.decode(self.data)
        meta = obj.get("metadata")
        if meta is None:
            meta = obj["metadata"] = {}
        meta["resourceVersion"] = str(self.rv)
        return obj


class StoreEvent(msgspec.Struct, frozen=True, gc=False):
    """A change as the store's event log records it.

    For DELETED, `record` is the object's last state carrying the version of the delete,
    as Kubernetes reports deletions.
    """

    type: EventType
    record: Record

    @property
    def rv(self) -> int:
        return self.record.rv


def encode_object(obj: dict[str, Any]) -> bytes:
    """Encode an object for storage, leaving out its resourceVersion."""
    meta = obj.get("metadata")
    if meta and "resourceVersion" in meta:
        obj = dict(obj)
        obj["metadata"] = {k: v for k, v in meta.items() if k != "resourceVersion"}
    return _encoder.encode(obj)


def object_uid(obj: dict[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    return str(meta.get("uid") or "")


def parse_resource_version(value: str | int | None) -> int | None:
    """Parse a client-supplied resourceVersion; None or "" means unset.

    Raises ValueError for anything that is not a non-negative decimal, so callers can
    answer 400 instead of comparing garbage.
    """
    if value is None or value == "":
        return None
    if isinstance(value, int):
        rv = value
    else:
        if not value.isdigit() or not value.isascii():
            raise ValueError(f"invalid resource version: {value!r}")
        rv = int(value)
    if rv < 0:
        raise ValueError(f"invalid resource version: {value!r}")
    return rv
