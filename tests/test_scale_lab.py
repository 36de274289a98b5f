"""The scale lab's library: custom scenes, per-size IoU, hook-free forward, RF vs object."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from deeplab_viz import scale_lab as SL
from deeplab_viz import shapes_world as SW
from deeplab_viz.models.shapes import build_shapes_model


@pytest.fixture(scope="module")
def scene():
    return SW.custom_scene(5, diameters=(6, 140), n_objects=8)


def test_custom_scene_respects_the_choices():
    s = SW.custom_scene(3, diameters=(20, 30), n_objects=4, shapes=("disc", "ring"))
    assert len(s.objects) == 4
    assert all(20 <= o.diameter <= 30 for o in s.objects)
    assert {o.class_name for o in s.objects} <= {"disc", "ring"}
    assert set(np.unique(s.mask)) <= {0, 1, 4}
    again = SW.custom_scene(3, diameters=(20, 30), n_objects=4, shapes=("disc", "ring"))
    assert np.array_equal(s.rgb, again.rgb) and np.array_equal(s.mask, again.mask)
    with pytest.raises(ValueError):
        SW.custom_scene(3, diameters=(30, 20))
    with pytest.raises(ValueError):
        SW.custom_scene(3, shapes=("hexagon",))


def test_perfect_prediction_scores_one_in_every_bucket(scene):
    sc = SL.size_scores(scene.mask, scene)
    present = {o.bucket for o in scene.objects if o.pixels}
    assert present  # the scene has objects
    for b in SW.BUCKET_NAMES:
        if b in present:
            assert sc.iou_by_size[b] == 1.0
        else:
            assert sc.iou_by_size[b] is None
    assert sc.miou == 1.0 and sc.boundary_f == 1.0
    assert sum(sc.objects_by_size.values()) == sum(1 for o in scene.objects if o.pixels)


def test_all_background_prediction_scores_zero(scene):
    sc = SL.size_scores(np.zeros_like(scene.mask), scene)
    assert all(v in (0.0, None) for v in sc.iou_by_size.values())


def test_batch_scores_pool_the_scenes(scene):
    other = SW.custom_scene(6, diameters=(6, 10), n_objects=3)
    sc = SL.size_scores([scene.mask, other.mask], [scene, other])
    assert sc.n_images == 2 and sc.iou_by_size["tiny"] == 1.0


def test_predict_matches_forward_and_leaves_the_model_alone():
    torch.manual_seed(0)
    for arch in ("v3", "v3plus"):
        model = build_shapes_model(arch).eval()
        before = {k: v.clone() for k, v in model.state_dict().items()}
        rgb = SW.custom_scene(1, size=64, n_objects=2).rgb
        mean, std = (127.5,) * 3, (64.0,) * 3
        out = SL.predict(model, rgb, mean=mean, std=std, drops=(None, 4))
        with torch.inference_mode():
            ref = model(SL.normalise(rgb, mean, std)).argmax(1).numpy()
        assert np.array_equal(out[None], ref)
        assert out[4].shape == (1, 64, 64)
        assert not model.training
        assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())
        assert not model._forward_hooks and not model._forward_pre_hooks


def test_scale_table_rows():
    model = build_shapes_model("v3").eval()
    scenes = [SW.custom_scene(s, size=64, n_objects=2) for s in (1, 2)]
    rows = SL.scale_table({16: model}, scenes, mean=(127.5,) * 3, std=(64.0,) * 3)
    assert [r.label for r in rows] == [
        "OS 16",
        "OS 16 − 1×1",
        "OS 16 − rate 2",
        "OS 16 − rate 4",
        "OS 16 − rate 6",
        "OS 16 − image pooling",
    ]
    assert all(r.scores.n_images == 2 for r in rows)


def _square_scene(side: int = 20, top: int = 30, left: int = 40) -> SW.Scene:
    size = 100
    mask = np.zeros((size, size), np.uint8)
    mask[top : top + side, left : left + side] = 2
    obj = SW.SceneObject(
        2,
        "square",
        (top + side / 2, left + side / 2),
        side * 2**0.5,
        0.0,
        SW.bucket_of(side * 2**0.5),
        side * side,
    )
    return SW.Scene(
        0, size, np.zeros((size, size, 3), np.uint8), mask, (mask > 0).astype(np.uint8), (obj,)
    )


def test_rf_reach_on_a_hand_made_square():
    s = _square_scene()  # rows 30..49, columns 40..59
    centre = SL.pixel_object(s, (39, 49))
    assert centre.class_name == "square" and centre.bbox == (30, 40, 49, 59)
    assert centre.outline_distance == 10  # row 29 / 50, column 39 / 60 are 10 away
    assert not centre.reach(19).reaches_outline  # half 9 < 10
    assert centre.reach(21).reaches_outline  # half 10
    assert centre.reach(21).covers_object  # rows 29..49, columns 39..59 hold the box
    assert not centre.reach(19).covers_object
    assert centre.reach(None).reaches_outline and centre.reach(None).covers_object
    edge = SL.pixel_object(s, (30, 45))  # on the top row of the square
    assert edge.outline_distance == 1 and edge.reach(3).reaches_outline
    bg = SL.pixel_object(s, (5, 5))
    assert bg.index is None and bg.class_name == "background" and bg.reach(1).reaches_outline


def test_depth_map_is_chebyshev():
    m = np.zeros((9, 9), bool)
    m[1:8, 1:8] = True
    d = SL.depth_map(m)
    assert d[4, 4] == 4 and d[1, 1] == 1 and d[0, 0] == 0
    full = np.ones((5, 5), bool)
    assert SL.outline_distance(full, (2, 2)) is None
    assert SL.depth_map(full, border_outside=True)[2, 2] == 3


def test_largest_object_pixel_is_deep_inside(scene):
    y, x = SL.largest_object_pixel(scene)
    i = int(np.argmax([o.pixels for o in scene.objects]))
    assert scene.instances[y, x] == i + 1


def test_metrics_helpers(tmp_path):
    table = {
        "heldout_seeds": [0, 2],
        "results": [
            {
                "model": "m",
                "output_stride": os_,
                "dropped": d,
                "dropped_index": i,
                "iou_by_size": {"tiny": {8: 0.5, 16: 0.3, 32: 0.0}[os_]},
                "miou": 0.5,
                "boundary_f": 0.5,
            }
            for os_ in (8, 16, 32)
            for i, d in [(None, None), (0, "1×1")]
        ],
    }
    path = tmp_path / "m.json"
    path.write_text(__import__("json").dumps(table))
    got = SL.load_metrics(path)
    assert SL.vanishing_trend(got, "m") == {8: 0.5, 16: 0.3, 32: 0.0}
    rows = SL.metrics_rows(got, "m")
    assert [(r["output_stride"], r["dropped"]) for r in rows] == [
        (8, None),
        (16, None),
        (32, None),
        (16, "1×1"),
    ]
    assert SL.load_metrics(tmp_path / "missing.json") is None


def test_branch_costs_and_the_branch_each_size_needs():
    table = {
        "results": [
            {
                "model": "m",
                "output_stride": 8,
                "dropped": None,
                "iou_by_size": {"small": 0.6, "large": 0.9, "tiny": None},
            },
            {
                "model": "m",
                "output_stride": 8,
                "dropped": "1×1",
                "iou_by_size": {"small": 0.1, "large": 0.85, "tiny": 0.1},
            },
            {
                "model": "m",
                "output_stride": 8,
                "dropped": "rate 4",
                "iou_by_size": {"small": 0.62, "large": 0.7, "tiny": 0.0},
            },
            {
                "model": "m",
                "output_stride": 16,
                "dropped": "rate 2",
                "iou_by_size": {"small": 0.0, "large": 0.0, "tiny": 0.0},
            },
        ]
    }
    costs = SL.branch_costs(table, "m", 8)
    assert set(costs) == {"1×1", "rate 4"}  # the OS-16 row is another configuration
    assert costs["1×1"] == pytest.approx({"small": 0.5, "large": 0.05})  # tiny: no full value
    assert SL.most_needed(costs, "small") == ("1×1", pytest.approx(0.5))
    assert SL.most_needed(costs, "large") == ("rate 4", pytest.approx(0.2))
    assert SL.most_needed(costs, "tiny") is None
    assert SL.most_needed(costs, "small", prefix="rate ") == ("rate 4", pytest.approx(-0.02))
    with pytest.raises(KeyError):
        SL.branch_costs(table, "m", 32)


def test_the_shipped_models_need_the_1x1_for_small_and_an_atrous_branch_for_large():
    """Issue 6 (b), measured on the shipped table at each model's training stride."""
    table = SL.load_metrics()
    from deeplab_viz.models import REGISTRY

    for name in ("shapes-deeplabv3", "shapes-deeplabv3plus"):
        costs = SL.branch_costs(table, name, REGISTRY[name].native_stride)
        assert SL.most_needed(costs, "small")[0] == "1×1"
        # no atrous branch matters to small objects; one does to large ones
        assert SL.most_needed(costs, "small", prefix="rate ")[1] < 0.02
        assert SL.most_needed(costs, "large", prefix="rate ")[1] > 0.05


