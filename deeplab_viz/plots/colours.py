"""Every colour the figures use, in one place: strides, ASPP branches, classes, value ramps.

Naming: ``*_COLOURS`` are lookup tables, ``*_colours(...)`` map an array to uint8
RGB. The PASCAL VOC class colours (also written into class-map PNGs by the CLI)
live in :mod:`deeplab_viz.palette`; :func:`voc_colours` is re-exported here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from plotly.colors import sample_colorscale

from ..aspp import FLAT_TOLERANCE
from ..palette import voc_colours
from ..shapes_world import CLASS_NAMES

__all__ = [
    "CHANGED_COLOUR",
    "ERF_MASS_COLOUR",
    "ERF_SQUARE_COLOURS",
    "RF_BRANCH_SHADES",
    "RF_COLOUR",
    "RF_STAGE_COLOURS",
    "HEAT_SCALE",
    "MAP_SCALE",
    "PADDING_COLOUR",
    "PICK_COLOUR",
    "SHAPE_COLOURS",
    "STRIDE_COLOURS",
    "branch_colours",
    "shape_colours",
    "stride_colour",
    "unit_range",
    "value_colours",
    "voc_colours",
]

# one colour per output stride, on every page: OS 8 blue, OS 16 green, OS 32 orange
STRIDE_COLOURS: dict[int, str] = {8: "#1565c0", 16: "#2e7d32", 32: "#ef6c00"}
OTHER_STRIDE = "#607d8b"

# receptive fields drawn on a picture: the theoretical RF, and the squares holding
# 20 / 50 / 95 % of an ERF's gradient (Receptive fields, Gridding)
RF_COLOUR = "#ffcc00"
ERF_MASS_COLOUR = "#00e5ff"
# Scale lab's fields around an object: backbone stages (light to amber), ASPP branches
# (orange to brown, by rate), the ERF squares (50 % and 95 % of the gradient)
RF_STAGE_COLOURS = ("#80deea", "#4fc3f7", "#ffb300")
RF_BRANCH_SHADES = ("#ff8a65", "#f4511e", "#bf360c", "#8d2b0b")
ERF_SQUARE_COLOURS = {0.5: "#e040fb", 0.95: "#aa00ff"}

MAP_SCALE = "Viridis"
# Inferno from its darkest purple up, as explicit stops: the named scale's near-black first
# stop renders as a pale band at the bottom of colour bars in Streamlit's plotly.js
HEAT_SCALE = [
    [i / 10, c] for i, c in enumerate(sample_colorscale("Inferno", list(np.linspace(0.08, 1, 11))))
]
PADDING_COLOUR = "#e41a1c"
PICK_COLOUR = "#00e5ff"
CHANGED_COLOUR = (255, 0, 220)
# 1×1, then the atrous rates small → large, image pooling last; no red (red = padding)
_ATROUS_COLOURS = ("#54A24B", "#F58518", "#B279A2", "#9D755D", "#FF9DA6")
_ONE_BY_ONE = "#4C78A8"
_POOLING = "#EECA3B"

# ShapesWorld: background dark grey; four well-separated, colour-blind-friendly hues
SHAPE_COLOURS: dict[str, str] = {
    "background": "#3b3b3b",
    "disc": "#e69f00",
    "square": "#56b4e9",
    "triangle": "#009e73",
    "ring": "#cc79a7",
}
_SHAPE_LUT = np.array(
    [[int(SHAPE_COLOURS[c][i : i + 2], 16) for i in (1, 3, 5)] for c in CLASS_NAMES], np.uint8
)


def stride_colour(output_stride: int) -> str:
    """The colour of an output stride (:data:`STRIDE_COLOURS`; grey for any other)."""
    return STRIDE_COLOURS.get(output_stride, OTHER_STRIDE)


def branch_colours(names: Sequence[str], kinds: Sequence[str]) -> dict[str, str]:
    """One colour per branch name: 1×1 blue, atrous green/orange/purple…, pooling yellow."""
    if len(names) != len(kinds):
        raise ValueError("one kind per branch name")
    out, k = {}, 0
    for name, kind in zip(names, kinds, strict=True):
        if kind == "pooling":
            out[name] = _POOLING
        elif kind == "atrous":
            out[name] = _ATROUS_COLOURS[k % len(_ATROUS_COLOURS)]
            k += 1
        else:
            out[name] = _ONE_BY_ONE
    return out


def shape_colours(labels: np.ndarray) -> np.ndarray:
    """(H, W) ShapesWorld class ids → (H, W, 3) uint8 colours of :data:`SHAPE_COLOURS`."""
    a = np.asarray(labels)
    if a.size and int(a.max()) >= len(_SHAPE_LUT):
        raise ValueError(f"class ids must be below {len(_SHAPE_LUT)}")
    return _SHAPE_LUT[a]


def scale_lut(scale) -> np.ndarray:
    """A plotly colour scale sampled at 256 steps, (256, 3) float RGB in 0..255."""
    cols = sample_colorscale(scale, list(np.linspace(0, 1, 256)))
    return np.array(
        [[float(c) for c in s[s.index("(") + 1 : -1].split(",")] for s in cols], dtype=np.float64
    )


def unit_range(values: np.ndarray, lo: float | None = None, hi: float | None = None) -> np.ndarray:
    """``values`` scaled to 0..1 between ``lo`` and ``hi`` (default: their min and max).

    A flat map becomes 0.5 everywhere: ``hi == lo``, or a spread below
    :data:`~deeplab_viz.aspp.FLAT_TOLERANCE` of the values' size (float round-off, e.g.
    image pooling's one vector copied to every position, is not worth a colour ramp).
    """
    v = np.asarray(values, dtype=np.float64)
    lo = float(np.min(v)) if lo is None else float(lo)
    hi = float(np.max(v)) if hi is None else float(hi)
    if not math.isfinite(lo) or not math.isfinite(hi):
        return np.full(v.shape, 0.5)
    if hi - lo <= FLAT_TOLERANCE * max(abs(lo), abs(hi)) or hi <= lo:
        return np.full(v.shape, 0.5)
    return np.clip((v - lo) / (hi - lo), 0.0, 1.0)


def value_colours(
    values: np.ndarray, scale=MAP_SCALE, *, lo: float | None = None, hi: float | None = None
) -> np.ndarray:
    """(H, W) numbers → (H, W, 3) uint8 colours of a plotly colour scale (min..max by default)."""
    if np.ndim(values) != 2:
        raise ValueError("expected an (H, W) array")
    idx = (unit_range(values, lo, hi) * 255).round().astype(np.intp)
    return scale_lut(scale)[idx].round().astype(np.uint8)
