"""Multi-scale + flip inference (deeplab_viz.multiscale), segment_refined, and the CLI flags."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import TFLITE, VOC_DIR
from torch import nn

from deeplab_viz import shapes_world as SW
from deeplab_viz.cli import main
from deeplab_viz.crf import CRFParams
from deeplab_viz.inference import forward_logits, prepare, segment
from deeplab_viz.models import LoadedModel, ModelSpec, build_model, load_base
from deeplab_viz.multiscale import (
    DEEPLAB_SCALES,
    check_scales,
    multiscale,
    parse_scales,
    scaled_size,
)
from deeplab_viz.paths import SAMPLES_DIR
from deeplab_viz.refine import InferenceOptions, segment_refined

SAMPLES = SAMPLES_DIR
needs_weights = pytest.mark.skipif(not TFLITE.exists(), reason="offline model not found")


@pytest.fixture(scope="module")
def shapes_base():
    return load_base("shapes-deeplabv3")


@pytest.fixture(scope="module")
def shapes_model(shapes_base):
    return build_model(ModelSpec("shapes-deeplabv3", device="cpu"), base=shapes_base)


@pytest.fixture(scope="module")
def scene_rgb() -> np.ndarray:
    return SW.generate_scene(3, size=120).rgb[:, :100]  # not square: the flip matters


# ------------------------------------------------------------ hand-computed averaging


class SizeLogits(nn.Module):
    """Constant logits (0, d) at every pixel, d chosen by the input's height."""

    D = {100: 8.0, 200: -2.0, 300: -2.0}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, _, h, w = x.shape
        out = torch.zeros(n, 2, h, w)
        out[:, 1] = self.D[h]
        return out


def _tiny_model() -> LoadedModel:
    # a torchvision entry: no align-corners padding, so the module sees the size asked for
    spec = ModelSpec("deeplabv3_mobilenet_v3_large", pretrained=False, device="cpu")
    return LoadedModel(spec=spec, module=SizeLogits(), class_names=("a", "b"))


@pytest.mark.parametrize("flip", [False, True])
def test_views_are_merged_by_averaging_softmax_not_logits(flip):
    """Three views with logit gaps 8, −2, −2: softmax says class 1 with probability
    (σ(8) + 2σ(−2)) / 3 ≈ 0.413, so class 0 wins; averaged logits (gap 4/3) would
    say class 1. DeepLab's code averages softmax."""
    rgb = np.full((100, 100, 3), 128, np.uint8)
    out = multiscale(_tiny_model(), rgb, size=200, scales=(0.5, 1.0, 1.5), flip=flip)
    sigmoid = lambda d: 1 / (1 + np.exp(-d))  # noqa: E731
    expected = (sigmoid(8.0) + 2 * sigmoid(-2.0)) / 3
    assert out.probs.shape == (1, 2, 100, 100)
    np.testing.assert_allclose(out.probs[0, 1].numpy(), expected, rtol=0, atol=1e-12)
    assert (out.class_map == 0).all()
    assert np.mean([v.logits[0, 1].mean().item() for v in out.views]) > 0  # logits say 1
    assert [v.size for v in out.views] == (
        [100, 100, 200, 200, 300, 300] if flip else [100, 200, 300]
    )
    assert [v.flipped for v in out.views] == ([False, True] * 3 if flip else [False] * 3)
    assert [v.input_hw for v in out.views][0] == (100, 100)
    # softmax of the returned logits is the average
    np.testing.assert_allclose(
        torch.softmax(out.logits.double(), 1)[0, 1].numpy(), expected, atol=1e-6
    )
    np.testing.assert_allclose(out.scale_probs(0.5)[0, 1].numpy(), sigmoid(8.0), atol=1e-6)


def test_kept_logits_can_be_dropped():
    rgb = np.full((100, 100, 3), 128, np.uint8)
    out = multiscale(_tiny_model(), rgb, size=200, scales=(0.5, 1.0), keep_logits=False)
    assert all(v.logits is None for v in out.views)
    with pytest.raises(ValueError, match="kept"):
        out.scale_probs(0.5)


# ---------------------------------------------------------------- real networks


