"""What the Receptive fields page shows, as data: deeplab_viz.receptive_field.views,
deeplab_viz.erf_views and the squares of deeplab_viz.plots.receptive_field."""

from __future__ import annotations

import numpy as np
import pytest

from deeplab_viz import erf as E
from deeplab_viz import erf_views as EV
from deeplab_viz import receptive_field as R
from deeplab_viz.plots import receptive_field as P
from deeplab_viz.receptive_field import views as RV

# --------------------------------------------------------------------------- stacks


def test_layer_records_follow_the_table():
    table = R.rf_table(R.parse_layers("3;3,1,2;2,2"))
    records = RV.layer_records(table)
    assert [r["k_eff"] for r in records] == [3, 5, 2]
    assert [r["RF size"] for r in records] == [3, 7, 8]
    assert [r["jump"] for r in records] == [1, 1, 2]
    assert list(records[0]) == ["layer", "k_eff", "RF size", "jump", "start"]
    assert records[-1]["start"] == table[-1].start and records[0]["layer"] == table[0].name


# --------------------------------------------------------------------------- a model


@pytest.fixture(scope="module")
def mnv3():
    """MobileNetV3 DeepLab with random weights: small, fast, no weights file needed."""
    from deeplab_viz.models import ModelSpec, build_model

    return build_model(
        ModelSpec("deeplabv3_mobilenet_v3_large", pretrained=False, output_stride=16)
    )


def _placed(mnv3, pixel_yx=(30, 45)):
    rows = R.model_rf_table(mnv3.module, image_hw=(86, 129))
    return R.place_on_image(rows, pixel_yx, input_hw=(86, 129), image_hw=(60, 90))


def test_placed_records_and_the_boxes_to_draw(mnv3):
    placed = _placed(mnv3)
    records = RV.placed_records(placed)
    assert [r["part"] for r in records] == [p.row.title for p in placed]
    pooling = next(r for r, p in zip(records, placed, strict=True) if p.row.size is None)
    assert pooling["RF (px)"] == "global" and pooling["on image"] == "100%"
    assert all(r["on image"].endswith("%") for r in records)
    keys = RV.drawable(placed)
    assert keys and all(p.row.size is not None for p in placed if p.row.key in keys)
    assert "logits" not in keys  # global: the whole image
    default = RV.default_boxes(placed)
    stages = [p.row.key for p in placed if p.row.part == "stage"]
    assert default[: len(stages)] == stages and len(default) == len(stages) + 1
    branches = [p.row for p in placed if p.row.part == "aspp" and p.row.size is not None]
    assert default[-1] == max(branches, key=lambda r: r.size).key
    assert RV.default_boxes([p for p in placed if p.row.part != "aspp"]) == stages


def test_placed_rects_colour_by_part_and_say_when_clipped(mnv3):
    placed = _placed(mnv3, pixel_yx=(0, 0))  # a corner: the big squares run off the image
    keys = RV.drawable(placed)
    colours = dict(zip(keys, P.box_colours(len(keys)), strict=True))
    rects = P.placed_rects(placed, [keys[0], keys[-1]])
    assert len(rects) == 2
    assert [r.colour for r in rects] == [colours[keys[0]], colours[keys[-1]]]
    last = next(p for p in placed if p.row.key == keys[-1])
    assert rects[-1].label.startswith(f"{last.row.title} {last.row.size} px")
    assert last.box.is_clipped and rects[-1].label.endswith("on image")
    assert (rects[-1].top, rects[-1].bottom, rects[-1].left, rects[-1].right) == last.edges
    assert P.placed_rects(placed, []) == []


# --------------------------------------------------------------------------- ERF


def test_slow_on_cpu_and_runs():
    assert EV.slow_on_cpu("resnet", "cpu", "logits")
    assert not EV.slow_on_cpu("resnet", "cpu", "stage:layer2")
    assert not EV.slow_on_cpu("resnet", "cuda", "logits")
    assert not EV.slow_on_cpu("mobilenet_v2", "cpu", "logits")
    assert EV.erf_runs(True, True) == [("trained weights", False), ("random weights", True)]
    assert EV.erf_runs(True, False) == [("trained weights", False)]
    assert EV.erf_runs(False, False) == [("random weights (as loaded)", False)]


def _image(h: int = 60, w: int = 90) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, size=(h, w, 3), dtype=np.uint8)


def test_erf_squares_profiles_and_numbers(mnv3):
    rgb = _image()
    local = E.image_erf(mnv3, rgb, size=129, target="stage:stage2", pixel_yx=(30, 45))
    pooled = E.image_erf(mnv3, rgb, size=129, target="logits", pixel_yx=(30, 45))
    assert EV.rf_square(local) == local.box
    square = EV.rf_square(pooled)  # global: the local path's square
    assert square == R.rf_box(pooled.row.local_size, pooled.centre_input_yx, pooled.valid_hw)

    rects = P.erf_rects(local)
    assert rects[0].label == f"theoretical RF {local.row.size} px"
    assert rects[0].colour == P.TRF_COLOUR
    masses = [f for f in E.MASS_FRACTIONS if local.mass_sides[f] > 0]
    assert len(rects) == 1 + len(masses)
    assert all(r.colour == P.MASS_COLOUR and "of the gradient" in r.label for r in rects[1:])
    assert P.erf_rects(pooled)[0].label.startswith("local path")

    results = [("a", local), ("b", pooled)]
    prof = EV.profiles(results)
    assert list(prof) == ["a", "b"] and prof["a"].shape == (local.erf_input.shape[1],)
    np.testing.assert_allclose(prof["a"], local.erf_input.sum(axis=0))
    assert EV.gradient_seconds(results) == pytest.approx((local.ms + pooled.ms) / 1000)
    assert EV.is_rescaled(local)  # 90 image pixels → 129 model-input pixels
    same = E.image_erf(mnv3, _image(60, 90), size=90, target="stage:stage2", pixel_yx=(5, 5))
    assert not EV.is_rescaled(same)
