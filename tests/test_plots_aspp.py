"""Figure builders of the ASPP explorer: shapes, colours, taps in padding, no model needed."""

from __future__ import annotations

import dataclasses

import numpy as np
import plotly.graph_objects as go
import pytest

from deeplab_viz import aspp as A
from deeplab_viz.palette import hex_color
from deeplab_viz.plots import aspp as P
from deeplab_viz.plots.colours import value_colours
from deeplab_viz.probe import Branch, Probe


def _probe(image_hw=(120, 180), os_=16, rates=(6, 12, 18)) -> Probe:
    """A probe with just enough in it for footprints (no model)."""
    h, w = -(-image_hw[0] // os_), -(-image_hw[1] // os_)
    z = np.zeros((2, h, w), np.float32)
    branches = (
        Branch("1×1", "1x1", None, z),
        *(Branch(f"rate {r}", "atrous", r, z) for r in rates),
        Branch("image pooling", "pooling", None, z),
    )
    fields = dict(
        model_label="fake",
        output_stride=os_,
        image_hw=image_hw,
        model_input_hw=image_hw,
        padded_hw=image_hw,
        stages={"last": np.zeros((4, h, w), np.float32)},
        branches=branches,
        projection=np.zeros((2, h, w), np.float32),
        logits=np.zeros((2, *image_hw), np.float32),
        class_map=np.zeros(image_hw, np.uint8),
        class_names=("background", "cat"),
        timings_ms={"total": 1.0},
    )
    if "align_corners" in {f.name for f in dataclasses.fields(Probe)}:
        fields["align_corners"] = False  # torchvision's convention: cells at their centres
    return Probe(**fields)


def test_colormap_and_flat_maps():
    ramp = np.linspace(0, 1, 12).reshape(3, 4)
    rgb = value_colours(ramp)
    assert rgb.shape == (3, 4, 3) and rgb.dtype == np.uint8
    assert tuple(rgb[0, 0]) == (68, 1, 84) and tuple(rgb[-1, -1]) == (253, 231, 37)  # Viridis
    flat = value_colours(np.full((2, 2), 7.0))  # no division by zero: the middle colour
    assert len({tuple(p) for p in flat.reshape(-1, 3)}) == 1
    with pytest.raises(ValueError):
        value_colours(np.zeros((2, 2, 2)))


def test_feature_to_image_crops_padding_and_keeps_channels():
    fmap = np.ones((5, 7), np.float32)
    fmap[-1] = 100.0  # the last row lies entirely in the padding
    out = P.feature_to_image(fmap, padded_hw=(33, 49), valid_hw=(24, 49), image_hw=(48, 98))
    assert out.shape == (48, 98)
    assert out.max() < 100.0 and out[0, 0] == pytest.approx(1.0)
    rgb = P.feature_to_image(
        np.ones((5, 7, 3), np.float32) * [0.1, 0.5, 0.9],
        padded_hw=(33, 49),
        valid_hw=(33, 49),
        image_hw=(10, 15),
        align_corners=True,
    )
    assert rgb.shape == (10, 15, 3) and np.allclose(rgb, [0.1, 0.5, 0.9])
    with pytest.raises(ValueError):
        P.feature_to_image(np.zeros(4), padded_hw=(4, 4), valid_hw=(4, 4), image_hw=(4, 4))


def test_branch_pictures_for_every_mode():
    rng = np.random.default_rng(0)
    out = rng.random((6, 5, 7)).astype(np.float32)
    mean = P.branch_picture(A.branch_map(out, "mean"), "mean")
    top = P.branch_picture(A.branch_map(out, "topk", k=3), "topk")
    pca = P.branch_picture(A.branch_map(out, "pca"), "pca")
    for pic in (mean, top, pca):
        assert pic.shape == (5, 7, 3) and pic.dtype == np.uint8
    # top-k: each channel scaled to its own range, so every colour reaches 0 and 255
    assert top.reshape(-1, 3).min(0).tolist() == [0, 0, 0]
    assert top.reshape(-1, 3).max(0).tolist() == [255, 255, 255]
    one = P.branch_picture(A.branch_map(out, "topk", k=1), "topk")  # missing channels: 0
    assert one[..., 1:].max() == 0
    with pytest.raises(ValueError):
        P.branch_picture(mean, "median")


def test_branch_colours_are_distinct_and_never_red():
    names = ["1×1", "rate 12", "rate 24", "rate 36", "image pooling"]
    kinds = ["1x1", "atrous", "atrous", "atrous", "pooling"]
    colours = P.branch_colours(names, kinds)
    assert list(colours) == names and len(set(colours.values())) == 5
    assert P.PADDING_COLOUR not in colours.values()
    assert P.branch_colours(["image pooling", "1×1"], ["pooling", "1x1"]) == {
        "image pooling": colours["image pooling"],
        "1×1": colours["1×1"],
    }


def test_panels_figure_grid_and_colorbar():
    rgb = np.zeros((30, 45, 3), np.uint8)
    panels = [P.Panel(f"branch {i}", rgb, "#4C78A8") for i in range(5)]
    fig = P.panels_figure(panels, cols=3, title="maps", colorbar=(P.MAP_SCALE, ["lo", "", "hi"]))
    images = [t for t in fig.data if isinstance(t, go.Image)]
    assert len(images) == 5 and all(t.source.startswith("data:image/png;base64,") for t in images)
    assert [a.text for a in fig.layout.annotations] == [p.title for p in panels]
    assert any(isinstance(t, go.Scatter) and t.marker.showscale for t in fig.data)
    assert len(fig.layout.shapes) == 5  # a frame in each branch's colour
    assert fig.layout.height >= 260
    with pytest.raises(ValueError):
        P.panels_figure([])
    with pytest.raises(ValueError):
        P.panels_figure([P.Panel("grey", np.zeros((4, 4)))])


def _traces(fig, name_part):
    return [t for t in fig.data if t.name and name_part in t.name]


def test_footprint_figure_marks_padding_taps():
    probe = _probe(image_hw=(600, 900), rates=(6, 12, 36))  # a 38×57 feature map at OS 16
    kinds = {b.name: b.kind for b in probe.branches}
    fps = A.footprints(probe, (300, 450))
    rgb = np.zeros((600, 900, 3), np.uint8)
    fig = P.footprint_figure(rgb, fps, pixel_yx=(300, 450), kinds=kinds)
    by_name = {f.name: f for f in fps}
    # rate 6 at OS 16: taps 96 px apart, all 9 on the image around its centre
    assert by_name["rate 6"].valid.all() and by_name["rate 6"].spacing_px == 96
    assert _traces(fig, "rate 6: 9 of 9 taps on the image")
    # rate 36: 576 px apart, only the centre tap is on the image: a 1×1 in disguise
    assert by_name["rate 36"].valid.sum() == 1
    assert _traces(fig, "rate 36: 1 of 9 taps on the image")
    padding = [
        t
        for t in fig.data
        if isinstance(t, go.Scatter) and t.marker.symbol == "x-open" and t.x is not None
    ]
    n_padding = sum(int((~f.valid).sum()) for f in fps if kinds[f.name] == "atrous")
    drawn = sum(len(t.x) for t in padding if t.x[0] is not None)
    assert drawn <= n_padding and drawn > 0
    assert all(t.marker.color == P.PADDING_COLOUR for t in padding)
    assert _traces(fig, "tap in the padding")
    assert _traces(fig, "image pooling: the whole image")[0].line.dash == "dash"
    assert _traces(fig, "1×1: 1 tap")[0].marker.symbol == "square"
    assert _traces(fig, "picked pixel")
    # the view reaches past the image to show the taps, at most one image side
    x0, x1 = fig.layout.xaxis.range
    assert x0 < -126 and x1 > 1026 and x0 >= -0.5 - 900 and x1 <= 899.5 + 900
    # legend in branch order
    ranked = sorted(
        (t for t in fig.data if isinstance(t, go.Scatter) and t.showlegend is not False),
        key=lambda t: t.legendrank,
    )
    assert [t.name.split(":")[0] for t in ranked] == [
        "1×1",
        "rate 6",
        "rate 12",
        "rate 36",
        "image pooling",
        "tap in the padding (reads zeros)",
        "picked pixel",
    ]


def test_footprint_figure_counts_taps_beyond_the_view():
    probe = _probe(image_hw=(64, 64), os_=32, rates=(36,))  # taps 1152 px apart
    kinds = {b.name: b.kind for b in probe.branches}
    fps = A.footprints(probe, (32, 32))
    fig = P.footprint_figure(np.zeros((64, 64, 3), np.uint8), fps, pixel_yx=(32, 32), kinds=kinds)
    assert _traces(fig, "rate 36: 1 of 9 taps on the image (8 beyond the view)")


def test_shares_figure_adds_the_bias():
    share = {"1×1": 0.5, "rate 12": -0.1, "image pooling": 0.7}
    mag = {"1×1": 0.4, "rate 12": 0.2, "image pooling": 0.4}
    fig = P.shares_figure(share, mag, -0.1, title="shares")
    signed, magnitude = fig.data
    assert list(signed.x) == ["1×1", "rate 12", "image pooling", "bias"]
    assert sum(signed.y) == pytest.approx(1.0)
    assert list(signed.text) == ["+50.0%", "-10.0%", "+70.0%", "-10.0%"]
    assert magnitude.y[-1] is None and sum(magnitude.y[:-1]) == pytest.approx(1.0)
    assert fig.layout.yaxis.range[0] < -0.1  # room for the negative bars
    with pytest.raises(ValueError):
        P.shares_figure(share, {"1×1": 1.0}, 0.0)


def test_overlays():
    rgb = np.full((4, 5, 3), 200, np.uint8)
    changed = np.zeros((4, 5), bool)
    changed[1, 2] = True
    out = P.changed_overlay(rgb, changed)
    assert tuple(out[1, 2]) == P.CHANGED_COLOUR and tuple(out[0, 0]) != P.CHANGED_COLOUR
    heat = np.zeros((4, 5))
    heat[0, 0] = 1.0
    h = P.heat_overlay(rgb, heat)
    assert h.shape == rgb.shape and h.dtype == np.uint8
    assert not np.array_equal(h[0, 0], h[3, 4])  # the hot pixel is painted, the rest grey
    assert h[3, 4, 0] == h[3, 4, 1] == h[3, 4, 2]
    with pytest.raises(ValueError):
        P.changed_overlay(rgb, changed[:3])


def test_class_change_figure_uses_voc_colours():
    names = ("background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat")
    fig = P.class_change_figure({"cat": (0.7, 0.1), "background": (0.3, 0.9)}, names)
    before, after = fig.data
    assert list(after.y) == ["cat", "background"] or list(after.y) == ["background", "cat"]
    colours = dict(zip(after.y, after.marker.color, strict=True))
    assert colours["cat"] == hex_color(8) and colours["background"] == hex_color(0)
    assert dict(zip(before.y, before.x, strict=True))["cat"] == pytest.approx(0.7)
    with pytest.raises(ValueError):
        P.class_change_figure({}, names)


def test_round_off_is_not_painted_as_structure():
    """Image pooling copies one vector everywhere; float32 round-off must stay flat."""
    rng = np.random.default_rng(1)
    vec = rng.random((16, 1, 1)).astype(np.float32) * 30
    pooled = np.broadcast_to(vec, (16, 9, 13)).copy()
    pooled += rng.normal(0, 4e-6, pooled.shape).astype(np.float32)  # what interpolation leaves
    assert not np.array_equal(pooled[:, 0, 0], pooled[:, 4, 4])
    pca = A.branch_map(pooled, "pca")
    assert np.ptp(pca) == 0.0
    for mode in ("mean", "topk", "pca"):
        pic = P.branch_picture(A.branch_map(pooled, mode), mode)
        assert len({tuple(p) for p in pic.reshape(-1, 3)}) == 1, mode
    # real structure of the same size is still shown
    varied = pooled.copy()
    varied[:, :, :6] += 1.0
    assert np.ptp(A.branch_map(varied, "pca")) == pytest.approx(1.0)
