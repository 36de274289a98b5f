"""Models: registry and spec validation, output-stride rewiring, the shared original untouched."""

from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.nn.functional as F

from deeplab_viz.models import (
    REGISTRY,
    ModelSpec,
    SameConv2d,
    build_model,
    current_wiring,
    expected_rates,
    load_base,
    plan,
    rewire,
)
from deeplab_viz.models.torchvision_models import class_names

H, W = 321, 481  # non-square, odd: every stride rounds differently


pytestmark = pytest.mark.torch_threads(2)  # pinned by conftest, restored after


@pytest.fixture(scope="module")
def tv_bases():
    """torchvision models with seeded random weights (no downloads in tests)."""
    return {
        name: load_base(name, pretrained=False)
        for name, e in REGISTRY.items()
        if e.kind == "torchvision"
    }


@pytest.fixture(scope="module")
def local_bases():
    """The ShapesWorld models that ship in deeplab_viz/assets/models."""
    return {name: load_base(name) for name, e in REGISTRY.items() if e.kind == "local"}


@pytest.fixture
def bases(voc_base, tv_bases, local_bases):
    return {"voc-mobilenetv2": voc_base, **tv_bases, **local_bases}


def _ceil_div(n: int, s: int) -> int:
    return math.ceil(n / s)


def _conv_out(n: int, s: int) -> int:
    """Size after a 3×3, pad 1, stride s conv (torch) or TF SAME (both ceil(n/s) for odd n)."""
    return (n + 2 - 3) // s + 1


# Stage name -> its stride at output stride 32, per backbone.
STAGE_STRIDES = {
    "tflite_mnv2": {"stem": 2, "stage2": 4, "stage3": 8, "stage4": 16, "stage5": 32},
    "resnet": {"stem": 4, "layer1": 4, "layer2": 8, "layer3": 16, "layer4": 32},
    "mobilenet_v3": {"stem": 2, "stage2": 4, "stage3": 8, "stage4": 16, "stage5": 32},
    "shapes_resnet": {"stem": 2, "layer1": 4, "layer2": 8, "layer3": 16, "layer4": 32},
}


def _expected_hw(stride: int) -> tuple[int, int]:
    """Every backbone here halves with ceil (SAME) or (n-1)//2+1 (pad 1): equal for all n."""
    h, w = H, W
    s = 1
    while s < stride:
        h, w, s = _conv_out(h, 2), _conv_out(w, 2), s * 2
    return h, w


@pytest.mark.parametrize("output_stride", [8, 16, 32])
@pytest.mark.parametrize("name", list(REGISTRY))
def test_stage_and_aspp_sizes_for_every_stride(name, output_stride, bases):
    base = bases[name]
    entry = REGISTRY[name]
    spec = ModelSpec(name=name, output_stride=output_stride, pretrained=entry.kind != "torchvision")
    model = build_model(spec, base=base)
    # Shapes only: the meta device applies torch's real shape rules without arithmetic.
    module = copy.deepcopy(model.module).to("meta")
    x = torch.empty(1, 3, H, W, device="meta")
    with torch.no_grad():
        feats = module.features(x)
        logits = module(x)
    strides = STAGE_STRIDES[entry.family]
    assert list(feats) == list(strides)
    for stage, native in strides.items():
        assert tuple(feats[stage].shape[-2:]) == _expected_hw(min(native, output_stride)), stage
    aspp_in = list(feats.values())[-1]
    assert tuple(aspp_in.shape[-2:]) == _expected_hw(output_stride)
    assert tuple(logits.shape) == (1, len(model.class_names), H, W)
    branches = module.aspp.branch_outputs(aspp_in)
    assert all(b.shape[-2:] == aspp_in.shape[-2:] for b in branches)


