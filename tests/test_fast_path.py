"""The fused CPU path (models/fast.py) changes speed, never a pixel's class."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import GOLDEN_DIR, VOC_DIR
from PIL import Image
from torch import nn

from deeplab_viz.inference import forward_logits, prepare
from deeplab_viz.models import REGISTRY, ModelSpec, SameConv2d, build_model
from deeplab_viz.models.fast import FusedConv2d, fast_copy, fold_batch_norm, onednn_available
from deeplab_viz.probe import run_probe
from deeplab_viz.weights import WeightsUnavailable

pytestmark = pytest.mark.skipif(not onednn_available(), reason="torch built without oneDNN")


def _bn(c: int, seed: int) -> nn.BatchNorm2d:
    g = torch.Generator().manual_seed(seed)
    bn = nn.BatchNorm2d(c).eval()
    bn.weight.data = torch.rand(c, generator=g) + 0.5
    bn.bias.data = torch.randn(c, generator=g)
    bn.running_mean = torch.randn(c, generator=g)
    bn.running_var = torch.rand(c, generator=g) + 0.1
    return bn


@pytest.mark.parametrize(
    ("cls", "kernel", "stride", "dilation", "groups", "act"),
    [
        (nn.Conv2d, 1, 1, 1, 1, nn.ReLU()),
        (SameConv2d, 3, 1, 4, 8, nn.ReLU6()),  # depthwise, atrous
        (SameConv2d, 3, 2, 1, 8, nn.ReLU6()),  # SAME's asymmetric pad
        (SameConv2d, 3, 1, 12, 1, None),
        (nn.Conv2d, 3, 1, 2, 1, nn.Hardswish()),
    ],
)
@pytest.mark.parametrize("with_bn", [False, True])
def test_fused_conv_matches_torch(cls, kernel, stride, dilation, groups, act, with_bn):
    torch.manual_seed(0)
    pad = 0 if cls is SameConv2d else dilation * (kernel - 1) // 2
    conv = cls(8, 16 if groups == 1 else 8, kernel, stride=stride, dilation=dilation, groups=groups)
    if cls is nn.Conv2d:
        conv.padding = (pad, pad)
    bn = _bn(conv.out_channels, 1) if with_bn else None
    fused = FusedConv2d(conv, bn=bn, activation=act)
    x = torch.randn(1, 8, 27, 30)  # odd and even sides
    with torch.inference_mode():
        want = conv(x)
        if bn is not None:
            want = bn(want)
        if act is not None:
            want = act(want)
        got = fused(x.contiguous(memory_format=torch.channels_last))
    assert got.shape == want.shape
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)
    # the same module with autograd on takes torch's own path, same numbers
    torch.testing.assert_close(fused(x).detach(), want, rtol=1e-4, atol=1e-4)
    fused.pack()  # weight reordered once into oneDNN's blocked layout
    with torch.inference_mode():
        torch.testing.assert_close(fused(x), want, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(fused(x).detach(), want, rtol=1e-4, atol=1e-4)


def test_fold_batch_norm_is_the_affine_map():
    conv = nn.Conv2d(4, 6, 3, padding=1, bias=False)
    bn = _bn(6, 2)
    w, b = fold_batch_norm(conv, bn)
    x = torch.randn(2, 4, 9, 9)
    with torch.no_grad():
        torch.testing.assert_close(
            nn.functional.conv2d(x, w, b, padding=1), bn(conv(x)), rtol=1e-5, atol=1e-5
        )


TIE = 1e-5  # logit margin, relative to the largest logit, where rounding may pick either class


def assert_same_classes(ref, fast, rgb: np.ndarray, *, size: int = 513) -> None:
    """Every pixel keeps its class, except where the reference's top two logits tie.

    The fused path only reorders float additions (logits move by ~1e-5), so a
    pixel may flip only where its two best classes are closer than that.
    """
    prepared = prepare(rgb, ref, size=size)
    a, _ = forward_logits(ref, prepared)
    b, _ = forward_logits(fast, prepared)
    scale = max(1.0, float(a.abs().max()))  # random ResNets give logits in the hundreds
    torch.testing.assert_close(b, a, rtol=1e-3, atol=1e-5 * scale)
    flipped = a[0].argmax(0) != b[0].argmax(0)
    top2 = a[0].topk(2, dim=0).values
    margin = (top2[0] - top2[1])[flipped]
    assert flipped.float().mean() < 1e-4, f"{int(flipped.sum())} pixels changed class"
    assert (margin < TIE * scale).all(), (
        f"a pixel with margin {float(margin.max()):.2e} changed class"
    )


def _spec_models() -> list[tuple[str, int, bool]]:
    """Every model at its native stride; the default one at every stride."""
    out = []
    for name, entry in REGISTRY.items():
        out.append((name, entry.native_stride, entry.kind != "torchvision"))
    out += [("voc-mobilenetv2", 16, True), ("voc-mobilenetv2", 32, True)]
    return out


def _pair(name: str, stride: int, pretrained: bool):
    spec = ModelSpec(name=name, output_stride=stride, pretrained=pretrained, device="cpu")
    try:
        return build_model(spec, fast=False), build_model(spec)
    except WeightsUnavailable:
        if not pretrained:
            raise
        spec = ModelSpec(name=name, output_stride=stride, pretrained=False, device="cpu")
        return build_model(spec, fast=False), build_model(spec)


@pytest.fixture(scope="module")
def golden_rgb() -> np.ndarray:
    return np.asarray(Image.open(GOLDEN_DIR / "segmentation_input_rotation0.jpg").convert("RGB"))


@pytest.mark.parametrize(("name", "stride", "pretrained"), _spec_models())
def test_every_model_keeps_every_class_on_the_golden_image(name, stride, pretrained, golden_rgb):
    # torchvision models run with their trained weights when they are cached here,
    # otherwise seeded random ones (the fused path is the same code either way)
    ref, fast = _pair(name, stride, pretrained)
    assert fast.fast is not None and ref.fast is None
    size = 257 if REGISTRY[name].kind == "torchvision" else 513  # ResNets on a small input
    assert_same_classes(ref, fast, golden_rgb, size=size)


@pytest.mark.parametrize("name", ["voc-mobilenetv2", "voc-mobilenetv2-aspp"])
def test_real_photo_models_keep_every_class_on_val_images(name):
    ref, fast = _pair(name, REGISTRY[name].native_stride, True)
    images = sorted((VOC_DIR / "JPEGImages").glob("*.jpg"))[:4]
    assert images, "no val images"
    for path in images:
        rgb = np.asarray(Image.open(path).convert("RGB"))
        assert_same_classes(ref, fast, rgb)


def test_probe_on_the_fast_path_keeps_every_intermediate(golden_rgb):
    ref, fast = _pair("voc-mobilenetv2-aspp", 16, True)
    p, q = run_probe(ref, golden_rgb), run_probe(fast, golden_rgb)
    assert p.stage_sizes() == q.stage_sizes()
    assert [b.name for b in p.branches] == [b.name for b in q.branches]
    assert fast.aspp_rates == ref.aspp_rates  # read from the reference module
    assert [b.rate for b in q.branches] == list(ref.aspp_rates)
    for (k, s), t in zip(p.stages.items(), q.stages.values(), strict=True):
        np.testing.assert_allclose(s, t, rtol=1e-3, atol=1e-3, err_msg=k)
    np.testing.assert_allclose(p.projection, q.projection, rtol=1e-3, atol=1e-3)
    assert (p.class_map != q.class_map).mean() < 1e-4


def test_fast_copy_leaves_the_shared_module_alone():
    ref = build_model(ModelSpec(name="voc-mobilenetv2-aspp", device="cpu"), fast=False)
    before = {k: v.clone() for k, v in ref.module.state_dict().items()}
    kinds = [type(m) for m in ref.module.modules()]
    fast = fast_copy(ref.module)
    assert [type(m) for m in ref.module.modules()] == kinds
    for k, v in ref.module.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert any(isinstance(m, FusedConv2d) for m in fast.modules())
    assert not any(isinstance(m, nn.BatchNorm2d) for m in fast.modules())  # all folded
