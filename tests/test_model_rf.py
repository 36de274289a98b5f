"""Receptive fields of the real models: the analytic tables against torch itself.

* jump == the stage's real stride (feature-map sizes of an actual forward),
* output sizes predicted by the table == the real ones (odd and even inputs),
* the gradient support of a centre unit == the analytic RF (positive-weight float64
  copies, so that no path cancels or saturates), including dilated stages,
* known values (ResNet-50 427 px at every output stride, MobileNetV2 491 px, ...).

Shared models are never changed: everything that edits weights works on a deep copy.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn

from deeplab_viz import receptive_field as R
from deeplab_viz.models import ModelSpec, build_model
from deeplab_viz.models.layers import SameConv2d
from deeplab_viz.models.registry import load_base
from deeplab_viz.receptive_field import Layer

TORCHVISION = ("deeplabv3_mobilenet_v3_large", "deeplabv3_resnet50", "deeplabv3_resnet101")


pytestmark = pytest.mark.torch_threads(2)  # pinned by conftest, restored after


@pytest.fixture(scope="module")
def tv_bases():
    """Random-weight torchvision bases, built once (about a second each)."""
    return {name: load_base(name, pretrained=False) for name in TORCHVISION}


def _model(name, os_, *, voc_base=None, tv_bases=None):
    if name == "voc-mobilenetv2":
        return build_model(ModelSpec(name, output_stride=os_), base=voc_base).module
    spec = ModelSpec(name, pretrained=False, output_stride=os_)
    return build_model(spec, base=tv_bases[name]).module


# --------------------------------------------------------------------------- layer extraction


def test_layer_of_module() -> None:
    assert R.layer_of_module(nn.Conv2d(3, 4, 3, 2, 1), "a") == Layer(3, 2, 1, 1, name="a")
    assert R.layer_of_module(nn.Conv2d(3, 4, 3, padding=4, dilation=4)) == Layer(3, 1, 4, 4)
    assert R.layer_of_module(nn.Conv2d(3, 4, 5, padding="same")) == Layer(5)
    assert R.layer_of_module(nn.Conv2d(3, 4, 5, padding="valid")) == Layer(5, padding=0)
    assert R.layer_of_module(SameConv2d(3, 3, 3, stride=2, groups=3)) == Layer(3, 2)
    assert R.layer_of_module(nn.MaxPool2d(3, 2, 1)) == Layer(3, 2, 1, 1)
    assert R.layer_of_module(nn.AvgPool2d(2)) == Layer(2, 2, 1, 0)
    assert R.layer_of_module(nn.Conv2d(3, 4, 1)) is None  # 1×1 stride 1: changes nothing
    assert R.layer_of_module(nn.Conv2d(3, 4, 1, stride=2)) == Layer(1, 2, 1, 0)
    assert R.layer_of_module(nn.ReLU()) is None
    with pytest.raises(ValueError, match="non-square"):
        R.layer_of_module(nn.Conv2d(3, 4, (1, 3)))


def test_model_layers_skip_shortcuts_and_squeeze_excite() -> None:
    from torchvision.models.resnet import Bottleneck
    from torchvision.ops import SqueezeExcitation

    class Toy(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stages = nn.ModuleDict(
                {
                    "a": nn.Sequential(
                        Bottleneck(8, 2, stride=2, downsample=nn.Sequential(nn.Conv2d(8, 8, 1, 2))),
                        SqueezeExcitation(8, 2),
                        nn.Conv2d(8, 8, 3, padding=2, dilation=2),
                    )
                }
            )

    layers = R.model_layers(Toy())["a"]
    assert layers == [Layer(3, 2, 1, 1, name="a.0.conv2"), Layer(3, 1, 2, 2, name="a.2")]
    with pytest.raises(ValueError, match="DeepLabV3"):
        R.model_layers(nn.Conv2d(1, 1, 3))


@pytest.mark.parametrize("os_", [8, 16, 32])
def test_resnet50_layers_are_the_preset(tv_bases, os_) -> None:
    """The walked ResNet-50 equals the hand-written preset minus its 1×1 layers."""
    model = _model("deeplabv3_resnet50", os_, tv_bases=tv_bases)
    walked = [la for layers in R.model_layers(model).values() for la in layers]
    preset = [la for la in R.PRESETS[f"ResNet-50 @ OS {os_}"] if la.kernel > 1]

    def key(la: Layer) -> tuple:
        return la.kernel, la.stride, la.dilation, la.resolved_padding

    assert [key(la) for la in walked] == [key(la) for la in preset]
    assert walked[0].name == "stem.0" and walked[-1].name == "layer4.2.conv2"


def test_offline_mobilenet_layers_are_the_preset(voc_base) -> None:
    model = _model("voc-mobilenetv2", 8, voc_base=voc_base)
    walked = [la for layers in R.model_layers(model).values() for la in layers]
    preset = R.PRESETS["MobileNetV2 (DeepLab, OS 8)"]
    assert [(la.kernel, la.stride, la.dilation) for la in walked] == [
        (la.kernel, la.stride, la.dilation) for la in preset
    ]
    assert all(la.padding is None for la in walked)  # TF SAME: padded per input


# --------------------------------------------------------------------------- jump == stride


def _feature_sizes(model, hw) -> dict[str, tuple[int, int]]:
    with torch.inference_mode():
        feats = model.features(torch.zeros(1, 3, *hw))
    return {name: tuple(f.shape[-2:]) for name, f in feats.items()}


@pytest.mark.parametrize("os_", [8, 16, 32])
@pytest.mark.parametrize("name", ("voc-mobilenetv2", *TORCHVISION))
def test_jump_is_the_real_stride(name, os_, voc_base, tv_bases) -> None:
    model = _model(name, os_, voc_base=voc_base, tv_bases=tv_bases)
    rows = [r for r in R.model_rf_table(model) if r.part == "stage"]
    assert rows[-1].jump == os_
    real64 = _feature_sizes(model, (64, 64))
    odd = (65, 97)  # odd sides (TF models get OS·k+1) and a non-square image
    real_odd = _feature_sizes(model, odd)
    for row in rows:
        h, w = real64[row.name]
        assert (64 // h, 64 // w) == (row.jump, row.jump), (name, os_, row.name)
        assert row.output_hw(odd) == real_odd[row.name], (name, os_, row.name)
        assert row.start == 0.0  # odd kernels, "same" padding everywhere
    for row in R.model_rf_table(model):
        assert row.jump == os_ or row.part == "stage"


# --------------------------------------------------------------------------- known values


def test_known_sizes(voc_base, tv_bases) -> None:
    finals = {}
    for name in ("voc-mobilenetv2", *TORCHVISION):
        for os_ in (8, 16, 32):
            rows = R.model_rf_table(_model(name, os_, voc_base=voc_base, tv_bases=tv_bases))
            finals[name, os_] = {r.key: r for r in rows}
    for os_ in (8, 16, 32):
        # Trading strides for dilation keeps the RF (TF and torchvision ResNet convention).
        assert finals["voc-mobilenetv2", os_]["stage:stage5"].size == 491
        assert finals["deeplabv3_resnet50", os_]["stage:layer4"].size == 427
        assert finals["deeplabv3_resnet101", os_]["stage:layer4"].size == 971
        preset = R.rf_table(R.PRESETS[f"ResNet-50 @ OS {os_}"])[-1]
        final = finals["deeplabv3_resnet50", os_]["stage:layer4"]
        assert (final.size, final.jump) == (preset.size, preset.jump)
    # MobileNetV3 (torchvision) dilates the layer that gives up its stride: RF changes.
    assert [
        finals["deeplabv3_mobilenet_v3_large", o]["stage:stage5"].size for o in (8, 16, 32)
    ] == [
        675,
        659,
        595,
    ]
    # ASPP at OS 16 with rates scaled to 6/12/18: + 2·r·16 px; 1×1 adds nothing.
    r16 = finals["deeplabv3_resnet50", 16]
    assert [r16[f"aspp:{i}"].size_label for i in range(5)] == [
        "427",
        "619",
        "811",
        "1003",
        "global",
    ]
    assert r16["aspp:4"].local_size == 427 and r16["aspp:4"].is_global
    # Logits: the widest branch + torchvision's 3×3 head conv; global through pooling.
    assert r16["logits"].is_global and r16["logits"].local_size == 1003 + 2 * 16
    voc = finals["voc-mobilenetv2", 8]
    assert voc["aspp:0"].is_global and voc["aspp:1"].size == 491  # [pooling, 1×1]
    assert voc["logits"].local_size == 491  # 1×1 projection and 1×1 logits


def test_clipping_against_the_image(tv_bases) -> None:
    rows = {
        r.key: r for r in R.model_rf_table(tv_bases["deeplabv3_resnet50"][0], image_hw=(385, 513))
    }
    layer4 = rows["stage:layer4"]  # 427 px centred on the image: fits the width, not the height
    box = layer4.centre_box
    assert box.size == 427 and box.is_clipped and not box.covers_image
    assert box.inside_fraction == pytest.approx(385 / 427)
    assert rows["stage:layer1"].centre_box.inside_fraction == 1.0
    assert rows["aspp:4"].centre_box.covers_image and rows["aspp:4"].centre_box.inside_fraction == 1
    d = rows["aspp:3"].as_dict()
    assert d["clipped"] and d["size"] == 1003 and 0 < d["inside_fraction"] < 0.25
    assert rows["aspp:4"].as_dict()["size"] == "global"


# --------------------------------------------------------------------------- gradient support


def _positive_copy(model: nn.Module) -> nn.Module:
    """float64 copy, every conv weight 0.5/fan_in > 0 and bias 0.01: no path cancels,
    activations stay positive and small (ReLU6 never saturates). Max pooling routes the
    gradient to one pixel per window, so it becomes average pooling with the same
    kernel, stride and padding (the same RF)."""
    m = copy.deepcopy(model).double()
    for parent in list(m.modules()):
        for child_name, child in parent.named_children():
            if isinstance(child, nn.MaxPool2d):
                avg = nn.AvgPool2d(child.kernel_size, child.stride, child.padding)
                setattr(parent, child_name, avg)
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, nn.Conv2d):
                fan_in = mod.weight[0].numel()
                mod.weight.fill_(0.5 / fan_in)
                if mod.bias is not None:
                    mod.bias.fill_(0.01)
    return m


def _support(model: nn.Module, stage: str, n: int) -> tuple[np.ndarray, tuple[int, int]]:
    fn = dict(model.stages.named_children())
    names = list(fn)
    x = torch.rand(1, 3, n, n, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    x = (x * 0.9 + 0.1).requires_grad_(True)
    h = x
    for name in names[: names.index(stage) + 1]:
        h = fn[name](h)
    cy, cx = (h.shape[-2] - 1) // 2, (h.shape[-1] - 1) // 2
    (g,) = torch.autograd.grad(h[0, :, cy, cx].sum(), x)
    return g[0].abs().sum(0).numpy(), (cy, cx)


@pytest.mark.parametrize(
    "name,os_,stage,n",
    [
        ("voc-mobilenetv2", 8, "stage2", 41),
        ("voc-mobilenetv2", 8, "stage4", 289),  # dilated (rate 2) after stride 8
        ("voc-mobilenetv2", 32, "stage3", 97),
        ("deeplabv3_resnet50", 8, "layer1", 65),
        ("deeplabv3_resnet50", 8, "layer2", 129),
    ],
)
def test_gradient_support_is_the_analytic_rf(name, os_, stage, n, voc_base, tv_bases) -> None:
    shared = _model(name, os_, voc_base=voc_base, tv_bases=tv_bases)
    before = {k: v.clone() for k, v in shared.state_dict().items()}
    model = _positive_copy(shared)
    row = next(r for r in R.model_rf_table(model) if r.key == f"stage:{stage}")
    g, (cy, cx) = _support(model, stage, n)
    (y0, y1), (x0, x1) = (R.rf_bounds(R.rf_table(row.layers)[-1], c) for c in (cy, cx))
    assert 0 <= y0 and y1 < n and 0 <= x0 and x1 < n, "the RF must fit the test input"
    nz = np.argwhere(g > 0)
    # inside the analytic RF and touching all four of its sides
    assert nz.min(0).tolist() == [y0, x0] and nz.max(0).tolist() == [y1, x1]
    # and exactly the footprint (holes included, if the rates leave any)
    fp = R.rf_footprint(list(row.layers)) > 0
    expected = np.zeros((n, n), dtype=bool)
    expected[y0 : y1 + 1, x0 : x1 + 1] = np.outer(fp, fp)
    np.testing.assert_array_equal(g > 0, expected)
    for k, v in shared.state_dict().items():  # the shared model is untouched
        assert torch.equal(v, before[k]), k


def test_squeeze_excite_makes_the_true_rf_global(tv_bases) -> None:
    """Why the page says so: MobileNetV3's SE blocks see the whole image."""
    model = _positive_copy(_model("deeplabv3_mobilenet_v3_large", 16, tv_bases=tv_bases))
    row = next(r for r in R.model_rf_table(model) if r.key == "stage:stage3")
    g, _ = _support(model, "stage3", 161)
    assert row.size < 161 and (g > 0).all()