@pytest.mark.parametrize("name", list(REGISTRY))
def test_rewiring_never_touches_the_shared_original(name, bases):
    base = bases[name]
    module = base[0]
    entry = REGISTRY[name]
    before_state = {k: v.clone() for k, v in module.state_dict().items()}
    before_wiring = current_wiring(module, entry.family)
    before_rates = module.aspp.rates
    x = torch.randn(1, 3, 129, 161)
    with torch.no_grad():
        before_out = module(x)
    for os_ in (8, 16, 32):
        for policy in ("scale", "keep"):
            spec = ModelSpec(
                name=name,
                output_stride=os_,
                aspp_rates=policy,
                pretrained=entry.kind != "torchvision",
            )
            built = build_model(spec, base=base)
            if os_ != entry.native_stride:
                assert built.module is not module
    assert current_wiring(module, entry.family) == before_wiring
    assert module.aspp.rates == before_rates
    after_state = module.state_dict()
    assert all(torch.equal(before_state[k], after_state[k]) for k in before_state)
    with torch.no_grad():
        assert torch.equal(module(x), before_out)
    assert not module.training
    assert not any(p.requires_grad for p in module.parameters())


@pytest.mark.parametrize("name", list(REGISTRY))
def test_rewiring_to_the_native_stride_reproduces_the_model_exactly(name, bases):
    module, _ = bases[name]
    e = REGISTRY[name]
    copy = rewire(
        module, family=e.family, output_stride=e.native_stride, trained_stride=e.native_stride
    )
    x = torch.randn(1, 3, 97, 129)
    with torch.no_grad():
        assert torch.equal(copy(x), module(x))


def test_rewire_refuses_an_already_rewired_model(voc_base):
    module, _ = voc_base
    at16 = rewire(module, family="tflite_mnv2", output_stride=16, trained_stride=8)
    with pytest.raises(ValueError, match="as trained"):
        rewire(at16, family="tflite_mnv2", output_stride=32, trained_stride=8)


@pytest.mark.parametrize(
    ("name", "os_", "policy", "rates"),
    [
        ("deeplabv3_resnet50", 8, "scale", (12, 24, 36)),
        ("deeplabv3_resnet50", 16, "scale", (6, 12, 18)),
        ("deeplabv3_resnet101", 32, "scale", (3, 6, 9)),
        ("deeplabv3_resnet50", 32, "keep", (12, 24, 36)),
        ("deeplabv3_mobilenet_v3_large", 16, "scale", (12, 24, 36)),
        ("deeplabv3_mobilenet_v3_large", 8, "scale", (24, 48, 72)),
        ("deeplabv3_mobilenet_v3_large", 32, "scale", (6, 12, 18)),
    ],
)
def test_aspp_rates_follow_the_policy(name, os_, policy, rates, tv_bases):
    spec = ModelSpec(name=name, output_stride=os_, aspp_rates=policy, pretrained=False)
    model = build_model(spec, base=tv_bases[name])
    atrous = tuple(r for r in model.aspp_rates if r is not None)
    assert atrous == rates == expected_rates(spec)
    assert model.module.aspp.names[1:4] == tuple(f"rate {r}" for r in rates)
    for branch, kind in zip(model.module.aspp.branches, model.module.aspp.kinds, strict=True):
        if kind == "atrous":
            conv = branch[0]
            assert conv.padding[0] == conv.dilation[0]  # "same" size for a 3×3


def test_reach_in_image_pixels_is_kept_when_rates_scale():
    for os_ in (8, 16, 32):
        spec = ModelSpec(name="deeplabv3_resnet50", output_stride=os_, pretrained=False)
        assert [r * os_ for r in expected_rates(spec)] == [96, 192, 288]


