"""Gridding: the holes that stacked dilated convolutions leave in their receptive field.

A stack of ``k x k`` convolutions at stride 1 with rates ``r_1 .. r_n`` connects one
output unit to the input cells of a square of side ``1 + sum (k-1) r_i`` (cells = input
pixels), but not necessarily to all of them: with rates sharing a factor (``[2, 2, 2]``,
``[2, 4, 8]``) whole rows and columns are never read. ``coverage_map`` counts, exactly,
how many paths reach each cell; zero means a hole.

The Gridding page's tables and labels are here too: the HDC rule layer by layer
(:func:`hdc_rows`, :func:`hdc_checklist`), the pictures it blurs
(:func:`artifact_panels`) and the names it gives stacks and stages.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .atrous import apply_dilated_filter
from .rates import format_rates
from .receptive_field.hdc import HDCResult
from .receptive_field.layer import Layer
from .receptive_field.stack import rf_footprint

__all__ = [
    "Coverage",
    "artifact_panels",
    "coverage_counts",
    "coverage_map",
    "erf_title",
    "gridding_artifact",
    "hdc_checklist",
    "hdc_rows",
    "is_plain_chain",
    "rates_label",
    "stage_label",
]


def _check(rates: Sequence[int], kernel: int) -> tuple[tuple[int, ...], int]:
    if isinstance(kernel, bool) or not isinstance(kernel, (int, np.integer)) or kernel < 1:
        raise ValueError(f"kernel must be a positive integer, got {kernel!r}")
    if isinstance(rates, (str, bytes)) or not isinstance(rates, Sequence) or not rates:
        raise ValueError(f"rates must be a non-empty sequence of positive integers, got {rates!r}")
    for r in rates:
        if isinstance(r, bool) or not isinstance(r, (int, np.integer)) or r < 1:
            raise ValueError(f"rates must be positive integers, got {r!r}")
    return tuple(int(r) for r in rates), int(kernel)


def coverage_counts(rates: Sequence[int], kernel: int = 3) -> np.ndarray:
    """Paths from one output unit to each input cell, as a square int64 array.

    Side ``1 + sum (kernel-1) r_i`` cells, the output unit's receptive field; the array
    is the convolution of the dilated kernels' supports (outer product of the 1-D
    footprint with itself), centred on the output unit for odd kernels.
    """
    rates, kernel = _check(rates, kernel)
    fp = rf_footprint([Layer(kernel, 1, r) for r in rates]).astype(np.int64)
    return np.outer(fp, fp)


@dataclass(frozen=True)
class Coverage:
    """How much of its receptive field a dilated stack actually reads.

    ``counts`` paths per cell (2-D int), ``covered`` cells with at least one path,
    ``rf_cells = side²`` with ``side = 1 + sum (kernel-1) r_i``, ``coverage`` their ratio.
    """

    rates: tuple[int, ...]
    kernel: int
    counts: np.ndarray
    covered: int
    rf_cells: int
    coverage: float

    @property
    def side(self) -> int:
        """Side of the receptive field, in input cells."""
        return self.counts.shape[0]

    @property
    def full(self) -> bool:
        """True when no cell of the receptive field is a hole."""
        return self.covered == self.rf_cells


def coverage_map(rates: Sequence[int], kernel: int = 3) -> Coverage:
    """Exact coverage of the receptive field of a stride-1 stack of dilated convs.

    E.g. ``[2, 2, 2]`` reads 49 of 169 cells, ``[2, 4, 8]`` 225 of 841, ``[1, 2, 5]``
    all 289 (17 x 17).
    """
    rates, kernel = _check(rates, kernel)
    counts = coverage_counts(rates, kernel)
    counts.setflags(write=False)
    covered = int(np.count_nonzero(counts))
    cells = int(counts.size)
    return Coverage(
        rates=rates,
        kernel=kernel,
        counts=counts,
        covered=covered,
        rf_cells=cells,
        coverage=covered / cells,
    )


def gridding_artifact(
    image: np.ndarray,
    rates: Sequence[int],
    kernel: int = 3,
    *,
    padding_mode: str = "replicate",
) -> np.ndarray:
    """Blur ``image`` with a stack of ``kernel x kernel`` box filters at the given rates.

    Each layer averages the ``kernel²`` taps it reads (torch conv, ``padding_mode``
    ``"replicate"`` by default, or ``"reflect"``/``"zeros"``; size preserved). A stack
    with holes mixes only pixels on a lattice, which shows up as a checkerboard on fine
    texture; compare with ``[1, 2, 5]``. Returns float32 like
    :func:`deeplab_viz.atrous.apply_dilated_filter` (uint8 input scaled to [0, 1]).
    """
    rates, kernel = _check(rates, kernel)
    box = np.full((kernel, kernel), 1.0 / (kernel * kernel), dtype=np.float32)
    out = np.asarray(image)
    for r in rates:
        out = apply_dilated_filter(out, box, r, padding_mode=padding_mode)
    return out


# --------------------------------------------------------------------------- page helpers


def rates_label(rates: Sequence[int]) -> str:
    """``(2, 2, 2)`` → ``"[2, 2, 2]"``: how the Gridding page names a stack."""
    return "[" + format_rates(rates) + "]"


def hdc_rows(hdc: HDCResult) -> list[dict[str, object]]:
    """The HDC rule layer by layer (bottom first): rate, ``Mᵢ`` and, on the two layers the
    rule reads, its verdict (``r₁ = 1``, ``M₂ ≤ K``)."""
    k = hdc.kernel
    rows: list[dict[str, object]] = []
    for i, (r, m) in enumerate(zip(hdc.rates, hdc.m, strict=True), start=1):
        note = ""
        if i == 1:
            note = "r₁ = 1 ✓ pass" if r == 1 else "r₁ ≠ 1 ✗ fail"
        if i == 2:
            note = f"M₂ = {m} ≤ {k} ✓ pass" if m <= k else f"M₂ = {m} > {k} ✗ fail"
        rows.append({"layer i": i, "rate rᵢ": r, "Mᵢ": m, "check": note})
    return rows


def hdc_checklist(hdc: HDCResult) -> str:
    """The rule's three checks as a Markdown list, each marked ✓ pass or ✗ fail."""
    checks = [
        ("first rate is 1", hdc.rates[0] == 1),
        (f"M₂ ≤ K = {hdc.kernel}", hdc.m2 is None or hdc.m2 <= hdc.kernel),
        ("every cell covered (exact count)", hdc.full_coverage),
    ]
    return "\n".join(f"- **{'✓ pass' if ok else '✗ fail'}**: {txt}" for txt, ok in checks)


