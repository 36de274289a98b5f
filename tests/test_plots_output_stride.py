"""Figures of the Output stride and GPU and cost pages, on hand-made numbers (no model)."""

from __future__ import annotations

import numpy as np
import pytest

from deeplab_viz import cost as C
from deeplab_viz.plots import cost as PC
from deeplab_viz.plots import output_stride as P


def _rows() -> list[C.StrideRow]:
    return [
        C.StrideRow(
            8, "m · OS 8", (513, 513), (65, 65), 6_000_000_000, 900.0, 40 * 2**20, 1.0, 1.0
        ),
        C.StrideRow(
            16, "m · OS 16", (513, 513), (33, 33), 2_000_000_000, 400.0, 15 * 2**20, 0.99, 0.8
        ),
        C.StrideRow(
            32, "m · OS 32", (513, 513), (17, 17), 1_000_000_000, 300.0, 8 * 2**20, 0.96, 0.6
        ),
    ]


def _lat(ms: float) -> C.LatencyResult:
    return C.LatencyResult(ms, ms * 1.1, (ms, ms * 1.1))


def test_swipe_image_puts_a_left_and_b_right():
    a = np.full((60, 200, 3), 10, np.uint8)
    b = np.full((60, 200, 3), 200, np.uint8)
    out = P.swipe_image(a, b, 0.25, labels=("OS 8", "OS 32"))
    assert out.shape == a.shape and out.dtype == np.uint8
    assert (out[40:, 5:45] == 10).all() and (out[40:, 60:] == 200).all()
    assert (out[40:, 50] == 255).all()  # the divider
    assert (out[:20, :60] == 0).any() and (out[:20, 140:] == 0).any()  # label boxes, top corners
    assert (P.swipe_image(a, b, 0.0)[:, 2:] == 200).all()
    with pytest.raises(ValueError):
        P.swipe_image(a, b[:, :100], 0.5)


def test_mark_box_outlines_only_the_box():
    img = np.zeros((100, 100, 3), np.uint8)
    out = P.mark_box(img, (20, 30, 60, 80))
    assert out.shape == img.shape and (img == 0).all()  # input untouched
    assert out[20, 50].any() and out[40, 30].any()  # on the outline
    assert not out[40, 55].any() and not out[5, 5].any()  # inside and outside


def test_cost_figure_panels_and_measured_bars():
    fig = P.cost_figure(_rows())
    assert len(fig.data) == 4
    assert [a.text for a in fig.layout.annotations][:4] == [
        "ASPP input (cells)",
        "Compute (GFLOPs)",
        "Time, one cold run (ms)",
        "Memory (MB)",
    ]
    assert list(fig.data[0].text) == ["65×65", "33×33", "17×17"]
    assert list(fig.data[1].y) == [6.0, 2.0, 1.0]
    assert list(fig.data[2].y) == [900.0, 400.0, 300.0]  # probe times
    measured = {s: (_lat(ms), C.MemoryResult(mb * 2**20, C.RSS_METHOD)) for s, ms, mb in
                [(8, 500.0, 90), (16, 200.0, 50), (32, 100.0, 30)]}  # fmt: skip
    fig = P.cost_figure(_rows(), measured, device="cpu")
    assert len(fig.data) == 5 and fig.layout.annotations[2].text == "Time, median (ms)"
    assert list(fig.data[2].y) == [500.0, 200.0, 100.0]
    assert "RSS growth" in fig.data[4].name and list(fig.data[4].y) == [90, 50, 30]
    alloc = {
        s: (lat, C.MemoryResult(m.bytes, m.method, allocated_bytes=m.bytes // 2))
        for s, (lat, m) in measured.items()
    }
    fig = P.cost_figure(_rows(), alloc, device="cpu")
    assert "torch CPU allocations" in fig.data[4].name and list(fig.data[4].y) == [45, 25, 15]


def test_tap_share_figure_says_rate_and_share():
    hw = {8: (65, 65), 16: (33, 33), 32: (17, 17)}
    keep = C.tap_table({s: (12, 24, 36) for s in hw}, hw)
    scale = C.tap_table({8: (12, 24, 36), 16: (6, 12, 18), 32: (3, 6, 9)}, hw)
    fig = P.tap_share_figure(
        {"scale with stride": scale, "keep trained": keep}, active="keep trained"
    )
    assert [a.text for a in fig.layout.annotations] == [
        "scale with stride",
        "keep trained (running)",
    ]
    keep_map = fig.data[1]
    assert list(keep_map.y) == ["OS 8", "OS 16", "OS 32"]
    assert keep_map.z[2][2] == pytest.approx(100 / 9)  # rate 36 on 17×17: only the centre tap
    assert "rate 36" in keep_map.text[2][2] and "11%" in keep_map.text[2][2]


def _points() -> list[C.CostPoint]:
    return [
        C.CostPoint(
            name, name, "random", os_, dt, size, "cpu", 10**9 * (32 // os_), _lat(10.0 * (32 // os_)),
            C.MemoryResult(2**20, C.RSS_METHOD),
        )
        for name in ("voc-mobilenetv2", "deeplabv3_resnet50")
        for os_ in (8, 16, 32)
        for dt in ("float32",)
        for size in (257, 513)
    ]  # fmt: skip


def test_latency_figure_and_table():
    pts = _points()
    fig = PC.latency_figure(pts)
    assert len(fig.data) == 6  # 3 strides × 2 panels (sizes)
    assert [a.text for a in fig.layout.annotations] == [
        "float32 · 257×257 px",
        "float32 · 513×513 px",
    ]
    assert list(fig.data[0].x) == ["voc-mobilenetv2", "resnet50"]
    assert sum(1 for t in fig.data if t.showlegend) == 3
    rows = PC.points_table(pts)
    assert (
        len(rows) == len(pts)
        and rows[0]["GFLOPs"] == 4.0
        and rows[0]["memory method"] == "RSS growth"
    )


def test_rate_figure_table_and_cudnn_figure():
    pts = C.memory_vs_rate([1, 3], channels=4, feature_hw=9, warmup=0, repeats=1)
    fig = PC.rate_figure(pts)
    names = [t.name for t in fig.data]
    assert names[0].startswith("measured peak, ") and "output feature map" in names
    if pts[0].memory.allocated_bytes is not None:  # CPU: the allocator line, then RSS
        assert names[0] == "measured peak, torch CPU allocations"
        assert "RSS growth (coarse)" in names
    assert any("padding" in n for n in names)
    assert list(fig.data[-1].x) == [1, 3]
    table = PC.rate_table(pts)
    assert [r["rate"] for r in table] == [1, 3] and table[0]["cuDNN benchmark"] == "—"
    fig = PC.cudnn_figure({"resnet50 · OS 8": {False: _lat(20.0), True: _lat(12.0)}})
    assert [t.name for t in fig.data] == ["cudnn.benchmark off", "cudnn.benchmark on"]
    assert list(fig.data[1].y) == [12.0]
