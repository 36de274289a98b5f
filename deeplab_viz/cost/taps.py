"""How many of an atrous kernel's taps land on real feature cells, per stride and rate.

Arithmetic only (nothing is run): what a large rate costs on a small feature map is
*useful taps*.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..atrous import effective_kernel_size, valid_tap_fraction
from .inputs import _hw


def valid_tap_share(rate: int, feature_hw: int | Sequence[int], kernel: int = 3) -> float:
    """Share of a k×k branch's taps (over all output cells) that land on real feature cells.

    Rate 36 on a 17×17 map ("same" padding 36): only the centre tap is ever real, 1/9.
    """
    return valid_tap_fraction(_hw(feature_hw), kernel, int(rate))


@dataclass(frozen=True)
class TapRow:
    """One atrous ASPP branch at one output stride."""

    output_stride: int
    rate: int
    feature_hw: tuple[int, int]  # the ASPP input, cells
    spacing_px: int  # image pixels between neighbouring taps: rate × output stride
    span_px: int  # the 3×3 kernel's span in image pixels: (k_eff − 1) × OS + 1
    valid_share: float  # of all (cell, tap) pairs, those on real feature cells


def tap_table(
    rates_by_stride: Mapping[int, Sequence[int | None]],
    feature_hw_by_stride: Mapping[int, Sequence[int]],
    *,
    kernel: int = 3,
) -> list[TapRow]:
    """A :class:`TapRow` per atrous rate per stride (``None`` rates, 1×1/pooling, skipped)."""
    rows = []
    for os_, rates in rates_by_stride.items():
        hw = _hw(feature_hw_by_stride[os_])
        for r in rates:
            if r is None:
                continue
            rows.append(
                TapRow(
                    output_stride=int(os_),
                    rate=int(r),
                    feature_hw=hw,
                    spacing_px=int(r) * int(os_),
                    span_px=(effective_kernel_size(kernel, int(r)) - 1) * int(os_) + 1,
                    valid_share=valid_tap_share(int(r), hw, kernel),
                )
            )
    return rows
