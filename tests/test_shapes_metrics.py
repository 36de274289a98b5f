"""The shipped ShapesWorld metrics: reproduced from the shipped weights, and what they show.

Re-evaluates three configurations on the 200 held-out scenes (v3 at its training
stride 16 and at 32, v3+ at 16) and checks the rest of the shipped table for the
lessons of the scale lab: small objects vanish at output stride 32, and the
v3+ decoder sharpens boundaries.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from deeplab_viz import eval_shapes as E
from deeplab_viz import shapes_world as SW

TOL = 2e-3


@pytest.fixture(scope="module")
def table():
    return json.loads(E.METRICS_FILE.read_text())


@pytest.fixture(scope="module")
def fresh():
    """Reports computed now from the shipped weights, keyed by (model, output stride)."""
    old = torch.get_num_threads()
    torch.set_num_threads(2)
    out = {}
    for name, os_ in (
        ("shapes-deeplabv3", 16),
        ("shapes-deeplabv3", 32),
        ("shapes-deeplabv3plus", 16),
    ):
        out[name, os_] = E.evaluate_shapes(name, output_stride=os_)
    torch.set_num_threads(old)
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
    [("shapes-deeplabv3", 16), ("shapes-deeplabv3", 32), ("shapes-deeplabv3plus", 16)],
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


def test_miou_at_the_training_stride_as_measured(table, fresh):
    """What the shipped v3 reaches: 0.614 at OS 16 after 41 CPU-minutes of training."""
    assert E.find_result(table, "shapes-deeplabv3", 16)["miou"] >= 0.6
    assert fresh["shapes-deeplabv3", 16]["miou"] >= 0.6


@pytest.mark.xfail(
    strict=True,
    reason="issue 6 asks for mIoU ≥ 0.85 at the training stride; the shipped v3 reaches "
    "0.614 (41 min on a loaded 2-core CPU; see the report for why and what it takes)",
)
def test_miou_at_the_training_stride_is_at_least_085(table):
    assert E.find_result(table, "shapes-deeplabv3", 16)["miou"] >= 0.85


def test_small_objects_are_lost_at_output_stride_32(table):
    for name in E.MODELS:
        by = {os_: E.find_result(table, name, os_)["iou_by_size"] for os_ in (8, 16, 32)}
        for bucket in ("small", "medium"):
            assert by[32][bucket] < min(by[8][bucket], by[16][bucket]), (name, bucket)
    v3 = {os_: E.find_result(table, "shapes-deeplabv3", os_)["iou_by_size"] for os_ in (16, 32)}
    # DeepLabv3 at OS 32 keeps less than half of its small- and medium-object IoU…
    for bucket in ("small", "medium"):
        assert v3[32][bucket] < 0.5 * v3[16][bucket], bucket
    # …while large objects keep more of theirs.
    assert v3[32]["large"] / v3[16]["large"] > v3[32]["medium"] / v3[16]["medium"]


def test_miou_falls_from_stride_16_to_32(table):
    for name in E.MODELS:
        assert E.find_result(table, name, 32)["miou"] < E.find_result(table, name, 16)["miou"]


def test_decoder_sharpens_boundaries_at_stride_16(table, fresh):
    v3 = E.find_result(table, "shapes-deeplabv3", 16)["boundary_f"]
    plus = E.find_result(table, "shapes-deeplabv3plus", 16)["boundary_f"]
    assert plus > v3
    assert (
        fresh["shapes-deeplabv3plus", 16]["boundary_f"]
        > fresh["shapes-deeplabv3", 16]["boundary_f"]
    )


def test_dropping_a_branch_costs_accuracy(table):
    full = E.find_result(table, "shapes-deeplabv3", 16)
    drops = [
        r
        for r in table["results"]
        if r["model"] == "shapes-deeplabv3" and r["output_stride"] == 16 and r["dropped"]
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
    b = E.boundaries(m)
    assert b[2, 2] and b[1, 2] and not b[3, 3] and not b[0, 0]
    d = E.dilate(m > 0, 1)
    assert d.sum() == 25 and E.dilate(m > 0, 0).sum() == 9


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
