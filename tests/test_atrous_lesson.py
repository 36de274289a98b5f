"""deeplab_viz.atrous_lesson: the numbers the Dilated convolution page shows."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from deeplab_viz import atrous
from deeplab_viz import atrous_lesson as AL
from deeplab_viz.atrous_views import space_to_batch_check


@pytest.mark.parametrize(
    "unit,m,expected",
    [
        ("centre", 15, (7, 7)),
        ("top edge", 15, (0, 7)),
        ("corner", 15, (0, 0)),
        ("centre", 4, (2, 2)),
    ],
)
def test_output_unit_index(unit, m, expected):
    assert AL.output_unit_index(unit, m) == expected
    with pytest.raises(KeyError):
        AL.output_unit_index("middle", m)
    assert set(AL.UNITS) == {"centre", "top edge", "corner"}


def test_image_kernel_span_matches_the_outer_taps_plus_one_cell():
    assert AL.image_kernel_span(3, 2, 8) == 2 * 16 + 8  # the page's default: 40 px
    assert AL.image_kernel_span(1, 12, 16) == 16  # a 1×1 kernel reads one cell
    taps = atrous.image_taps((200, 200), (400, 400), 3, 2, 8)
    reach = taps.centres[:, 1].max() - taps.centres[:, 1].min()
    assert AL.image_kernel_span(3, 2, 8) == reach + 8


def test_feature_cells_rounds_up():
    assert AL.feature_cells(513, 8) == 65
    assert AL.feature_cells(512, 8) == 64
    assert AL.feature_cells(1, 16) == 1


def test_stack_growth_in_words():
    assert AL.stack_growth(atrous.stacked_1d_rf([1, 2, 4, 8], 2)) == "2 → 4 → 8 → 16"
    assert AL.stack_growth(atrous.stacked_1d_rf([2, 2, 2], 3, causal=False)) == "5 → 9 → 13"


def test_space_to_batch_verdict_and_difference():
    rgb = np.random.default_rng(0).integers(0, 256, (12, 10, 3), dtype=np.uint8)
    check = space_to_batch_check(rgb, 2, repeats=1)
    assert AL.s2b_equal(check)
    exact = dataclasses.replace(check, max_abs_diff=0.0)
    assert AL.s2b_diff_text(exact) == "0" and AL.s2b_equal(exact)
    small = dataclasses.replace(check, max_abs_diff=2.5e-7, max_abs_value=3.0)
    assert AL.s2b_diff_text(small) == "2.5e-07" and AL.s2b_equal(small)
    off = dataclasses.replace(check, max_abs_diff=0.01, max_abs_value=3.0)
    assert not AL.s2b_equal(off)  # more than 1e-3 of the output's size
    big = dataclasses.replace(check, max_abs_diff=0.01, max_abs_value=100.0)
    assert AL.s2b_equal(big)


def test_picked_rates_sorted_ints():
    assert AL.picked_rates([8, 1, 4]) == (1, 4, 8)
    assert AL.picked_rates(None) == ()
    assert AL.picked_rates([]) == ()
