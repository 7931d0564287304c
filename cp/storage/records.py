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


_LEADING = ("kind", "apiVersion", "metadata")


def encode_object(obj: dict[str, Any]) -> bytes:
    """Encode an object for storage, leaving out its resourceVersion.

    kind, apiVersion and metadata come first, in Kubernetes' own field order, so a
    reader can put the version back by splicing it in after `"metadata":{`
    (`with_resource_version`) instead of decoding and encoding the whole object.
    """
    meta = obj.get("metadata")
    if isinstance(meta, dict) and "resourceVersion" in meta:
        obj = dict(obj, metadata={k: v for k, v in meta.items() if k != "resourceVersion"})
    if not _in_stored_order(obj):
        obj = leading_fields_first(dict(obj))
    return _encoder.encode(obj)


def _in_stored_order(obj: dict[str, Any]) -> bool:
    keys = iter(obj)
    return (next(keys, None), next(keys, None), next(keys, None)) == _LEADING


def leading_fields_first(obj: dict[str, Any]) -> dict[str, Any]:
    """Put kind, apiVersion and metadata first, in place, as Kubernetes orders them
    (and as encode_object stores them); returns `obj`."""
    if _in_stored_order(obj):
        return obj
    leading = {k: obj.pop(k) for k in _LEADING if k in obj}
    rest = list(obj.items())
    obj.clear()
    obj.update(leading)
    obj.update(rest)
    return obj


def stored_prefix(kind: str, api_version: str) -> bytes:
    """How encode_object's output starts for objects of this kind and version."""
    return b"".join(
        (b'{"kind":', _encoder.encode(kind), b',"apiVersion":', _encoder.encode(api_version),
         b',"metadata":{')
    )  # fmt: skip


def with_resource_version(data: bytes, rv: int, prefix: bytes) -> bytes | None:
    """The stored bytes with `metadata.resourceVersion` set to `rv`, spliced in after
    `prefix` (stored_prefix of the type); None when the bytes do not start with it
    (then decode and encode)."""
    if not data.startswith(prefix):
        return None
    at = len(prefix)
    version = b'"resourceVersion":"%d"' % rv
    rest = data[at:]
    return b"".join((prefix, version, rest if rest[:1] == b"}" else b"," + rest))


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
