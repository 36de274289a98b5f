"""bench/gpu_cost.py: a tiny run end to end, and the shape of the JSON it writes.

Benchmarks report; they never assert timings (this machine is shared and noisy)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import pytest
from conftest import ROOT, WEIGHTS_DIR

pytestmark = pytest.mark.slow

SCRIPT = ROOT / "bench" / "gpu_cost.py"


def _bench_module():
    spec = importlib.util.spec_from_file_location("gpu_cost", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_quick_plan_is_a_small_subset():
    bench = _bench_module()
    quick = bench.make_plan("quick", "cpu")
    full = bench.make_plan("full", "cpu")
    assert quick.models == ("voc-mobilenetv2", "deeplabv3_resnet50")
    assert quick.strides == (8, 16, 32) and len(quick.sizes) == 1
    assert quick.dtypes == full.dtypes == ("float32",)  # half precision on CUDA only
    assert len(full.models) == 4 and full.sizes == (257, 385, 513)
    assert bench.make_plan("quick", "cuda").dtypes == ("float32", "float16")
    assert not quick.cudnn_configs and bench.make_plan("quick", "cuda").cudnn_configs


def test_tiny_run_writes_the_documented_json(tmp_path):
    out = tmp_path / "gpu_cost.json"
    env = dict(os.environ, DEEPLAB_VIZ_WEIGHTS_DIR=str(WEIGHTS_DIR), DEEPLAB_VIZ_OFFLINE="1")
    cmd = [sys.executable, str(SCRIPT), "--tiny", "--device", "cpu", "--threads", "1"]
    done = subprocess.run(
        [*cmd, "--out", str(out)], env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"wrote {out}" in done.stdout
    data = json.loads(out.read_text())

    assert data["schema"] == "atrous-lab/gpu_cost/1" and data["mode"] == "tiny"
    machine = data["machine"]
    for key in ("cpu_model", "cpu_count", "torch", "torchvision", "python", "device_name"):
        assert machine[key], key
    assert machine["device"] == "cpu"
    assert "2 per multiply-add" in data["conventions"]["flops"]

    rows = data["latency"]
    expected_models = {"deeplabv3_resnet50"}
    if (WEIGHTS_DIR / "deeplabv3.tflite").exists():
        expected_models.add("voc-mobilenetv2")
    assert {r["model"] for r in rows} == expected_models
    for r in rows:
        assert r["output_stride"] in (8, 16, 32) and r["size"] == 65 and r["dtype"] == "float32"
        assert r["flops"] > 0 and r["device"] == "cpu"
        assert r["latency"]["median_ms"] > 0 and len(r["latency"]["runs"]) == 1
        assert r["memory"]["bytes"] >= 0 and r["memory"]["method"]
    resnet = [r for r in rows if r["model"] == "deeplabv3_resnet50"]
    assert all("architecture only (random weights)" in r["label"] for r in resnet)
    assert all(r["weights"] == "random" for r in resnet)
    flops = {r["output_stride"]: r["flops"] for r in resnet}
    assert flops[8] > flops[16] > flops[32]

    sweep = data["memory_vs_rate"]
    assert [p["rate"] for p in sweep] == [1, 2, 4]
    for p in sweep:
        assert p["memory"]["bytes"] >= 0 and 0 < p["valid_tap_share"] <= 1
    assert data["memory_vs_rate_verdict"]["default"].startswith("Measured here")

    assert data["cudnn_benchmark"]["available"] is False
    assert "CUDA" in data["cudnn_benchmark"]["reason"] or "CPU" in data["cudnn_benchmark"]["reason"]
    ratios = data["ratios"]["deeplabv3_resnet50 · float32 · 65 px"]
    assert set(ratios) >= {"latency OS8/OS16", "FLOPs OS8/OS16"}
    assert data["elapsed_s"] > 0
