"""bench/perf.py in quick mode: it runs end to end and writes the documented JSON.

Figures are reported, never asserted (these machines are noisy); the exceptions
are facts, not timings: a view-only rerun calls the model zero times.
"""

from __future__ import annotations

import importlib.util
import json

import pytest
from browser_support import chromium_available
from conftest import ROOT, TFLITE

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not TFLITE.exists(), reason="offline model not found"),
]


def _bench():
    spec = importlib.util.spec_from_file_location("bench_perf", ROOT / "bench" / "perf.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_quick_benchmark_writes_every_figure(tmp_path, capsys):
    out = tmp_path / "perf.json"
    skip = [] if chromium_available() else ["--skip", "cold_start"]
    assert _bench().main(["--quick", "--out", str(out), *skip]) == 0
    report = json.loads(out.read_text())
    print(json.dumps(report["results"], indent=1))
    r = report["results"]
    assert {"cpu", "cores", "torch"} <= set(report["machine"])
    for row in r["probe_vs_forward"]:
        assert row["probe_over_module_forward"] > 0 and row["probe_over_segment"] > 0
    assert r["captum_vs_probe"]["branches"] == 5 and r["captum_vs_probe"]["captum_over_probe"] > 0
    assert r["erf_vs_forward"]["erf_over_forward"] > 0
    view = r["view_only_rerun"]
    assert view["probe_calls_on_view_changes"] == 0 and view["exceptions"] == 0
    assert view["probe_calls_first_visit"] == 1
    if chromium_available():
        assert r["cold_start"]["first_page_rendered_s"] > r["cold_start"]["server_healthy_s"] > 0
