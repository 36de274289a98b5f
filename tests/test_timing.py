"""deeplab_viz.timing: medians, middle halves and when a difference is measurable."""

from __future__ import annotations

import time

import pytest

from deeplab_viz.timing import compare, interleaved, spread


def test_spread_median_and_middle_half():
    s = spread([5, 1, 3, 2, 4])
    assert s.median_ms == 3 and s.p25_ms == 2 and s.p75_ms == 4
    assert s.text() == "3.0 ms (middle half 2.0–4.0, 5 runs)"
    with pytest.raises(ValueError):
        spread([])


def test_interleaved_runs_round_robin_with_rotating_order():
    order: list[str] = []
    fns = {n: (lambda n=n: order.append(n)) for n in "abc"}
    out = interleaved(fns, repeats=3, warmup=1)
    assert order == list("abc") + list("abc") + list("bca") + list("cab")
    assert set(out) == set("abc") and all(len(s.runs_ms) == 3 for s in out.values())


def test_a_real_difference_is_ranked_and_noise_is_not():
    out = interleaved(
        {"slow": lambda: time.sleep(0.02), "fast": lambda: time.sleep(0.001)}, repeats=5
    )
    c = compare("slow", out["slow"], "fast", out["fast"])
    assert c.measurable and c.ratio > 3
    assert c.sentence().startswith("fast is ") and "faster than slow" in c.sentence()
    same = compare("a", spread([10, 11, 12, 13]), "b", spread([10.5, 11.5, 12.5, 13.5]))
    assert not same.measurable and "no measurable difference" in same.sentence()
