"""bench/erf_graph.py runs and writes what the README quotes (small settings)."""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import ROOT, needs_weights


@needs_weights
def test_quick_run_writes_both_timings_memory_and_an_exact_match(tmp_path):
    out = tmp_path / "erf_graph.json"
    run = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "erf_graph.py"), "--repeats", "2", "--size", "129",
         "--out", str(out)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    report = json.loads(out.read_text())
    assert report["schema"] == "atrous-lab/erf_graph/1" and report["size"] == 129
    assert len(report["fresh_ms"]["runs"]) == len(report["kept_ms"]["runs"]) == 2
    assert report["kept_over_fresh"] > 0 and report["graph_build_ms"] > 0
    assert "graph_rss_growth_mb" in report and report["verdict"]
    assert report["max_abs_difference"] == 0.0  # the kept graph gives the fresh map
