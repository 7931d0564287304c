"""Checks recorded watch streams against the store's true history.

Given the complete event log (every write, contiguous versions) and what a watcher
received, it asserts the properties clients rely on, in the spirit of etcd's robustness
tests:
- ordered: versions strictly increase (initial-state events excepted, which come first);
- unique: no version is delivered twice;
- atomic: each event carries the object exactly as that write left it;
- reliable: between the start and the last version seen, no matching event is missing;
- resumable: segments resumed from the last version seen join without gap or overlap;
- bookmarks: a bookmark's version is >= every event before it and < every event after it.
Selectors are simulated on the truth, so an object entering a selector must show up as
ADDED and one leaving it as DELETED.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

Predicate = Callable[[dict[str, Any]], bool]


@dataclass(frozen=True)
class TruthEvent:
    rv: int
    type: str
    key: str
    obj: dict[str, Any]


@dataclass
class Observed:
    type: str
    rv: int
    key: str
    obj: dict[str, Any]


@dataclass
class Segment:
    """One watch connection: where it started, what it got, and whether it began with
    the initial state (rv unset/0 or sendInitialEvents).  For an initial segment,
    start_rv is the revision of the snapshot (an initial-events-end bookmark, when
    present, overrides it)."""

    start_rv: int
    events: list[Observed] = field(default_factory=list)
    initial: bool = False


def _strip_rv(obj: dict[str, Any]) -> dict[str, Any]:
    meta = dict(obj.get("metadata") or {})
    meta.pop("resourceVersion", None)
    return {**obj, "metadata": meta}


def object_key(obj: dict[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    ns = meta.get("namespace")
    return f"{ns}/{meta['name']}" if ns else meta["name"]


class WatchChecker:
    def __init__(self, truth: Sequence[TruthEvent]) -> None:
        self.truth = list(truth)
        for a, b in zip(self.truth, self.truth[1:], strict=False):
            assert b.rv == a.rv + 1, f"truth is not contiguous at {a.rv} -> {b.rv}"
        self.first = self.truth[0].rv if self.truth else 1

    def state_at(self, rv: int) -> dict[str, dict[str, Any]]:
        state: dict[str, dict[str, Any]] = {}
        for ev in self.truth:
            if ev.rv > rv:
                break
            if ev.type == "DELETED":
                state.pop(ev.key, None)
            else:
                state[ev.key] = ev.obj
        return state

    def expected(
        self, start_rv: int, end_rv: int, select: Predicate | None
    ) -> list[tuple[str, int, str]]:
        """What a watcher from start_rv must see up to end_rv: (type, rv, key)."""
        state = self.state_at(start_rv)
        out = []
        for ev in self.truth:
            if ev.rv <= start_rv:
                continue
            if ev.rv > end_rv:
                break
            before = state.get(ev.key)
            if ev.type == "DELETED":
                state.pop(ev.key, None)
                after = None
            else:
                state[ev.key] = ev.obj
                after = ev.obj
            was = before is not None and (select is None or select(before))
            now = after is not None and (select is None or select(after))
            if now and not was:
                out.append(("ADDED", ev.rv, ev.key))
            elif now and was:
                out.append(("MODIFIED", ev.rv, ev.key))
            elif was and not now:
                out.append(("DELETED", ev.rv, ev.key))
        return out

    def check(self, segments: Sequence[Segment], select: Predicate | None = None) -> int:
        """Validate consecutive segments of one logical watch; return the last rv seen."""
        position: int | None = None
        for n, seg in enumerate(segments):
            where = f"segment {n} (from rv {seg.start_rv})"
            if position is not None:
                assert seg.start_rv == position, (
                    f"{where}: resumed from {seg.start_rv}, last seen {position}"
                )
            events = list(seg.events)
            start = seg.start_rv
            if seg.initial:
                marks = [
                    i
                    for i, e in enumerate(events)
                    if _is_bookmark(e) and e.obj["metadata"].get("annotations")
                ]
                if marks:
                    initial, start = events[: marks[0]], events[marks[0]].rv
                    events = events[marks[0] + 1 :]
                else:
                    cut = 0
                    while (
                        cut < len(events)
                        and events[cut].type == "ADDED"
                        and events[cut].rv <= start
                    ):
                        cut += 1
                    initial, events = events[:cut], events[cut:]
                snapshot = self.state_at(start)
                want = {k for k, o in snapshot.items() if select is None or select(o)}
                got = [e.key for e in initial]
                assert len(got) == len(set(got)), f"{where}: duplicate initial objects"
                assert set(got) == want, (
                    f"{where}: initial state {sorted(got)} != {sorted(want)} at rv {start}"
                )
                for e in initial:
                    assert _strip_rv(e.obj) == _strip_rv(snapshot[e.key]), (
                        f"{where}: initial {e.key} not as at rv {start}"
                    )
            last = start
            for e in events:
                if _is_bookmark(e):
                    assert e.rv >= last, f"{where}: bookmark {e.rv} behind event {last}"
                    last = e.rv
                    continue
                assert e.rv > last, (
                    f"{where}: event rv {e.rv} not after {last} (order or duplicate)"
                )
                last = e.rv
            real = [e for e in events if not _is_bookmark(e)]
            end = max([e.rv for e in real], default=start)
            want_events = self.expected(start, end, select)
            got_events = [(e.type, e.rv, e.key) for e in real]
            assert got_events == want_events, (
                f"{where}: events differ from history; first difference: "
                f"{_first_difference(got_events, want_events)}"
            )
            by_rv = {ev.rv: ev for ev in self.truth}
            for e in real:
                truth = by_rv[e.rv]
                if e.type == "DELETED" and truth.type != "DELETED":
                    continue  # left the selector: carries the previous content
                assert _strip_rv(e.obj) == _strip_rv(truth.obj), (
                    f"{where}: object at rv {e.rv} is not what was written"
                )
                assert e.obj["metadata"]["resourceVersion"] == str(e.rv), (
                    f"{where}: rv {e.rv} mislabelled"
                )
            position = max(last, start)
        return position or 0


def _is_bookmark(e: Observed) -> bool:
    return e.type == "BOOKMARK"


def _first_difference(got: list, want: list) -> str:
    for i, (g, w) in enumerate(zip(got, want, strict=False)):
        if g != w:
            return f"#{i}: got {g}, want {w}"
    if len(got) != len(want):
        return f"lengths: got {len(got)}, want {len(want)}"
    return "none"
