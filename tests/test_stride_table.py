"""The Output stride page's numbers: its table, fine against coarse, rates per policy."""

from __future__ import annotations

import pytest

from deeplab_viz.cost.latency import LatencyResult
from deeplab_viz.cost.memory import RSS_METHOD, MemoryResult
from deeplab_viz.cost.strides import (
    MB,
    StrideRow,
    contrast,
    policy_tap_tables,
    stride_table,
    widest_rate,
)
from deeplab_viz.models.output_stride import max_dilation, rewire


def _row(os_: int, *, flops, agreement, act) -> StrideRow:
    return StrideRow(
        output_stride=os_,
        label=f"m · OS {os_}",
        input_hw=(264, 352),
        feature_hw=(264 // os_, 352 // os_),
        flops=flops,
        probe_ms=12.34,
        activation_bytes=act,
        agreement=agreement,
        boundary_agreement=agreement / 2,
    )


ROWS = [
    _row(8, flops=8_000_000_000, agreement=1.0, act=40 * MB),
    _row(32, flops=None, agreement=0.9, act=0),
]


def test_stride_table_without_a_measurement():
    table = stride_table(ROWS, None, {8: 4})
    assert table[0] == {
        "OS": 8,
        "input (px, W×H)": "352×264",
        "ASPP input (W×H)": "44×33",
        "max dilation": 4,
        "GFLOPs": 8.0,
        "time (ms)": 12.3,  # the probe's one forward
        "feature maps (MB)": 40.0,
        "same as OS 8": "100.0%",
        "near boundaries": "50.0%",
    }
    assert table[1]["max dilation"] == 1 and table[1]["GFLOPs"] == 0  # unknown: 1, none
    assert not any(k.startswith("peak") for k in table[1])


def test_stride_table_with_a_measurement_adds_the_peaks():
    lat = LatencyResult(median_ms=5.44, p90_ms=7.0, runs=(5.0, 5.44, 7.0))
    measured = {
        8: (lat, MemoryResult(3 * MB, RSS_METHOD, allocated_bytes=2 * MB)),
        32: (lat, MemoryResult(MB, RSS_METHOD)),
    }
    fine, coarse = stride_table(ROWS, measured)
    assert fine["time (ms)"] == 5.4  # the measured median, rounded
    assert fine[f"peak, {RSS_METHOD} (MB)"] == 3.0
    assert fine["peak, torch allocations (MB)"] == 2.0
    assert "peak, torch allocations (MB)" not in coarse
    assert list(fine)[-2:] == ["same as OS 8", "near boundaries"]  # after the peaks


def test_contrast_of_a_fine_and_a_coarse_stride():
    c = contrast(ROWS[0], ROWS[1])
    assert c.flops_ratio == 8e9  # an unknown count counts as 1
    assert c.bytes_ratio == 40 * MB  # no bytes: divided by 1, not by zero
    assert c.changed == pytest.approx(0.1)


def test_policy_tap_tables_scale_keep_and_the_running_rates():
    feature = {8: (65, 65), 16: (33, 33), 32: (17, 17)}
    tables = policy_tap_tables(feature, trained_rates=(12, 24, 36), trained_stride=8)
    assert list(tables) == ["scale", "keep"]
    scale = {(t.output_stride, t.rate) for t in tables["scale"]}
    assert {(16, 6), (16, 12), (16, 18), (32, 3), (32, 9)} <= scale
    keep32 = [t for t in tables["keep"] if t.output_stride == 32]
    assert [t.rate for t in keep32] == [12, 24, 36]
    worst = widest_rate(tables["keep"], 32)
    assert worst.rate == 36 and worst.spacing_px == 36 * 32
    assert worst.valid_share == pytest.approx(1 / 9)  # only the centre tap reads the map
    assert widest_rate(tables["keep"], 4) is None
    wired = {8: (None, 24, 48, 72, None), 16: (None, 12, 24, 36, None), 32: (None, 6, 12, 18, None)}
    running = policy_tap_tables(
        feature, trained_rates=(12, 24, 36), trained_stride=8, running=("scale", wired)
    )
    assert [t.rate for t in running["scale"] if t.output_stride == 8] == [24, 48, 72]
    assert running["keep"] == tables["keep"]


def test_max_dilation_follows_the_stride(voc_base):
    module, _ = voc_base
    assert max_dilation(module, "tflite_mnv2") == 4  # as trained, OS 8
    found = [
        max_dilation(
            rewire(module, family="tflite_mnv2", output_stride=s, trained_stride=8),
            "tflite_mnv2",
        )
        for s in (16, 32)
    ]
    assert found == [2, 1]