def test_depth_profile_counts_pixels_by_distance_to_the_outline():
    s = SW.custom_scene(2, diameters=(100, 120), n_objects=1)
    depth = SL.object_depths(s)
    own = s.instances == 1
    assert (depth[own] >= 1).all() and (depth[~own] == 0).all()
    assert depth.max() == SL.depth_map(own, border_outside=True).max()
    perfect = SL.depth_profile({"truth": s.mask[None]}, [s], bins=(1, 4, 1000))
    assert perfect.accuracy["truth"] == [1.0, 1.0]
    assert sum(perfect.pixels) == int(own.sum())
    # labelling the outline ring (depth 1-3) background costs only the first bin
    pred = np.where((depth >= 1) & (depth < 4), 0, s.mask)[None]
    prof = SL.depth_profile({"all branches": s.mask[None], "− ring": pred}, [s], bins=(1, 4, 1000))
    assert prof.accuracy["− ring"] == [0.0, 1.0]
    assert "On the outline (1–3 px), switching off **ring**" in SL.depth_summary(prof)
    with pytest.raises(ValueError):
        SL.depth_profile({"x": s.mask[None]}, [s], bins=(4, 1))
    with pytest.raises(ValueError):
        SL.depth_profile({"x": s.mask}, [s])


def test_deep_interior_needs_an_atrous_branch_the_outline_needs_the_1x1():
    """Issue 6 (a), measured: pixels far from a large object's outline are labelled right
    only with a branch whose receptive field reaches the outline."""
    from deeplab_viz.models import REGISTRY, ModelSpec, build_model, load_base

    name = "shapes-deeplabv3"
    e = REGISTRY[name]
    model = build_model(ModelSpec(name=name), base=load_base(name)).module
    scenes = list(SW.scenes(SW.heldout_seeds(60)))
    prof = SL.depth_profile_of(model, scenes, mean=e.mean, std=e.std)
    assert prof.bins == SL.DEPTH_BINS and min(prof.pixels) > 1000
    full = prof.accuracy["all branches"]
    cost = {k: [f - v for f, v in zip(full, a, strict=True)] for k, a in prof.accuracy.items()}
    assert full[-1] > 0.95  # the deep interior is right with every branch on
    # on the outline the 1×1 branch matters most…
    assert max(cost, key=lambda k: cost[k][0]) == "− 1×1"
    # …deep inside it hardly matters, and an atrous branch matters most
    assert cost["− 1×1"][-1] < 0.02
    deep = max(cost, key=lambda k: cost[k][-1])
    assert deep.startswith("− rate ") and cost[deep][-1] > 0.03


