"""deeplab_viz.cost: FLOPs against torch's own arithmetic, measurement structure, and the
promise that measuring never touches the shared model. No timing is asserted."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from deeplab_viz import atrous
from deeplab_viz import boundary as B
from deeplab_viz import cost as C
from deeplab_viz.models import LoadedModel, ModelSpec, build_model

SIZE = 129  # 8·16 + 1: a valid input at every output stride, small enough for a busy CPU


pytestmark = pytest.mark.torch_threads(1)  # pinned by conftest, restored after


@pytest.fixture(scope="module")
def voc_models(voc_base):
    return {
        os_: build_model(ModelSpec("voc-mobilenetv2", os_, device="cpu"), base=voc_base)
        for os_ in (8, 16, 32)
    }


def _conv_model(conv: nn.Module) -> LoadedModel:
    """A LoadedModel around any module that takes a (1, 3, h, w) image."""
    return LoadedModel(spec=ModelSpec(device="cpu"), module=conv.eval(), class_names=())


# --------------------------------------------------------------------------- FLOPs


@pytest.mark.parametrize("k,rate,cout,hw", [(3, 1, 8, (17, 17)), (3, 6, 4, (13, 21)), (5, 2, 2, 9)])
@pytest.mark.parametrize("fake", [True, False])
def test_flops_of_one_conv_is_two_per_multiply_add(k, rate, cout, hw, fake):
    conv = nn.Conv2d(3, cout, k, padding=(k - 1) // 2 * rate, dilation=rate, bias=True)
    h, w = (hw, hw) if isinstance(hw, int) else hw
    flops = C.count_flops(_conv_model(conv), hw, fake=fake)
    out = conv(torch.zeros(1, 3, h, w))
    assert out.shape[-2:] == (h, w)
    assert flops == 2 * k * k * 3 * cout * h * w  # bias not counted


def test_rate_sweep_flops_do_not_depend_on_rate():
    points = C.memory_vs_rate([1, 2, 5], channels=4, feature_hw=(9, 11), warmup=0, repeats=1)
    assert [p.flops for p in points] == [2 * 9 * 4 * 4 * 9 * 11] * 3
    assert [p.output_bytes for p in points] == [4 * 9 * 11 * 4] * 3
    assert [p.padded_input_bytes for p in points] == [
        4 * (9 + 2 * r) * (11 + 2 * r) * 4 for r in (1, 2, 5)
    ]


@pytest.mark.slow
def test_flops_fall_with_output_stride_and_fake_equals_real(voc_models):
    flops = {os_: C.count_flops(m, (SIZE, SIZE)) for os_, m in voc_models.items()}
    assert flops[8] > flops[16] > flops[32] > 0
    assert C.count_flops(voc_models[16], (SIZE, SIZE), fake=False) == flops[16]
    parts = C.flops_by_part(voc_models[8], (SIZE, SIZE))
    assert sum(parts.values()) == flops[8]
    assert list(parts)[0].startswith("stage ") and list(parts)[-1] == "head + upsampling"
    assert any(k.startswith("ASPP ") for k in parts)


@pytest.mark.slow
def test_flops_ratio_between_strides_on_a_torchvision_model():
    from deeplab_viz.models import load_base

    base = load_base("deeplabv3_mobilenet_v3_large", pretrained=False)
    flops = {
        os_: C.count_flops(
            build_model(
                ModelSpec("deeplabv3_mobilenet_v3_large", os_, pretrained=False), base=base
            ),
            (SIZE, SIZE),
        )
        for os_ in (8, 16, 32)
    }
    assert flops[8] > flops[16] > flops[32]


# --------------------------------------------------------------------------- latency, memory


@pytest.mark.slow
def test_latency_and_memory_structure(voc_models):
    model = voc_models[16]
    lat = C.measure_latency(model, (65, 65), warmup=0, repeats=3)
    assert isinstance(lat, C.LatencyResult) and len(lat.runs) == 3
    assert all(r > 0 for r in lat.runs)
    assert min(lat.runs) <= lat.median_ms <= max(lat.runs)
    assert lat.median_ms <= lat.p90_ms <= max(lat.runs) + 1e-9
    mem = C.peak_memory(model, (65, 65))
    assert isinstance(mem.bytes, int) and mem.bytes >= 0
    assert mem.method == C.RSS_METHOD and mem.note
    # the allocator figure of the same forward: at least the output (1, 21, 65, 65) float32
    assert mem.allocated_bytes is None or mem.allocated_bytes >= 21 * 65 * 65 * 4
    assert mem.best_bytes == (mem.bytes if mem.allocated_bytes is None else mem.allocated_bytes)
    with pytest.raises(ValueError):
        C.measure_latency(model, (65, 65), repeats=0)


@pytest.mark.slow
def test_measuring_leaves_the_shared_model_untouched(voc_models):
    model = voc_models[8]
    before = {k: v.clone() for k, v in model.module.state_dict().items()}
    wiring = [(m.stride, m.dilation) for m in model.module.modules() if isinstance(m, nn.Conv2d)]
    C.count_flops(model, (65, 65))
    C.count_flops(model, (65, 65), fake=False)
    C.flops_by_part(model, (65, 65))
    C.measure_latency(model, (65, 65), warmup=0, repeats=1)
    C.peak_memory(model, (65, 65))
    C.measure_config(model.spec, 65, model=model, warmup=0, repeats=1)
    after = model.module.state_dict()
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert wiring == [
        (m.stride, m.dilation) for m in model.module.modules() if isinstance(m, nn.Conv2d)
    ]
    for m in model.module.modules():
        assert not m.training
        assert not (m._forward_hooks or m._forward_pre_hooks or m._backward_hooks)
    assert not any(p.requires_grad for p in model.module.parameters())
    from torch.nn.modules import module as torch_module

    assert not torch_module._global_forward_hooks
    assert not torch_module._global_forward_pre_hooks


@pytest.mark.slow
def test_measure_config_and_ratios(voc_base):
    points = [
        C.measure_config(
            ModelSpec("voc-mobilenetv2", os_, device="cpu"),
            65,
            base=voc_base,
            warmup=0,
            repeats=1,
        )
        for os_ in (8, 16, 32)
    ]
    p = points[0]
    assert (p.model, p.weights, p.output_stride, p.dtype, p.size, p.device) == (
        "voc-mobilenetv2",
        "trained",
        8,
        "float32",
        65,
        "cpu",
    )
    assert p.label == "voc-mobilenetv2 · OS 8" and p.cudnn_benchmark is None
    r = C.ratios(points)["voc-mobilenetv2 · float32 · 65 px"]
    assert set(r) == {"latency OS8/OS16", "FLOPs OS8/OS16", "latency OS32/OS16", "FLOPs OS32/OS16"}
    assert r["FLOPs OS8/OS16"] > 1 > r["FLOPs OS32/OS16"] > 0


def _lat(ms: float) -> C.LatencyResult:
    return C.LatencyResult(ms, ms, (ms,))


def test_ratios_cover_precisions():
    def point(os_, dtype, ms):
        return C.CostPoint(
            "m",
            "m",
            "random",
            os_,
            dtype,
            257,
            "cuda",
            100 * (32 // os_),
            _lat(ms),
            C.MemoryResult(0, C.CUDA_METHOD),
        )

    r = C.ratios([point(16, "float32", 10.0), point(8, "float32", 30.0), point(16, "float16", 5.0)])
    assert r["m · float32 · 257 px"] == {"latency OS8/OS16": 3.0, "FLOPs OS8/OS16": 2.0}
    assert r["m · OS 16 · 257 px"] == {"latency float16/float32": 0.5}


# --------------------------------------------------------------------------- atrous rate


def test_valid_tap_share_matches_a_torch_count():
    for rate, hw in [(36, (17, 17)), (6, (17, 17)), (12, (33, 21)), (1, (9, 9))]:
        ones = torch.ones(1, 1, *hw)
        real = F.conv2d(
            ones, torch.ones(1, 1, 3, 3), padding=rate, dilation=rate
        )  # taps on real cells
        expected = float(real.sum()) / (9 * hw[0] * hw[1])
        assert C.valid_tap_share(rate, hw) == pytest.approx(expected)
        assert C.valid_tap_share(rate, hw) == atrous.valid_tap_fraction(hw, 3, rate)
    assert C.valid_tap_share(36, 17) == pytest.approx(1 / 9)  # only the centre tap is real


def test_tap_table():
    rows = C.tap_table({8: (None, 12, 24), 32: (12, None)}, {8: (65, 65), 32: (17, 17)})
    assert [(r.output_stride, r.rate) for r in rows] == [(8, 12), (8, 24), (32, 12)]
    r = rows[2]
    assert r.spacing_px == 12 * 32 and r.span_px == 24 * 32 + 1
    assert r.valid_share == pytest.approx(C.valid_tap_share(12, 17))


def test_memory_vs_rate_structure_and_checks():
    points = C.memory_vs_rate([1, 4], channels=8, feature_hw=9, warmup=0, repeats=2)
    assert [p.rate for p in points] == [1, 4]
    for p in points:
        assert p.device == "cpu" and p.dtype == "float32" and p.cudnn_benchmark is None
        assert len(p.latency.runs) == 2 and p.memory.bytes >= 0 and p.memory.method
        if p.memory.allocated_bytes is not None:  # holds at least the output
            assert p.memory.allocated_bytes >= p.output_bytes
        assert 0 < p.valid_tap_share <= 1
    with pytest.raises(ValueError, match="CUDA only"):
        C.memory_vs_rate([1], channels=4, feature_hw=9, dtype="float16")
    with pytest.raises(ValueError):
        C.memory_vs_rate([0], channels=4, feature_hw=9)


def _rate_point(rate: int, mb: float, *, share: float = 1.0) -> C.RatePoint:
    return C.RatePoint(
        rate=rate,
        channels=256,
        feature_hw=(65, 65),
        dtype="float32",
        device="cpu",
        latency=_lat(10.0),
        memory=C.MemoryResult(int(mb * 2**20), C.RSS_METHOD),
        flops=1,
        valid_tap_share=share,
        output_bytes=1,
        padded_input_bytes=2**20 * rate,
        cudnn_benchmark=None,
    )


def test_rate_verdict_follows_the_numbers():
    flat = C.rate_verdict([_rate_point(1, 15.0), _rate_point(36, 14.5, share=0.3)])
    assert "does **not** cost memory" in flat and "rate 36" in flat and "30%" in flat
    grows = C.rate_verdict([_rate_point(1, 10.0), _rate_point(36, 40.0)])
    assert "**does** grow" in grows and "4.0×" in grows
    drops = C.rate_verdict([_rate_point(1, 15.0), _rate_point(36, 9.0)])
    assert "not larger" in drops and "does **not** cost memory" in drops
    tiny = C.rate_verdict([_rate_point(1, 0.01), _rate_point(36, 0.02)])
    assert "too little" in tiny
    assert "two rates" in C.rate_verdict([_rate_point(1, 1.0)])


def test_cudnn_benchmark_switch_is_restored_and_cuda_only():
    old = torch.backends.cudnn.benchmark
    with C.cudnn_benchmark(not old):
        assert torch.backends.cudnn.benchmark is (not old)
    assert torch.backends.cudnn.benchmark is old
    with C.cudnn_benchmark(None):
        assert torch.backends.cudnn.benchmark is old
    with pytest.raises(ValueError, match="CUDA"):
        C.cudnn_compare(_conv_model(nn.Conv2d(3, 2, 1)), 9)


def test_benchmark_models_are_the_deeplab_registry_models():
    names = C.benchmark_models()
    assert names[0] == "voc-mobilenetv2" and "deeplabv3_resnet101" in names and len(names) == 4


def test_machine_info():
    info = C.machine_info("cpu")
    assert info["device"] == "cpu" and info["torch"] == torch.__version__
    assert isinstance(info["cpu_model"], str) and info["cpu_count"]


# --------------------------------------------------------------------------- agreement, zoom


def test_agreement_and_boundaries():
    a = np.zeros((6, 8), np.uint8)
    a[:, 4:] = 1
    b = a.copy()
    b[0, 3] = 1  # one pixel differs, next to the boundary
    assert C.agreement(a, a) == 1.0
    assert C.agreement(a, b) == pytest.approx(47 / 48)
    near = B.boundary_mask(a, width=1)
    assert near[:, 3:5].all() and near.sum() == 12  # the two columns either side
    assert C.agreement(a, b, near) == pytest.approx(11 / 12)
    assert B.boundary_mask(a, width=2).sum() == 24
    assert B.share_near_boundary(b, a, 1) == 1.0 and B.share_near_boundary(a, a, 1) == 1.0
    far = a.copy()
    far[0, 0] = 1  # 3 px from the boundary
    assert B.share_near_boundary(far, a, 1) == 0.0 and B.share_near_boundary(far, a, 4) == 1.0
    assert not B.boundary_mask(np.zeros((4, 4), np.uint8)).any()
    with pytest.raises(ValueError):
        C.agreement(a, a[:, :4])


def test_crop_box_and_zoom():
    assert C.crop_box((100, 200), (0.5, 0.5), 20) == (40, 90, 60, 110)
    assert C.crop_box((100, 200), (0.0, 1.0), 20) == (0, 180, 20, 200)  # kept inside
    assert C.crop_box((10, 200), (0.5, 0.5), 64) == (0, 68, 10, 132)  # cut to the height
    img = np.arange(12, dtype=np.uint8).reshape(3, 4)
    z = C.boundary_zoom(img, (0, 0, 2, 2), out_side=8)
    assert z.shape == (8, 8) and (z[:4, :4] == 0).all() and (z[4:, 4:] == 5).all()
    rgb = np.zeros((10, 10, 3), np.uint8)
    assert C.boundary_zoom(rgb, (2, 2, 6, 8), out_side=30).shape == (20, 30, 3)
    with pytest.raises(ValueError):
        C.boundary_zoom(img, (2, 2, 2, 2))


def test_most_disagreement_finds_the_planted_block():
    a = np.zeros((100, 200), np.uint8)
    b = a.copy()
    b[60:80, 150:170] = 3
    y, x = C.most_disagreement(a, b, 20)
    assert (y, x) == pytest.approx((0.7, 0.8))
    assert C.most_disagreement(a, a, 20) == (0.5, 0.5)


@pytest.mark.slow
def test_compare_strides_on_real_probes(voc_models):
    from deeplab_viz.probe import run_probe

    rgb = np.zeros((90, 120, 3), np.uint8)
    rgb[20:70, 30:90] = (200, 40, 40)
    probes = {os_: run_probe(m, rgb, size=SIZE) for os_, m in voc_models.items()}
    flops = {os_: C.count_flops(m, probes[os_].padded_hw) for os_, m in voc_models.items()}
    rows = C.compare_strides(probes, flops)
    assert [r.output_stride for r in rows] == [8, 16, 32]
    cells = [r.feature_hw[0] * r.feature_hw[1] for r in rows]
    assert cells[0] > cells[1] > cells[2]
    assert rows[0].agreement == 1.0 and rows[0].boundary_agreement == 1.0
    assert all(0 <= r.agreement <= 1 for r in rows)
    acts = [r.activation_bytes for r in rows]
    assert acts[0] > acts[1] > acts[2]
    assert acts[0] == C.activation_bytes(probes[8])
    assert rows[2].label == "voc-mobilenetv2 · OS 32"
    assert dataclasses.asdict(rows[1])["flops"] == flops[16]


def test_memory_measurement_prints_nothing_to_the_servers_log():
    """The profiler behind the CPU memory figure must not write to stderr (issue: console noise)."""
    import subprocess
    import sys

    code = (
        "import torch\n"
        "from deeplab_viz.cost.memory import _allocated_peak\n"
        "out, peak = _allocated_peak(lambda: torch.ones(500, 500) * 2)\n"
        "assert peak is not None and peak >= 500 * 500 * 4, peak\n"
    )
    env = {k: v for k, v in __import__("os").environ.items() if k != "KINETO_LOG_LEVEL"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env,
        cwd=__import__("pathlib").Path(__file__).resolve().parent.parent,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stderr == ""


def test_rss_comes_from_psutil_in_bytes_on_every_os():
    """The old sampler multiplied macOS's ru_maxrss (already bytes) by 1024."""
    import psutil

    from deeplab_viz.cost.memory import _rss

    rss = _rss()
    assert abs(rss - psutil.Process().memory_info().rss) < 64 * 1024**2
    assert 10 * 1024**2 < rss < 64 * 1024**3  # bytes: a Python process with torch loaded


def test_interleaved_latency_times_every_stride_alike():
    models = {
        s: build_model(ModelSpec(name="shapes-deeplabv3", output_stride=s, device="cpu"))
        for s in (8, 32)
    }
    out = C.interleaved_latency({s: (m, 65) for s, m in models.items()}, warmup=1, repeats=4)
    assert set(out) == {8, 32}
    for r in out.values():
        assert len(r.runs) == 4 and r.median_ms > 0 and r.p90_ms >= r.median_ms
        assert r.spread().median_ms == pytest.approx(r.median_ms, abs=1e-3)
    with pytest.raises(ValueError):
        C.interleaved_latency({8: (models[8], 65)}, repeats=0)
