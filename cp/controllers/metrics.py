"""Controller metrics and their Prometheus text exposition.

Why here and not in the controller: a restarted controller is a new instance, but its
counters must carry on (a Prometheus counter that resets on every injected crash would
hide exactly what a chaos run wants to see). So metrics live in a
:class:`MetricsRegistry` that outlives the instances, keyed by controller name; each new
instance binds its work queue to the queue-depth gauge.

A minimal renderer of the text format (version 0.0.4) instead of prometheus_client: the
four metric families need a few dozen lines, no global registry and no new dependency.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Iterator, Sequence

# Reconcile latencies span sub-millisecond (in-memory) to a minute (long backoffs).
DEFAULT_BUCKETS: tuple[float, ...] = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class Histogram:
    """Cumulative-bucket histogram, as Prometheus exposes it."""

    def __init__(self, buckets: Sequence[float] = DEFAULT_BUCKETS) -> None:
        bounds = sorted(float(b) for b in buckets if not math.isinf(b))
        if not bounds or len(set(bounds)) != len(bounds):
            raise ValueError("histogram buckets must be distinct and not empty")
        self.bounds = tuple(bounds)
        self._counts = [0] * (len(bounds) + 1)  # the last one is +Inf
        self.count = 0
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self._counts[bisect.bisect_left(self.bounds, value)] += 1
        self.count += 1
        self.sum += value

    def cumulative(self) -> list[tuple[float, int]]:
        """(upper bound, observations <= bound) per bucket, ending with +Inf."""
        out: list[tuple[float, int]] = []
        total = 0
        for bound, count in zip((*self.bounds, math.inf), self._counts, strict=True):
            total += count
            out.append((bound, total))
        return out

    def quantile(self, q: float) -> float:
        """An estimate by linear interpolation in the bucket, like PromQL's
        histogram_quantile; for benchmarks and tests, not for exposition."""
        if self.count == 0:
            return math.nan
        rank = q * self.count
        lower = 0.0
        below = 0
        for bound, total in self.cumulative():
            if total >= rank:
                if math.isinf(bound):
                    return lower
                in_bucket = total - below
                return lower + (bound - lower) * ((rank - below) / in_bucket if in_bucket else 1.0)
            lower, below = bound, total
        return lower


class ControllerMetrics:
    """The metrics of one controller, across all its instances."""

    RESULTS = ("success", "error", "requeue", "requeue_after", "dropped")

    def __init__(self, name: str, buckets: Sequence[float] = DEFAULT_BUCKETS) -> None:
        self.name = name
        self.reconciles: dict[str, int] = dict.fromkeys(self.RESULTS, 0)
        self.errors = 0
        self.latency = Histogram(buckets)
        self._depth: Callable[[], int] | None = None

    def reconciled(self, result: str) -> None:
        self.reconciles[result] = self.reconciles.get(result, 0) + 1
        if result == "error":
            self.errors += 1

    def observe_latency(self, seconds: float) -> None:
        self.latency.observe(seconds)

    def bind_queue(self, depth: Callable[[], int]) -> None:
        """Report the running instance's queue depth from now on."""
        self._depth = depth

    def unbind_queue(self, depth: Callable[[], int]) -> None:
        """A stopping instance lets go, unless a newer one has already bound its own."""
        if self._depth == depth:
            self._depth = None

    @property
    def queue_depth(self) -> int:
        return 0 if self._depth is None else self._depth()


class MetricsRegistry:
    """Every controller's metrics by name; :meth:`render` is the /metrics body."""

    def __init__(self, *, buckets: Sequence[float] = DEFAULT_BUCKETS) -> None:
        self._buckets = tuple(buckets)
        self._controllers: dict[str, ControllerMetrics] = {}

    def controller(self, name: str) -> ControllerMetrics:
        """The metrics of controller ``name``, created on first use."""
        metrics = self._controllers.get(name)
        if metrics is None:
            metrics = self._controllers[name] = ControllerMetrics(name, self._buckets)
        return metrics

    def __iter__(self) -> Iterator[ControllerMetrics]:
        return iter([self._controllers[n] for n in sorted(self._controllers)])

    def render(self) -> str:
        """Prometheus text exposition format 0.0.4 (see :data:`CONTENT_TYPE`)."""
        controllers = [self._controllers[n] for n in sorted(self._controllers)]
        lines: list[str] = []

        def family(name: str, kind: str, help_: str) -> None:
            lines.append(f"# HELP {name} {help_}")
            lines.append(f"# TYPE {name} {kind}")

        family(
            "cp_controller_reconcile_total",
            "counter",
            "Reconciliations per controller, by result.",
        )
        for c in controllers:
            for result, count in sorted(c.reconciles.items()):
                labels = _labels(controller=c.name, result=result)
                lines.append(f"cp_controller_reconcile_total{labels} {count}")
        family(
            "cp_controller_reconcile_errors_total",
            "counter",
            "Reconciliations that raised an error, per controller.",
        )
        for c in controllers:
            lines.append(
                f"cp_controller_reconcile_errors_total{_labels(controller=c.name)} {c.errors}"
            )
        family(
            "cp_controller_queue_depth",
            "gauge",
            "Keys ready in the controller's work queue.",
        )
        for c in controllers:
            lines.append(f"cp_controller_queue_depth{_labels(controller=c.name)} {c.queue_depth}")
        name = "cp_controller_event_to_reconcile_seconds"
        family(
            name,
            "histogram",
            "Time from the first event for a key to the end of its successful reconcile.",
        )
        for c in controllers:
            for bound, total in c.latency.cumulative():
                labels = _labels(controller=c.name, le=_number(bound))
                lines.append(f"{name}_bucket{labels} {total}")
            lines.append(f"{name}_sum{_labels(controller=c.name)} {_number(c.latency.sum)}")
            lines.append(f"{name}_count{_labels(controller=c.name)} {c.latency.count}")
        return "\n".join(lines) + "\n"


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if math.isnan(value):
        return "NaN"
    return repr(float(value))


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(**labels: str) -> str:
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items()) + "}"