# --------------------------------------------------------------------------- page tables


def test_score_and_reference_tables_label_the_buckets():
    scores = SL.SizeScores(
        {"tiny": None, "small": 0.5, "medium": 0.25, "large": 1.0}, 0.6, 0.456, 1
    )
    table = SL.score_table([SL.ConfigRow("OS 16 − 1×1", 16, "1×1", scores)])
    assert table == [
        {
            "configuration": "OS 16 − 1×1",
            "tiny (< 12 px)": "—",
            "small (12–32 px)": "0.50",
            "medium (32–80 px)": "0.25",
            "large (≥ 80 px)": "1.00",
            "mIoU": "0.60",
            "boundary F": "0.46",
        }
    ]
    shipped = [
        {"output_stride": 8, "dropped": None, "iou_by_size": {"tiny": 0.1}, "miou": 0.7},
        {"output_stride": 16, "dropped": "rate 4", "iou_by_size": {}, "boundary_f": 0.5},
    ]
    ref = SL.reference_table(shipped)
    assert [r["configuration"] for r in ref] == ["OS 8", "OS 16 − rate 4"]
    assert ref[0]["tiny (< 12 px)"] == "0.10" and ref[0]["boundary F"] == "—"
    assert ref[1]["mIoU"] == "—" and ref[1]["boundary F"] == "0.50"
    assert list(ref[0]) == list(table[0])  # the same columns as the scene's table


