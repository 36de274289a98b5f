"""ShapesWorld: deterministic scenes, exact masks, every size bucket populated."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest

from deeplab_viz import shapes_world as SW


@pytest.fixture(scope="module")
def heldout():
    return list(SW.scenes(SW.HELDOUT_SEEDS))


def test_same_seed_same_scene_other_seed_other_scene():
    a, b, c = SW.generate_scene(7), SW.generate_scene(7), SW.generate_scene(8)
    assert np.array_equal(a.rgb, b.rgb) and np.array_equal(a.mask, b.mask)
    assert np.array_equal(a.instances, b.instances) and a.objects == b.objects
    assert not np.array_equal(a.rgb, c.rgb)
    assert a.rgb.shape == (SW.DEFAULT_SIZE, SW.DEFAULT_SIZE, 3) and a.rgb.dtype == np.uint8
    assert a.mask.shape == (SW.DEFAULT_SIZE, SW.DEFAULT_SIZE) and a.mask.dtype == np.uint8
    assert not a.rgb.flags.writeable and not a.mask.flags.writeable


@pytest.mark.parametrize("kind", SW.SHAPES)
@pytest.mark.parametrize("diameter", [9.0, 40.0, 120.0])
def test_masks_have_the_exact_area(kind, diameter):
    yy, xx = np.meshgrid(np.arange(160) + 0.5, np.arange(160) + 0.5, indexing="ij")
    m = SW.shape_mask(kind, (80.3, 79.6), diameter, 0.7, yy, xx)
    area = SW.shape_area(kind, diameter)
    # Pixel-centre sampling: the error is bounded by about half the perimeter.
    assert abs(int(m.sum()) - area) <= 0.5 * math.pi * diameter + 4
    if diameter >= 40:
        assert abs(int(m.sum()) / area - 1) < 0.05


def test_disc_pixel_count_is_pi_r_squared():
    yy, xx = np.meshgrid(np.arange(200) + 0.5, np.arange(200) + 0.5, indexing="ij")
    m = SW.shape_mask("disc", (100.0, 100.0), 160.0, 0.0, yy, xx)
    assert abs(int(m.sum()) / (math.pi * 80**2) - 1) < 0.002


def test_ring_has_a_hole_and_the_disc_does_not():
    yy, xx = np.meshgrid(np.arange(100) + 0.5, np.arange(100) + 0.5, indexing="ij")
    ring = SW.shape_mask("ring", (50.0, 50.0), 80.0, 0.0, yy, xx)
    disc = SW.shape_mask("disc", (50.0, 50.0), 80.0, 0.0, yy, xx)
    assert not ring[50, 50] and disc[50, 50]
    assert (ring <= disc).all()


def test_masks_instances_and_records_agree(heldout):
    for s in heldout[:40]:
        ids = np.array([0] + [o.class_id for o in s.objects], np.uint8)
        assert np.array_equal(ids[s.instances], s.mask)
        counts = np.bincount(s.instances.ravel(), minlength=len(s.objects) + 1)
        for i, o in enumerate(s.objects):
            assert o.pixels == counts[i + 1]
            assert o.pixels <= SW.shape_area(o.class_name, o.diameter) + math.pi * o.diameter
            assert o.bucket == SW.bucket_of(o.diameter)
            assert SW.CLASS_NAMES[o.class_id] == o.class_name
        assert 1 <= len(s.objects) <= SW.MAX_OBJECTS


def _outline_seen(scene):
    """(object, share of its whole outline still visible in the scene) for every object."""
    yy, xx = np.meshgrid(np.arange(scene.size) + 0.5, np.arange(scene.size) + 0.5, indexing="ij")
    for i, o in enumerate(scene.objects):
        full = SW.shape_mask(o.class_name, o.centre_yx, o.diameter, o.angle, yy, xx)
        ring = SW.outline(full)
        yield o, float((scene.instances[ring] == i + 1).mean()), full


def test_every_object_shows_nearly_all_of_its_outline_and_lies_inside(heldout):
    for s in heldout:
        for o, seen, full in _outline_seen(s):
            assert seen >= 1 - SW.MAX_HIDDEN_OUTLINE - 1e-9, (s.seed, o)
            # Wholly inside the image: the in-image mask has the shape's whole area.
            assert abs(int(full.sum()) - SW.shape_area(o.class_name, o.diameter)) <= (
                0.5 * math.pi * o.diameter + 4
            )
            r = o.diameter / 2
            assert all(r - 1e-9 <= c <= s.size - r + 1e-9 for c in o.centre_yx)


def test_a_crowded_scene_leaves_out_objects_rather_than_hide_outlines():
    from deeplab_viz.shapes_world import custom_scene

    s = custom_scene(4, diameters=(60, 100), n_objects=16)
    assert 1 <= len(s.objects) < 16
    assert all(seen >= 1 - SW.MAX_HIDDEN_OUTLINE - 1e-9 for _, seen, _ in _outline_seen(s))


def test_outline_is_the_inner_boundary():
    m = np.zeros((6, 6), bool)
    m[1:5, 1:5] = True
    o = SW.outline(m)
    assert o.sum() == 12 and not o[2:4, 2:4].any() and (o <= m).all()
    assert not SW.outline(np.ones((4, 4), bool)).any()  # the image edge is not an outline


def test_an_unoccluded_object_is_painted_with_its_own_mask():
    s = SW.generate_scene(11)
    last = len(s.objects)  # drawn last: nothing on top of it
    inside = s.instances == last
    assert inside.sum() == s.objects[-1].pixels > 0


def test_every_size_bucket_and_class_is_populated_in_the_heldout_set(heldout):
    buckets = Counter(o.bucket for s in heldout for o in s.objects if o.pixels > 0)
    classes = Counter(o.class_name for s in heldout for o in s.objects if o.pixels > 0)
    assert set(buckets) == set(SW.BUCKET_NAMES)
    assert min(buckets.values()) >= 50, buckets
    assert set(classes) == set(SW.SHAPES) and min(classes.values()) >= 80, classes
    diameters = [o.diameter for s in heldout for o in s.objects]
    assert min(diameters) >= SW.MIN_DIAMETER
    assert max(diameters) <= SW.MAX_DIAMETER_FRACTION * SW.DEFAULT_SIZE


def test_fill_textures_carry_no_class_cue(heldout):
    """Mean fill colour and its spread look the same for every class."""
    stats = {c: [] for c in SW.SHAPES}
    for s in heldout:
        for i, o in enumerate(s.objects):
            px = s.rgb[s.instances == i + 1].astype(np.float64)
            if len(px) >= 200:
                stats[o.class_name].append((px.mean(), px.std(0).mean()))
    means = {c: np.mean(v, axis=0) for c, v in stats.items()}
    brightness = [m[0] for m in means.values()]
    spread = [m[1] for m in means.values()]
    assert max(brightness) - min(brightness) < 20
    assert max(spread) - min(spread) < 8


def _saturation(px: np.ndarray) -> np.ndarray:
    """HSV saturation of (N, 3) RGB pixels."""
    hi, lo = px.max(1), px.min(1)
    return np.where(hi > 0, (hi - lo) / np.maximum(hi, 1e-9), 0.0)


def test_background_is_grey_toned_and_objects_are_saturated(heldout):
    """Object or background is a local question (colour); which shape is not."""
    bg, obj = [], []
    for s in heldout[:60]:
        px = s.rgb.reshape(-1, 3).astype(np.float64)
        m = s.mask.ravel()
        if (m == 0).any():
            bg.append(_saturation(px[m == 0].mean(0, keepdims=True))[0])
        for i in range(len(s.objects)):
            own = s.instances.ravel() == i + 1
            if own.sum() >= 30:
                obj.append(_saturation(px[own].mean(0, keepdims=True))[0])
    assert max(bg) <= SW.BACKGROUND_SATURATION[1] + 0.05
    assert min(obj) >= SW.OBJECT_SATURATION[0] - 0.1


def test_size_buckets_and_seed_ranges():
    assert [SW.bucket_of(d) for d in (6, 11.9, 12, 31.9, 32, 79.9, 80, 500)] == [
        "tiny",
        "tiny",
        "small",
        "small",
        "medium",
        "medium",
        "large",
        "large",
    ]
    assert SW.HELDOUT_START > 100_000 and len(SW.HELDOUT_SEEDS) == SW.HELDOUT_COUNT
    with pytest.raises(ValueError):
        SW.bucket_of(-1)
    with pytest.raises(ValueError):
        SW.generate_scene(0, size=16)
    with pytest.raises(ValueError):
        SW.heldout_seeds(0)


def test_batches_stack_scenes():
    rgb, mask = SW.batch(range(3), size=64)
    assert rgb.shape == (3, 64, 64, 3) and mask.shape == (3, 64, 64)
    assert np.array_equal(rgb[1], SW.generate_scene(1, size=64).rgb)
