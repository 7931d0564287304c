"""Smoke runs of the API and controller benchmarks: they start, measure and write their
JSON. Tiny (``quick=True``) and never asserting timings: figures come from full runs on
a quiet machine, not from CI."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from bench import api, controllers


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
            _positive(row, "ratio")
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
