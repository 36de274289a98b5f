"""Two class maps of one image compared: where they agree, and where to look.

:func:`agreement` is the share of pixels with the same class, over the whole image or
inside a mask (e.g. :func:`deeplab_viz.boundary.boundary_mask`, for the pixels near
class boundaries); :func:`most_disagreement` finds the window where two maps differ
most, and :func:`crop_box` / :func:`boundary_zoom` cut that window out and enlarge it
with crisp pixels. Pure numpy.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["agreement", "boundary_zoom", "crop_box", "most_disagreement"]


def agreement(a_map: np.ndarray, b_map: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Fraction of pixels (inside ``mask``, if given) where two class maps agree."""
    a, b = np.asarray(a_map), np.asarray(b_map)
    if a.shape != b.shape:
        raise ValueError(f"class maps differ in shape: {a.shape} vs {b.shape}")
    same = a == b
    if mask is not None:
        m = np.asarray(mask, dtype=bool)
        if m.shape != a.shape:
            raise ValueError("mask must have the class maps' shape")
        return float(same[m].mean()) if m.any() else 1.0
    return float(same.mean()) if same.size else 1.0


def crop_box(hw: Sequence[int], centre: Sequence[float], side: int) -> tuple[int, int, int, int]:
    """(y0, x0, y1, x1) of a ``side``-pixel square centred at ``centre`` = (y, x) as
    fractions 0…1 of the image, shifted to lie inside it (and cut to its size)."""
    h, w = (int(v) for v in hw)
    side_y, side_x = min(int(side), h), min(int(side), w)
    cy = float(np.clip(centre[0], 0, 1)) * h
    cx = float(np.clip(centre[1], 0, 1)) * w
    y0 = int(np.clip(round(cy - side_y / 2), 0, h - side_y))
    x0 = int(np.clip(round(cx - side_x / 2), 0, w - side_x))
    return y0, x0, y0 + side_y, x0 + side_x


def boundary_zoom(image: np.ndarray, box: Sequence[int], out_side: int = 384) -> np.ndarray:
    """The ``box`` (y0, x0, y1, x1) of ``image`` enlarged by nearest neighbour to about
    ``out_side`` px on its longest side (each source pixel becomes a crisp block)."""
    y0, x0, y1, x1 = (int(v) for v in box)
    crop = np.asarray(image)[y0:y1, x0:x1]
    if crop.size == 0:
        raise ValueError(f"empty crop {tuple(box)}")
    scale = max(1, int(out_side) // max(crop.shape[:2]))
    return np.repeat(np.repeat(crop, scale, axis=0), scale, axis=1)


def most_disagreement(a_map: np.ndarray, b_map: np.ndarray, side: int) -> tuple[float, float]:
    """Centre (y, x), as fractions of the image, of the ``side``-pixel window where two
    class maps disagree on the most pixels (the image centre when they agree)."""
    diff = (np.asarray(a_map) != np.asarray(b_map)).astype(np.int64)
    h, w = diff.shape
    sy, sx = min(int(side), h), min(int(side), w)
    if not diff.any():
        return 0.5, 0.5
    ii = np.pad(diff.cumsum(0).cumsum(1), ((1, 0), (1, 0)))  # integral image
    sums = ii[sy:, sx:] - ii[:-sy, sx:] - ii[sy:, :-sx] + ii[:-sy, :-sx]  # window sums
    y0, x0 = np.unravel_index(int(np.argmax(sums)), sums.shape)
    return (y0 + sy / 2) / h, (x0 + sx / 2) / w
