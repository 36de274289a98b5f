"""Hybrid Dilated Convolution (Wang et al. 2018): the rule, the exact check, a fix.

A stack of dilated convolutions at stride 1 leaves holes in its receptive field
(gridding) unless its rates follow the HDC rule; :func:`hdc_check` applies the rule and
the exact test (:func:`~deeplab_viz.receptive_field.stack.rf_footprint`),
:func:`suggest_hdc_fix` proposes nearby rates that pass.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .layer import Layer, _is_int
from .stack import rf_footprint


@dataclass(frozen=True)
class HDCResult:
    """Hybrid Dilated Convolution check (Wang et al. 2018).

    ``m[i]`` is ``M_{i+1}`` of the paper for layer ``i`` (0-based, same order as
    ``rates``): the maximum distance between two non-zero taps seen from that layer.
    ``m2`` is the paper's ``M_2`` (None for a single layer). ``passes`` is the rule
    ``r_1 == 1 and M_2 <= K``; ``full_coverage`` is the exact answer (no holes in the
    receptive field, from :func:`rf_footprint`). They agree for non-decreasing rates.
    """

    rates: tuple[int, ...]
    kernel: int
    m: tuple[int, ...]
    m2: int | None
    passes: bool
    full_coverage: bool


def _check_rates(rates: Sequence[int], kernel: int) -> tuple[tuple[int, ...], int]:
    if not _is_int(kernel) or kernel < 2:
        raise ValueError(
            f"kernel must be an integer >= 2 (a 1x1 kernel has no holes), got {kernel!r}"
        )
    if isinstance(rates, (str, bytes)) or not isinstance(rates, Sequence) or not rates:
        raise ValueError(f"rates must be a non-empty sequence of positive integers, got {rates!r}")
    for r in rates:
        if not _is_int(r) or r < 1:
            raise ValueError(f"rates must be positive integers, got {r!r}")
    return tuple(int(r) for r in rates), int(kernel)


def _m_values(rates: tuple[int, ...], kernel: int) -> list[int]:
    m = [0] * len(rates)
    m[-1] = rates[-1]
    for i in range(len(rates) - 2, -1, -1):
        nxt, r = m[i + 1], rates[i]
        m[i] = max(nxt - (kernel - 1) * r, nxt - 2 * (nxt - r), r)
    return m


def _full_coverage(rates: tuple[int, ...], kernel: int) -> bool:
    return bool(np.all(rf_footprint([Layer(kernel, 1, r) for r in rates]) > 0))


def hdc_check(rates: Sequence[int], kernel: int = 3) -> HDCResult:
    """Apply the HDC rule to a stack of ``kernel x kernel`` convs with these rates.

    ``M_n = r_n``, ``M_i = max(M_{i+1} - (K-1) r_i, M_{i+1} - 2(M_{i+1} - r_i), r_i)``
    (the paper writes ``2 r_i`` for its ``K = 3``; ``K - 1`` keeps the rule exact for
    other kernel sizes). The design goal is ``M_2 <= K`` with a first layer at rate 1
    (the paper's groups start at 1, e.g. ``[1, 2, 5]``); otherwise holes remain, as in
    ``[2, 2, 2]`` (``M_2 = 2`` but every odd pixel is missed).
    """
    rates, kernel = _check_rates(rates, kernel)
    m = _m_values(rates, kernel)
    m2 = m[1] if len(m) > 1 else None
    passes = rates[0] == 1 and (m2 is None or m2 <= kernel)
    return HDCResult(
        rates=rates,
        kernel=kernel,
        m=tuple(m),
        m2=m2,
        passes=passes,
        full_coverage=_full_coverage(rates, kernel),
    )


@dataclass(frozen=True)
class HDCFix:
    """A passing rate list near ``original``; RF sides in input pixels (stride 1)."""

    original: tuple[int, ...]
    suggested: tuple[int, ...]
    kernel: int
    original_rf: int
    suggested_rf: int
    strategy: str


def _rf_side(rates: Sequence[int], kernel: int) -> int:
    return 1 + (kernel - 1) * sum(rates)


def _greedy_fix(rates: tuple[int, ...], kernel: int) -> tuple[int, ...]:
    # Start at 1; keep each rate between the previous one and the span covered so far:
    # non-decreasing and hole-free at every step, hence passes.
    out = [1]
    for r in rates[1:]:
        span = _rf_side(out, kernel)
        out.append(min(max(r, out[-1]), span))
    return tuple(out)


def _search_fix(rates: tuple[int, ...], kernel: int, radius: int) -> tuple[int, ...] | None:
    target = _rf_side(rates, kernel)
    ranges = [range(1, 2)] + [range(max(1, r - radius), r + radius + 1) for r in rates[1:]]
    best = None
    for cand in itertools.product(*ranges):
        m = _m_values(cand, kernel)
        if len(m) > 1 and m[1] > kernel:
            continue
        key = (
            abs(_rf_side(cand, kernel) - target),
            sum(abs(a - b) for a, b in zip(cand, rates, strict=True)),
            cand,
        )
        if (best is None or key < best) and _full_coverage(cand, kernel):
            best = key
    return None if best is None else best[2]


def suggest_hdc_fix(
    rates: Sequence[int], kernel: int = 3, *, radius: int = 2, max_candidates: int = 200_000
) -> HDCFix:
    """Suggest a nearby rate list that passes :func:`hdc_check` and has no holes.

    Strategy: if ``rates`` already pass, return them. Otherwise set the first rate to 1
    (the rule needs it) and try every list whose other rates differ from the original by
    at most ``R`` (rates stay >= 1), keeping those that pass and cover fully; pick the one
    whose receptive field ``1 + (K-1) sum(r)`` is closest to the original, then the
    smallest total change ``sum |r'_i - r_i|``, then the smallest list. ``R`` starts at
    ``radius`` and grows by ``radius`` until something is found, as long as a round tries
    at most ``max_candidates`` lists. Failing that, a greedy fix: first rate 1, each later
    rate clamped between the previous one and the span covered so far.
    """
    rates, kernel = _check_rates(rates, kernel)
    if not _is_int(radius) or radius < 0:
        raise ValueError(f"radius must be an integer >= 0, got {radius!r}")
    target = _rf_side(rates, kernel)

    def make(suggested: tuple[int, ...], strategy: str) -> HDCFix:
        return HDCFix(rates, suggested, kernel, target, _rf_side(suggested, kernel), strategy)

    if hdc_check(rates, kernel).passes:
        return make(rates, "unchanged: already passes")
    r = radius
    while math.prod(min(2 * r + 1, x + r) for x in rates[1:]) <= max_candidates:
        found = _search_fix(rates, kernel, r)
        if found is not None:
            return make(found, f"search: first rate 1, the others changed by at most {r}")
        if radius == 0 or r >= max(rates):
            break
        r += radius
    return make(
        _greedy_fix(rates, kernel), "greedy: rate 1 first, then no rate above the covered span"
    )