def test_visible_counts_count_objects_with_pixels(scene):
    counts = SL.visible_counts(scene)
    assert list(counts) == list(SW.BUCKET_NAMES)
    assert sum(counts.values()) == sum(1 for o in scene.objects if o.pixels)
    square = _square_scene()
    assert SL.visible_counts(square)[square.objects[0].bucket] == 1


def test_rf_fields_and_reach_table():
    model = build_shapes_model("v3").eval()
    drawn, pooling = SL.rf_fields(model, 160)
    names = [n for n, _ in drawn]
    assert names[:3] == ["layer2", "layer3", "ASPP input (layer4)"]
    assert names[3:] == [f"ASPP rate {r}" for r in (2, 4, 6)]  # the atrous branches, in order
    assert pooling == ["ASPP image pooling"]
    sides = [s for _, s in drawn]
    assert sides[:3] == sorted(sides[:3]) and all(s > 0 for s in sides)

    obj = SL.pixel_object(_square_scene(), (39, 49))  # 10 px from the outline
    rows = SL.reach_table(obj, [("small", 19), ("enough", 21), ("pooling", None)])
    assert [r["side"] for r in rows] == ["19 px", "21 px", "global"]
    assert [r["reaches outline"] for r in rows] == ["✗", "✓", "✓"]
    assert [r["holds object"] for r in rows] == ["✗", "✓", "✓"]


def _trend_table(tiny, small, large, drops=()):
    """A shipped table of model "m": all branches at 8/16/32, then ``drops`` at 16."""
    rows = [
        {
            "model": "m",
            "output_stride": os_,
            "dropped": None,
            "iou_by_size": {"tiny": tiny[k], "small": small[k], "medium": 0.5, "large": large[k]},
        }
        for k, os_ in enumerate((8, 16, 32))
    ]
    for name, iou in drops:
        rows.append({"model": "m", "output_stride": 16, "dropped": name, "iou_by_size": iou})
    return {"heldout_seeds": [10, 60], "results": rows}


def test_trends_kept_shares_and_hardly_found():
    table = _trend_table((0.6, 0.4, 0.1), (0.1, 0.12, 0.05), (0.9, 0.9, 0.9))
    assert SL.heldout_count(table) == 50 and SL.heldout_count(None) == 200
    trends = SL.size_trends(table, "m")
    assert trends["tiny"] == {8: 0.6, 16: 0.4, 32: 0.1}
    lines = SL.trend_lines(trends).split("\n")
    assert lines[0] == "- **tiny (< 12 px)**: **0.60** → **0.40** → **0.10**"
    assert len(lines) == len(SW.BUCKET_NAMES)
    kept = SL.kept_shares(trends, 16)
    assert kept == pytest.approx({"tiny": 0.25, "small": 0.05 / 0.12, "medium": 1.0, "large": 1.0})
    assert SL.large_keeps_most(kept)
    assert not SL.large_keeps_most({"tiny": 1.0, "large": 0.5}) and not SL.large_keeps_most({})
    assert SL.kept_shares(trends, 32) == {}  # trained at 32: nothing is lost
    assert SL.hardly_found(trends) == ["small"]  # tiny is found at OS 8
    trends["tiny"] = {8: None, 16: 0.1, 32: None}  # a missing number counts as 0
    assert SL.hardly_found(trends) == ["tiny", "small"]
    assert "— → **0.10** → —" in SL.trend_lines(trends)


def test_branch_summary_names_the_branch_each_size_misses():
    table = _trend_table(
        (0.5, 0.5, 0.5),
        (0.6, 0.6, 0.6),
        (0.9, 0.9, 0.9),
        drops=[
            ("1×1", {"small": 0.1, "large": 0.85}),
            ("rate 4", {"small": 0.62, "large": 0.7}),
            ("rate 8", {"small": 0.6, "large": 0.8}),
        ],
    )
    bs = SL.branch_summary(table, "m", 16)
    assert bs.small == ("1×1", pytest.approx(0.5))
    assert bs.small_atrous == ("rate 8", pytest.approx(0.0))
    assert bs.large == ("rate 4", pytest.approx(0.2))
    assert bs.large_atrous == bs.large
    assert SL.branch_summary(table, "m", 8) is None  # no branch off at 8
    assert SL.branch_summary(table, "m", 4) is None  # no row at all at 4
