"""The shipped ShapesWorld metrics: reproduced from the shipped weights, and what they show.

Re-evaluates four configurations on the 200 held-out scenes (v3 at its training
stride 8, at 16 and at 32, v3+ at 16) and checks the rest of the shipped table
for the lessons of the scale lab: small objects vanish at output stride 32, and
the v3+ decoder sharpens boundaries.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import torch_threads

from deeplab_viz import boundary as B
from deeplab_viz import eval_shapes as E
from deeplab_viz import shapes_world as SW

TOL = 2e-3
TRAINED = 8  # the stride the shipped models end their training at (see train_shapes)


@pytest.fixture(scope="module")
def table():
    return json.loads(E.METRICS_FILE.read_text())


@pytest.fixture(scope="module")
def fresh():
    """Reports computed now from the shipped weights, keyed by (model, output stride)."""
    with torch_threads(2):
        out = {}
        for name, os_ in (
            ("shapes-deeplabv3", TRAINED),
            ("shapes-deeplabv3", 16),
            ("shapes-deeplabv3", 32),
            ("shapes-deeplabv3plus", 16),
        ):
            out[name, os_] = E.evaluate_shapes(name, output_stride=os_)
    return out


def test_table_covers_both_models_every_stride_and_every_dropped_branch(table):
    assert table["heldout_seeds"] == [SW.HELDOUT_START, SW.HELDOUT_START + SW.HELDOUT_COUNT]
    for name in E.MODELS:
        for os_ in (8, 16, 32):
            rows = [r for r in table["results"] if (r["model"], r["output_stride"]) == (name, os_)]
            assert len(rows) == 6  # all branches on, then each of the five off
            assert rows[0]["dropped"] is None
            assert [r["dropped_index"] for r in rows[1:]] == [0, 1, 2, 3, 4]
            for r in rows:
                assert r["n_images"] == SW.HELDOUT_COUNT
                assert set(r["iou_by_size"]) == set(SW.BUCKET_NAMES)
                assert set(r["iou"]) == set(SW.CLASS_NAMES)
                assert 0 <= r["boundary_f"] <= 1 and 0 <= r["miou"] <= 1


@pytest.mark.parametrize(
    ("name", "os_"),
    [
        ("shapes-deeplabv3", TRAINED),
        ("shapes-deeplabv3", 16),
        ("shapes-deeplabv3", 32),
        ("shapes-deeplabv3plus", 16),
    ],
)
def test_shipped_weights_reproduce_the_shipped_metrics(name, os_, table, fresh):
    shipped, now = E.find_result(table, name, os_), fresh[name, os_]
    assert now["n_images"] == shipped["n_images"]
    assert abs(now["miou"] - shipped["miou"]) < TOL
    assert abs(now["boundary_f"] - shipped["boundary_f"]) < TOL
    for c, v in shipped["iou"].items():
        assert abs(now["iou"][c] - v) < TOL, c
    for b, v in shipped["iou_by_size"].items():
        assert abs(now["iou_by_size"][b] - v) < TOL, b


def test_the_training_stride_is_the_shipped_native_stride():
    from deeplab_viz.models import REGISTRY

    for name in E.MODELS:
        assert REGISTRY[name].native_stride == TRAINED


def test_miou_at_the_training_stride_is_at_least_085(table, fresh):
    """Issue 6: held-out mIoU ≥ 0.85 at the stride the model was trained at."""
    assert E.find_result(table, "shapes-deeplabv3", TRAINED)["miou"] >= 0.85
    assert fresh["shapes-deeplabv3", TRAINED]["miou"] >= 0.85


def test_small_objects_are_lost_at_output_stride_32(table):
    for name in E.MODELS:
        by = {os_: E.find_result(table, name, os_)["iou_by_size"] for os_ in (8, 16, 32)}
        for bucket in ("small", "medium"):
            assert by[32][bucket] < min(by[8][bucket], by[16][bucket]), (name, bucket)
    v3 = {
        os_: E.find_result(table, "shapes-deeplabv3", os_)["iou_by_size"] for os_ in (TRAINED, 32)
    }
    # DeepLabv3 at OS 32 keeps less than half of its small- and medium-object IoU…
    for bucket in ("small", "medium"):
        assert v3[32][bucket] < 0.5 * v3[TRAINED][bucket], bucket
    # …while large objects keep more of theirs.
    assert v3[32]["large"] / v3[TRAINED]["large"] > v3[32]["medium"] / v3[TRAINED]["medium"]


def test_miou_falls_from_stride_8_to_16_to_32(table):
    """The trend of Table 1 in Chen et al. 2017, for both models."""
    for name in E.MODELS:
        miou = [E.find_result(table, name, os_)["miou"] for os_ in (8, 16, 32)]
        assert miou[0] > miou[1] > miou[2], (name, miou)


def _drop(table, name: str, dropped: str) -> dict:
    return next(
        r
        for r in table["results"]
        if (r["model"], r["output_stride"], r["dropped"]) == (name, TRAINED, dropped)
    )


@pytest.mark.parametrize("name", E.MODELS)
def test_branches_serve_different_sizes(name, table):
    """Issue 6 (b): the 1×1 branch carries the small objects, an atrous branch the large."""
    full = E.find_result(table, name, TRAINED)["iou_by_size"]
    no_1x1 = _drop(table, name, "1×1")["iou_by_size"]
    assert full["small"] - no_1x1["small"] > 0.2
    atrous = [
        r["iou_by_size"]
        for r in table["results"]
        if r["model"] == name
        and r["output_stride"] == TRAINED
        and (r["dropped"] or "").startswith("rate ")
    ]
    assert len(atrous) == 3
    worst_for_large = min(atrous, key=lambda by: by["large"])
    assert full["large"] - worst_for_large["large"] > 0.05
    # …and that branch is not what the small objects need.
    assert full["large"] - worst_for_large["large"] > full["small"] - worst_for_large["small"]


def test_decoder_sharpens_boundaries_at_stride_16(table, fresh):
    v3 = E.find_result(table, "shapes-deeplabv3", 16)["boundary_f"]
    plus = E.find_result(table, "shapes-deeplabv3plus", 16)["boundary_f"]
    assert plus > v3
    assert (
        fresh["shapes-deeplabv3plus", 16]["boundary_f"]
        > fresh["shapes-deeplabv3", 16]["boundary_f"]
    )


def test_dropping_a_branch_costs_accuracy(table):
    full = E.find_result(table, "shapes-deeplabv3", TRAINED)
    drops = [
        r
        for r in table["results"]
        if r["model"] == "shapes-deeplabv3" and r["output_stride"] == TRAINED and r["dropped"]
    ]
    assert all(r["miou"] <= full["miou"] + 1e-6 for r in drops)
    assert min(r["miou"] for r in drops) < full["miou"] - 0.05


# ------------------------------------------------------------------- metric definitions


def test_boundary_f_is_one_for_a_perfect_map_and_tolerates_small_shifts():
    s = SW.generate_scene(SW.HELDOUT_START)
    assert E.boundary_f(s.mask, s.mask) == 1.0
    shifted = np.roll(s.mask, 1, axis=1)
    assert E.boundary_f(shifted, s.mask) > 0.95  # np.roll also wraps one column around
    far = np.roll(s.mask, 8, axis=1)
    assert E.boundary_f(far, s.mask) < 0.5
    assert E.boundary_f(np.zeros_like(s.mask), s.mask) == 0.0
    assert E.boundary_f(np.zeros((8, 8), np.uint8), np.zeros((8, 8), np.uint8)) == 1.0


def test_boundaries_and_dilation():
    m = np.zeros((7, 7), np.uint8)
    m[2:5, 2:5] = 1
    b = B.boundaries(m)
    assert b[2, 2] and b[1, 2] and not b[3, 3] and not b[0, 0]
    d = B.dilate(m > 0, 1)
    assert d.sum() == 25 and B.dilate(m > 0, 0).sum() == 9
    # a square structuring element, the image's edge counting as empty; masks kept apart
    corner = np.zeros((2, 6, 6), bool)
    corner[0, 0, 0] = True
    grown = B.dilate(corner, 2)
    assert grown[0].sum() == 9 and grown[0, :3, :3].all() and not grown[1].any()
    pooled = torch.nn.functional.max_pool2d(
        torch.from_numpy(corner.astype(np.float32))[:, None], 5, stride=1, padding=2
    )[:, 0].numpy()
    assert np.array_equal(grown, pooled > 0)  # the same as a (2r+1)² max-pool


def test_bucket_regions_cover_own_objects_plus_a_margin_only():
    s = next(s for s in SW.scenes(SW.HELDOUT_SEEDS) if len({o.bucket for o in s.objects}) >= 2)
    regions = E.bucket_regions(s)
    for i, o in enumerate(s.objects):
        own = s.instances == i + 1
        assert regions[o.bucket][own].all()
        for b, r in regions.items():
            if b != o.bucket:
                assert not r[own].any()


def test_a_perfect_prediction_scores_one_everywhere():
    acc = E.Accumulator(len(SW.CLASS_NAMES))
    for s in SW.scenes(range(SW.HELDOUT_START, SW.HELDOUT_START + 10)):
        acc.add(s.mask, s, E.bucket_regions(s))
    rep = acc.report(SW.CLASS_NAMES)
    assert rep["miou"] == 1.0 and rep["boundary_f"] == 1.0
    assert all(v in (1.0, None) for v in rep["iou_by_size"].values())


def test_a_vanished_object_counts_against_its_bucket():
    s = next(
        s for s in SW.scenes(SW.HELDOUT_SEEDS) if {"tiny", "large"} <= {o.bucket for o in s.objects}
    )
    pred = np.array(s.mask)
    for i, o in enumerate(s.objects):
        if o.bucket == "tiny":
            pred[s.instances == i + 1] = 0
    acc = E.Accumulator(len(SW.CLASS_NAMES))
    acc.add(pred, s, E.bucket_regions(s))
    by = acc.report(SW.CLASS_NAMES)["iou_by_size"]
    assert by["tiny"] == 0.0 and by["large"] == 1.0


def test_decoder_by_stride_reads_the_table(table):
    rows = E.decoder_by_stride(table)
    assert [r["output_stride"] for r in rows] == [8, 16, 32]
    for r in rows:
        v3 = E.find_result(table, "shapes-deeplabv3", r["output_stride"])
        plus = E.find_result(table, "shapes-deeplabv3plus", r["output_stride"])
        assert (r["miou_v3"], r["boundary_f_v3"]) == (v3["miou"], v3["boundary_f"])
        assert (r["miou_plus"], r["boundary_f_plus"]) == (plus["miou"], plus["boundary_f"])
    # the decoder's lead in boundary F grows as the encoder gets coarser
    lead = [r["boundary_f_plus"] - r["boundary_f_v3"] for r in rows]
    assert lead[0] < lead[1] < lead[2]
    assert E.decoder_by_stride({"results": []}) == []
