"""deeplab_viz.erf: effective receptive field, exact on linear stacks, side-effect free."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from deeplab_viz import erf as E
from deeplab_viz.gridding import coverage_counts
from deeplab_viz.health import fingerprint
from deeplab_viz.receptive_field import Layer, rf_bounds, rf_footprint, rf_table

pytestmark = pytest.mark.torch_threads(1)  # pinned by conftest, restored after


def _ones_stack(layers: list[Layer], c_in: int = 3) -> nn.Sequential:
    convs = []
    for i, la in enumerate(layers):
        conv = nn.Conv2d(
            c_in if i == 0 else 1,
            1,
            la.kernel,
            la.stride,
            la.resolved_padding,
            la.dilation,
            bias=False,
        )
        nn.init.ones_(conv.weight)
        convs.append(conv)
    return nn.Sequential(*convs).double()


def _place(counts: np.ndarray, y0: int, x0: int, hw: tuple[int, int]) -> np.ndarray:
    out = np.zeros(hw)
    out[y0 : y0 + counts.shape[0], x0 : x0 + counts.shape[1]] = counts
    return out


@pytest.mark.parametrize("rates", [[1, 2, 5], [2, 2, 2], [2, 4, 8], [3]])
def test_erf_of_linear_ones_stack_is_the_coverage_map(rates) -> None:
    layers = [Layer(3, 1, r) for r in rates]
    model = _ones_stack(layers)
    x = torch.randn(1, 3, 40, 44, dtype=torch.float64)
    res = E.erf_map(model, x, out_yx=(20, 21))
    counts = coverage_counts(rates).astype(np.float64)
    half = (counts.shape[0] - 1) // 2
    np.testing.assert_allclose(
        res.erf, _place(counts / counts.sum(), 20 - half, 21 - half, (40, 44))
    )
    assert res.erf.sum() == pytest.approx(1.0) and res.output_hw == (40, 44)
    assert res.total == pytest.approx(3 * counts.sum())  # 3 input channels, ones weights


def test_erf_of_strided_linear_stack_is_the_footprint() -> None:
    layers = [Layer(3, 2), Layer(3, 1, 2), Layer(2, 2, padding=0), Layer(3)]
    model = _ones_stack(layers, c_in=1)
    row = rf_table(layers, input_size=64)[-1]
    res = E.erf_map(model, torch.zeros(1, 1, 64, 64, dtype=torch.float64), out_yx=(3, 4))
    fp = rf_footprint(layers).astype(np.float64)
    (y0, _), (x0, _) = rf_bounds(row, 3), rf_bounds(row, 4)
    np.testing.assert_allclose(res.erf, _place(np.outer(fp, fp) / fp.sum() ** 2, y0, x0, (64, 64)))


def _relu_net() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, 2, 1),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.Conv2d(8, 8, 3, 1, 2, dilation=2),
        nn.ReLU(),
        nn.Conv2d(8, 4, 3, 1, 1),
    ).eval()


def test_erf_support_inside_theoretical_rf_and_mass_squares() -> None:
    model = _relu_net()
    layers = [Layer(3, 2), Layer(3, 1, 2), Layer(3)]
    row = rf_table(layers)[-1]
    res = E.erf_map(model, torch.randn(1, 3, 48, 48), out_yx=(12, 11), n_samples=4, seed=1)
    (y0, y1), (x0, x1) = rf_bounds(row, 12, input_size=48), rf_bounds(row, 11, input_size=48)
    inside = np.zeros_like(res.erf, dtype=bool)
    inside[y0 : y1 + 1, x0 : x1 + 1] = True
    assert res.erf[~inside].sum() == 0 and res.erf[inside].sum() == pytest.approx(1.0)
    centre = (round(row.start + row.jump * 12), round(row.start + row.jump * 11))
    sides = E.mass_square(res.erf, centre, fractions=(0.1, 0.2, 0.5, 0.9, 0.95, 1.0))
    values = list(sides.values())
    assert values == sorted(values) and all(s % 2 == 1 for s in values)
    assert values[-1] <= row.size  # all the mass sits inside the theoretical RF
    assert 0 < E.erf_to_trf_ratio(sides[0.5], row.size) <= 1


def test_mass_square_examples() -> None:
    delta = np.zeros((9, 9))
    delta[4, 4] = 1
    assert E.mass_square(delta, (4, 4)) == {0.2: 1, 0.5: 1, 0.95: 1}
    uniform = np.ones((9, 9))
    assert E.mass_square(uniform, (4, 4), fractions=(0.1, 0.12, 0.5, 1.0)) == {
        0.1: 3,
        0.12: 5,
        0.5: 7,
        1.0: 9,
    }
    # Off-centre: the square is clipped to the image; the whole image needs side 2*8+1.
    assert E.mass_square(uniform, (0, 0), fractions=(1.0,)) == {1.0: 17}
    assert E.mass_square(uniform, (0, 0), fractions=(4 / 81,)) == {4 / 81: 3}
    with pytest.raises(ValueError, match="outside"):
        E.mass_square(uniform, (9, 0))
    with pytest.raises(ValueError, match="fractions"):
        E.mass_square(uniform, (4, 4), fractions=(0.0,))
    with pytest.raises(ValueError, match="no mass"):
        E.mass_square(np.zeros((3, 3)), (1, 1))
    with pytest.raises(ValueError, match="non-negative"):
        E.mass_square(-uniform, (1, 1))
    assert E.erf_to_trf_ratio(50, 200) == 0.25
    with pytest.raises(ValueError):
        E.erf_to_trf_ratio(0, 10)


def test_random_input_erf_is_reproducible() -> None:
    model = _relu_net()
    x = torch.zeros(1, 3, 32, 32)
    a = E.erf_map(model, x, out_yx=(8, 8), n_samples=3, seed=7)
    b = E.erf_map(model, x, out_yx=(8, 8), n_samples=3, seed=7)
    c = E.erf_map(model, x, out_yx=(8, 8), n_samples=3, seed=8)
    np.testing.assert_array_equal(a.erf, b.erf)
    assert not np.array_equal(a.erf, c.erf)
    assert a.n_samples == 3 and a.channel is None
    # n_samples=1 uses x itself: same x, same map; a different x changes it (ReLU net).
    d = E.erf_map(
        model, torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(3)), out_yx=(8, 8)
    )
    e = E.erf_map(
        model, torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(4)), out_yx=(8, 8)
    )
    assert not np.array_equal(d.erf, e.erf)


def test_channel_selection() -> None:
    conv = nn.Conv2d(1, 2, 3, padding=1, bias=False)
    with torch.no_grad():
        conv.weight.zero_()
        conv.weight[0, 0, 0, 0] = 1.0  # channel 0 reads the top-left tap
        conv.weight[1, 0, 2, 2] = -2.0  # channel 1 the bottom-right one
    x = torch.ones(1, 1, 9, 9)
    assert E.erf_map(conv, x, out_yx=(4, 4), channel=0).peak_yx == (3, 3)
    assert E.erf_map(conv, x, out_yx=(4, 4), channel=1).peak_yx == (5, 5)
    both = E.erf_map(conv, x, out_yx=(4, 4))
    assert both.erf[3, 3] == pytest.approx(1 / 3) and both.erf[5, 5] == pytest.approx(2 / 3)
    assert both.total == pytest.approx(3.0)


def test_model_left_untouched() -> None:
    model = _relu_net()
    model[3].weight.requires_grad_(False)  # a mix of frozen and trainable parameters
    flags = {n: p.requires_grad for n, p in model.named_parameters()}
    state = {k: v.clone() for k, v in model.state_dict().items()}
    training = {n: m.training for n, m in model.named_modules()}
    E.erf_map(model, torch.randn(1, 3, 24, 24), out_yx=(5, 5), n_samples=2)
    with torch.no_grad():
        E.erf_map(model, torch.randn(1, 3, 24, 24), out_yx=(5, 5))
    with torch.inference_mode():
        E.erf_map(model, torch.randn(1, 3, 24, 24), out_yx=(5, 5))
    assert {n: p.requires_grad for n, p in model.named_parameters()} == flags
    assert all(p.grad is None for p in model.parameters())
    for k, v in model.state_dict().items():
        assert torch.equal(v, state[k]), k
    assert {n: m.training for n, m in model.named_modules()} == training
    assert fingerprint(model).hooks == 0  # no hook of any kind left on any module


def test_plain_function_and_errors() -> None:
    def fn(t: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.avg_pool2d(t, 4)

    res = E.erf_map(fn, torch.rand(1, 2, 16, 16), out_yx=(1, 2))
    expected = np.zeros((16, 16))
    expected[4:8, 8:12] = 1 / 16
    np.testing.assert_allclose(res.erf, expected)
    with pytest.raises(ValueError, match="outside"):
        E.erf_map(fn, torch.rand(1, 2, 16, 16), out_yx=(4, 0))
    with pytest.raises(ValueError, match="channel"):
        E.erf_map(fn, torch.rand(1, 2, 16, 16), out_yx=(0, 0), channel=2)
    with pytest.raises(ValueError, match="x must be"):
        E.erf_map(fn, torch.rand(2, 2, 16, 16), out_yx=(0, 0))
    with pytest.raises(ValueError, match="n_samples"):
        E.erf_map(fn, torch.rand(1, 2, 16, 16), out_yx=(0, 0), n_samples=0)
    with pytest.raises(ValueError, match="model_fn"):
        E.erf_map(lambda t: t.mean(dim=(2, 3)), torch.rand(1, 2, 16, 16), out_yx=(0, 0))
    zero = E.erf_map(lambda t: t * 0, torch.rand(1, 1, 4, 4), out_yx=(0, 0))
    assert zero.total == 0 and not zero.erf.any()


# --------------------------------------------------------------------------- random weights


def _bn_net() -> nn.Sequential:
    torch.manual_seed(5)
    net = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4, 2)
    )
    with torch.no_grad():  # "trained": running statistics away from 0/1
        net[1].running_mean.fill_(0.3)
        net[1].running_var.fill_(2.0)
        net[1].weight.fill_(1.5)
        net[1].bias.fill_(0.2)
    net[0].weight.requires_grad_(False)
    return net.eval()


def test_random_like_leaves_the_original_alone() -> None:
    net = _bn_net()
    state = {k: v.clone() for k, v in net.state_dict().items()}
    flags = {n: p.requires_grad for n, p in net.named_parameters()}
    rng_before = torch.random.get_rng_state()
    copy_ = E.random_like(net, seed=3)
    assert torch.equal(torch.random.get_rng_state(), rng_before)  # global RNG untouched
    for k, v in net.state_dict().items():
        assert torch.equal(v, state[k]), k
    assert copy_ is not net and not copy_.training
    assert {n: p.requires_grad for n, p in copy_.named_parameters()} == flags
    for (name, p), (_, q) in zip(net.named_parameters(), copy_.named_parameters(), strict=True):
        assert p.data_ptr() != q.data_ptr() and not torch.equal(p, q), name
    bn = copy_[1]
    assert torch.equal(bn.running_mean, torch.zeros(4)) and torch.equal(
        bn.running_var, torch.ones(4)
    )
    assert torch.equal(bn.weight, torch.ones(4)) and torch.equal(bn.bias, torch.zeros(4))


def test_random_like_is_seeded() -> None:
    net = _bn_net()
    a, b, c = (E.random_like(net, seed=s) for s in (1, 1, 2))
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(va, vb), k
    assert not torch.equal(a[0].weight, c[0].weight)
    with pytest.raises(ValueError, match="seed"):
        E.random_like(net, seed="1")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- real models


@pytest.fixture(scope="module")
def mnv3():
    """MobileNetV3 DeepLab with random weights: small, fast, no weights file needed."""
    from deeplab_viz.models import ModelSpec, build_model

    return build_model(
        ModelSpec("deeplabv3_mobilenet_v3_large", pretrained=False, output_stride=16)
    )


def test_targets_and_target_fn(mnv3) -> None:
    module = mnv3.module
    targets = E.erf_targets(module)
    keys = list(targets)
    assert keys[: len(module.stages)] == [f"stage:{n}" for n in module.stages]
    assert keys[-1] == "logits" and targets["stage:stage5"].endswith("(ASPP input)")
    assert [targets[f"aspp:{i}"] for i in range(5)] == [f"ASPP {n}" for n in module.aspp.names]
    x = torch.zeros(1, 3, 65, 65)
    with torch.inference_mode():
        feats = module.features(x)
        assert E.target_fn(module, "stage:stage2")(x).shape == feats["stage2"].shape
        assert E.target_fn(module, "aspp:1")(x).shape[-2:] == feats["stage5"].shape[-2:]
        logits = E.target_fn(module, "logits")(x)
    assert logits.shape == (1, 21, 5, 5)
    with pytest.raises(ValueError, match="unknown target"):
        E.target_fn(module, "stage:nope")


def _image(h: int = 60, w: int = 90) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)


def test_image_erf_stage_support_and_mapping(mnv3) -> None:
    rgb = _image()
    res = E.image_erf(mnv3, rgb, size=129, target="stage:stage2", pixel_yx=(30, 45))
    assert res.valid_hw == (86, 129) and res.image_hw == (60, 90)
    assert res.erf_image.shape == (60, 90) and res.erf_input.shape == (86, 129)
    # pixel (30, 45) → input (43.5, 64.6) → the nearest jump-4 unit: (11, 16), centre (44, 64)
    assert res.row.jump == 4 and res.unit_yx == (11, 16) and res.centre_input_yx == (44.0, 64.0)
    box = res.box
    nz = np.argwhere(res.erf_input > 0)
    assert nz.min(0).tolist() >= [box.y0, box.x0] and nz.max(0).tolist() <= [box.y1, box.x1]
    assert res.erf_input.sum() == pytest.approx(1.0) and res.image_share == pytest.approx(1.0)
    assert all(s % 2 == 1 and s <= res.row.size for s in res.mass_sides.values())
    sides = [res.mass_sides[f] for f in E.MASS_FRACTIONS]
    assert sides == sorted(sides)
    assert res.ratios[0.5] == pytest.approx(res.mass_sides[0.5] / res.row.size)
    top, bottom, left, right = res.square_on_image(res.row.size)
    assert (bottom - top) == pytest.approx(res.row.size * 60 / 86)
    assert res.centre_image_yx == pytest.approx((44.5 * 60 / 86 - 0.5, 64.5 * 90 / 129 - 0.5))


def test_image_erf_logits_random_and_noise(mnv3) -> None:
    rgb = _image()
    common = dict(size=129, target="logits", pixel_yx=(0, 89))
    res = E.image_erf(mnv3, rgb, **common)
    assert res.row.is_global and res.unit_yx == (0, res.output_hw[1] - 1)
    assert (res.erf_input > 0).mean() > 0.99  # image pooling: every pixel counts a little
    rnd = E.random_like(mnv3.module, seed=1)
    other = E.image_erf(mnv3, rgb, module=rnd, **common)
    assert not np.allclose(other.erf_input, res.erf_input)
    noise = E.image_erf(mnv3, rgb, inputs="noise", n_samples=2, **common)
    again = E.image_erf(mnv3, rgb, inputs="noise", n_samples=2, **common)
    np.testing.assert_array_equal(noise.erf_input, again.erf_input)
    assert noise.n_samples == 2 and noise.inputs == "noise"
    one = E.image_erf(mnv3, rgb, inputs="noise", n_samples=1, **common)
    assert not np.allclose(one.erf_input, res.erf_input)


def test_image_erf_errors(mnv3) -> None:
    rgb = _image()
    with pytest.raises(ValueError, match="inputs='noise'"):
        E.image_erf(mnv3, rgb, size=129, target="logits", pixel_yx=(0, 0), n_samples=2)
    with pytest.raises(ValueError, match="outside"):
        E.image_erf(mnv3, rgb, size=129, target="logits", pixel_yx=(60, 0))
    with pytest.raises(ValueError, match="unknown target"):
        E.image_erf(mnv3, rgb, size=129, target="stage:x", pixel_yx=(0, 0))
    with pytest.raises(ValueError, match="inputs"):
        E.image_erf(mnv3, rgb, size=129, target="logits", pixel_yx=(0, 0), inputs="x")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="n_samples"):
        E.image_erf(mnv3, rgb, size=129, target="logits", pixel_yx=(0, 0), n_samples=0)


def test_image_erf_offline_model_trained_is_wider_than_random(voc_base) -> None:
    """Luo et al.: training widens the ERF (here on the offline model, at its last stage)."""
    from deeplab_viz.models import ModelSpec, build_model

    model = build_model(ModelSpec(name="voc-mobilenetv2"), base=voc_base)
    rgb = _image(97, 97)
    kw = dict(size=129, target="stage:stage5", pixel_yx=(48, 48), inputs="noise", n_samples=2)
    trained = E.image_erf(model, rgb, **kw)
    random = E.image_erf(model, rgb, module=E.random_like(model.module, seed=0), **kw)
    assert trained.row.size == random.row.size == 491
    assert trained.valid_hw == (129, 129) and trained.erf_input.shape == (129, 129)  # 8k+1
    assert trained.mass_sides[0.5] > random.mass_sides[0.5]


def test_erf_over_rf_note_explains_a_square_wider_than_the_rf_and_the_input():
    from types import SimpleNamespace

    from deeplab_viz.erf import erf_over_rf_note

    row = SimpleNamespace(is_global=True)
    inside = SimpleNamespace(
        mass_sides={0.2: 41, 0.5: 101, 0.95: 301}, ratios={0.2: 0.08, 0.5: 0.21, 0.95: 0.61},
        valid_hw=(341, 513), row=row,
    )  # fmt: skip
    assert erf_over_rf_note(inside) is None
    corner = SimpleNamespace(
        mass_sides={0.2: 41, 0.5: 301, 0.95: 859}, ratios={0.2: 0.08, 0.5: 0.61, 0.95: 1.75},
        valid_hw=(341, 513), row=row,
    )  # fmt: skip
    note = erf_over_rf_note(corner)
    assert note.startswith("The 95% square (859 px) is 1.75 × the RF: image pooling")
    assert "wider than the 513×341 px input" in note
    corner.mass_sides[0.95] = 480
    assert "wider than" not in erf_over_rf_note(corner)


def test_batched_noise_gradients_equal_one_at_a_time(monkeypatch) -> None:
    """One backward over a batch of random inputs gives each sample its own gradient."""
    model = _relu_net()
    x = torch.zeros(1, 3, 32, 32)
    batched = E.erf_map(model, x, out_yx=(8, 8), n_samples=6, seed=3)  # batches of 4 and 2
    monkeypatch.setattr(E, "NOISE_BATCH", 1)
    single = E.erf_map(model, x, out_yx=(8, 8), n_samples=6, seed=3)
    np.testing.assert_allclose(batched.erf, single.erf, rtol=1e-5, atol=1e-9)  # float32 sums
    assert batched.total == pytest.approx(single.total)


def test_erf_unit_is_the_cache_key_of_a_pixel(mnv3) -> None:
    """Neighbouring pixels share a unit; the ERF by unit is the ERF by any of its pixels."""
    rgb = _image()
    common = dict(size=129, target="stage:stage2")
    unit = E.erf_unit(mnv3, rgb.shape[:2], pixel_yx=(30, 45), **common)
    assert unit == (11, 16)  # as test_image_erf_stage_support_and_mapping works out
    assert E.erf_unit(mnv3, rgb.shape[:2], pixel_yx=(30, 44), **common) == unit  # same cell
    assert E.erf_unit(mnv3, rgb.shape[:2], pixel_yx=(30, 50), **common) != unit  # next cell
    by_pixel = E.image_erf(mnv3, rgb, pixel_yx=(30, 45), **common)
    by_unit = E.image_erf(mnv3, rgb, unit_yx=unit, **common)
    np.testing.assert_array_equal(by_pixel.erf_input, by_unit.erf_input)
    assert by_unit.centre_input_yx == by_pixel.centre_input_yx
    for kwargs in ({}, {"pixel_yx": (0, 0), "unit_yx": (0, 0)}, {"unit_yx": (99, 0)}):
        with pytest.raises(ValueError):
            E.image_erf(mnv3, rgb, **common, **kwargs)


def test_kept_graph_gives_every_unit_the_fresh_forward_gives(mnv3) -> None:
    """One forward kept, several backwards: each unit as a fresh forward+backward gives."""
    import threading

    rgb = np.random.default_rng(3).integers(0, 255, (60, 90, 3), dtype=np.uint8)
    rnd = E.random_like(mnv3.module, seed=0)
    for module in (None, rnd):
        graph = E.image_graph(mnv3, rgb, size=129, target="logits", module=module)
        for unit in ((0, 0), (2, 7), (5, 8), (2, 7)):  # the graph survives reuse
            fresh = E.image_erf(mnv3, rgb, size=129, target="logits", unit_yx=unit, module=module)
            kept = E.image_erf(
                mnv3, rgb, size=129, target="logits", unit_yx=unit, module=module, graph=graph
            )
            np.testing.assert_allclose(kept.erf_input, fresh.erf_input, rtol=1e-5, atol=1e-12)
            assert kept.total == pytest.approx(fresh.total, rel=1e-5)
            assert kept.mass_sides == fresh.mass_sides and kept.unit_yx == fresh.unit_yx
    # shared between threads (a cached resource): the lock serialises the backwards
    graph = E.image_graph(mnv3, rgb, size=129, target="logits")
    out: dict[tuple[int, int], np.ndarray] = {}

    def one(unit: tuple[int, int]) -> None:
        out[unit] = graph(unit).numpy()

    threads = [threading.Thread(target=one, args=((u, u),)) for u in range(4)]  # 6×9 map
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for u in range(4):
        np.testing.assert_allclose(out[(u, u)], graph((u, u)).numpy(), rtol=1e-6)


def test_kept_graph_refuses_another_target_size_or_noise(mnv3) -> None:
    rgb = np.zeros((60, 90, 3), np.uint8)
    graph = E.image_graph(mnv3, rgb, size=129, target="logits")
    common = {"unit_yx": (0, 0), "graph": graph}
    with pytest.raises(ValueError, match="kept graph is of 'logits'"):
        E.image_erf(mnv3, rgb, size=129, target="stage:stage2", **common)
    with pytest.raises(ValueError, match="kept graph"):
        E.image_erf(mnv3, rgb, size=257, target="logits", **common)
    with pytest.raises(ValueError, match="inputs must be 'image'"):
        E.image_erf(mnv3, rgb, size=129, target="logits", inputs="noise", **common)
    with pytest.raises(ValueError, match="outside"):
        graph((99, 0))
