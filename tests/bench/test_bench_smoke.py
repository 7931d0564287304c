"""Smoke runs of the API and controller benchmarks: they start, measure and write their
JSON. Tiny (``quick=True``) and never asserting timings: figures come from full runs on
a quiet machine, not from CI."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

import pytest

from bench import api, controllers, instructions


def _rows(path: Path) -> list[dict[str, Any]]:
    doc = json.loads(path.read_text())
    rows = doc["rows"]
    assert rows
    return rows


def _positive(row: dict[str, Any], *keys: str) -> None:
    for key in keys:
        value = row[key]
        assert isinstance(value, int | float) and math.isfinite(value) and value > 0, (key, row)


def test_api_benchmark_quick_run_writes_positive_figures(tmp_path: Path) -> None:
    out = tmp_path / "api.json"
    assert api.main(out=str(out), quick=True) == 0
    rows = _rows(out)
    assert {r["loop"] for r in rows} == {"asyncio", "trio"}
    for row in rows:
        if "ratio" in row:
            _positive(row, "ratio", "ratio_min", "ratio_max")
            assert row["ratio_min"] <= row["ratio"] <= row["ratio_max"]
        elif "write_rate" in row:
            _positive(row, "requests", "write_rate", "delivered_pct", "p50_ms", "p99_ms")
        else:
            _positive(row, "requests", "per_s", "p50_ms", "p99_ms")
            assert row["errors"] == 0


def test_controllers_benchmark_quick_run_writes_positive_figures(tmp_path: Path) -> None:
    out = tmp_path / "controllers.json"
    assert controllers.main(out=str(out), quick=True) == 0
    rows = _rows(out)
    measures = {r["measure"] for r in rows}
    assert "namespace deletion, 100 configmaps" in measures
    assert "ClusterIP allocation repair" in measures
    assert "histogram controllers.namespace" in measures
    for row in rows:
        _positive(row, "samples", "p50_ms", "p99_ms")


@pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind is not installed")
def test_instructions_benchmark_quick_run_counts_every_kind(tmp_path: Path) -> None:
    out = tmp_path / "instructions.json"
    assert instructions.main(out=str(out), quick=True) == 0
    rows = _rows(out)
    counted = {r["request"]: r for r in rows if "k_instructions" in r}
    assert set(counted) == {"version", "create", "get"}
    for row in counted.values():
        _positive(row, "requests", "k_instructions")
    # A create does everything /version does and more: storage, validation, the cache.
    assert counted["create"]["k_instructions"] > counted["version"]["k_instructions"]
    (ratio,) = [r["ratio"] for r in rows if "ratio" in r]
    assert 0 < ratio < 1
