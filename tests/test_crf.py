"""The dense CRF (deeplab_viz.crf) on cases with known answers, and the VOC boundary F-score."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from conftest import VOC_DIR
from PIL import Image

from deeplab_viz.boundary import boundary_f, fill_void, true_outline
from deeplab_viz.crf import DEEPLAB_LARGEFOV, DEEPLAB_V2_RESNET101, CRFParams, dense_crf


def _softmax(z: np.ndarray) -> np.ndarray:  # over axis 0
    e = np.exp(z - z.max(0))
    return e / e.sum(0)


def _gaussian_matrix(n: int, std: float) -> np.ndarray:  # (n, n) exp(−d²/2σ²) over all pairs
    x = np.arange(n, dtype=np.float64)
    return np.exp(-((x[:, None] - x[None, :]) ** 2) / (2 * std * std))


def _message(q: np.ndarray, std: float) -> np.ndarray:
    """Exact K̃Q for a position-only Gaussian over ALL pixel pairs, K̃ = D^−½ K D^−½.

    The 2-D Gaussian is separable, so K Q = G_y Q G_xᵀ per class, exactly.
    """
    _, h, w = q.shape
    gy, gx = _gaussian_matrix(h, std), _gaussian_matrix(w, std)
    blur = lambda a: np.einsum("hy,kyx,wx->khw", gy, a, gx)  # noqa: E731
    norm = 1 / np.sqrt(blur(np.ones((1, h, w)))[0])  # D^−½, (H, W)
    return norm * blur(q * norm)


def _smooth_logits(h: int, w: int, k: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    z = np.stack([np.sin(xx / 7.0 + c) + np.cos(yy / 5.0 * c) for c in range(k)]) * 2
    return z + rng.normal(0, 1.0, (k, h, w))


def _exact_uniform(p: np.ndarray, params: CRFParams) -> np.ndarray:
    """The mean field on a uniform image, exactly (see the test below)."""
    q = p.astype(np.float64)
    for _ in range(params.iterations):
        q = _softmax(
            np.log(p)
            + params.bilateral_weight * _message(q, params.bilateral_xy_std)
            + params.gaussian_weight * _message(q, params.gaussian_xy_std)
        )
    return q


LOCAL = CRFParams(
    iterations=5, bilateral_weight=2, bilateral_xy_std=8, gaussian_weight=1, gaussian_xy_std=3
)


@pytest.mark.parametrize(
    "params", [DEEPLAB_LARGEFOV, DEEPLAB_V2_RESNET101, LOCAL], ids=["v1", "v2", "local"]
)
def test_a_uniform_image_gives_back_the_smoothed_unary(params):
    """On a uniform image the colour term says nothing: both kernels are Gaussians in
    position only, so every mean-field message is a normalised Gaussian blur of Q.
    Expected, exactly: Q₀ = P, Q_{t+1} = softmax(log P + w1·B_σα(Q_t) + w2·B_σγ(Q_t)),
    B_σ(Q) = D^−½ G_σ D^−½ Q with G_σ over all pixel pairs (self included) and
    D = G_σ·1. pydensecrf computes G_σ with the permutohedral lattice, an
    approximation, hence the tolerances. With DeepLab's σα = 121 px on a 40×56
    image the answer is close to one class everywhere; the "local" setting keeps
    the unary's regions, so a wrong σ would show.
    """
    h, w, k = 40, 56, 3
    p = _softmax(_smooth_logits(h, w, k, seed=0)).astype(np.float32)
    rgb = np.full((h, w, 3), 90, np.uint8)
    result = dense_crf(rgb, p, params)

    q = _exact_uniform(p, params)
    diff = np.abs(result.probs - q)
    assert diff.mean() < 0.006 and np.quantile(diff, 0.99) < 0.05
    assert (result.class_map == q.argmax(0)).mean() > 0.98
    # The answer is far from the unary itself: the smoothing is what is being checked.
    assert np.abs(q - p).max() > 0.5 and (p.argmax(0) != q.argmax(0)).mean() > 0.05
    assert np.allclose(result.probs.sum(0), 1, atol=1e-5)
    if params is LOCAL:  # the tolerance is tight enough to tell the kernels' widths apart
        for wrong in (
            replace(params, gaussian_xy_std=9.0),
            replace(params, bilateral_xy_std=4.0),
            replace(params, bilateral_weight=1.0),
        ):
            assert np.abs(_exact_uniform(p, wrong) - q).mean() > 3 * 0.006


def _two_regions(seed: int = 0):
    """Left red, right blue (edge at column 24); the unary puts the edge 3.5 px too far
    left, blurred, with noise: what a coarse output stride hands the CRF."""
    rng = np.random.default_rng(seed)
    h, w, edge = 32, 48, 24
    rgb = np.zeros((h, w, 3), np.uint8)
    rgb[:, :edge], rgb[:, edge:] = (200, 60, 40), (40, 70, 190)
    truth = np.zeros((h, w), np.uint8)
    truth[:, edge:] = 1
    xx = np.arange(w)[None, :].repeat(h, 0)
    z = (xx - (edge - 3.5)) / 3.0 + rng.normal(0, 1.2, (h, w))
    p = _softmax(np.stack([np.zeros((h, w)), z])).astype(np.float32)
    return rgb, p, truth


def test_two_flat_colour_regions_come_back_clean_along_the_colour_edge():
    rgb, p, truth = _two_regions()
    assert (p.argmax(0) != truth).sum() > 80  # noisy and misplaced
    result = dense_crf(rgb, p)
    np.testing.assert_array_equal(result.class_map, truth)
    # It is the colour that put the edge there: on a uniform image the same unary
    # stays misplaced.
    flat = dense_crf(np.full_like(rgb, 120), p)
    assert (flat.class_map != truth).sum() > 80


def test_steps_are_the_mean_field_iterations():
    rgb, p, _ = _two_regions(seed=1)
    zero = dense_crf(rgb, p, CRFParams(iterations=0))
    np.testing.assert_allclose(zero.probs, p, atol=1e-6)  # softmax(log P) = P
    assert len(zero.maps) == 1 and (zero.class_map == p.argmax(0)).all()

    result = dense_crf(rgb, p, CRFParams(iterations=4))
    assert len(result.maps) == 5 and (result.maps[0] == p.argmax(0)).all()
    for t in (1, 2, 4):  # the t-th map is the labelling after t steps
        np.testing.assert_array_equal(
            dense_crf(rgb, p, CRFParams(iterations=t)).class_map, result.maps[t]
        )
    assert result.probs.dtype == np.float32 and result.probs.shape == p.shape
    assert result.ms > 0


def test_defaults_are_deeplabs_published_settings():
    assert DEEPLAB_LARGEFOV == CRFParams()
    assert CRFParams().as_dict() == {
        "iterations": 10,
        "bilateral_weight": 4.0,
        "bilateral_xy_std": 121.0,
        "bilateral_rgb_std": 5.0,
        "gaussian_weight": 3.0,
        "gaussian_xy_std": 3.0,
    }
    assert (DEEPLAB_V2_RESNET101.bilateral_xy_std, DEEPLAB_V2_RESNET101.gaussian_xy_std) == (67, 1)


@pytest.mark.parametrize(
    "kwargs, word",
    [
        ({"iterations": -1}, "iterations"),
        ({"iterations": 2.5}, "iterations"),
        ({"iterations": True}, "iterations"),
        ({"iterations": 10_000}, "iterations"),
        ({"bilateral_weight": -1}, "bilateral_weight"),
        ({"gaussian_weight": float("nan")}, "gaussian_weight"),
        ({"bilateral_xy_std": 0}, "bilateral_xy_std"),
        ({"bilateral_rgb_std": float("inf")}, "bilateral_rgb_std"),
        ({"gaussian_xy_std": "3"}, "gaussian_xy_std"),
    ],
)
def test_bad_parameters_are_one_line_value_errors(kwargs, word):
    with pytest.raises(ValueError) as info:
        CRFParams(**kwargs)
    assert word in str(info.value) and "\n" not in str(info.value)


def test_parameters_are_kept_as_plain_numbers():
    p = CRFParams(iterations=np.int64(3), bilateral_xy_std=np.float32(50))
    assert type(p.iterations) is int and type(p.bilateral_xy_std) is float
    assert CRFParams(bilateral_weight=0, gaussian_weight=0).bilateral_weight == 0.0


def test_bad_inputs_are_value_errors():
    rgb, p, _ = _two_regions()
    with pytest.raises(ValueError, match="grid"):
        dense_crf(rgb[:, :-1], p)
    with pytest.raises(ValueError, match="uint8"):
        dense_crf(rgb.astype(np.float32), p)
    with pytest.raises(ValueError, match="classes"):
        dense_crf(rgb, p[:1])


def test_a_read_only_image_is_accepted():
    rgb, p, truth = _two_regions()
    rgb.flags.writeable = False  # what load_image hands out
    assert (dense_crf(rgb, p).class_map == truth).all()


# ------------------------------------------------------ boundary F with a void band


def _square_with_band(shift: int = 0):
    """A 20-px square of class 8 on background, its outline under a 5-px void band."""
    label = np.zeros((60, 60), np.uint8)
    label[18:42, 18:42] = 255
    label[23:37, 23:37] = 8
    pred = np.zeros((60, 60), np.uint8)
    pred[20:40, 20 + shift : 40 + shift] = 8
    return pred, label


def test_the_true_outline_runs_through_the_middle_of_the_void_band():
    _, label = _square_with_band()
    outline, counted = true_outline(label, 255, tolerance=3)
    assert list(np.flatnonzero(outline[30])) == [20, 21, 38, 39]  # both sides, mid-band
    assert counted[30, 19] and counted[30, 30] and counted[0, 0]


@pytest.mark.parametrize("shift, expected", [(0, 1.0), (2, 1.0)])
def test_boundary_f_within_tolerance_is_one(shift, expected):
    pred, label = _square_with_band(shift)
    assert boundary_f(pred, label, 3, ignore_index=255) == expected


def test_boundary_f_falls_beyond_the_tolerance_and_for_a_missed_object():
    pred, label = _square_with_band(shift=6)
    assert boundary_f(pred, label, 3, ignore_index=255) < 0.7
    assert boundary_f(np.zeros_like(pred), label, 3, ignore_index=255) == 0.0


def test_an_object_marked_void_as_a_whole_is_ignored():
    label = np.zeros((60, 60), np.uint8)
    label[10:50, 10:50] = 255  # e.g. a "difficult" object
    segmented = np.where(label == 255, 8, 0).astype(np.uint8)
    assert boundary_f(segmented, label, 3, ignore_index=255) == 1.0
    assert boundary_f(np.zeros_like(label), label, 3, ignore_index=255) == 1.0
    # without ignore_index the void region is a class, and its outline counts
    assert boundary_f(np.zeros_like(label), label, 3) == 0.0


def test_without_void_pixels_ignore_index_changes_nothing():
    rng = np.random.default_rng(0)
    label = np.zeros((50, 50), np.uint8)
    label[10:30, 5:40] = 3
    pred = np.roll(label, int(rng.integers(1, 6)), axis=0)
    assert boundary_f(pred, label, 3, ignore_index=255) == boundary_f(pred, label, 3)


def test_fill_void_takes_the_nearest_label_and_stops_at_the_radius():
    label = np.array([[1, 255, 255, 255, 255, 255, 2]], np.uint8)
    filled = fill_void(label, label == 255, steps=2)
    assert filled.tolist() == [[1, 1, 1, -1, 2, 2, 2]]


@pytest.mark.skipif(not VOC_DIR.exists(), reason="VOC subset not found")
def test_a_voc_label_scores_one_against_its_own_filled_outline():
    image_id = (VOC_DIR / "ImageSets" / "Segmentation" / "val.txt").read_text().split()[0]
    label = np.asarray(Image.open(VOC_DIR / "SegmentationClass" / f"{image_id}.png"))
    assert (label == 255).any()
    filled = fill_void(label, label == 255, steps=10_000)
    assert (filled >= 0).all()
    assert boundary_f(filled.astype(np.uint8), label, 3, ignore_index=255) == 1.0

    def shifted(d: int) -> np.ndarray:  # moved d px down and d px right
        return np.roll(filled, (d, d), axis=(0, 1)).astype(np.uint8)

    assert boundary_f(shifted(3), label, 3, ignore_index=255) == 1.0  # within 3 px
    assert boundary_f(shifted(4), label, 3, ignore_index=255) < 0.7
