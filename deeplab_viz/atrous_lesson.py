"""The numbers the "Dilated convolution" page derives from :mod:`deeplab_viz.atrous`.

One small pure function each, so the page only reads its widgets and draws: which
output unit the sampling grid shows, how far a kernel reaches on the image at an
output stride, how many feature cells one side has, the growth of a 1-D stack in
words, what the live space-to-batch check found, and the rates picked for the filters.
"""

from __future__ import annotations

from collections.abc import Iterable

from .atrous import Stacked1D
from .atrous_views import SpaceToBatchCheck

__all__ = [
    "UNITS",
    "feature_cells",
    "image_kernel_span",
    "output_unit_index",
    "picked_rates",
    "s2b_diff_text",
    "s2b_equal",
    "stack_growth",
]

UNITS = ("centre", "top edge", "corner")  # which output unit the sampling grid shows


def output_unit_index(unit: str, m: int) -> tuple[int, int]:
    """``(y, x)`` of the ``unit`` (one of :data:`UNITS`) of an ``m × m`` output."""
    c = m // 2
    return {"centre": (c, c), "top edge": (0, c), "corner": (0, 0)}[unit]


def image_kernel_span(k: int, rate: int, output_stride: int) -> int:
    """Image pixels a ``k × k`` kernel at ``rate`` spans on a stride-``output_stride`` map:
    ``(k−1)`` tap spacings of ``rate × output_stride`` pixels, plus one cell."""
    return (k - 1) * rate * output_stride + output_stride


def feature_cells(size: int, output_stride: int) -> int:
    """Cells of a feature map side for ``size`` input pixels: ``⌈size / output_stride⌉``."""
    return -(-size // output_stride)


def stack_growth(stack: Stacked1D) -> str:
    """The receptive field after each layer of a 1-D stack: ``"2 → 4 → 8 → 16"``."""
    return " → ".join(str(s) for s in stack.rf_sizes[1:])


def s2b_diff_text(check: SpaceToBatchCheck) -> str:
    """The largest difference of the two routes as shown: ``"0"`` when bit-identical."""
    return f"{check.max_abs_diff:.1e}" if check.max_abs_diff else "0"


def s2b_equal(check: SpaceToBatchCheck) -> bool:
    """Whether the two routes agree to float32 round-off (relative to the output's size)."""
    return check.max_abs_diff < 1e-3 * max(1.0, check.max_abs_value)


def picked_rates(chosen: Iterable[int] | None) -> tuple[int, ...]:
    """The rates picked for the filters, as sorted ints (none picked: empty)."""
    return tuple(sorted(int(x) for x in chosen or []))
