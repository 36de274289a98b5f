"""Gridding: the holes that stacked dilated convolutions leave in their receptive field.

A stack of ``k x k`` convolutions at stride 1 with rates ``r_1 .. r_n`` connects one
output unit to the input cells of a square of side ``1 + sum (k-1) r_i`` (cells = input
pixels), but not necessarily to all of them: with rates sharing a factor (``[2, 2, 2]``,
``[2, 4, 8]``) whole rows and columns are never read. ``coverage_map`` counts, exactly,
how many paths reach each cell; zero means a hole.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .atrous import apply_dilated_filter
from .receptive_field.layer import Layer
from .receptive_field.stack import rf_footprint

__all__ = ["Coverage", "coverage_counts", "coverage_map", "gridding_artifact"]


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