def artifact_panels(
    rates: Sequence[int], fixed: Sequence[int] | None, noise: float
) -> list[tuple[str, tuple[int, ...] | None]]:
    """(title, rates) of the pictures side by side: the input (rates None), the stack
    blurred with ``rates`` and, when there is one, with the HDC fix ``fixed``."""
    shown: list[tuple[str, tuple[int, ...] | None]] = [
        ("input" + (" + noise" if noise else ""), None),
        (f"your stack {rates_label(rates)}", tuple(rates)),
    ]
    if fixed is not None:
        shown.append((f"HDC fix {rates_label(fixed)}", tuple(fixed)))
    return shown


def stage_label(info) -> str:
    """``"stage5 · rates 2, 4, 4, 4"`` for a :class:`~deeplab_viz.stage_erf.StageInfo`."""
    return f"{info.name} · rates {format_rates(info.dilations)}"


def is_plain_chain(info, kernel: int = 3) -> bool:
    """Whether every spatial conv of the stage ``info`` is ``kernel × kernel``, so the stage
    reads like a plain chain of them (:func:`coverage_map` of its rates predicts its holes)."""
    return {k for k, _ in info.convs} == {kernel}


def erf_title(stage: str, source: str, n: int) -> str:
    """Title of a stage's ERF map: what fed the stage (``source``: "your image" or
    "random"; ``n`` random samples averaged)."""
    src = "random normal input" + (f", {n} samples" if n > 1 else "")
    return f"{stage}: |∂ centre unit / ∂ input|, {'your image' if source == 'your image' else src}"
