"""Cached objects and events, each encoded once and shared by every watcher.

A watch event's bytes are the same for all watchers that receive it, so they are built
on first use and kept on the event: fan-out to a thousand watchers costs one encoding.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

import msgspec

from cp.storage.records import EventType

_encoder = msgspec.json.Encoder()

BOOKMARK = "BOOKMARK"
ERROR = "ERROR"


class WatchEvent(NamedTuple):
    """What a watcher delivers: the type it sees, the version, the object and its frame."""

    type: str
    rv: int
    object: dict[str, Any]
    frame: bytes


class CachedObject:
    """An object as the cache keeps it: decoded for filtering, encoded for the wire."""

    __slots__ = ("key", "rv", "obj", "data", "labels", "fields", "_added")

    def __init__(self, key: str, rv: int, obj: dict[str, Any], fields: Mapping[str, str]) -> None:
        self.key = key
        self.rv = rv
        self.obj = obj
        self.data = _encoder.encode(obj)
        self.labels: Mapping[str, str] = (obj.get("metadata") or {}).get("labels") or {}
        self.fields = fields
        self._added: bytes | None = None

    def added_frame(self) -> bytes:
        """The ADDED event for this object, as initial-state watchers all send it."""
        if self._added is None:
            self._added = frame("ADDED", self.data)
        return self._added

    def at_version(self, rv: int) -> CachedObject:
        """The same content carrying another resourceVersion (for synthetic deletes)."""
        obj = dict(self.obj)
        obj["metadata"] = dict(obj.get("metadata") or {}, resourceVersion=str(rv))
        return CachedObject(self.key, rv, obj, self.fields)


def frame(type_: str, data: bytes) -> bytes:
    """One watch event in the JSON stream format: a line per event."""
    return b'{"type":"' + type_.encode() + b'","object":' + data + b"}\n"


class CacheEvent:
    """One change as the cache saw it, with the object's previous state for selectors."""

    __slots__ = ("type", "key", "rv", "object", "prev", "at", "_frames", "_left", "_unfiltered")

    def __init__(
        self,
        type_: EventType,
        obj: CachedObject,
        prev: CachedObject | None,
        at: float,
    ) -> None:
        self.type = type_
        self.key = obj.key
        self.rv = obj.rv
        self.object = obj
        self.prev = prev
        self.at = at
        self._frames: dict[str, bytes] = {}
        self._left: CachedObject | None = None
        self._unfiltered: WatchEvent | None = None

    def unfiltered(self) -> WatchEvent:
        """The event as every watcher without a filter sees it, built once for all."""
        if self._unfiltered is None:
            t = self.type.value
            self._unfiltered = WatchEvent(t, self.rv, self.object.obj, self.frame(t))
        return self._unfiltered

    def left_selector(self) -> CachedObject:
        """What a watcher whose selector the object just left sees: a DELETED of the
        previous content at this event's version, as kube-apiserver's cacher sends."""
        if self._left is None:
            assert self.prev is not None
            self._left = self.prev.at_version(self.rv)
        return self._left

    def frame(self, type_: str) -> bytes:
        cached = self._frames.get(type_)
        if cached is None:
            obj = (
                self.left_selector()
                if (type_ == "DELETED" and self.type != "DELETED")
                else self.object
            )
            cached = self._frames[type_] = frame(type_, obj.data)
        return cached
