"""deeplab_viz.receptive_field: formulas, presets and HDC, checked against torch autograd."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from deeplab_viz import receptive_field as R
from deeplab_viz.receptive_field import Layer

pytestmark = pytest.mark.torch_threads(1)  # pinned by conftest, restored after


# --------------------------------------------------------------------------- formulas


def test_one_formula_per_function() -> None:
    assert R.rf_size(3, 5, 2) == 3 + 4 * 2
    assert R.rf_jump(4, 2) == 8
    assert R.rf_start(0.0, 3, 1, 1) == 0.0
    assert R.rf_start(0.5, 4, 0, 2) == 0.5 + 1.5 * 2
    assert R.rf_centre(-1.5, 8, 3) == -1.5 + 8 * 3
    assert [R.same_padding(k) for k in (1, 3, 4, 5, 25)] == [0, 1, 1, 2, 12]
    assert Layer(3, dilation=12).resolved_padding == R.same_padding(25) == 12


def test_layer_validation_and_defaults() -> None:
    la = Layer(3, 2, 4)
    assert la.effective_kernel == 9 and la.resolved_padding == 4
    assert Layer(2).resolved_padding == 0 and Layer(4, padding=0).resolved_padding == 0
    for bad in (
        dict(kernel=0),
        dict(kernel=3, stride=0),
        dict(kernel=3, dilation=-1),
        dict(kernel=3, padding=-1),
        dict(kernel=2.5),
        dict(kernel=True),
    ):
        with pytest.raises(ValueError, match="Layer"):
            Layer(**bad)
    with pytest.raises(AttributeError):
        la.kernel = 5  # frozen


def test_rf_table_classic_examples() -> None:
    # Two 3x3 convs see 5x5, three see 7x7 (VGG's argument).
    rows = R.rf_table([Layer(3), Layer(3), Layer(3)])
    assert [r.size for r in rows] == [3, 5, 7] and all(r.jump == 1 and r.start == 0 for r in rows)
    # A strided layer multiplies the growth of everything after it.
    rows = R.rf_table([Layer(3, 2), Layer(3, 2), Layer(3)], input_size=32)
    assert [(r.size, r.jump, r.output_size) for r in rows] == [(3, 2, 16), (7, 4, 8), (15, 4, 8)]
    # Dilation 2 = 5-pixel kernel; no padding moves the first centre right.
    rows = R.rf_table([Layer(3, 1, 2, padding=0)])
    assert (rows[0].size, rows[0].start, rows[0].padding) == (5, 2.0, 0)
    assert rows[0].name == "layer 1"
    with pytest.raises(ValueError, match="layer 2"):
        R.rf_table([Layer(3, 2), Layer(7, padding=0)], input_size=8)
    with pytest.raises(ValueError):
        R.rf_table([])


def test_rf_bounds() -> None:
    row = R.rf_table([Layer(3, 2), Layer(3, 2)])[-1]
    assert R.rf_bounds(row, 0) == (-3, 3)
    assert R.rf_bounds(row, 2) == (5, 11)
    assert R.rf_bounds(row, 0, input_size=10) == (0, 3)
    even = R.rf_table([Layer(2, 2), Layer(2, 2)])[-1]  # non-overlapping 2x2 pooling twice
    assert [R.rf_bounds(even, i) for i in range(3)] == [(0, 3), (4, 7), (8, 11)]


# --------------------------------------------------------------------------- autograd property


def _grad_of_unit(layers: list[Layer], n: int, index: tuple[int, int] | None = None):
    """d out[unit] / d input for a linear ones-weight conv stack: exact path counts."""
    x = (torch.rand(1, 1, n, n, dtype=torch.float64) + 0.5).requires_grad_(True)
    h = x
    sizes = []
    for la in layers:
        w = torch.ones(1, 1, la.kernel, la.kernel, dtype=torch.float64)
        h = F.conv2d(h, w, stride=la.stride, padding=la.resolved_padding, dilation=la.dilation)
        sizes.append(h.shape[-1])
    oy, ox = ((h.shape[-2] - 1) // 2, (h.shape[-1] - 1) // 2) if index is None else index
    (g,) = torch.autograd.grad(h[0, 0, oy, ox], x)
    return g[0, 0].numpy(), (oy, ox), sizes


def _random_stack(rng: np.random.Generator) -> list[Layer]:
    layers = []
    for _ in range(rng.integers(1, 5)):
        k, s, d = int(rng.integers(1, 6)), int(rng.integers(1, 3)), int(rng.integers(1, 4))
        k_eff = k + (k - 1) * (d - 1)
        layers.append(Layer(k, s, d, int(rng.integers(0, k_eff + 1))))
    return layers


def _placed(fp: np.ndarray, lo: int, n: int) -> np.ndarray:
    """Footprint starting at input pixel ``lo``, cut to pixels ``0..n-1``."""
    idx = np.arange(n) - lo
    inside = (idx >= 0) & (idx < fp.size)
    out = np.zeros(n)
    out[inside] = fp[idx[inside]]
    return out


def test_rf_matches_autograd_support_on_random_stacks() -> None:
    rng = np.random.default_rng(2024)
    torch.manual_seed(0)
    small_checked = 0
    for case in range(200):
        layers = _random_stack(rng)
        last = R.rf_table(layers)[-1]
        fp = R.rf_footprint(layers)
        assert fp.shape == (last.size,) and fp[0] > 0 and fp[-1] > 0
        # 1) Large input: the centre unit's RF is inside, so every path is real and the
        #    gradient is exactly the (outer-product) footprint at the analytic position.
        n = last.size + 2 * last.jump + 4
        g, (oy, ox), sizes = _grad_of_unit(layers, n)
        assert [r.output_size for r in R.rf_table(layers, input_size=n)] == sizes
        (y0, y1), (x0, x1) = R.rf_bounds(last, oy), R.rf_bounds(last, ox)
        assert 0 <= y0 and y1 < n and 0 <= x0 and x1 < n, (case, layers)
        expected = np.zeros((n, n))
        expected[y0 : y1 + 1, x0 : x1 + 1] = np.outer(fp, fp)
        np.testing.assert_array_equal(g, expected, err_msg=f"case {case}: {layers}")
        nz = np.argwhere(g)
        assert nz.min(0).tolist() == [y0, x0] and nz.max(0).tolist() == [y1, x1]
        # 2) Small input: paths through padding vanish; the support stays inside the
        #    clipped analytic RF (and inside the footprint pattern).
        n_small = int(rng.integers(1, last.size + 3))
        try:
            rows = R.rf_table(layers, input_size=n_small)
        except ValueError:
            continue
        out = rows[-1].output_size
        for index in {(0, 0), (out - 1, out - 1), (0, out - 1)}:
            g, _, sizes = _grad_of_unit(layers, n_small, index)
            assert [r.output_size for r in rows] == sizes
            placed = np.outer(*(_placed(fp, R.rf_bounds(last, i)[0], n_small) for i in index))
            assert np.all(g <= placed), (case, layers, n_small, index)
            (cy0, cy1), (cx0, cx1) = (R.rf_bounds(last, i, input_size=n_small) for i in index)
            nz = np.argwhere(g)
            if nz.size:
                assert nz.min(0).tolist() >= [cy0, cx0] and nz.max(0).tolist() <= [cy1, cx1]
            small_checked += 1
    assert small_checked > 100


# --------------------------------------------------------------------------- text


def test_parse_layers() -> None:
    layers = R.parse_layers("3,1,1;3,2,1")
    assert layers == [Layer(3, 1, 1, name="L1"), Layer(3, 2, 1, name="L2")]
    layers = R.parse_layers(" 7 , 2 ; 3,2 ;3,1,2,5; ")
    assert [(la.kernel, la.stride, la.dilation, la.padding) for la in layers] == [
        (7, 2, 1, None),
        (3, 2, 1, None),
        (3, 1, 2, 5),
    ]
    assert R.format_layers(layers) == "7,2,1;3,2,1;3,1,2,5"
    assert R.parse_layers(R.format_layers(layers)) == [
        Layer(la.kernel, la.stride, la.dilation, la.padding, name=f"L{i}")
        for i, la in enumerate(layers, 1)
    ]


@pytest.mark.parametrize(
    "text,match",
    [
        ("", "no layers"),
        ("  ", "no layers"),
        ("3,1,x", "layer 1.*integers"),
        ("3;;3", "layer 2"),
        ("3,1,1,1,1", "1-4"),
        ("0,1,1", "layer 1.*kernel"),
        ("3;3,0", "layer 2.*stride"),
        ("3,1,-2", "dilation"),
    ],
)
def test_parse_layers_errors(text: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        R.parse_layers(text)


# --------------------------------------------------------------------------- presets


@pytest.mark.parametrize(
    "os_,dilate",
    [(8, [False, True, True]), (16, [False, False, True]), (32, [False, False, False])],
)
def test_resnet50_presets_match_torchvision(os_: int, dilate: list[bool]) -> None:
    torchvision = pytest.importorskip("torchvision")
    with torch.device("meta"):
        model = torchvision.models.resnet50(weights=None, replace_stride_with_dilation=dilate)
    layers = R.PRESETS[f"ResNet-50 @ OS {os_}"]
    expected_names = ["conv1", "maxpool"] + [
        f"layer{s}.{b}.conv{c}"
        for s, n in zip((1, 2, 3, 4), (3, 4, 6, 3), strict=True)
        for b in range(n)
        for c in (1, 2, 3)
    ]
    assert [la.name for la in layers] == expected_names
    for la in layers:
        m = model.get_submodule(la.name)
        pair = lambda v: v if isinstance(v, tuple) else (v, v)  # noqa: E731
        assert pair(m.kernel_size) == (la.kernel,) * 2, la.name
        assert pair(m.stride) == (la.stride,) * 2, la.name
        assert pair(m.dilation) == (la.dilation,) * 2, la.name
        assert pair(m.padding) == (la.resolved_padding,) * 2, la.name
    rows = R.rf_table(layers, input_size=224)
    # Trading stride for dilation keeps the RF; only the jump (output stride) changes.
    assert rows[-1].jump == os_ and rows[-1].size == 427
    x = torch.zeros(1, 3, 224, 224, device="meta")
    feats = model.layer4(model.layer3(model.layer2(model.layer1(model.maxpool(model.conv1(x))))))
    assert feats.shape[-1] == rows[-1].output_size == 224 // os_


def test_mobilenet_v2_preset() -> None:
    layers = R.PRESETS["MobileNetV2 (DeepLab, OS 8)"]
    assert len(layers) == 18 and (layers[0].kernel, layers[0].stride) == (3, 2)
    expected = (
        [(1, 1), (2, 1), (1, 1), (2, 1), (1, 1), (1, 1), (1, 1)] + [(1, 2)] * 7 + [(1, 4)] * 3
    )
    assert [(la.stride, la.dilation) for la in layers[1:]] == expected
    assert all(la.kernel == 3 for la in layers)
    assert R.rf_table(layers)[-1].jump == 8
    torchvision = pytest.importorskip("torchvision")
    with torch.device("meta"):
        model = torchvision.models.mobilenet_v2(weights=None)
    depthwise = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d) and m.groups > 1]
    assert len(depthwise) == 17
    nominal = [m.stride[0] for m in depthwise]
    # Undo the output-stride conversion: strides of the unconverted net.
    assert R.dilate_for_output_stride([Layer(3, 2)] + [Layer(3, s) for s in nominal], 8) == [
        Layer(la.kernel, la.stride, la.dilation) for la in layers
    ]
    assert (
        R.dilate_for_output_stride([Layer(3, 2)] + [Layer(3, s) for s in nominal], 32)[-1].dilation
        == 1
    )


def test_vgg_and_aspp_presets() -> None:
    vgg = R.rf_table(R.PRESETS["VGG block (3×conv3 + pool)"])[-1]
    assert (vgg.size, vgg.jump) == (8, 2)
    base = R.rf_table(R.PRESETS["ResNet-50 @ OS 16"])[-1]
    for rate in (6, 12, 18):
        layers = R.PRESETS[f"ResNet-50 @ OS 16 + ASPP rate {rate} branch"]
        assert layers[-1] == Layer(3, 1, rate, name=f"ASPP rate {rate}")
        assert R.rf_table(layers)[-1].size == base.size + 2 * rate * 16
    for a, b in ((6, 12), (12, 24), (18, 36)):
        os16 = R.rf_table(R.PRESETS[f"ResNet-50 @ OS 16 + ASPP rate {a} branch"])[-1]
        os8 = R.rf_table(R.PRESETS[f"ResNet-50 @ OS 8 + ASPP rate {b} branch"])[-1]
        assert os16.size == os8.size
    for name, layers in R.PRESETS.items():
        assert layers and all(isinstance(la, Layer) for la in layers), name


def test_dilate_for_output_stride_errors() -> None:
    layers = [Layer(3, 2), Layer(3, 2)]
    with pytest.raises(ValueError, match="only reach"):
        R.dilate_for_output_stride(layers, 8)
    with pytest.raises(ValueError, match="not reachable"):
        R.dilate_for_output_stride([Layer(3, 2), Layer(3, 3)], 4)
    assert R.dilate_for_output_stride(
        [Layer(3, 2, padding=1), Layer(3, 2, padding=1), Layer(3)], 2
    ) == [Layer(3, 2, padding=1), Layer(3, 1, 1, padding=1), Layer(3, 1, 2)]


# --------------------------------------------------------------------------- HDC


@pytest.mark.parametrize(
    "rates,passes,m2",
    [
        ([1, 2, 5], True, 2),
        ([1, 2, 9], False, 5),
        ([2, 4, 8], False, 4),
        ([2, 2, 2], False, 2),
        ([1, 2, 3], True, 2),
        ([1], True, None),
        ([3], False, None),
    ],
)
def test_hdc_known_cases(rates, passes, m2) -> None:
    res = R.hdc_check(rates)
    assert res.passes is passes and res.m2 == m2 and res.full_coverage is passes
    assert len(res.m) == len(rates) and res.m[-1] == rates[-1]


def test_hdc_rule_is_exact_for_non_decreasing_rates() -> None:
    for kernel, n in itertools.product((2, 3, 4), (2, 3, 4)):
        for rates in itertools.combinations_with_replacement(range(1, 8), n):
            res = R.hdc_check(rates, kernel)
            assert res.passes == res.full_coverage, (rates, kernel, res)


@pytest.mark.parametrize(
    "rates", [[1, 2, 9], [2, 4, 8], [2, 2, 2], [3, 6, 12, 24], [1, 5, 9, 17], [4, 4]]
)
def test_suggest_hdc_fix(rates) -> None:
    fix = R.suggest_hdc_fix(rates)
    assert R.hdc_check(fix.suggested).passes and R.hdc_check(fix.suggested).full_coverage
    assert fix.original == tuple(rates) and len(fix.suggested) == len(rates)
    assert fix.suggested_rf == 1 + 2 * sum(fix.suggested) and fix.original_rf == 1 + 2 * sum(rates)
    assert abs(fix.suggested_rf - fix.original_rf) <= 2 * len(rates) * 2
    assert fix.strategy.startswith("search")


def test_suggest_hdc_fix_specific_and_fallback() -> None:
    assert R.suggest_hdc_fix([2, 2, 2]).suggested == (1, 2, 3)  # same RF (13)
    assert R.suggest_hdc_fix([1, 2, 9]).suggested_rf == 25  # same RF
    unchanged = R.suggest_hdc_fix([1, 2, 5])
    assert unchanged.suggested == (1, 2, 5) and unchanged.strategy.startswith("unchanged")
    greedy = R.suggest_hdc_fix([4, 8, 16, 32], radius=0)
    assert greedy.strategy.startswith("greedy") and R.hdc_check(greedy.suggested).passes
    big = R.suggest_hdc_fix([3] * 12, max_candidates=10)
    assert big.strategy.startswith("greedy") and R.hdc_check(big.suggested).full_coverage


@pytest.mark.parametrize("bad", [[], [0, 1], [1, 2.5], "125"])
def test_hdc_bad_input(bad) -> None:
    with pytest.raises(ValueError):
        R.hdc_check(bad)
    with pytest.raises(ValueError, match="kernel"):
        R.hdc_check([1, 2], kernel=1)


# --------------------------------------------------------------------------- boxes on an image


def test_nearest_unit() -> None:
    assert R.nearest_unit(0.0, 8, 11.9) == 1 and R.nearest_unit(0.0, 8, 12.1) == 2
    assert R.nearest_unit(0.0, 8, -30) == 0
    assert R.nearest_unit(0.0, 8, 1000, n_units=10) == 9
    assert R.nearest_unit(1.5, 4, 9.5) == 2


def test_rf_box_clipping() -> None:
    box = R.rf_box(7, (10, 10), (40, 30))
    assert (box.y0, box.y1, box.x0, box.x1) == (7, 13, 7, 13)
    assert box.inside_fraction == 1.0 and not box.is_clipped and not box.covers_image
    corner = R.rf_box(7, (0, 0), (40, 30))
    assert corner.clipped == (0, 3, 0, 3) and corner.inside_fraction == pytest.approx(16 / 49)
    big = R.rf_box(101, (20, 15), (40, 30))
    assert big.covers_image and big.clipped == (0, 39, 0, 29)
    assert big.inside_fraction == pytest.approx(40 * 30 / 101**2)
    gone = R.rf_box(3, (-10, -10), (40, 30))
    assert gone.clipped is None and gone.inside_fraction == 0.0
    whole = R.rf_box(None, (3, 3), (40, 30))
    assert whole.covers_image and whole.inside_fraction == 1.0 and whole.size is None
    # the same bounds as rf_bounds for a unit of a real table
    row = R.rf_table([Layer(3, 2), Layer(3, 2)])[-1]
    b = R.rf_box(row.size, (row.start + row.jump * 2,) * 2, (64, 64))
    assert (b.y0, b.y1) == R.rf_bounds(row, 2)
    with pytest.raises(ValueError):
        R.rf_box(0, (1, 1), (4, 4))
    with pytest.raises(ValueError):
        R.rf_box(3, (1, 1), (0, 4))


def test_image_and_input_coordinates() -> None:
    # 2× upscale: image pixel 0 covers input pixels 0..1, centred at 0.5
    assert R.image_to_input((0, 0), input_hw=(20, 40), image_hw=(10, 20)) == (0.5, 0.5)
    edges = R.input_to_image_edges(0, 1, 0, 3, input_hw=(20, 40), image_hw=(10, 20))
    assert edges == (-0.5, 0.5, -0.5, 1.5)  # input 0..1 = image pixel 0; 0..3 = pixels 0..1
    same = R.input_to_image_edges(2, 4, 5, 5, input_hw=(8, 8), image_hw=(8, 8))
    assert same == (1.5, 4.5, 4.5, 5.5)


def test_place_on_image() -> None:
    layers = (Layer(3, 2, name="a"), Layer(3, 2, name="b"))
    last = R.rf_table(list(layers))[-1]
    row = R.ModelRFRow("stage", "stage:x", "x", last.size, last.size, last.jump, last.start, layers)
    glob = R.ModelRFRow("aspp", "aspp:0", "pool", None, last.size, last.jump, last.start, layers)
    placed = R.place_on_image([row, glob], (5, 9), input_hw=(20, 40), image_hw=(10, 20))
    p, g = placed
    # image pixel (5, 9) → input (10.5, 18.5) → unit (3, 5) on the jump-4 grid
    assert p.unit_yx == (3, 5) and (p.box.y0, p.box.y1) == R.rf_bounds(last, 3)
    assert p.centre_image_yx == (12.5 / 2 - 0.5, 20.5 / 2 - 0.5)  # unit centre (12, 20)
    assert p.edges[0] == p.box.y0 / 2 - 0.5 and p.edges[3] == (p.box.x1 + 1) / 2 - 0.5
    assert g.box.covers_image and g.box.size is None


# --------------------------------------------------------------------------- table rows


def test_layers_from_rows() -> None:
    rows = [
        {"layer": "conv", "kernel": 3, "stride": 2, "dilation": None, "padding": None},
        {"layer": None, "kernel": 3.0, "stride": float("nan"), "dilation": 2, "padding": 0},
        {"layer": "", "kernel": None, "stride": None, "dilation": None, "padding": None},  # new
        {"kernel": "5", "stride": " ", "dilation": 1},
        {"kernel": pd.NA, "stride": pd.NA, "dilation": np.nan, "padding": None},  # empty row
    ]
    assert R.layers_from_rows(rows) == [
        Layer(3, 2, 1, None, name="conv"),
        Layer(3, 1, 2, 0, name="L2"),
        Layer(5, 1, 1, None, name="L3"),
    ]
    assert (
        R.layers_from_rows(R.layers_to_rows(R.PRESETS["ResNet-50 @ OS 8"]))
        == R.PRESETS["ResNet-50 @ OS 8"]
    )


@pytest.mark.parametrize(
    "row,match",
    [
        (
            {"kernel": 0, "stride": 1},
            r"^Row 2: kernel must be a whole number from 1 to 1000 \(got 0\)\.$",
        ),
        ({"kernel": 3, "stride": 0}, "Row 2: stride"),
        ({"kernel": 3, "dilation": -1}, "Row 2: dilation"),
        ({"kernel": 3, "padding": -1}, "Row 2: padding must be empty"),
        ({"kernel": 2.5}, "Row 2: kernel must be a whole number"),
        ({"kernel": "x"}, "Row 2: kernel must be a whole number"),
        ({"kernel": True}, "Row 2: kernel"),
        ({"kernel": float("inf")}, "Row 2: kernel"),
        ({"kernel": 10**6}, "from 1 to 1000"),
        ({"kernel": None, "stride": 2}, "Row 2: the kernel size is missing"),
    ],
)
def test_layers_from_rows_errors_are_one_sentence(row, match) -> None:
    with pytest.raises(ValueError, match=match) as info:
        R.layers_from_rows([{"kernel": 3}, row])
    assert "\n" not in str(info.value) and str(info.value).endswith(".")


def test_layers_from_rows_limits() -> None:
    with pytest.raises(ValueError, match="empty"):
        R.layers_from_rows([])
    with pytest.raises(ValueError, match="empty"):
        R.layers_from_rows([{"kernel": None}])
    with pytest.raises(ValueError, match="At most"):
        R.layers_from_rows([{"kernel": 3}] * (R.MAX_LAYERS + 1))


def test_parse_rows() -> None:
    rows = R.parse_rows("3,2;3,1,2,4;0;")
    assert rows == [
        {"layer": "L1", "kernel": 3, "stride": 2, "dilation": None, "padding": None},
        {"layer": "L2", "kernel": 3, "stride": 1, "dilation": 2, "padding": 4},
        {"layer": "L3", "kernel": 0, "stride": None, "dilation": None, "padding": None},
    ]
    with pytest.raises(ValueError, match="Row 3: kernel"):
        R.layers_from_rows(rows)  # values are checked later, like an edit
    for bad in ("", "3,x", "3,1,1,1,1", "3;;3"):
        with pytest.raises(ValueError):
            R.parse_rows(bad)
