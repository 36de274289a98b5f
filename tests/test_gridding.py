"""deeplab_viz.gridding: exact coverage of dilated stacks, checked against torch autograd."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from deeplab_viz import gridding as G

pytestmark = pytest.mark.torch_threads(1)  # pinned by conftest, restored after


def _autograd_counts(rates, kernel: int) -> np.ndarray:
    """Gradient of the single output unit of a ones-weight stack = paths per input cell."""
    side = 1 + sum((kernel - 1) * r for r in rates)
    x = torch.rand(1, 1, side, side, dtype=torch.float64, requires_grad=True)
    h = x
    for r in rates:
        h = F.conv2d(h, torch.ones(1, 1, kernel, kernel, dtype=torch.float64), dilation=r)
    assert h.shape[-2:] == (1, 1)
    (g,) = torch.autograd.grad(h[0, 0, 0, 0], x)
    return g[0, 0].numpy()


@pytest.mark.parametrize(
    "rates,covered,cells",
    [
        ([2, 2, 2], 49, 169),
        ([2, 4, 8], 225, 841),
        ([1, 2, 5], 289, 289),
        ([1, 2, 3], 169, 169),
        ([1], 9, 9),
        ([3], 9, 49),
    ],
)
def test_known_coverage_numbers(rates, covered: int, cells: int) -> None:
    cov = G.coverage_map(rates)
    assert (cov.covered, cov.rf_cells) == (covered, cells)
    assert cov.coverage == pytest.approx(covered / cells)
    assert cov.side**2 == cells and cov.full is (covered == cells)
    assert cov.counts.dtype == np.int64 and cov.rates == tuple(rates) and cov.kernel == 3


@pytest.mark.parametrize(
    "rates,kernel",
    [
        ([2, 2, 2], 3),
        ([2, 4, 8], 3),
        ([1, 2, 5], 3),
        ([1, 2, 9], 3),
        ([3, 1], 2),
        ([2, 3], 4),
        ([1, 1, 1, 1], 5),
    ],
)
def test_counts_match_autograd(rates, kernel: int) -> None:
    counts = G.coverage_counts(rates, kernel)
    np.testing.assert_array_equal(counts, _autograd_counts(rates, kernel))
    assert counts.sum() == kernel ** (2 * len(rates))  # every path counted once
    assert np.array_equal(counts, counts.T) and np.array_equal(counts, counts[::-1, ::-1])


def test_coverage_is_read_only_and_validated() -> None:
    cov = G.coverage_map([2, 2])
    with pytest.raises(ValueError):
        cov.counts[0, 0] = 7
    for bad in ([], [0], [1, -2], "12", [1.5]):
        with pytest.raises(ValueError, match="rates"):
            G.coverage_map(bad)
    with pytest.raises(ValueError, match="kernel"):
        G.coverage_map([1], kernel=0)


def _checkerboard(n: int) -> np.ndarray:
    board = (np.add.outer(np.arange(n), np.arange(n)) % 2).astype(np.float32)
    return np.repeat(board[:, :, None], 3, axis=2)


def test_gridding_artifact_keeps_lattice_patterns_that_hdc_removes() -> None:
    img = _checkerboard(40)
    gridded = G.gridding_artifact(img, [2, 2, 2])
    hdc = G.gridding_artifact(img, [1, 2, 5])
    assert gridded.shape == hdc.shape == img.shape and gridded.dtype == np.float32
    # Rates 2, 2, 2 only ever average pixels of the same parity: the pattern survives.
    np.testing.assert_allclose(gridded[6:-6, 6:-6], img[6:-6, 6:-6], atol=1e-6)
    # [1, 2, 5] mixes both parities: the checkerboard is flattened to ~0.5 (gain 1/81).
    assert np.abs(hdc[8:-8, 8:-8] - 0.5).max() < 0.01


def test_gridding_artifact_constant_and_uint8() -> None:
    flat = np.full((16, 16, 3), 200, dtype=np.uint8)
    for mode in ("replicate", "reflect", "zeros"):
        out = G.gridding_artifact(flat, [1, 2], padding_mode=mode)
        assert out.shape == flat.shape
        if mode != "zeros":
            np.testing.assert_allclose(out, 200 / 255, atol=1e-6)


# --------------------------------------------------------------------------- page helpers


def test_rates_label_and_hdc_rows_read_the_rule_layer_by_layer() -> None:
    from deeplab_viz.receptive_field import hdc_check

    assert G.rates_label((2, 2, 2)) == "[2, 2, 2]"
    rows = G.hdc_rows(hdc_check((2, 2, 2)))
    assert [r["Mᵢ"] for r in rows] == [2, 2, 2]
    assert [r["rate rᵢ"] for r in rows] == [2, 2, 2]
    assert [r["check"] for r in rows] == ["r₁ ≠ 1 ✗ fail", "M₂ = 2 ≤ 3 ✓ pass", ""]
    rows = G.hdc_rows(hdc_check((1, 2, 9)))
    assert [r["Mᵢ"] for r in rows] == [3, 5, 9]
    assert rows[0]["check"] == "r₁ = 1 ✓ pass" and rows[1]["check"] == "M₂ = 5 > 3 ✗ fail"
    assert [r["layer i"] for r in rows] == [1, 2, 3]


def test_hdc_checklist_marks_each_check() -> None:
    from deeplab_viz.receptive_field import hdc_check

    lines = G.hdc_checklist(hdc_check((2, 2, 2))).split("\n")
    assert lines == [
        "- **✗ fail**: first rate is 1",
        "- **✓ pass**: M₂ ≤ K = 3",
        "- **✗ fail**: every cell covered (exact count)",
    ]
    assert G.hdc_checklist(hdc_check((1, 2, 5))).count("✓ pass") == 3
    assert "✓ pass**: M₂ ≤ K = 3" in G.hdc_checklist(hdc_check((1,)))  # no M₂: nothing to fail


def test_artifact_panels_name_the_pictures() -> None:
    assert G.artifact_panels((2, 2, 2), (1, 2, 5), 0.15) == [
        ("input + noise", None),
        ("your stack [2, 2, 2]", (2, 2, 2)),
        ("HDC fix [1, 2, 5]", (1, 2, 5)),
    ]
    assert G.artifact_panels([1, 2, 5], None, 0.0) == [
        ("input", None),
        ("your stack [1, 2, 5]", (1, 2, 5)),
    ]


def test_stage_labels_plain_chains_and_erf_titles() -> None:
    from deeplab_viz.stage_erf import StageInfo

    info = StageInfo("stage5", ((3, 2), (3, 4), (3, 4)))
    assert G.stage_label(info) == "stage5 · rates 2, 4, 4"
    assert G.is_plain_chain(info)
    assert not G.is_plain_chain(StageInfo("s", ((3, 2), (5, 2))))
    assert not G.is_plain_chain(info, kernel=5)
    assert G.erf_title("stage5", "your image", 1) == "stage5: |∂ centre unit / ∂ input|, your image"
    assert G.erf_title("stage5", "random", 1).endswith(", random normal input")
    assert G.erf_title("stage5", "random", 4).endswith(", random normal input, 4 samples")
