"""Controller metrics and their Prometheus text rendering."""

from __future__ import annotations

import math
import re

import pytest

from cp.controllers import Histogram, MetricsRegistry

from .helpers import wait_until
from .mirror import SOURCES, mirror_cluster, source

SAMPLE = re.compile(r'^([a-z_]+)(\{(?:[a-z]+="(?:[^"\\]|\\.)*",?)*\})? (\S+)$')


def parse(text: str) -> dict[str, float]:
    """Every sample line by its name and labels; fails on anything malformed."""
    samples: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            continue
        match = SAMPLE.match(line)
        assert match, f"malformed line: {line!r}"
        samples[match.group(1) + (match.group(2) or "")] = float(match.group(3))
    return samples


def test_render_exposes_the_four_families_with_their_types() -> None:
    registry = MetricsRegistry(buckets=(0.1, 1.0))
    m = registry.controller("ns")
    m.reconciled("success")
    m.reconciled("success")
    m.reconciled("error")
    m.observe_latency(0.05)
    m.observe_latency(0.5)
    m.observe_latency(5.0)
    depth = 7
    m.bind_queue(lambda: depth)
    text = registry.render()
    assert text.endswith("\n")
    for name, kind in [
        ("cp_controller_reconcile_total", "counter"),
        ("cp_controller_reconcile_errors_total", "counter"),
        ("cp_controller_queue_depth", "gauge"),
        ("cp_controller_event_to_reconcile_seconds", "histogram"),
    ]:
        assert f"# TYPE {name} {kind}\n" in text
        assert f"# HELP {name} " in text
    samples = parse(text)
    assert samples['cp_controller_reconcile_total{controller="ns",result="success"}'] == 2
    assert samples['cp_controller_reconcile_total{controller="ns",result="error"}'] == 1
    assert samples['cp_controller_reconcile_total{controller="ns",result="requeue"}'] == 0
    assert samples['cp_controller_reconcile_errors_total{controller="ns"}'] == 1
    assert samples['cp_controller_queue_depth{controller="ns"}'] == 7
    h = "cp_controller_event_to_reconcile_seconds"
    assert samples[f'{h}_bucket{{controller="ns",le="0.1"}}'] == 1
    assert samples[f'{h}_bucket{{controller="ns",le="1.0"}}'] == 2
    assert samples[f'{h}_bucket{{controller="ns",le="+Inf"}}'] == 3
    assert samples[f'{h}_count{{controller="ns"}}'] == 3
    assert samples[f'{h}_sum{{controller="ns"}}'] == pytest.approx(5.55)


def test_queue_depth_follows_the_bound_instance_only() -> None:
    registry = MetricsRegistry()
    m = registry.controller("c")

    def old() -> int:
        return 3

    def new() -> int:
        return 5

    m.bind_queue(old)
    m.bind_queue(new)  # a restarted instance binds before the old one unbinds
    m.unbind_queue(old)
    assert m.queue_depth == 5
    m.unbind_queue(new)
    assert m.queue_depth == 0


def test_label_values_are_escaped_and_controllers_sorted() -> None:
    registry = MetricsRegistry()
    registry.controller('b"x\\y\nz').reconciled("success")
    registry.controller("a").reconciled("success")
    text = registry.render()
    assert 'controller="b\\"x\\\\y\\nz"' in text
    parse(text)
    lines = [line for line in text.splitlines() if line.startswith("cp_controller_queue_depth")]
    assert [line.split('"')[1] for line in lines] == ["a", "b\\"]


def test_histogram_buckets_are_cumulative_and_quantiles_interpolate() -> None:
    h = Histogram((1.0, 2.0, 4.0))
    for value in [0.5, 1.0, 1.5, 3.0, 10.0]:
        h.observe(value)
    assert h.cumulative() == [(1.0, 2), (2.0, 3), (4.0, 4), (math.inf, 5)]
    assert h.quantile(0.4) == pytest.approx(1.0)
    assert h.quantile(0.5) == pytest.approx(1.5)
    assert h.quantile(1.0) == 4.0  # the +Inf bucket reports its lower bound
    assert math.isnan(Histogram().quantile(0.5))
    with pytest.raises(ValueError):
        Histogram(())


@pytest.mark.anyio
async def test_a_running_controller_reports_to_its_registry() -> None:
    async with mirror_cluster(workers=2) as cluster:
        for i in range(5):
            await cluster.store.create(SOURCES, f"default/m{i}", source(f"m{i}", "x"))
        metrics = cluster.metrics.controller(cluster.name)
        await wait_until(lambda: metrics.reconciles["success"] >= 5)
        samples = parse(cluster.metrics.render())
        label = f'controller="{cluster.name}"'
        assert samples[f'cp_controller_reconcile_total{{{label},result="success"}}'] >= 5
        assert samples[f"cp_controller_event_to_reconcile_seconds_count{{{label}}}"] >= 5
        assert f"cp_controller_queue_depth{{{label}}}" in samples
