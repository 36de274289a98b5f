"""The ShapesWorld DeepLabv3 / v3+: shipped files, registry, rewiring, decoder, fallback."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch

from deeplab_viz import shapes_world as SW
from deeplab_viz.models import REGISTRY, ModelSpec, build_model, current_wiring, load_base, rewire
from deeplab_viz.models import shapes as MS
from deeplab_viz.models.registry import LOCAL_DIR, load_with_fallback
from deeplab_viz.train_shapes import normalise

NAMES = ("shapes-deeplabv3", "shapes-deeplabv3plus")
STEMS = {"shapes-deeplabv3": "shapes_deeplabv3", "shapes-deeplabv3plus": "shapes_deeplabv3plus"}
STAGE_STRIDES = {"stem": 2, "layer1": 4, "layer2": 8, "layer3": 16, "layer4": 32}
H, W = 321, 481  # odd, non-square: every stride rounds


pytestmark = pytest.mark.torch_threads(2)  # pinned by conftest, restored after


@pytest.fixture(scope="module")
def bases():
    return {name: load_base(name) for name in NAMES}


def _hw(stride: int) -> tuple[int, int]:
    h, w, s = H, W, 1
    while s < stride:
        h, w, s = (h - 1) // 2 + 1, (w - 1) // 2 + 1, s * 2
    return h, w


@pytest.mark.parametrize("name", NAMES)
def test_shipped_files_are_small_and_described_by_their_json(name):
    stem = STEMS[name]
    pt, js = LOCAL_DIR / f"{stem}.pt", LOCAL_DIR / f"{stem}.json"
    assert pt.stat().st_size < 4_000_000
    meta = json.loads(js.read_text())
    assert meta["name"] == name
    assert meta["class_names"] == list(SW.CLASS_NAMES)
    arch, train = meta["architecture"], meta["training"]
    assert arch["family"] == "shapes_resnet" and arch["align_corners"] is False
    assert arch["parameters"] < 3_000_000
    assert train["wall_time_s"] > 0 and train["steps_done"] > 0
    assert {"budget_minutes", "lr", "batch", "optimizer", "threads"} <= set(train)
    assert meta["dataset"]["train_seeds"][1] <= SW.HELDOUT_START  # disjoint from held-out
    assert meta["machine"]["cpu_count"] >= 1
    state = torch.load(pt, map_location="cpu", weights_only=True)
    assert all(v.dtype in (torch.float16, torch.int64) for v in state.values())


@pytest.mark.parametrize("name", NAMES)
def test_registry_entry_comes_from_the_json(name):
    e = REGISTRY[name]
    meta = json.loads((LOCAL_DIR / f"{STEMS[name]}.json").read_text())
    assert e.kind == "local" and e.family == "shapes_resnet"
    # Trained at OS 16, then fine-tuned at OS 8 (ASPP rates scaled 2/4/6 → 4/8/12).
    assert e.native_stride == meta["architecture"]["output_stride"] == 8
    assert e.trained_rates == tuple(meta["architecture"]["aspp_rates"]) == (4, 8, 12)
    phases = meta["training"]["phases"]
    assert [(p["output_stride"], tuple(p["aspp_rates"])) for p in phases] == [
        (16, (2, 4, 6)),
        (8, (4, 8, 12)),
    ]
    assert 0 < phases[1]["from_step"] < meta["training"]["steps_done"]
    assert e.mean == tuple(meta["input"]["mean"]) and e.std == tuple(meta["input"]["std"])
    assert not e.align_corners


@pytest.mark.parametrize("name", NAMES)
def test_loaded_model_is_frozen_and_named(name, bases):
    module, labels = bases[name]
    assert labels == SW.CLASS_NAMES
    assert not module.training and not any(p.requires_grad for p in module.parameters())
    assert module.aspp.kinds == ("1x1", "atrous", "atrous", "atrous", "pooling")
    assert module.aspp.names == ("1×1", "rate 4", "rate 8", "rate 12", "image pooling")
    assert list(module.stages) == list(STAGE_STRIDES)
    assert MS.count_parameters(module) < 3_000_000


@pytest.mark.parametrize("output_stride", [8, 16, 32])
@pytest.mark.parametrize("name", NAMES)
def test_stage_and_logit_sizes_for_every_stride(name, output_stride, bases):
    model = build_model(ModelSpec(name=name, output_stride=output_stride), base=bases[name])
    module = copy.deepcopy(model.module).to("meta")
    x = torch.empty(1, 3, H, W, device="meta")
    with torch.no_grad():
        feats = module.features(x)
        logits = module(x)
    for stage, native in STAGE_STRIDES.items():
        assert tuple(feats[stage].shape[-2:]) == _hw(min(native, output_stride)), stage
    assert tuple(logits.shape) == (1, 5, H, W)
    assert all(
        b.shape[-2:] == feats["layer4"].shape[-2:]
        for b in module.aspp.branch_outputs(feats["layer4"])
    )


@pytest.mark.parametrize("name", NAMES)
def test_rewiring_to_the_native_stride_reproduces_the_model_exactly(name, bases):
    module, _ = bases[name]
    again = rewire(module, family="shapes_resnet", output_stride=8, trained_stride=8)
    x = torch.randn(2, 3, 97, 129)
    with torch.no_grad():
        assert torch.equal(again(x), module(x))


@pytest.mark.parametrize("name", NAMES)
def test_rewiring_never_touches_the_shared_original(name, bases):
    module, _ = bases[name]
    before = {k: v.clone() for k, v in module.state_dict().items()}
    wiring = current_wiring(module, "shapes_resnet")
    x = torch.randn(1, 3, 64, 80)
    with torch.no_grad():
        out = module(x)
    for os_ in (16, 32):
        for policy in ("scale", "keep"):
            spec = ModelSpec(name=name, output_stride=os_, aspp_rates=policy)
            assert build_model(spec, base=bases[name]).module is not module
    assert current_wiring(module, "shapes_resnet") == wiring
    assert module.aspp.rates == (None, 4, 8, 12, None)
    assert all(torch.equal(before[k], v) for k, v in module.state_dict().items())
    with torch.no_grad():
        assert torch.equal(module(x), out)


@pytest.mark.parametrize(
    ("os_", "policy", "rates"),
    [
        (8, "scale", (4, 8, 12)),
        (16, "scale", (2, 4, 6)),
        (32, "scale", (1, 2, 3)),
        (32, "keep", (4, 8, 12)),
    ],
)
def test_aspp_rates_follow_the_policy(os_, policy, rates, bases):
    name = "shapes-deeplabv3"
    model = build_model(
        ModelSpec(name=name, output_stride=os_, aspp_rates=policy), base=bases[name]
    )
    assert tuple(r for r in model.aspp_rates if r is not None) == rates


def test_native_wiring_dilates_layer3_by_two_and_layer4_by_four(bases):
    module, _ = bases["shapes-deeplabv3"]
    wiring = current_wiring(module, "shapes_resnet")
    # sites: layer1 (2), layer2 (2), layer3 (2 blocks: 4), layer4 (2 blocks: 4)
    assert [s for s, _ in wiring] == [2, 1, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1]
    assert [d for _, d in wiring] == [1, 1, 1, 1, 1, 2, 2, 2, 2, 4, 4, 4]


def test_v3plus_decodes_from_the_low_level_stage(bases):
    module, _ = bases["shapes-deeplabv3plus"]
    assert isinstance(module, MS.DeepLabV3Plus) and module.low_level == "layer1"
    x = torch.randn(1, 3, 96, 96)
    with torch.no_grad():
        feats = module.features(x)
        projection = module.aspp(feats["layer4"])
        manual = module.upsample(module.decode(projection, feats), x.shape[-2:])
        assert module.decode(projection, feats).shape[-2:] == feats["layer1"].shape[-2:]
        assert torch.allclose(manual, module(x))
        with pytest.raises(ValueError, match="decode"):
            module.head(projection)
    v3, _ = bases["shapes-deeplabv3"]
    with torch.no_grad():
        feats = v3.features(x)
        projection = v3.aspp(feats["layer4"])
        assert torch.equal(v3.decode(projection, feats), v3.head(projection))
        # switching a branch off is the same forward with that branch's output zeroed
        outs = v3.aspp.branch_outputs(feats["layer4"])
        zeroed = [torch.zeros_like(o) if i == 1 else o for i, o in enumerate(outs)]
        by_hand = v3.upsample(v3.head(v3.aspp.project(torch.cat(zeroed, 1))), x.shape[-2:])
        torch.testing.assert_close(
            v3.logits_from_branches(outs, feats, x.shape[-2:], off={1}), by_hand
        )
        torch.testing.assert_close(v3.logits_from_branches(outs, feats, x.shape[-2:]), v3(x))


def test_v3_runs_through_the_probe(bases):
    from deeplab_viz.aspp import ablate, projection_split
    from deeplab_viz.probe import run_probe

    model = build_model(ModelSpec(name="shapes-deeplabv3"), base=bases["shapes-deeplabv3"])
    scene = SW.generate_scene(SW.HELDOUT_START)
    probe = run_probe(model, scene.rgb, size=160)
    assert probe.class_names == SW.CLASS_NAMES
    assert probe.stage_sizes()["layer4"] == (128, 20, 20)
    assert [b.name for b in probe.branches] == [
        "1×1",
        "rate 4",
        "rate 8",
        "rate 12",
        "image pooling",
    ]
    with torch.no_grad():
        direct = model.module(normalise(scene.rgb[None])).argmax(1)[0].numpy()
    assert (probe.class_map == direct).mean() > 0.999  # the probe is the model's own forward
    assert (probe.class_map == scene.mask).mean() > 0.8
    assert projection_split(model, probe).max_error < 1e-3
    assert 0 <= ablate(model, probe, ["image pooling"]).changed_fraction <= 1


def test_v3plus_runs_through_the_probe(bases):
    """The probe calls ``decode(projection, stages)``: v3+ reads its low-level stage there."""
    from deeplab_viz.aspp import ablate
    from deeplab_viz.probe import run_probe

    model = build_model(ModelSpec(name="shapes-deeplabv3plus"), base=bases["shapes-deeplabv3plus"])
    scene = SW.generate_scene(SW.HELDOUT_START)
    probe = run_probe(model, scene.rgb, size=160)
    with torch.no_grad():
        direct = model.module(normalise(scene.rgb[None])).argmax(1)[0].numpy()
    assert (probe.class_map == direct).mean() > 0.999
    assert 0 <= ablate(model, probe, ["image pooling"]).changed_fraction <= 1


def test_a_shapes_model_is_never_the_fallback(monkeypatch, tmp_path):
    """No VOC file, no real-photo model, no torchvision weights, no network: an error that
    says what to get, never a ShapesWorld model on a photo."""
    import torch.hub

    from deeplab_viz.models.registry import REAL_PHOTO_MODEL
    from deeplab_viz.weights import WeightsUnavailable

    monkeypatch.setenv("DEEPLAB_VIZ_WEIGHTS_DIR", str(tmp_path / "none"))
    monkeypatch.setenv("DEEPLAB_VIZ_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("DEEPLAB_VIZ_OFFLINE", "1")
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    monkeypatch.delitem(REGISTRY, REAL_PHOTO_MODEL, raising=False)
    assert "shapes-deeplabv3" in REGISTRY
    for asked in ("deeplabv3_resnet50", "voc-mobilenetv2"):
        with pytest.raises(WeightsUnavailable) as err:
            load_with_fallback(ModelSpec(name=asked, output_stride=16))
        assert "\n" not in err.value.message


def test_random_weights_are_offered_and_seeded():
    a, _ = load_base("shapes-deeplabv3", pretrained=False)
    b, _ = load_base("shapes-deeplabv3", pretrained=False)
    assert all(torch.equal(v, b.state_dict()[k]) for k, v in a.state_dict().items())
    assert ModelSpec(name="shapes-deeplabv3", pretrained=False).label.endswith("random weights)")


def test_training_loop_smoke(tmp_path):
    """A few steps on tiny scenes: files written, loadable, metadata complete."""
    from deeplab_viz.train_shapes import TrainConfig, train

    cfg = TrainConfig(arch="v3plus", steps=4, batch=2, size=64, workers=0, threads=1, warmup=1)
    model, meta = train(cfg, tmp_path, log=lambda line: None)
    loaded, names = MS.load_shapes_model("shapes_deeplabv3plus", folder=tmp_path)
    assert names == SW.CLASS_NAMES and meta["training"]["steps_done"] == 4
    assert meta["dataset"]["train_seeds"] == [0, 8]
    # the last 30 % of the steps ran at OS 8: the files describe the model as it ended
    phases = meta["training"]["phases"]
    assert [(p["output_stride"], p["from_step"]) for p in phases] == [(16, 0), (8, 3)]
    assert meta["architecture"]["output_stride"] == 8
    assert meta["architecture"]["aspp_rates"] == [4, 8, 12]
    assert current_wiring(loaded, "shapes_resnet") == current_wiring(model, "shapes_resnet")
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        diff = (loaded(x) - model(x)).abs().max()
    assert diff < 0.05  # float16 storage
    assert np.isfinite(meta["training"]["wall_time_s"])
