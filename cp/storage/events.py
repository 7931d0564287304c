"""Cached objects and events, each encoded once and shared by every watcher.

A watch event's bytes are the same for all watchers that receive it, so they are built
on first use and kept on the event: fan-out to a thousand watchers costs one encoding.
The cache keeps objects as bytes, decoding only for the readers that need content.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import msgspec

from cp.storage.records import EventType

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder()

BOOKMARK = "BOOKMARK"
ERROR = "ERROR"


class CachedObject(msgspec.Struct, gc=False):
    """An object as the cache keeps it: encoded for the wire, with the labels and
    fields selectors match on.

    The decoded object is not kept: a cache of decoded dicts is mostly containers the
    cyclic garbage collector walks over and over (it took about a tenth of a create's
    cost), while bytes are invisible to it and a fifth of the size.  For the same
    reason this is a struct the collector does not track (it holds no cycles).  `obj`
    decodes a fresh copy on each use; the few readers that need the content (tables,
    informers, admission) pay about a microsecond per small object.  The selector
    values are worked out on first use, so a write nobody selects on decodes nothing.
    """

    key: str
    rv: int
    data: bytes
    # The object's labels and selectable fields once known; `fields_of` finds them.
    known_labels: Mapping[str, str] | None = None
    known_fields: Mapping[str, str] | None = None
    fields_of: Callable[[dict[str, Any]], Mapping[str, str]] | None = None
    _added: bytes | None = None

    @classmethod
    def of(cls, key: str, rv: int, obj: dict[str, Any], fields: Mapping[str, str]) -> CachedObject:
        labels = (obj.get("metadata") or {}).get("labels") or {}
        return cls(key, rv, _encoder.encode(obj), labels, fields)

    @property
    def labels(self) -> Mapping[str, str]:
        if self.known_labels is None:
            self._select()
        assert self.known_labels is not None
        return self.known_labels

    @property
    def fields(self) -> Mapping[str, str]:
        if self.known_fields is None:
            self._select()
        assert self.known_fields is not None
        return self.known_fields

    def _select(self) -> None:
        obj = self.obj
        self.known_labels = (obj.get("metadata") or {}).get("labels") or {}
        self.known_fields = self.fields_of(obj) if self.fields_of is not None else {}

    @property
    def obj(self) -> dict[str, Any]:
        """A decoded copy, the caller's own to read (or change)."""
        return _decoder.decode(self.data)

    def added_frame(self) -> bytes:
        """The ADDED event for this object, as initial-state watchers all send it."""
        if self._added is None:
            self._added = frame("ADDED", self.data)
        return self._added

    def at_version(self, rv: int) -> CachedObject:
        """The same content carrying another resourceVersion (for synthetic deletes)."""
        obj = self.obj
        obj["metadata"] = dict(obj.get("metadata") or {}, resourceVersion=str(rv))
        return CachedObject.of(self.key, rv, obj, self.fields)


class WatchEvent:
    """What a watcher delivers: the type it sees, the version, the object and its frame.

    The object is decoded on first use and then kept with the event: HTTP watchers send
    the frame and never look at it, so fan-out decodes nothing, and in-process watchers
    sharing one event share one decoding.
    """

    __slots__ = ("type", "rv", "frame", "_source", "_object")

    def __init__(
        self, type_: str, rv: int, source: CachedObject | dict[str, Any], frame: bytes
    ) -> None:
        self.type = type_
        self.rv = rv
        self.frame = frame
        self._source = source
        self._object: dict[str, Any] | None = source if isinstance(source, dict) else None

    @property
    def object(self) -> dict[str, Any]:
        if self._object is None:
            assert isinstance(self._source, CachedObject)
            self._object = self._source.obj
        return self._object

    def __repr__(self) -> str:
        return f"WatchEvent({self.type!r}, rv={self.rv})"


def frame(type_: str, data: bytes) -> bytes:
    """One watch event in the JSON stream format: a line per event."""
    return b'{"type":"' + type_.encode() + b'","object":' + data + b"}\n"


class CacheEvent(msgspec.Struct, gc=False):
    """One change as the cache saw it, with the object's previous state for selectors.

    Kept in the cache's ring for the whole history: untracked by the cyclic collector,
    like CachedObject, since it holds no cycles.
    """

    type: EventType
    object: CachedObject
    prev: CachedObject | None
    at: float
    # Frames by the type a watcher sees; made on the first watcher's demand.
    _frames: dict[str, bytes] | None = None
    _left: CachedObject | None = None
    _unfiltered: WatchEvent | None = None

    @property
    def key(self) -> str:
        return self.object.key

    @property
    def rv(self) -> int:
        return self.object.rv

    def unfiltered(self) -> WatchEvent:
        """The event as every watcher without a filter sees it, built once for all."""
        if self._unfiltered is None:
            t = self.type.value
            self._unfiltered = WatchEvent(t, self.rv, self.object, self.frame(t))
        return self._unfiltered

    def left_selector(self) -> CachedObject:
        """What a watcher whose selector the object just left sees: a DELETED of the
        previous content at this event's version, as kube-apiserver's cacher sends."""
        if self._left is None:
            assert self.prev is not None
            self._left = self.prev.at_version(self.rv)
        return self._left

    def frame(self, type_: str) -> bytes:
        frames = self._frames
        if frames is None:
            frames = self._frames = {}
        cached = frames.get(type_)
        if cached is None:
            obj = (
                self.left_selector()
                if (type_ == "DELETED" and self.type != "DELETED")
                else self.object
            )
            cached = frames[type_] = frame(type_, obj.data)
        return cached
