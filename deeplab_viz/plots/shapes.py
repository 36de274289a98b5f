"""Figures of the scale lab: ShapesWorld class maps, IoU per object size, RF vs object."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..shapes_world import BUCKET_NAMES, CLASS_NAMES, bucket_label
from .colours import SHAPE_COLOURS
from .common import house_style, png_uri


def enlarge(rgb: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour enlargement: every pixel a crisp ``factor``² block."""
    f = max(1, int(factor))
    return np.repeat(np.repeat(np.asarray(rgb), f, axis=0), f, axis=1)


def _legend(fig: go.Figure, names: Sequence[str]) -> None:
    for c in names:
        fig.add_trace(
            go.Scatter(
                x=[None],
                y=[None],
                mode="markers",
                name=c,
                marker=dict(
                    symbol="square",
                    size=18,
                    color=SHAPE_COLOURS[c],
                    line=dict(color="#222", width=1),
                ),
                hoverinfo="skip",
            )
        )


def images_figure(
    panels: Sequence[tuple[str, np.ndarray]],
    *,
    legend: Sequence[str] = CLASS_NAMES,
    height: int | None = None,
    title: str | None = None,
    width_hint: int = 1000,
) -> go.Figure:
    """Titled RGB pictures side by side, one legend of the shape classes underneath.

    ``height`` None: as tall as square panels filling ``width_hint`` pixels need."""
    n = len(panels)
    if n == 0:
        raise ValueError("need at least one picture")
    if height is None:
        height = int(min(max(width_hint / n + (125 if legend else 70), 260), 640))
    fig = make_subplots(rows=1, cols=n, horizontal_spacing=0.015)
    for i, (text, rgb) in enumerate(panels):
        h, w = rgb.shape[:2]
        fig.add_trace(
            go.Image(source=png_uri(rgb), x0=0, y0=0, dx=1, dy=1, hoverinfo="skip"),
            row=1,
            col=i + 1,
        )
        common = dict(showgrid=False, zeroline=False, showticklabels=False, ticks="")
        fig.update_xaxes(
            range=[-0.5, w - 0.5],
            row=1,
            col=i + 1,
            constrain="domain",
            side="top",
            title=dict(text=text, font=dict(size=18), standoff=6),
            **common,
        )
        fig.update_yaxes(
            range=[h - 0.5, -0.5],
            row=1,
            col=i + 1,
            scaleanchor=f"x{i + 1 if i else ''}",
            constrain="domain",
            **common,
        )
    if legend:
        _legend(fig, legend)
    house_style(fig, height=height, legend_below=True)
    fig.update_layout(
        title=dict(text=title, font=dict(size=20)) if title else None,
        margin=dict(l=5, r=5, t=80 if title else 45, b=60 if legend else 10),
        plot_bgcolor="white",
    )
    return fig


def bucket_bars(
    rows: Sequence[tuple[str, Mapping[str, float | None]]],
    *,
    title: str,
    colours: Sequence[str] | None = None,
    height: int = 430,
) -> go.Figure:
    """Grouped bars: IoU per size bucket (x), one bar per configuration (rows: label, scores).

    A bucket with no object gets no bar (the tables say "—").
    """
    fig = go.Figure()
    x = [bucket_label(b).replace(" (", "<br>(") for b in BUCKET_NAMES]
    for i, (label, scores) in enumerate(rows):
        ys = [scores.get(b) for b in BUCKET_NAMES]
        fig.add_trace(
            go.Bar(
                name=label,
                x=x,
                y=[np.nan if v is None else v for v in ys],
                marker_color=None if colours is None else colours[i % len(colours)],
                hovertemplate=f"{label}<br>%{{x}}: IoU %{{y:.3f}}<extra></extra>",
            )
        )
    fig.update_layout(
        barmode="group",
        title=dict(text=title, font=dict(size=20)),
        yaxis=dict(title="IoU", range=[0, 1.12], tickformat=".1f"),
        xaxis=dict(title="object size (diameter)"),
    )
    return house_style(fig, height=height, legend_below=True)


