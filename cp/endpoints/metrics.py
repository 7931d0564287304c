"""Request metrics in the Prometheus text format, named as kube-apiserver names them.

apiserver_request_total and apiserver_request_duration_seconds by verb, group, version,
resource, subresource, scope and code; apiserver_longrunning_requests for open watches;
apiserver_current_inflight_requests by kind.  Counters are plain objects updated without
awaiting, so recording costs a dict lookup per request.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Mapping, Sized
from dataclasses import dataclass, field

BUCKETS = (
    0.005,
    0.025,
    0.05,
    0.1,
    0.2,
    0.4,
    0.6,
    0.8,
    1.0,
    1.25,
    1.5,
    2,
    3,
    4,
    5,
    6,
    8,
    10,
    15,
    20,
    30,
    45,
    60,
)

Labels = tuple[tuple[str, str], ...]


@dataclass
class _Histogram:
    counts: list[int] = field(default_factory=lambda: [0] * (len(BUCKETS) + 1))
    total: float = 0.0
    count: int = 0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(BUCKETS, value)] += 1
        self.total += value
        self.count += 1


def _labels(labels: Labels, extra: str = "") -> str:
    parts = [f'{k}="{v}"' for k, v in labels]
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}" if parts else ""


class _Series:
    """One request series: its counter and the histogram it shares with other codes."""

    __slots__ = ("labels", "histogram", "count")

    def __init__(self, labels: Labels, histogram: _Histogram) -> None:
        self.labels = labels
        self.histogram = histogram
        self.count = 0


class Metrics:
    def __init__(self, inflight: Mapping[str, Sized]) -> None:
        self.durations: dict[Labels, _Histogram] = defaultdict(_Histogram)
        self.watches: dict[Labels, int] = defaultdict(int)
        # The requests being served, by kind (cp.endpoints.inflight owns them).
        self.inflight = inflight
        # Series by their raw label values, so recording hashes one short tuple of
        # strings (the label tuples, nested, are hashed only when a series is new).
        self._series: dict[tuple[str, str, str, str, str, str, int], _Series] = {}

    @property
    def requests(self) -> dict[Labels, int]:
        return {s.labels: s.count for s in self._series.values()}

    def observe(
        self,
        verb: str,
        group: str,
        version: str,
        resource: str,
        subresource: str,
        scope: str,
        code: int,
        seconds: float,
    ) -> None:
        ident = (verb, group, version, resource, subresource, scope, code)
        series = self._series.get(ident)
        if series is None:
            base = (
                ("verb", verb.upper() if verb == "watch" else _verb(verb)),
                ("group", group),
                ("version", version),
                ("resource", resource),
                ("subresource", subresource),
                ("scope", scope),
            )
            series = self._series[ident] = _Series(
                (*base, ("code", str(code)), ("component", "apiserver")),
                self.durations[(*base, ("component", "apiserver"))],
            )
        series.count += 1
        series.histogram.observe(seconds)

    def watch_started(self, group: str, version: str, resource: str) -> Labels:
        labels = (("group", group), ("version", version), ("resource", resource), ("verb", "WATCH"))
        self.watches[labels] += 1
        return labels

    def watch_ended(self, labels: Labels) -> None:
        self.watches[labels] -= 1

    def render(self) -> bytes:
        out = [
            "# HELP apiserver_request_total Counter of apiserver requests broken out for each verb, dry run value, group, version, resource, scope, component, and HTTP response code.",
            "# TYPE apiserver_request_total counter",
        ]
        out += [
            f"apiserver_request_total{_labels(k)} {v}" for k, v in sorted(self.requests.items())
        ]
        out += [
            "# HELP apiserver_request_duration_seconds Response latency distribution in seconds for each verb, dry run value, group, version, resource, subresource, scope and component.",
            "# TYPE apiserver_request_duration_seconds histogram",
        ]
        for labels, hist in sorted(self.durations.items()):
            cumulative = 0
            for bound, count in zip((*BUCKETS, "+Inf"), hist.counts, strict=True):
                cumulative += count
                le = _labels(labels, 'le="' + str(bound) + '"')
                out.append(f"apiserver_request_duration_seconds_bucket{le} {cumulative}")
            out.append(f"apiserver_request_duration_seconds_sum{_labels(labels)} {hist.total}")
            out.append(f"apiserver_request_duration_seconds_count{_labels(labels)} {hist.count}")
        out += [
            "# HELP apiserver_longrunning_requests Gauge of all active long-running apiserver requests broken out by verb, group, version, resource, scope and component.",
            "# TYPE apiserver_longrunning_requests gauge",
        ]
        out += [
            f"apiserver_longrunning_requests{_labels(k)} {v}"
            for k, v in sorted(self.watches.items())
        ]
        out += [
            "# HELP apiserver_current_inflight_requests Maximal number of currently used inflight request limit of this apiserver per request kind in last second.",
            "# TYPE apiserver_current_inflight_requests gauge",
        ]
        out += [
            f'apiserver_current_inflight_requests{{request_kind="{k}"}} {len(v)}'
            for k, v in self.inflight.items()
        ]
        return ("\n".join(out) + "\n").encode()


def _verb(verb: str) -> str:
    return {
        "get": "GET",
        "list": "LIST",
        "create": "POST",
        "update": "PUT",
        "patch": "PATCH",
        "delete": "DELETE",
        "deletecollection": "DELETE",
    }.get(verb, verb.upper())