def test_one_scale_without_flip_is_segment(shapes_model, scene_rgb):
    out = multiscale(shapes_model, scene_rgb, size=97, scales=(1.0,), flip=False)
    logits, _ = forward_logits(shapes_model, prepare(scene_rgb, shapes_model, size=97))
    assert len(out.views) == 1 and torch.equal(out.views[0].logits, logits)
    np.testing.assert_array_equal(
        out.class_map, segment(shapes_model, scene_rgb, size=97).class_map
    )


@needs_weights
def test_one_scale_without_flip_is_segment_for_the_voc_model(voc_base):
    from deeplab_viz.images import load_image

    model = build_model(ModelSpec("voc-mobilenetv2", output_stride=16, device="cpu"), base=voc_base)
    rgb = load_image(SAMPLES / "chelsea.png").rgb
    out = multiscale(model, rgb, size=257, scales=(1.0,), flip=False)
    seg = segment(model, rgb, size=257)
    np.testing.assert_array_equal(out.class_map, seg.class_map)
    refined = segment_refined(model, rgb, size=257, options=InferenceOptions((1.0,)))
    np.testing.assert_array_equal(refined.class_map, seg.class_map)


def test_flip_makes_the_prediction_mirror_equivariant(shapes_model, scene_rgb):
    mirrored = np.ascontiguousarray(scene_rgb[:, ::-1])
    kw = {"size": 97, "scales": (0.75, 1.0, 1.25)}
    a = multiscale(shapes_model, scene_rgb, flip=True, **kw)
    b = multiscale(shapes_model, mirrored, flip=True, **kw)
    assert torch.equal(b.probs, a.probs.flip(-1))  # exactly
    # the network alone is not: this is what the flipped views buy
    c = multiscale(shapes_model, scene_rgb, flip=False, **kw)
    d = multiscale(shapes_model, mirrored, flip=False, **kw)
    assert (d.probs - c.probs.flip(-1)).abs().max() > 1e-3


def _models():
    names = ["shapes-deeplabv3", "deeplabv3_mobilenet_v3_large"]
    return names + (["voc-mobilenetv2"] if TFLITE.exists() else [])


@pytest.mark.parametrize("name", _models())
def test_every_model_at_every_output_stride(name, scene_rgb):
    pretrained = name != "deeplabv3_mobilenet_v3_large"
    base = load_base(name, pretrained=pretrained)
    for os_ in (8, 16, 32):
        spec = ModelSpec(name, output_stride=os_, pretrained=pretrained, device="cpu")
        model = build_model(spec, base=base)
        out = multiscale(model, scene_rgb, size=81, scales=(0.8, 1.0, 1.5), flip=True)
        k = len(model.class_names)
        assert out.probs.shape == (1, k, *scene_rgb.shape[:2])
        torch.testing.assert_close(out.probs.sum(1), torch.ones(1, *scene_rgb.shape[:2]).double())
        assert [v.size for v in out.views] == [65, 65, 81, 81, 122, 122]
        assert all(v.logits.shape == (1, k, *scene_rgb.shape[:2]) for v in out.views)


def test_segment_refined_reports_views_and_crf(shapes_model, scene_rgb):
    opts = InferenceOptions((0.75, 1.0), flip=True, crf=CRFParams(iterations=3))
    seg = segment_refined(shapes_model, scene_rgb, size=97, options=opts)
    assert seg.n_views == 4 and seg.crf_ms > 0 and seg.ms > 0
    assert seg.class_map.shape == scene_rgb.shape[:2] and seg.model_input_hw == (97, 81)
    plain = segment_refined(shapes_model, scene_rgb, size=97)
    assert plain.n_views == 1 and plain.crf_ms == 0
    np.testing.assert_array_equal(
        plain.class_map, segment(shapes_model, scene_rgb, size=97).class_map
    )
    assert InferenceOptions().plain and not opts.plain
    assert opts.record() == {
        "scales": [0.75, 1.0],
        "flip": True,
        "crf": CRFParams(iterations=3).as_dict(),
    }


# ----------------------------------------------------------------- scale checks


def test_deeplabs_scales_and_sizes():
    assert DEEPLAB_SCALES == (0.5, 0.75, 1.0, 1.25, 1.5, 1.75)
    assert [scaled_size(513, s) for s in DEEPLAB_SCALES] == [256, 385, 513, 641, 770, 898]
    assert parse_scales(" 0.5, 1 ,1.75") == (0.5, 1.0, 1.75)
    assert check_scales(DEEPLAB_SCALES) == DEEPLAB_SCALES