def rf_figure(
    rgb: np.ndarray,
    pixel_yx: Sequence[int],
    squares: Sequence[tuple[str, int | None, str]],
    *,
    bbox: Sequence[int] | None = None,
    erf: Sequence[tuple[str, int, str]] = (),
    title: str | None = None,
    height: int = 700,
    margin: int = 40,
) -> go.Figure:
    """The scene, the object's bounding box, and square receptive fields around a pixel.

    ``squares``: (name, side in px or None for global, colour), drawn as outlines
    centred at ``pixel_yx`` (unclipped: a field larger than the scene runs off it);
    ``erf``: (name, side, colour) of effective-RF mass squares, dashed and filled lightly.
    The view shows the scene plus ``margin`` pixels around it.
    """
    h, w = rgb.shape[:2]
    py, px = (int(v) for v in pixel_yx)
    fig = go.Figure(go.Image(source=png_uri(rgb), x0=0, y0=0, dx=1, dy=1, hoverinfo="skip"))
    fig.add_shape(
        type="rect", x0=-0.5, x1=w - 0.5, y0=-0.5, y1=h - 0.5, line=dict(color="#555", width=1)
    )

    def square(name: str, side: int | None, colour: str, dash: str, fill: str | None) -> None:
        if side is None:
            y0, y1, x0, x1 = -0.5, h - 0.5, -0.5, w - 0.5
            name = f"{name}: global (the whole scene)"
        else:
            r = (int(side) - 1) / 2
            y0, y1, x0, x1 = py - r - 0.5, py + r + 0.5, px - r - 0.5, px + r + 0.5
            name = f"{name}: {side} px"
        fig.add_trace(
            go.Scatter(
                x=[x0, x1, x1, x0, x0],
                y=[y0, y0, y1, y1, y0],
                mode="lines",
                name=name,
                line=dict(color=colour, width=4, dash=dash),
                fill="toself" if fill else None,
                fillcolor=fill,
                hoverinfo="name",
            )
        )

    for name, side, colour in squares:
        square(name, side, colour, "solid", None)
    for name, side, colour in erf:
        square(name, side, colour, "dash", "rgba(255,255,255,0.12)")
    if bbox is not None:
        y0, x0, y1, x1 = bbox
        fig.add_trace(
            go.Scatter(
                x=[x0 - 0.5, x1 + 0.5, x1 + 0.5, x0 - 0.5, x0 - 0.5],
                y=[y0 - 0.5, y0 - 0.5, y1 + 0.5, y1 + 0.5, y0 - 0.5],
                mode="lines",
                name="object's bounding box",
                line=dict(color="#ffd600", width=3, dash="dot"),
            )
        )
    fig.add_trace(
        go.Scatter(
            x=[px],
            y=[py],
            mode="markers",
            name=f"picked pixel ({px}, {py})",
            marker=dict(size=16, color="#ff1744", symbol="x", line=dict(color="white", width=2)),
        )
    )
    fig.update_xaxes(
        range=[-margin - 0.5, w + margin - 0.5],
        showgrid=False,
        zeroline=False,
        constrain="domain",
        title="x (px)",
    )
    fig.update_yaxes(
        range=[h + margin - 0.5, -margin - 0.5],
        showgrid=False,
        zeroline=False,
        scaleanchor="x",
        constrain="domain",
        title="y (px)",
    )
    house_style(fig, height=height)
    fig.update_layout(
        title=dict(text=title, font=dict(size=20)) if title else None,
        plot_bgcolor="#eceff1",
        legend=dict(
            orientation="h",
            yref="container",
            y=0.005,
            yanchor="bottom",
            x=0,
            font=dict(size=15),
            entrywidthmode="fraction",
            entrywidth=0.5,
        ),
        margin=dict(l=10, r=10, t=60 if title else 20, b=120),
    )
    return fig


@dataclass(frozen=True)
class Line:
    """One line of :func:`lines_figure`: values (None: no data) over category labels."""

    name: str
    x: Sequence[str]
    y: Sequence[float | None]
    hover: str  # plotly hovertemplate
    width: int = 4
    colour: str | None = None
    marker_size: int = 12


def lines_figure(
    lines: Sequence[Line],
    *,
    title: str,
    x_title: str,
    y_title: str,
    y_max: float = 1.08,
    title_size: int = 20,
    height: int = 400,
) -> go.Figure:
    """Lines over a categorical x axis, y from 0 to ``y_max`` (scores in 0…1)."""
    fig = go.Figure()
    for ln in lines:
        fig.add_trace(
            go.Scatter(
                x=list(ln.x),
                y=[np.nan if v is None else v for v in ln.y],
                mode="lines+markers",
                name=ln.name,
                hovertemplate=ln.hover,
                line=dict(width=ln.width, color=ln.colour),
                marker=dict(size=ln.marker_size),
            )
        )
    fig.update_layout(
        title=dict(text=title, font=dict(size=title_size)),
        xaxis=dict(title=x_title, type="category"),
        yaxis=dict(title=y_title, range=[0, y_max]),
    )
    return house_style(fig, height=height, legend_below=True)


def trend_figure(
    trend: Mapping[str, Mapping[int, float | None]], *, title: str, height: int = 400
) -> go.Figure:
    """Held-out IoU (y) against output stride (x), one line per size bucket."""
    palette = {"tiny": "#d62728", "small": "#ff7f0e", "medium": "#2ca02c", "large": "#1f77b4"}
    lines = [
        Line(
            name=bucket_label(bucket),
            x=[str(k) for k in by_os],
            y=list(by_os.values()),
            hover="OS %{x}: IoU %{y:.3f}<extra></extra>",
            colour=palette.get(bucket),
        )
        for bucket, by_os in trend.items()
    ]
    return lines_figure(
        lines, title=title, x_title="output stride", y_title="held-out IoU", height=height
    )


def depth_figure(
    accuracy: Mapping[str, Sequence[float | None]],
    bins: Sequence[int],
    *,
    title: str,
    colours: Mapping[str, str] | None = None,
    height: int = 400,
) -> go.Figure:
    """Pixel accuracy (y) against distance to the outline (x, one category per depth bin),
    one line per configuration; the first configuration drawn thickest."""
    labels = [
        f"{lo}–{hi - 1} px" if hi < 1000 else f"≥ {lo} px"
        for lo, hi in zip(bins, bins[1:], strict=False)
    ]
    lines = [
        Line(
            name=name,
            x=labels,
            y=ys,
            hover=name + ", %{x} from the outline: %{y:.3f}<extra></extra>",
            width=5 if i == 0 else 3,
            colour=(colours or {}).get(name),
            marker_size=10,
        )
        for i, (name, ys) in enumerate(accuracy.items())
    ]
    return lines_figure(
        lines,
        title=title,
        x_title="distance to the object's outline",
        y_title="pixels labelled right",
        y_max=1.05,
        title_size=18,
        height=height,
    )
