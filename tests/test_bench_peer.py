"""bench/peer.py in its quick mode: the port against the TFLite interpreter, on the same input."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import ROOT, TFLITE, WEIGHTS_DIR

pytestmark = pytest.mark.skipif(not TFLITE.exists(), reason="deeplabv3.tflite not present")


def test_peer_quick_mode_races_the_interpreter(tmp_path):
    pytest.importorskip("ai_edge_litert")
    out = tmp_path / "peer.json"
    subprocess.run(
        [sys.executable, "bench/peer.py", "--quick", "--repeats", "3", "--threads", "1",
         "--out", str(out)],
        cwd=ROOT, check=True, timeout=300, capture_output=True, text=True,
        env={"DEEPLAB_VIZ_WEIGHTS_DIR": str(WEIGHTS_DIR), "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    result = json.loads(out.read_text())
    assert result["schema"] == "atrous-lab/peer/1" and result["mode"] == "quick"
    (block,) = result["blocks"]
    assert block["size"] == 257 and block["input_hw"] == [257, 257]
    assert set(block["timings"]) == {
        "reference", "forward", "probe", "bfloat16", "tflite", "forward_33"
    }  # fmt: skip
    assert "compiled" not in block  # quick mode never compiles
    for t in block["timings"].values():
        assert len(t["runs"]) == 3 and t["p25_ms"] <= t["median_ms"] <= t["p75_ms"]
    # the same network: the port and the interpreter give the same class almost everywhere
    assert block["agreement_with_tflite"] > 0.995
    assert {"forward/tflite", "probe/tflite", "forward/reference"} <= set(block["ratios"])
    assert 0.9 < block["bfloat16_agreement_with_float32"] < 1.0  # inexact, but close
    # the overhead contender: a 33×33 input has 1.6% of the work, so it is far faster
    median = {n: t["median_ms"] for n, t in block["timings"].items()}
    assert block["overhead_ms"] == median["forward_33"] < median["forward"]
    assert block["convolutions"] > 50  # MobileNetV2's 52 + ASPP and head
    per_conv = 1000 * block["overhead_ms"] / block["convolutions"]
    assert block["overhead_per_convolution_us"] == pytest.approx(per_conv, abs=0.1)
    # the port without its overhead is faster than the port
    assert (
        block["ratios"]["forward-overhead/tflite"]["median"]
        < block["ratios"]["forward/tflite"]["median"]
    )
    # where the time goes: every kind of convolution MobileNetV2 has, and the rest
    (bd,) = result["breakdown"]
    kinds = bd["kinds"]
    assert {"depthwise", "pointwise 1x1", "dense 3x3", "between"} <= set(kinds)
    assert kinds["depthwise"]["count"] == 17  # one per inverted-residual block
    assert sum(k["share"] for k in kinds.values()) == pytest.approx(1.0, abs=0.01)
    assert all(k["gflops_per_s"] > 0 for n, k in kinds.items() if n != "between")
