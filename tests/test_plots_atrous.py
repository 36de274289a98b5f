"""Figure builders of the Dilated convolution page, and the pure helpers it uses."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import pytest
import torch
import torch.nn.functional as F

from deeplab_viz import atrous
from deeplab_viz.atrous_views import (
    filter_at_rates,
    resize_longest,
    space_to_batch_check,
    to_display,
    to_uint8,
    with_pixel_noise,
    zoom_crop,
)
from deeplab_viz.inference import resized_hw
from deeplab_viz.plots.atrous import (
    cost_figure,
    image_source,
    image_taps_figure,
    interleave_figure,
    sampling_grid_figure,
    stacked_1d_figure,
    subimages_figure,
)
from deeplab_viz.plots.common import FONT_SIZE


def _trace(fig: go.Figure, prefix: str):
    hits = [t for t in fig.data if (t.name or "").startswith(prefix)]
    assert len(hits) == 1, [t.name for t in fig.data]
    return hits[0]


def _n(values) -> int:
    return 0 if values is None else len(values)


@pytest.fixture(scope="module")
def rgb() -> np.ndarray:
    yy, xx = np.mgrid[0:60, 0:90]
    img = np.stack([(xx * 3) % 256, (yy * 4) % 256, ((xx + yy) * 2) % 256], axis=-1)
    return img.astype(np.uint8)


# --------------------------------------------------------------------------- sampling grid


def test_sampling_grid_centre_unit_reads_only_real_pixels():
    fig = sampling_grid_figure(15, 3, 2, out_index=(7, 7))
    heat = fig.data[0]
    assert isinstance(heat, go.Heatmap)
    z = np.asarray(heat.z)
    assert z.shape == (15 + 2 * 2, 15 + 2 * 2)  # "same" padding 2 on each side
    assert int(z.sum()) == 15 * 15  # input cells are 1, padding 0
    taps = _trace(fig, "tap on the input")
    assert _n(taps.x) == 9
    assert sorted(set(taps.x)) == [5, 7, 9]  # 2 px apart around the unit
    assert _n(_trace(fig, "tap in the padding").x) == 0
    assert "(7, 7)" in fig.layout.title.text and "2 px apart" in fig.layout.title.text
    assert len(fig.layout.shapes) == 2  # the kernel's span and the input's border
    assert fig.layout.font.size == FONT_SIZE


def test_sampling_grid_corner_unit_marks_padding_taps():
    k, r = 5, 6
    fig = sampling_grid_figure(15, k, r, out_index=(0, 0))
    grid = atrous.tap_grid((15, 15), k, r, out_index=(0, 0))
    valid = _trace(fig, "tap on the input")
    pad = _trace(fig, "tap in the padding")
    assert _n(valid.x) == int(grid.valid.sum()) == 9
    assert _n(pad.x) == int((~grid.valid).sum()) == 16
    assert "(9 of 25)" in valid.name
    assert pad.marker.symbol == "x"
    # padding taps really are outside the input
    assert all(x < 0 or y < 0 for x, y in zip(pad.x, pad.y, strict=True))


def test_sampling_grid_with_stride_and_explicit_padding():
    fig = sampling_grid_figure(9, 3, 1, out_index=(1, 2), stride=2, padding=0)
    taps = _trace(fig, "tap on the input")
    assert sorted(set(taps.y)) == [2, 3, 4]  # o*s - p + t*r = 2 + t
    assert sorted(set(taps.x)) == [4, 5, 6]
    assert np.asarray(fig.data[0].z).shape == (9, 9)


def test_sampling_grid_refuses_a_kernel_that_does_not_fit():
    with pytest.raises(ValueError):
        sampling_grid_figure(5, 3, 8, out_index=(0, 0), padding=0)


# --------------------------------------------------------------------------- on the image


def test_image_taps_figure_centre_pixel(rgb):
    h, w = rgb.shape[:2]
    taps = atrous.image_taps((30, 45), (h, w), 3, 1, 8)
    fig = image_taps_figure(rgb, taps, (30, 45))
    img = fig.data[0]
    assert isinstance(img, go.Image)
    assert img.source.startswith("data:image/png;base64,")
    valid = _trace(fig, "tap on the feature map")
    assert _n(valid.x) == 9 and "(9 of 9)" in valid.name
    assert _n(_trace(fig, "tap outside").x) == 0
    # tap spacing = rate x OS = 8 px
    assert sorted(set(np.round(valid.x, 3))) == [35.5, 43.5, 51.5]
    click = _trace(fig, "click target")
    fh, fw = taps.feature_hw
    assert _n(click.x) == fh * fw
    assert np.asarray(click.customdata).shape == (fh * fw, 2)
    assert fig.layout.yaxis.scaleanchor == "x"
    assert 380 <= fig.layout.height <= 820


def test_image_taps_figure_big_rate_puts_taps_outside(rgb):
    h, w = rgb.shape[:2]
    taps = atrous.image_taps((2, 3), (h, w), 3, 12, 16)
    fig = image_taps_figure(rgb, taps, (2, 3), clickable=False)
    assert not any((t.name or "") == "click target" for t in fig.data)
    outside = _trace(fig, "tap outside")
    assert _n(outside.x) == int((~taps.valid).sum()) == 8
    # the view widens to show every tap, including those far off the image
    xr = fig.layout.xaxis.range
    assert xr[0] < taps.centres[:, 1].min() and xr[1] > taps.centres[:, 1].max()
    yr = fig.layout.yaxis.range
    assert yr[0] > yr[1]  # image rows go down
    # the picked pixel's feature cell is outlined (OS x OS px)
    cell = [s for s in fig.layout.shapes if s.line.width == 3][0]
    assert cell.x1 - cell.x0 == 16


def test_image_source_roundtrip():
    src = image_source(np.zeros((4, 5, 3), np.uint8))
    assert src.startswith("data:image/png;base64,")
    with pytest.raises(ValueError):
        image_source(np.zeros((4, 5, 3), np.float32))


# --------------------------------------------------------------------------- stacking


def test_stacked_1d_figure_wavenet():
    stack = atrous.stacked_1d_rf([1, 2, 4, 8], 2, causal=True)
    fig = stacked_1d_figure(stack)
    fed = _trace(fig, "unit that feeds")
    assert _n(fed.x) == int(stack.connected.sum())
    assert _n(fed.x) + _n(_trace(fig, "unit not on any path").x) == stack.connected.size
    edges = _trace(fig, "connection")
    n_edges = sum(int(stack.connected[layer].sum()) * 2 for layer in range(1, 5))
    assert _n(edges.x) == 3 * n_edges  # start, end, break
    top = _trace(fig, "top output")
    assert list(top.x) == [15] and list(top.y) == [4]
    ticks = list(fig.layout.yaxis.ticktext)
    assert ticks[0] == "input" and ticks[-1] == "layer 4 · rate 8 · RF 16"
    assert "16 input positions" in fig.layout.title.text


def test_stacked_1d_figure_shows_units_no_path_reaches():
    stack = atrous.stacked_1d_rf([2, 2, 2], 3, causal=False)
    fig = stacked_1d_figure(stack)
    # with rates sharing the factor 2, odd input positions never feed the top unit
    inputs = [x for x, y in zip(fig.data[1].x, fig.data[1].y, strict=True) if y == 0]
    assert all(x % 2 == 0 for x in inputs)
    assert len(inputs) == 7 < stack.n_positions


# --------------------------------------------------------------------------- space-to-batch


def test_subimages_figure_grid(rgb):
    subs = atrous.subimages(rgb, 3)
    fig = subimages_figure(subs, 3)
    images = [t for t in fig.data if isinstance(t, go.Image)]
    assert len(images) == 9
    titles = [a.text for a in fig.layout.annotations]
    assert titles[0] == "rows 0::3, cols 0::3" and titles[-1] == "rows 2::3, cols 2::3"
    with pytest.raises(ValueError):
        subimages_figure(subs[:4], 3)


def test_interleave_figure_colours_by_sub_image():
    fig = interleave_figure(3)
    z = np.asarray(fig.data[0].z)
    assert z.shape == (9, 9)
    assert z[4, 5] == (4 % 3) * 3 + (5 % 3)
    assert set(np.unique(z)) == set(range(9))


def test_space_to_batch_check_is_exact_on_an_image(rgb):
    for rate in (2, 3):
        check = space_to_batch_check(rgb, rate, kernel=3)
        assert check.n_subimages == rate * rate
        assert check.output_hw == rgb.shape[:2]
        assert check.max_abs_diff < 1e-4 * max(1.0, check.max_abs_value)
        assert check.max_abs_value > 0
        # both routes timed 5 times each, interleaved; the medians are what the page shows
        assert len(check.dilated.runs_ms) == len(check.subimages.runs_ms) == 5
        assert check.dilated_ms == check.dilated.median_ms > 0
        assert check.speed().a == "dilated conv" and check.speed().ratio > 0


def test_space_to_batch_check_on_an_image_smaller_than_the_rate():
    tiny = np.arange(27, dtype=np.uint8).reshape(3, 3, 3)
    check = space_to_batch_check(tiny, 4, kernel=3)  # "same" padding: always an output
    assert check.output_hw == (3, 3)
    assert check.max_abs_diff < 1e-5


# --------------------------------------------------------------------------- filters, cost


def test_filter_at_rates_matches_apply_dilated_filter(rgb):
    out = filter_at_rates(rgb, "box blur", [1, 4])
    assert [r for r, _ in out] == [1, 4]
    for r, pic in out:
        assert pic.dtype == np.uint8 and pic.shape == rgb.shape
        ref = atrous.apply_dilated_filter(rgb, atrous.KERNELS["box blur"], r)
        assert np.abs(pic.astype(int) - (np.clip(ref, 0, 1) * 255 + 0.5).astype(int)).max() <= 1
    edges = filter_at_rates(rgb, "sobel x", [2])[0][1]
    assert edges.ndim == 2 and edges.max() == 255  # magnitude, scaled
    # a rate whose padding exceeds the image falls back to replicate padding
    tiny = filter_at_rates(rgb[:10, :10], "laplacian", [32])[0][1]
    assert tiny.shape == (10, 10)
    with pytest.raises(ValueError):
        filter_at_rates(rgb, "emboss", [1])


def test_to_display_signed_and_plain():
    signed = np.array([[-1.0, 0.0], [0.5, 1.0]], np.float32)
    shown = to_display(signed, "laplacian")
    assert shown[0, 0] == shown[1, 1] == 255 and shown[0, 1] == 0
    assert to_display(np.array([[2.0, -1.0]], np.float32), "box blur").tolist() == [[255, 0]]


def test_cost_figure_shows_both_costs():
    cmp = atrous.separable_vs_regular(3, 256, 256, 65, 65)
    fig = cost_figure(cmp)
    bars = [t for t in fig.data if isinstance(t, go.Bar)]
    assert len(bars) == 2
    assert list(bars[0].y) == [cmp.regular.params, cmp.separable.params]
    assert list(bars[1].y) == [cmp.regular.flops, cmp.separable.flops]
    assert bars[1].text[0] == "4.98 G"
    # the rate changes neither number: same figure data at any rate
    out = atrous.conv_output_size(65, 3, padding=atrous.default_padding(3, 12), dilation=12)
    assert atrous.separable_vs_regular(3, 256, 256, out, out) == cmp


# --------------------------------------------------------------------------- small helpers


def test_resize_longest_matches_the_model_input(rgb):
    out = resize_longest(rgb, 45)
    assert out.shape[:2] == resized_hw(rgb.shape[:2], 45) == (30, 45)
    assert resize_longest(rgb, 90) is rgb


def test_noise_zoom_and_uint8(rgb):
    clean = with_pixel_noise(rgb, 0.0)
    assert clean.dtype == np.float32 and clean.max() <= 1.0
    noisy = with_pixel_noise(rgb, 0.2, seed=1)
    assert noisy.shape == rgb.shape and 0 <= noisy.min() and noisy.max() <= 1
    assert np.array_equal(noisy, with_pixel_noise(rgb, 0.2, seed=1))
    with pytest.raises(ValueError):
        with_pixel_noise(rgb, -1)
    assert np.array_equal(to_uint8(clean), rgb)
    z = zoom_crop(rgb, (0, 0), 8, 3)
    assert z.shape == (24, 24, 3)
    assert np.array_equal(z[::3, ::3], rgb[:8, :8])


def test_dilated_filter_identity_against_torch(rgb):
    # the identity the Space-to-batch view demonstrates, at the tensor level
    x = torch.from_numpy(rgb.astype(np.float32) / 255).permute(2, 0, 1)[None]
    w = torch.randn(2, 3, 3, 3, generator=torch.Generator().manual_seed(0))
    direct = F.conv2d(x, w, dilation=3, padding=3)
    via = atrous.atrous_conv2d_via_subimages(x, w, 3)
    assert torch.allclose(direct, via, atol=1e-5)
