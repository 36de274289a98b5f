"""deeplab_viz.atrous, checked against torch itself wherever torch can answer."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from deeplab_viz import atrous as A

pytestmark = pytest.mark.torch_threads(1)  # pinned by conftest, restored after


# --------------------------------------------------------------------------- sizes


@pytest.mark.parametrize("k,r", [(1, 1), (1, 5), (3, 1), (3, 2), (3, 6), (2, 3), (5, 4)])
def test_effective_kernel_size_is_smallest_input_torch_accepts(k: int, r: int) -> None:
    ke = A.effective_kernel_size(k, r)
    assert ke == k + (k - 1) * (r - 1)
    w = torch.ones(1, 1, k, k)
    assert F.conv2d(torch.ones(1, 1, ke, ke), w, dilation=r).shape[-2:] == (1, 1)
    if ke > 1:
        with pytest.raises(RuntimeError):
            F.conv2d(torch.ones(1, 1, ke - 1, ke - 1), w, dilation=r)


def test_conv_output_size_matches_torch_shapes() -> None:
    x_cache = {i: torch.zeros(1, 1, i, 1) for i in range(1, 14)}
    checked = 0
    for i, k, s, p, d in itertools.product(
        range(1, 14), range(1, 5), (1, 2, 3), range(4), (1, 2, 3)
    ):
        w = torch.zeros(1, 1, k, 1)
        try:
            out = F.conv2d(x_cache[i], w, stride=(s, 1), padding=(p, 0), dilation=(d, 1)).shape[2]
        except RuntimeError:
            with pytest.raises(ValueError, match="smaller than the dilated kernel"):
                A.conv_output_size(i, k, stride=s, padding=p, dilation=d)
            continue
        assert A.conv_output_size(i, k, stride=s, padding=p, dilation=d) == out, (i, k, s, p, d)
        checked += 1
    assert checked > 1000


@pytest.mark.parametrize(
    "call",
    [
        lambda: A.effective_kernel_size(0, 1),
        lambda: A.effective_kernel_size(3, 0),
        lambda: A.effective_kernel_size(3.0, 1),
        lambda: A.conv_output_size(10, 3, stride=0),
        lambda: A.conv_output_size(10, 3, padding=-1),
        lambda: A.kernel_params(3, 0, 4),
        lambda: A.conv_cost(3, 4, 4, 0, 5, separable=False),
        lambda: A.sampling_taps(3, 1, center=(1, 2, 3)),
    ],
)
def test_bad_arguments_raise_value_error(call) -> None:
    with pytest.raises(ValueError):
        call()


# --------------------------------------------------------------------------- costs


def _numel(*modules: nn.Module) -> int:
    return sum(p.numel() for m in modules for p in m.parameters())


def _flops(modules: list[nn.Module], x: torch.Tensor) -> int:
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        for m in modules:
            x = m(x)
    return counter.get_total_flops()


@pytest.mark.parametrize(
    "k,c_in,c_out,rate", [(3, 8, 16, 1), (3, 8, 16, 6), (1, 5, 7, 1), (5, 3, 4, 2)]
)
@pytest.mark.parametrize("bias", [True, False])
def test_kernel_params_match_nn_conv2d(
    k: int, c_in: int, c_out: int, rate: int, bias: bool
) -> None:
    conv = nn.Conv2d(c_in, c_out, k, dilation=rate, bias=bias)
    assert A.kernel_params(k, c_in, c_out, bias=bias) == _numel(conv)


@pytest.mark.parametrize(
    "k,c_in,c_out,rate", [(3, 8, 16, 1), (3, 8, 16, 4), (5, 6, 3, 2), (1, 4, 4, 1)]
)
@pytest.mark.parametrize("bias", [True, False])
def test_conv_cost_params_and_flops_match_torch(
    k: int, c_in: int, c_out: int, rate: int, bias: bool
) -> None:
    pad = rate * (k - 1) // 2
    x = torch.randn(2, c_in, 11, 9)
    regular = nn.Conv2d(c_in, c_out, k, dilation=rate, padding=pad, bias=bias)
    depthwise = nn.Conv2d(c_in, c_in, k, dilation=rate, padding=pad, groups=c_in, bias=bias)
    pointwise = nn.Conv2d(c_in, c_out, 1, bias=bias)
    h, w = regular(x).shape[-2:]

    reg = A.conv_cost(k, c_in, c_out, h, w, separable=False, bias=bias)
    sep = A.conv_cost(k, c_in, c_out, h, w, separable=True, bias=bias)
    assert reg.params == _numel(regular)
    assert sep.params == _numel(depthwise, pointwise)
    # FlopCounterMode: 2 FLOPs per multiply-add, bias not counted, per batch element x2 here.
    assert 2 * reg.flops == _flops([regular], x)
    assert 2 * sep.flops == _flops([depthwise, pointwise], x)
    assert reg.flops == 2 * reg.macs and sep.flops == 2 * sep.macs


def test_rate_costs_nothing_at_equal_output_size() -> None:
    x = torch.randn(1, 4, 16, 16)
    costs = {
        r: (
            _flops([nn.Conv2d(4, 8, 3, dilation=r, padding=r)], x),
            _numel(nn.Conv2d(4, 8, 3, dilation=r)),
        )
        for r in (1, 2, 6)
    }
    assert len(set(costs.values())) == 1
    assert costs[1][0] == A.conv_cost(3, 4, 8, 16, 16, separable=False).flops


def test_separable_vs_regular_ratio() -> None:
    cmp = A.separable_vs_regular(3, 256, 256, 33, 33)
    assert cmp.flop_ratio == pytest.approx(1 / 256 + 1 / 9)
    assert cmp.param_ratio == pytest.approx(1 / 256 + 1 / 9)
    assert cmp.regular.flops == 2 * 9 * 256 * 256 * 33 * 33
    assert not cmp.regular.separable and cmp.separable.separable


# --------------------------------------------------------------------------- taps


def test_sampling_taps_shapes_and_spacing() -> None:
    assert A.sampling_taps(3, 4, center=10).tolist() == [6, 10, 14]
    assert A.sampling_taps(2, 3, center=0).tolist() == [-1, 2]  # torch padding="same" split
    taps = A.sampling_taps(3, 2, center=(5, 7))
    assert taps.shape == (9, 2)
    assert taps[0].tolist() == [3, 5] and taps[4].tolist() == [5, 7] and taps[8].tolist() == [7, 9]
    assert taps[1].tolist() == [3, 7]  # row-major: tap (0, 1)


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize("k,r", [(3, 2), (2, 3), (3, 1), (4, 2)])
def test_tap_offsets_match_torch_padding_same(k: int, r: int) -> None:
    n = 17
    x = torch.arange(n, dtype=torch.float64).reshape(1, 1, n) + 1
    centre = 8
    for t, off in enumerate(A.tap_offsets(k, r)):
        w = torch.zeros(1, 1, k, dtype=torch.float64)
        w[0, 0, t] = 1
        y = F.conv1d(x, w, dilation=r, padding="same")
        assert y[0, 0, centre].item() == centre + off + 1


def _onehot_conv_reads(x, k, r, s, p, i, j):
    w = torch.zeros(1, 1, k, k, dtype=x.dtype)
    w[0, 0, i, j] = 1
    return F.conv2d(x, w, stride=s, padding=p, dilation=r)


@pytest.mark.parametrize(
    "hw,k,r,s,p",
    [((9, 11), 3, 2, 1, 2), ((10, 7), 3, 3, 2, 1), ((8, 8), 2, 2, 2, 3), ((12, 12), 5, 1, 3, None)],
)
def test_tap_grid_matches_what_conv2d_reads(hw, k, r, s, p) -> None:
    h, w = hw
    x = (torch.arange(h * w, dtype=torch.float64) + 1).reshape(1, 1, h, w)
    pad = A.default_padding(k, r) if p is None else p
    outs = {
        (i, j): _onehot_conv_reads(x, k, r, s, pad, i, j)[0, 0] for i in range(k) for j in range(k)
    }
    oh, ow = outs[0, 0].shape
    for oy, ox in itertools.product(range(oh), range(ow)):
        g = A.tap_grid(hw, k, r, stride=s, padding=p, out_index=(oy, ox))
        assert g.output_size == (oh, ow)
        for i, j in itertools.product(range(k), range(k)):
            y, xx = g.positions[i, j]
            expect = (y * w + xx + 1) if g.valid[i, j] else 0
            assert outs[i, j][oy, ox].item() == expect


def test_tap_grid_1d_and_errors() -> None:
    g = A.tap_grid(10, 3, 4, out_index=0)
    assert g.positions.tolist() == [-4, 0, 4] and g.valid.tolist() == [False, True, True]
    with pytest.raises(ValueError, match="outside the output"):
        A.tap_grid(10, 3, 4, out_index=10)
    with pytest.raises(ValueError, match="both"):
        A.tap_grid((10, 10), 3, 4, out_index=0)


@pytest.mark.parametrize(
    "hw,k,r,p,s",
    [
        ((20, 20), 3, 1, None, 1),
        ((20, 20), 3, 6, None, 1),
        ((33, 33), 3, 12, None, 1),
        ((33, 33), 3, 24, None, 1),
        ((17, 9), 3, 4, 2, 2),
        ((8, 8), 2, 3, 1, 1),
        ((5, 5), 3, 2, 0, 1),
    ],
)
def test_valid_tap_fraction_matches_conv_of_ones(hw, k, r, p, s) -> None:
    pad = A.default_padding(k, r) if p is None else p
    counts = F.conv2d(
        torch.ones(1, 1, *hw, dtype=torch.float64),
        torch.ones(1, 1, k, k, dtype=torch.float64),
        padding=pad,
        dilation=r,
        stride=s,
    )
    expected = counts.sum().item() / (counts.numel() * k * k)
    assert A.valid_tap_fraction(hw, k, r, padding=p, stride=s) == pytest.approx(expected)
    if hw[0] == hw[1]:
        one_d = F.conv1d(
            torch.ones(1, 1, hw[0]), torch.ones(1, 1, k), padding=pad, dilation=r, stride=s
        )
        assert A.valid_tap_fraction(hw[0], k, r, padding=p, stride=s) == pytest.approx(
            one_d.mean().item() / k
        )


def test_valid_tap_fraction_drops_with_rate() -> None:
    fr = [A.valid_tap_fraction((33, 33), 3, r) for r in (1, 6, 12, 24, 32, 40)]
    assert fr == sorted(fr, reverse=True)
    # Rate beyond the map: only the centre tap is real (DeepLabv3's argument for image pooling).
    assert fr[-1] == pytest.approx(1 / 9)


def test_image_taps() -> None:
    t = A.image_taps((100, 5), (513, 513), 3, rate=6, output_stride=16)
    assert t.spacing == 96
    assert t.feature_hw == (33, 33)
    assert t.centre_cell == (6, 0)
    assert t.centres[4].tolist() == [6 * 16 + 7.5, 7.5]
    assert np.allclose(np.diff(t.centres.reshape(3, 3, 2)[:, :, 0], axis=0), 96)
    assert (
        t.valid.reshape(3, 3)[:, 0].tolist() == [False] * 3 and t.valid.reshape(3, 3)[:, 1:].all()
    )
    with pytest.raises(ValueError, match="outside"):
        A.image_taps((513, 0), (513, 513), 3, 6, 16)


@pytest.mark.parametrize("h", [1, 7, 32, 33, 100, 513])
@pytest.mark.parametrize("os_", [2, 8, 16, 32])
def test_image_taps_feature_size_matches_strided_conv_stack(h: int, os_: int) -> None:
    # log2(OS) stride-2 3x3 convs with padding 1, like a ResNet/MobileNet backbone.
    x = torch.zeros(1, 1, h, 3)
    for _ in range(int(np.log2(os_))):
        x = F.conv2d(x, torch.zeros(1, 1, 3, 3), stride=2, padding=1)
    assert A.image_taps((0, 0), (h, 3), 3, 1, os_).feature_hw == tuple(x.shape[-2:])


# --------------------------------------------------------------------------- space to batch


@pytest.mark.parametrize("r", [1, 2, 3, 4])
@pytest.mark.parametrize("hw", [(12, 12), (13, 10), (7, 9)])
def test_space_to_batch_roundtrip_and_order(r: int, hw) -> None:
    x = torch.randn(2, 3, *hw)
    s = A.space_to_batch(x, r)
    assert s.shape == (r * r * 2, 3, -(-hw[0] // r), -(-hw[1] // r))
    for i, j, n in itertools.product(range(r), range(r), range(2)):
        sub = x[n, :, i::r, j::r]
        got = s[(i * r + j) * 2 + n]
        assert torch.equal(got[:, : sub.shape[1], : sub.shape[2]], sub)
        assert not got[:, sub.shape[1] :, :].any() and not got[:, :, sub.shape[2] :].any()
    assert torch.equal(A.batch_to_space(s, r, crop_hw=hw), x)


@pytest.mark.parametrize(
    "r,k,p_taps", [(2, 3, 1), (3, 3, 1), (4, 3, 0), (2, 5, 2), (3, 2, 1), (5, 3, 2), (1, 3, 1)]
)
@pytest.mark.parametrize("hw", [(16, 16), (15, 13)])
def test_atrous_conv_equals_conv_on_subimages(r: int, k: int, p_taps: int, hw) -> None:
    torch.manual_seed(r * 10 + k)
    x = torch.randn(2, 3, *hw, dtype=torch.float64)
    w = torch.randn(4, 3, k, k, dtype=torch.float64)
    direct = F.conv2d(x, w, dilation=r, padding=r * p_taps)
    # The classic identity, spelled out ...
    via = A.batch_to_space(
        F.conv2d(A.space_to_batch(x, r), w, padding=p_taps), r, crop_hw=direct.shape[-2:]
    )
    torch.testing.assert_close(via, direct)
    # ... and packaged.
    torch.testing.assert_close(A.atrous_conv2d_via_subimages(x, w, r, padding=p_taps), direct)


def test_subimages_match_space_to_batch() -> None:
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, size=(11, 14, 3), dtype=np.uint8)
    subs = A.subimages(img, 3)
    assert len(subs) == 9
    s2b = A.space_to_batch(torch.from_numpy(img).permute(2, 0, 1)[None].float(), 3)
    for idx, sub in enumerate(subs):
        assert sub.shape[2] == 3 and sub.dtype == np.uint8
        expect = s2b[idx].permute(1, 2, 0).numpy()[: sub.shape[0], : sub.shape[1]]
        assert np.array_equal(sub.astype(np.float32), expect)
    assert sum(s.shape[0] * s.shape[1] for s in subs) == 11 * 14
    with pytest.raises(ValueError):
        A.subimages(np.zeros(5), 2)


def test_batch_to_space_rejects_bad_batch() -> None:
    with pytest.raises(ValueError, match="multiple"):
        A.batch_to_space(torch.zeros(3, 1, 2, 2), 2)


# --------------------------------------------------------------------------- 1-D stack


@pytest.mark.parametrize(
    "rates,k,causal",
    [
        ((1, 2, 4, 8), 2, True),
        ((1, 2, 4), 3, True),
        ((1, 2, 4, 8), 3, False),
        ((2, 2), 2, False),
        ((1, 3), 3, False),
    ],
)
def test_stacked_1d_rf_matches_backprop(rates, k, causal) -> None:
    res = A.stacked_1d_rf(rates, k, causal=causal)
    n = res.n_positions
    assert n == 1 + (k - 1) * sum(rates)
    assert res.rf_sizes == tuple(1 + (k - 1) * sum(rates[:i]) for i in range(len(rates) + 1))
    x = torch.rand(1, 1, n, dtype=torch.float64, requires_grad=True) + 0.5
    acts = [x]
    h = x
    for r in rates:
        total = (k - 1) * r
        left = total if causal else total // 2
        h = F.conv1d(
            F.pad(h, (left, total - left)), torch.ones(1, 1, k, dtype=torch.float64), dilation=r
        )
        acts.append(h)
    grads = torch.autograd.grad(h[0, 0, res.top_index], acts[:-1])
    for layer, g in enumerate(grads):
        assert np.array_equal(g[0, 0].numpy() != 0, res.connected[layer]), layer
    assert res.connected[-1].sum() == 1
    # Holes in the input row exactly when the rates share a factor (here: (2, 2)).
    assert res.connected[0].all() == (np.gcd.reduce(rates) == 1)


def test_stacked_1d_rf_wavenet() -> None:
    res = A.stacked_1d_rf([1, 2, 4, 8])
    assert res.rf_sizes == (1, 2, 4, 8, 16)
    assert res.top_index == 15
    assert res.connected.sum(axis=1).tolist() == [16, 8, 4, 2, 1]


# --------------------------------------------------------------------------- filters


def _reference_filter(img: np.ndarray, kern: np.ndarray, r: int, mode: str) -> np.ndarray:
    k = kern.shape[0]
    total = (k - 1) * r
    lo, hi = total // 2, total - total // 2
    np_mode = {"zeros": "constant", "reflect": "reflect", "replicate": "edge"}[mode]
    padded = np.pad(img, ((lo, hi), (lo, hi), (0, 0)), mode=np_mode)
    h, w = img.shape[:2]
    out = np.zeros(img.shape, dtype=np.float64)
    for i, j in itertools.product(range(k), range(k)):
        out += kern[i, j] * padded[i * r : i * r + h, j * r : j * r + w]
    return out


@pytest.mark.parametrize("name", sorted(A.KERNELS))
@pytest.mark.parametrize(
    "rate,mode", [(1, "reflect"), (3, "reflect"), (2, "zeros"), (4, "replicate")]
)
def test_apply_dilated_filter_matches_numpy_reference(name: str, rate: int, mode: str) -> None:
    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, size=(19, 23, 3), dtype=np.uint8)
    out = A.apply_dilated_filter(img, A.KERNELS[name], rate, padding_mode=mode)
    assert out.shape == img.shape and out.dtype == np.float32
    ref = _reference_filter(img / 255.0, A.KERNELS[name].astype(np.float64), rate, mode)
    np.testing.assert_allclose(out, ref, atol=1e-5)


def test_apply_dilated_filter_misc() -> None:
    flat = np.full((10, 12, 3), 0.25, dtype=np.float32)
    np.testing.assert_allclose(
        A.apply_dilated_filter(flat, A.KERNELS["box blur"], 3), flat, atol=1e-6
    )
    np.testing.assert_allclose(
        A.apply_dilated_filter(flat, A.KERNELS["laplacian"], 2), 0, atol=1e-6
    )
    gray = np.arange(64, dtype=np.float64).reshape(8, 8)
    assert A.apply_dilated_filter(gray, A.KERNELS["sobel x"], 1).shape == (8, 8)
    with pytest.raises(ValueError, match="reflect"):
        A.apply_dilated_filter(flat, A.KERNELS["box blur"], 20)
    assert (
        A.apply_dilated_filter(flat, A.KERNELS["box blur"], 20, padding_mode="replicate").shape
        == flat.shape
    )
    with pytest.raises(ValueError, match="padding_mode"):
        A.apply_dilated_filter(flat, A.KERNELS["box blur"], 1, padding_mode="circular")
    with pytest.raises(ValueError):  # the shared kernels are read-only
        A.KERNELS["sharpen"][0, 0] = 3


@pytest.mark.parametrize("os_", [8, 16, 32])
def test_image_taps_align_corners_matches_a_tf_style_grid(os_: int) -> None:
    """TF DeepLab inputs are OS*k+1 px; cell f then sits exactly on pixel f*OS."""
    h = os_ * 6 + 1
    t = A.image_taps((os_ * 3 + 1, os_ * 2), (h, h), 3, 2, os_, align_corners=True)
    assert t.feature_hw == (7, 7)  # (h - 1) // OS + 1, the size a SAME-padded stride-OS net gives
    assert t.centre_cell == (3, 2)
    assert np.array_equal(t.centres[4], [3 * os_, 2 * os_])  # the centre tap on a pixel
    assert t.valid.sum() == 9 - 0 and t.spacing == 2 * os_
    edge = A.image_taps((0, 0), (h, h), 3, 1, os_, align_corners=True)
    assert edge.valid.sum() == 4  # the taps above/left of cell (0, 0) read padding
