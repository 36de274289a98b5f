"""A receptive field placed on an image: the unit nearest a point, and its square.

Input-pixel coordinates, pixel ``i`` centred at ``i``; boxes are inclusive and may
reach past the image (:attr:`RFBox.clipped` cuts them to it).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from .layer import _is_int


def nearest_unit(start: float, jump: int, coord: float, n_units: int | None = None) -> int:
    """Index of the unit whose receptive-field centre (``start + jump*i``) is nearest ``coord``.

    Clamped to ``0 .. n_units - 1`` when ``n_units`` is given (else to ``>= 0``).
    """
    i = max(0, math.floor((coord - start) / jump + 0.5))
    return min(i, n_units - 1) if n_units is not None else i


@dataclass(frozen=True)
class RFBox:
    """A square receptive field placed on an image (input-pixel coordinates, inclusive).

    ``y0..y1``, ``x0..x1`` are the first and last pixels of the RF, unclipped (they may lie
    outside the image); ``size`` None means a global RF (the whole image).
    """

    centre_yx: tuple[float, float]
    size: int | None
    y0: int
    y1: int
    x0: int
    x1: int
    image_hw: tuple[int, int]

    @property
    def clipped(self) -> tuple[int, int, int, int] | None:
        """``(y0, y1, x0, x1)`` cut to the image; None if the box misses it entirely."""
        h, w = self.image_hw
        y0, y1 = max(self.y0, 0), min(self.y1, h - 1)
        x0, x1 = max(self.x0, 0), min(self.x1, w - 1)
        return None if y0 > y1 or x0 > x1 else (y0, y1, x0, x1)

    @property
    def inside_fraction(self) -> float:
        """Share of the RF square that lies on the image (1.0: not clipped at all)."""
        if self.size is None:
            return 1.0
        c = self.clipped
        if c is None:
            return 0.0
        return (c[1] - c[0] + 1) * (c[3] - c[2] + 1) / float(self.size) ** 2

    @property
    def is_clipped(self) -> bool:
        return self.inside_fraction < 1.0

    @property
    def covers_image(self) -> bool:
        """Whether the RF contains every pixel of the image."""
        h, w = self.image_hw
        return self.y0 <= 0 and self.x0 <= 0 and self.y1 >= h - 1 and self.x1 >= w - 1


def rf_box(size: int | None, centre_yx: Sequence[float], image_hw: Sequence[int]) -> RFBox:
    """The RF square of side ``size`` centred at ``centre_yx`` on an ``image_hw`` image.

    Bounds follow :func:`rf_bounds`: ``lo = round(centre - (size - 1) / 2)``, ``hi = lo +
    size - 1``. ``size=None`` (a global RF) gives the whole image.
    """
    h, w = (int(v) for v in image_hw)
    if h < 1 or w < 1:
        raise ValueError(f"image_hw must be positive, got {tuple(image_hw)!r}")
    cy, cx = (float(c) for c in centre_yx)
    if size is None:
        return RFBox((cy, cx), None, 0, h - 1, 0, w - 1, (h, w))
    if not _is_int(size) or size < 1:
        raise ValueError(f"size must be a positive integer or None, got {size!r}")
    y0 = math.floor(cy - (size - 1) / 2 + 0.5)
    x0 = math.floor(cx - (size - 1) / 2 + 0.5)
    return RFBox((cy, cx), int(size), y0, y0 + size - 1, x0, x0 + size - 1, (h, w))
