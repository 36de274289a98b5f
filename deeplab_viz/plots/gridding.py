"""Figures of the "Gridding" page: coverage maps with visible holes, gradient ERFs.

Holes (cells no path reaches, or with exactly zero gradient) are left blank (white)
against a coloured receptive field, so they read as holes from the back of a room.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.colors as pc
import plotly.graph_objects as go

from ..gridding import Coverage
from .atrous import COLORS
from .colours import PICK_COLOUR
from .common import house_style

__all__ = [
    "ERF_SCALE",
    "HOLE_COLOR",
    "coverage_figure",
    "crop_centre",
    "erf_figure",
    "erf_profile_figure",
]

HOLE_COLOR = "#ffffff"
# Inferno without its near-black first stop (#000004), which Streamlit's plotly.js
# renders as a light lilac at the bottom of the scale.
_ERF_COLORS = pc.sequential.Inferno[1:]
ERF_SCALE = [[i / (len(_ERF_COLORS) - 1), c] for i, c in enumerate(_ERF_COLORS)]
_PATHS_SCALE = [[0.0, "#9ecae1"], [0.5, "#3182bd"], [1.0, "#08306b"]]


def crop_centre(
    arr: np.ndarray, centre_yx: Sequence[int], half: int
) -> tuple[np.ndarray, int, int]:
    """The cells within ``half`` of ``centre_yx`` (clipped); returns (crop, y0, x0)."""
    a = np.asarray(arr)
    h, w = a.shape[:2]
    cy, cx = (int(c) for c in centre_yx)
    y0, x0 = max(cy - half, 0), max(cx - half, 0)
    return a[y0 : min(cy + half + 1, h), x0 : min(cx + half + 1, w)], y0, x0


def _legend_square(name: str, color: str) -> go.Scatter:
    return go.Scatter(
        x=[None],
        y=[None],
        mode="markers",
        name=name,
        marker=dict(symbol="square", size=16, color=color, line=dict(color="#616161", width=1)),
        hoverinfo="skip",
    )


def _cell_map_layout(fig: go.Figure, title: str, *, height: int) -> go.Figure:
    """Square cells, y down, holes shown in the background colour."""
    fig.update_layout(
        title=dict(text=title, font=dict(size=18)),
        plot_bgcolor=HOLE_COLOR,
        xaxis=dict(showgrid=False, zeroline=False, constrain="domain", title="x (cells)"),
        yaxis=dict(
            autorange="reversed",
            scaleanchor="x",
            showgrid=False,
            zeroline=False,
            constrain="domain",
            title="y (cells)",
        ),
    )
    return house_style(fig, height=height, legend_below=True)


def coverage_figure(
    cov: Coverage, *, max_side: int = 129, title: str | None = None, height: int = 560
) -> go.Figure:
    """Paths from the output unit to each cell of its receptive field; holes blank.

    Cells are numbered relative to the output unit (0, 0) at the centre. A receptive
    field wider than ``max_side`` cells is shown by its central ``max_side`` square
    (the pattern repeats; the title says so).
    """
    counts = np.asarray(cov.counts)
    side = counts.shape[0]
    c = side // 2
    half = min(c, max(1, max_side // 2))
    crop, y0, x0 = crop_centre(counts, (c, c), half)
    rel = np.arange(crop.shape[0]) + y0 - c
    relx = np.arange(crop.shape[1]) + x0 - c
    z = np.where(crop > 0, crop, np.nan).astype(float)
    gap = 1 if crop.shape[0] <= 71 else 0
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=relx,
            y=rel,
            colorscale=_PATHS_SCALE,
            zmin=1,
            zmax=max(1, int(counts.max())),
            xgap=gap,
            ygap=gap,
            colorbar=dict(title=dict(text="paths", side="right"), thickness=18),
            hovertemplate="cell (%{y}, %{x}): %{z} paths<extra></extra>",
            hoverongaps=False,
            name="paths",
        )
    )
    fig.add_trace(_legend_square("reached by ≥ 1 path", "#3182bd"))
    fig.add_trace(_legend_square("hole: no path reaches it", HOLE_COLOR))
    fig.add_trace(
        go.Scatter(
            x=[0],
            y=[0],
            mode="markers",
            name="the output unit's own position",
            marker=dict(size=12, color=COLORS["accent"], symbol="x", line=dict(width=1)),
            hoverinfo="skip",
        )
    )
    lo, hi = -c - 0.5, c + 0.5
    if half == c:  # the whole receptive field is shown: outline it
        fig.add_shape(type="rect", x0=lo, x1=hi, y0=lo, y1=hi, line=dict(color="#263238", width=2))
    shown = crop.shape[0]
    default = (
        f"[{', '.join(str(r) for r in cov.rates)}]: {cov.covered} of {cov.rf_cells} cells "
        f"({cov.coverage:.1%})"
    )
    text = title or default
    if shown < side:
        text += f"<br><sup>central {shown}×{shown} of {side}×{side} cells shown</sup>"
    return _cell_map_layout(fig, text, height=height)


def erf_figure(
    erf: np.ndarray,
    centre_yx: Sequence[int],
    *,
    reach: int | None = None,
    log: bool = True,
    title: str | None = None,
    height: int = 560,
) -> go.Figure:
    """A gradient ERF map (sum 1) around ``centre_yx``; exact zeros blank (holes).

    ``reach`` crops to ``reach + 2`` cells around the centre (the whole map if None);
    ``log`` colours by ``log10`` of the share.
    """
    arr = np.asarray(erf, dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError(f"erf must be 2-D, got shape {arr.shape}")
    half = max(arr.shape) if reach is None else int(reach) + 2
    crop, y0, x0 = crop_centre(arr, centre_yx, half)
    cy, cx = (int(c) for c in centre_yx)
    ys = np.arange(crop.shape[0]) + y0 - cy
    xs = np.arange(crop.shape[1]) + x0 - cx
    pos = crop > 0
    if log:
        z = np.full(crop.shape, np.nan)
        z[pos] = np.log10(crop[pos])
        finite = z[pos]
        zmax = float(finite.max()) if finite.size else 0.0
        zmin = max(float(finite.min()) if finite.size else -1.0, zmax - 6)
        cbar = dict(title=dict(text="log₁₀ share", side="right"), thickness=18)
        hover = "cell (%{y}, %{x}): 10^%{z:.2f}<extra></extra>"
    else:
        z = np.where(pos, crop, np.nan)
        zmin, zmax = 0.0, float(crop.max()) if crop.size else 1.0
        cbar = dict(title=dict(text="share", side="right"), thickness=18)
        hover = "cell (%{y}, %{x}): %{z:.2e}<extra></extra>"
    gap = 1 if crop.shape[0] <= 71 else 0
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=xs,
            y=ys,
            colorscale=ERF_SCALE,
            zmin=zmin,
            zmax=zmax,
            xgap=gap,
            ygap=gap,
            colorbar=cbar,
            hovertemplate=hover,
            hoverongaps=False,
            name="gradient",
        )
    )
    fig.add_trace(_legend_square("exactly zero gradient (hole)", HOLE_COLOR))
    fig.add_trace(
        go.Scatter(
            x=[0],
            y=[0],
            mode="markers",
            name="the unit (centre)",
            marker=dict(size=12, color=PICK_COLOUR, symbol="x", line=dict(width=1)),
            hoverinfo="skip",
        )
    )
    return _cell_map_layout(fig, title or "gradient of the centre unit", height=height)


def erf_profile_figure(
    erf: np.ndarray, centre_yx: Sequence[int], *, reach: int | None = None, height: int = 300
) -> go.Figure:
    """The ERF along the centre row, as bars on a log axis: zeros show as gaps."""
    arr = np.asarray(erf, dtype=np.float64)
    cy, cx = (int(c) for c in centre_yx)
    half = arr.shape[1] if reach is None else int(reach) + 2
    x0, x1 = max(cx - half, 0), min(cx + half + 1, arr.shape[1])
    row = arr[cy, x0:x1]
    xs = np.arange(x0, x1) - cx
    zero = row <= 0
    pos = row[~zero]
    floor = float(pos.min()) / 3 if pos.size else 1e-12
    fig = go.Figure(
        go.Bar(
            x=xs[~zero],
            y=row[~zero],
            marker_color="#e65100",
            name="gradient share",
            hovertemplate="x=%{x}: %{y:.2e}<extra></extra>",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=xs[zero],
            y=np.full(int(zero.sum()), floor),
            mode="markers",
            marker=dict(symbol="circle-open", size=10, color="#263238", line_width=2),
            name="exactly zero",
            hovertemplate="x=%{x}: 0<extra></extra>",
        )
    )
    fig.update_layout(
        title=dict(text="along the centre row (log scale)", font=dict(size=16)),
        xaxis=dict(
            title="x (cells from the unit)", zeroline=False, dtick=2 if half <= 20 else None
        ),
        yaxis=dict(type="log", title="share", exponentformat="power"),
        bargap=0.15,
    )
    return house_style(fig, height=height)