def test_offline_model_has_only_1x1_and_pooling_branches(voc_base):
    module, labels = voc_base
    assert module.aspp.kinds == ("pooling", "1x1")
    assert module.aspp.names == ("image pooling", "1×1")
    assert len(labels) == 21 and labels[0] == "background" and "person" in labels
    # dilated depthwise convs at the native stride 8: rate 2 then rate 4
    wiring = current_wiring(module, "tflite_mnv2")
    assert [d for _, d in wiring] == [1] * 7 + [2] * 7 + [4] * 3
    assert [s for s, _ in wiring] == [1, 2, 1, 2] + [1] * 13


def test_class_names_come_from_weights_metadata():
    names = class_names("deeplabv3_resnet50")
    assert len(names) == 21 and names[0] == "__background__" and names[15] == "person"


def test_random_weights_are_seeded_and_labelled(tv_bases):
    again = load_base("deeplabv3_mobilenet_v3_large", pretrained=False)
    first = tv_bases["deeplabv3_mobilenet_v3_large"][0].state_dict()
    assert all(torch.equal(first[k], v) for k, v in again[0].state_dict().items())
    spec = ModelSpec(name="deeplabv3_resnet50", pretrained=False, output_stride=16)
    assert spec.label == "deeplabv3_resnet50 · OS 16 · architecture only (random weights)"
    assert ModelSpec().label == "voc-mobilenetv2 · OS 8"


def test_plan_arithmetic():
    # MobileNetV2 at OS 16, TF convention: block 13 gives up its stride, keeps rate 1
    native = [1, 2, 1, 2, 1, 1, 2, 1, 1, 1, 1, 1, 1, 2, 1, 1, 1]
    got = plan(native, stem_stride=2, output_stride=16, convention="after")
    assert got[6] == (2, 1) and got[13] == (1, 1) and got[14:] == [(1, 2)] * 3
    # torchvision MobileNetV3 convention: the block that gives up its stride is dilated
    got = plan([2, 1, 2, 1], stem_stride=4, output_stride=8, convention="at")
    assert got == [(2, 1), (1, 1), (1, 2), (1, 2)]
    with pytest.raises(ValueError):
        plan(native, stem_stride=2, output_stride=4, convention="after")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "nope"}, "unknown model"),
        ({"output_stride": 12}, "output stride"),
        ({"aspp_rates": "double"}, "rate policy"),
        ({"dtype": "int8"}, "dtype"),
        ({"dtype": "float16", "device": "cpu"}, "CUDA only"),
        ({"device": "tpu"}, "device"),
        ({"name": "voc-mobilenetv2", "pretrained": False}, "trained weights"),
    ],
)
def test_spec_validation(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ModelSpec(**kwargs)


def test_spec_defaults_resolve_and_hash():
    spec = ModelSpec()
    assert spec.output_stride == 8 and spec.device == (
        "cuda" if torch.cuda.is_available() else spec.device
    )
    assert ModelSpec(name="deeplabv3_mobilenet_v3_large", pretrained=False).output_stride == 16
    assert hash(ModelSpec(output_stride=8)) == hash(ModelSpec())
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA"):
            ModelSpec(device="cuda")


@pytest.mark.parametrize("size", [7, 8, 9, 16, 17, 33])
@pytest.mark.parametrize(("k", "s", "d"), [(3, 1, 1), (3, 2, 1), (3, 1, 2), (3, 1, 4), (1, 2, 1)])
def test_same_conv_matches_tensorflow_padding(size, k, s, d):
    """TF SAME: output ceil(n/s); total pad split with the odd pixel after."""
    conv = SameConv2d(1, 1, k, stride=s, dilation=d, bias=False)
    with torch.no_grad():
        conv.weight.fill_(1.0)
    x = torch.randn(1, 1, size, size)
    out = conv(x)
    assert out.shape[-1] == _ceil_div(size, s)
    total = max((_ceil_div(size, s) - 1) * s + (k - 1) * d + 1 - size, 0)
    before, after = total // 2, total - total // 2
    ref = F.conv2d(F.pad(x, (before, after, before, after)), conv.weight, stride=s, dilation=d)
    assert torch.allclose(out, ref)