@pytest.mark.parametrize(
    "scales, word",
    [
        ((), "at least one"),
        (tuple(0.5 + 0.1 * i for i in range(9)), "at most 8"),
        ((0.0,), "(0, 4]"),
        ((4.5,), "(0, 4]"),
        ((float("nan"),), "numbers"),
        ((1.0, 1.0), "differ"),
        ((0.1,), "65"),  # 51 px at size 513
        ((4.0,), "2049"),  # 2052 px
    ],
)
def test_bad_scales_are_one_line_value_errors(scales, word):
    with pytest.raises(ValueError) as info:
        check_scales(scales, size=513)
    assert word in str(info.value) and "\n" not in str(info.value)


def test_bad_options_are_value_errors():
    with pytest.raises(ValueError, match="flip"):
        InferenceOptions(flip="yes")
    with pytest.raises(ValueError, match="crf"):
        InferenceOptions(crf={"iterations": 3})
    with pytest.raises(ValueError, match="differ"):
        InferenceOptions(scales=(1.0, 1.0))


# ------------------------------------------------------------------------ the CLI


@pytest.mark.parametrize(
    "extra",
    [
        ["--scales", "5"],
        ["--scales", "0"],
        ["--scales", "a,1"],
        ["--scales", "1,1"],
        ["--scales", "0.5,0.6,0.7,0.8,0.9,1,1.1,1.2,1.3"],
        ["--scales", ""],
        ["--scales", "4"],  # 4 × 513 px is past the largest working size
        ["--scales", "1.5", "--size", "1600"],
        ["--crf", "--flip", "--scales"],
        ["--crf=yes"],
    ],
)
@pytest.mark.parametrize("command", ["segment", "eval-voc"])
def test_flag_usage_errors_are_one_line_and_exit_2(command, extra, tmp_path, capsys):
    argv = (
        ["segment", "x.png", "--out", str(tmp_path / "o")]
        if command == "segment"
        else ["eval-voc", str(tmp_path)]
    )
    assert main(argv + extra) == 2
    err = capsys.readouterr().err.strip()
    assert err and "\n" not in err and "Traceback" not in err


def test_segment_with_flags_prints_the_extra_fields(tmp_path, capsys):
    code = main(
        [
            "segment",
            str(SAMPLES / "coffee.png"),
            "--out",
            str(tmp_path),
            "--model",
            "shapes-deeplabv3",
            "--size",
            "97",
            "--crf",
            "--scales",
            "0.75,1",
            "--flip",
        ]
    )
    assert code == 0
    record = json.loads(capsys.readouterr().out)
    assert record["scales"] == [0.75, 1.0] and record["flip"] is True
    assert record["crf"] == CRFParams().as_dict() and record["n_views"] == 4
    assert record["ms_crf"] > 0 and (tmp_path / "coffee.png").exists()


@needs_weights
@pytest.mark.slow
@pytest.mark.skipif(not VOC_DIR.exists(), reason="VOC subset not found")
def test_eval_voc_with_crf_scales_and_flip(capsys):
    argv = ["eval-voc", str(VOC_DIR), "--limit", "3", "--output-stride", "16"]
    assert main(argv + ["--crf", "--scales", "1.0,1.5", "--flip"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["n_images"] == 3 and report["scales"] == [1.0, 1.5] and report["flip"]
    assert report["crf"] == CRFParams().as_dict()
    assert 0.5 < report["boundary_f"] <= 1 and report["boundary_tolerance_px"] == 3
    assert report["ms"]["crf_mean"] > 0
    assert report["ms"]["per_image_median"] >= report["ms"]["forward_median"] > 0
    assert report["pixel_accuracy"] > 0.9

    assert main(argv) == 0  # the plain run reports the boundary F too, and no extras
    plain = json.loads(capsys.readouterr().out)
    assert plain["scales"] == [1.0] and plain["flip"] is False and plain["crf"] is None
    assert 0 < plain["boundary_f"] <= 1 and "crf_mean" not in plain["ms"]
