"""deeplab_viz.plots.receptive_field: figures build from the library's results."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import pytest

from deeplab_viz import receptive_field as R
from deeplab_viz.plots import receptive_field as P
from deeplab_viz.receptive_field import Layer


def _rows() -> list[R.ModelRFRow]:
    layers = (Layer(3, 2), Layer(3, 2), Layer(3, 1, 2))
    table = R.rf_table(list(layers))
    rows = []
    for i, name in enumerate(("stem", "stage2")):
        t = table[i]
        rows.append(
            R.ModelRFRow("stage", f"stage:{name}", name, t.size, t.size, t.jump, t.start, layers)
        )
    last = table[-1]
    rows.append(R.ModelRFRow("aspp", "aspp:0", "image pooling", None, last.size, 4, 0.0, layers))
    return rows


def test_layer_growth_figure() -> None:
    rows = R.rf_table(R.PRESETS["VGG block (3×conv3 + pool)"])
    fig = P.layer_growth_figure(rows, title="growth")
    assert isinstance(fig, go.Figure)
    bars = [t for t in fig.data if isinstance(t, go.Bar)]
    sizes = sorted(x for t in bars for x in t.x)
    assert sizes == [1, 3, 5, 7, 8]
    texts = " ".join(s for t in bars for s in t.text)
    assert "8 px · jump 2" in texts
    names = {t.name for t in bars}
    assert "strided (stride > 1)" in names and "stride 1, dilation 1" in names
    for t in bars:  # centred on the unit
        assert all(b == pytest.approx(-x / 2) for b, x in zip(t.base, t.x, strict=True))
    dilated = P.layer_growth_figure(R.rf_table([Layer(3, 1, 2), Layer(3, 2, 2)]))
    assert {t.name for t in dilated.data} == {
        "stride 1, dilation 1",  # the input pixel
        "dilated (rate > 1)",
        "strided and dilated",
    }
    assert fig.layout.height >= 420 and fig.layout.font.size >= 16
    with pytest.raises(ValueError):
        P.layer_growth_figure([])


def test_model_rf_figure() -> None:
    rows = _rows()
    fig = P.model_rf_figure(rows, (40, 60), title="RF vs image")
    (bar,) = fig.data
    assert list(bar.y) == ["stem", "stage2", "ASPP image pooling"]
    assert list(bar.x) == [3, 7, 60] and list(bar.text) == ["3 px", "7 px", "global"]
    lines = [s for s in fig.layout.shapes if s.type == "line"]
    assert sorted(s.x0 for s in lines) == [40, 60]
    with pytest.raises(ValueError):
        P.model_rf_figure([], (4, 4))


def test_rf_boxes_figure() -> None:
    rgb = np.zeros((40, 60, 3), np.uint8)
    rects = [P.Rect("a", 1, 10, 2, 20), P.Rect("b", -5, 50, -5, 70, colour="#000", dash="dash")]
    fig = P.rf_boxes_figure(rgb, rects, centre_yx=(5, 6), title="boxes")
    assert isinstance(fig.data[0], go.Image) and fig.data[0].source.startswith("data:image/png")
    shapes = fig.layout.shapes
    assert [(s.name, s.y0, s.y1, s.x0, s.x1) for s in shapes] == [
        ("a", 1, 10, 2, 20),
        ("b", -5, 50, -5, 70),
    ]
    assert all(s.showlegend for s in shapes)
    assert fig.layout.yaxis.range[0] > fig.layout.yaxis.range[1]  # y down, like an image
    # the view grows to show the big box whole (grey outside the image), within limits
    assert fig.layout.xaxis.range[0] < -5 and fig.layout.xaxis.range[1] > 70
    assert fig.layout.yaxis.range[0] > 50 and fig.layout.yaxis.range[1] < -5
    huge = P.rf_boxes_figure(rgb, [P.Rect("h", -400, 400, -400, 400)], centre_yx=(5, 6))
    assert huge.layout.xaxis.range[0] > -0.5 - 0.7 * 60  # capped at max_margin
    with pytest.raises(ValueError):
        P.rf_boxes_figure(np.zeros((4, 4)), [], centre_yx=(0, 0))
    assert len(P.box_colours(5)) == 5 and P.box_colours(1) == ["#ffcc00"]


def test_erf_display_and_overlay() -> None:
    erf = np.zeros((10, 10))
    erf[5, 5], erf[5, 6], erf[0, 0] = 1.0, 0.1, 0.001
    lin = P.erf_display(erf, log=False, top_percentile=100)
    assert lin.max() == 1.0 and lin[5, 6] == pytest.approx(0.1) and lin[1, 1] == 0
    log = P.erf_display(erf, log=True, decades=3)
    assert log[5, 5] == 1 and log[5, 6] == pytest.approx(2 / 3) and log[0, 0] == pytest.approx(0)
    clipped = P.erf_display(erf, log=False)  # the top 0.5 % is clipped to 1
    assert clipped.max() == 1.0 and clipped[5, 6] > 0.1
    assert not P.erf_display(np.zeros((3, 3)), log=True).any()
    rgb = np.full((10, 10, 3), 200, np.uint8)
    out = P.erf_overlay(rgb, lin)
    assert out.shape == (10, 10, 3) and out.dtype == np.uint8
    assert not np.array_equal(out[5, 5], out[1, 1])  # the peak is painted


def test_erf_figure_and_profile() -> None:
    rgb = np.zeros((30, 40, 3), np.uint8)
    erf = np.random.default_rng(0).random((30, 40))
    fig = P.erf_figure(rgb, erf, centre_yx=(15, 20), rects=[P.Rect("RF", 0, 29, 0, 39)])
    assert isinstance(fig.data[0], go.Image)
    assert any(getattr(t.marker, "showscale", False) for t in fig.data[1:])  # a colour bar
    assert len(fig.layout.shapes) == 1 and not fig.layout.showlegend
    log = P.erf_figure(rgb, erf, centre_yx=(15, 20), log=True)
    assert log.data[0].source != fig.data[0].source
    with pytest.raises(ValueError, match="differ"):
        P.erf_figure(rgb, erf[:10], centre_yx=(0, 0))
    prof = P.erf_profile_figure(
        {"trained": np.array([0, 1, 2, 1, 0.0]), "random": np.array([0, 0, 4, 0, 0.0])},
        centre=2,
        rf_bounds=(1, 3),
    )
    assert [t.name for t in prof.data] == ["trained", "random"]
    assert list(prof.data[0].x) == [-2, -1, 0, 1, 2]
    assert prof.data[0].y.sum() == pytest.approx(100) and prof.data[1].y[2] == pytest.approx(100)
    (band,) = prof.layout.shapes
    assert (band.x0, band.x1) == (-1.5, 1.5)
    assert not P.erf_profile_figure({"a": np.ones(3)}, centre=1, rf_bounds=None).layout.shapes
