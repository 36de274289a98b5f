"""The ASPP explorer's tables and colour scale, from made-up branches (no model runs)."""

from __future__ import annotations

import numpy as np
import pytest

from deeplab_viz import aspp as A
from deeplab_viz.probe import Branch


def _branches() -> list[Branch]:
    ones = np.ones((2, 3, 3), dtype=np.float32)
    return [
        Branch("1×1", "1x1", None, ones),
        Branch("rate 12", "atrous", 12, 2 * ones),
        Branch("image pooling", "pooling", None, 0 * ones),
    ]


def _split(names) -> A.ProjectionSplit:
    return A.ProjectionSplit(
        names=tuple(names),
        share={"1×1": 0.5, "rate 12": -0.125, "image pooling": 0.5},
        bias_share=0.125,
        magnitude_share={"1×1": 0.25, "rate 12": 0.25, "image pooling": 0.5},
        maps={},
        max_error=0.0,
    )


def test_share_rows_one_per_branch_then_the_bias():
    branches = _branches()
    off = {"1×1": 0.0, "rate 12": 0.031, "image pooling": 1.0}
    rows = A.share_rows(branches, _split(b.name for b in branches), off, output_stride=8)
    assert [r["branch"] for r in rows] == ["1×1", "rate 12", "image pooling", "bias"]
    one, atrous, pooling, bias = rows
    assert one["kind"] == "1×1 conv" and one["taps apart"] == "—"
    assert atrous == {
        "branch": "rate 12",
        "kind": "3×3 atrous",
        "taps apart": "96 px",  # rate × output stride
        "energy (RMS)": "2.00",
        "signed share": "-12.5 %",
        "magnitude share": "25.0 %",
        "changed when off": "3.1 %",
    }
    assert pooling["kind"] == "image pooling" and pooling["energy (RMS)"] == "0.00"
    assert one["signed share"] == "+50.0 %"  # signed shares carry their sign
    assert bias == {
        "branch": "bias",
        "kind": "projection bias",
        "taps apart": "—",
        "energy (RMS)": "—",
        "signed share": "+12.5 %",
        "magnitude share": "—",
        "changed when off": "—",
    }


def test_class_change_rows_largest_first_in_percent():
    rows = A.class_change_rows({"cat": (0.2, 0.1), "background": (0.7, 0.8), "dog": (0.1, 0.1)})
    assert [r["class"] for r in rows] == ["background", "cat", "dog"]
    assert rows[1]["before %"] == pytest.approx(20.0)
    assert rows[1]["after %"] == pytest.approx(10.0)
    assert rows[1]["change (points)"] == pytest.approx(-10.0)
    assert A.class_change_rows({}) == []


def test_on_shared_scale_divides_by_the_one_peak():
    maps = {"a": np.array([[0.0, 2.0]]), "b": np.array([[4.0, 1.0]])}
    scaled, peak = A.on_shared_scale(maps)
    assert peak == 4.0
    assert np.allclose(scaled["a"], [[0.0, 0.5]]) and np.allclose(scaled["b"], [[1.0, 0.25]])
    zeros, peak = A.on_shared_scale({"a": np.zeros((2, 2))})
    assert peak == 0.0 and not zeros["a"].any()
    assert A.on_shared_scale({}) == ({}, 0.0)
