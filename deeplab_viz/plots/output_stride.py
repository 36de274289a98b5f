"""Figures of the "Output stride" page: pure functions returning plotly figures or images.

Made for a projector: 16 px text and larger, values written on the bars, one colour
per output stride used everywhere (OS 8 blue, OS 16 green, OS 32 orange).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from PIL import Image, ImageDraw, ImageFont
from plotly.subplots import make_subplots

from ..cost import LatencyResult, MemoryResult, StrideRow, TapRow
from ..palette import class_edges
from .colours import stride_colour
from .common import FONT_SIZE, house_style

__all__ = [
    "cost_figure",
    "mark_box",
    "swipe_image",
    "tap_share_figure",
    "with_boundaries",
]

MB = 1024**2


def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1
        return ImageFont.load_default()


def _tag(draw: ImageDraw.ImageDraw, xy: tuple[int, int], text: str, size: int, anchor: str):
    font = _font(size)
    box = draw.textbbox(xy, text, font=font, anchor=anchor)
    pad = max(2, size // 4)
    draw.rectangle((box[0] - pad, box[1] - pad, box[2] + pad, box[3] + pad), fill=(0, 0, 0))
    draw.text(xy, text, font=font, fill=(255, 255, 255), anchor=anchor)


def swipe_image(
    left: np.ndarray,
    right: np.ndarray,
    position: float,
    *,
    labels: tuple[str, str] = ("", ""),
) -> np.ndarray:
    """One image: ``left`` left of the divider at ``position`` (0…1 of the width), ``right``
    right of it, a white divider line, and a label in each top corner."""
    a, b = np.asarray(left), np.asarray(right)
    if a.shape != b.shape or a.ndim != 3:
        raise ValueError(f"expected two (H, W, 3) images of one shape, got {a.shape}, {b.shape}")
    h, w = a.shape[:2]
    x = int(round(float(np.clip(position, 0.0, 1.0)) * w))
    out = b.copy()
    out[:, :x] = a[:, :x]
    line = max(2, w // 200)
    out[:, max(0, x - line // 2) : min(w, x + (line + 1) // 2)] = 255
    img = Image.fromarray(out)
    draw = ImageDraw.Draw(img)
    size = max(12, w // 22)
    margin = max(4, size // 2)
    if labels[0]:
        _tag(draw, (margin, margin), labels[0], size, "lt")
    if labels[1]:
        _tag(draw, (w - margin, margin), labels[1], size, "rt")
    return np.asarray(img)


def with_boundaries(
    image: np.ndarray, class_map: np.ndarray, *, color=(255, 255, 255)
) -> np.ndarray:
    """A copy of ``image`` with the pixels where the class changes painted ``color``."""
    out = np.array(image, copy=True)
    out[class_edges(class_map)] = color
    return out


def mark_box(image: np.ndarray, box: Sequence[int], *, color=(255, 214, 0)) -> np.ndarray:
    """A copy of ``image`` with the rectangle ``box`` = (y0, x0, y1, x1) outlined."""
    img = Image.fromarray(np.asarray(image))
    y0, x0, y1, x1 = (int(v) for v in box)
    width = max(2, max(img.size) // 150)
    draw = ImageDraw.Draw(img)
    draw.rectangle((x0, y0, x1 - 1, y1 - 1), outline=(0, 0, 0), width=width + 2)
    draw.rectangle((x0, y0, x1 - 1, y1 - 1), outline=color, width=width)
    return np.asarray(img)


def _bar_text(values: Sequence[float], fmt: str) -> list[str]:
    return [fmt.format(v) for v in values]


def cost_figure(
    rows: Sequence[StrideRow],
    measured: Mapping[int, tuple[LatencyResult, MemoryResult]] | None = None,
    *,
    device: str = "cpu",
) -> go.Figure:
    """Four panels, one bar per stride: ASPP input cells, GFLOPs, time, memory.

    Time is the probe's one forward unless ``measured`` (median, whisker to the 90th
    percentile) is given; memory shows the feature maps' bytes (deterministic) and,
    when measured, the peak memory of one forward next to it.
    """
    strides = [r.output_stride for r in rows]
    names = [f"OS {s}" for s in strides]
    colors = [stride_colour(s) for s in strides]
    have = bool(measured) and all(s in measured for s in strides)
    time_title = "Time, median (ms)" if have else "Time, one cold run (ms)"
    fig = make_subplots(
        rows=1,
        cols=4,
        subplot_titles=(
            "ASPP input (cells)",
            "Compute (GFLOPs)",
            time_title,
            "Memory (MB)",
        ),
        horizontal_spacing=0.07,
    )
    cells = [r.feature_hw[0] * r.feature_hw[1] for r in rows]
    fig.add_bar(
        x=names,
        y=cells,
        marker_color=colors,
        text=[f"{r.feature_hw[0]}×{r.feature_hw[1]}" for r in rows],
        textposition="outside",
        showlegend=False,
        hovertemplate="%{x}: %{text} = %{y} cells<extra></extra>",
        row=1,
        col=1,
    )
    gflops = [(r.flops or 0) / 1e9 for r in rows]
    fig.add_bar(
        x=names,
        y=gflops,
        marker_color=colors,
        text=_bar_text(gflops, "{:.1f}"),
        textposition="outside",
        showlegend=False,
        hovertemplate="%{x}: %{y:.2f} GFLOPs<extra></extra>",
        row=1,
        col=2,
    )
    if have:
        med = [measured[s][0].median_ms for s in strides]
        p90 = [measured[s][0].p90_ms for s in strides]
        fig.add_bar(
            x=names,
            y=med,
            marker_color=colors,
            text=_bar_text(med, "{:.0f}"),
            textposition="outside",
            error_y=dict(
                type="data",
                symmetric=False,
                array=[max(0.0, p - m) for p, m in zip(p90, med, strict=True)],
                arrayminus=[0] * len(med),
                color="#424242",
            ),
            showlegend=False,
            hovertemplate="%{x}: median %{y:.0f} ms<extra></extra>",
            row=1,
            col=3,
        )
    else:
        ms = [r.probe_ms for r in rows]
        fig.add_bar(
            x=names,
            y=ms,
            marker_color=colors,
            text=_bar_text(ms, "{:.0f}"),
            textposition="outside",
            showlegend=False,
            hovertemplate="%{x}: one forward %{y:.0f} ms<extra></extra>",
            row=1,
            col=3,
        )
    act = [r.activation_bytes / MB for r in rows]
    fig.add_bar(
        x=names,
        y=act,
        name="feature maps (sum of bytes)",
        marker_color=colors,
        marker_pattern_shape="/",
        opacity=0.75,
        text=_bar_text(act, "{:.0f}"),
        textposition="outside",
        hovertemplate="%{x}: feature maps %{y:.1f} MB<extra></extra>",
        row=1,
        col=4,
    )
    if have:
        peak = [measured[s][1].best_bytes / MB for s in strides]
        method = measured[strides[0]][1].best_method
        fig.add_bar(
            x=names,
            y=peak,
            name=f"peak, measured ({method} on {device})",
            marker_color=colors,
            text=_bar_text(peak, "{:.0f}"),
            textposition="outside",
            hovertemplate="%{x}: peak %{y:.1f} MB<extra></extra>",
            row=1,
            col=4,
        )
        fig.update_layout(barmode="group")
    for col in range(1, 5):
        fig.update_yaxes(rangemode="tozero", row=1, col=col)
    # headroom above the tallest bar for its label
    for col, values in zip(range(1, 4), (cells, gflops, None), strict=True):
        if values:
            fig.update_yaxes(range=[0, max(values) * 1.22 or 1], row=1, col=col)
    house_style(fig, height=430, subplot_titles=True, top=70)
    fig.update_layout(
        legend=dict(
            orientation="h", yref="container", y=0.0, yanchor="bottom", x=1, xanchor="right"
        ),
        margin=dict(b=60),
        showlegend=True,
    )
    fig.update_traces(cliponaxis=False, textfont_size=FONT_SIZE)
    return fig


def tap_share_figure(
    tables: Mapping[str, Sequence[TapRow]], *, active: str | None = None
) -> go.Figure:
    """One heatmap per rate policy: rows = output stride, columns = atrous branch; each
    cell says the rate, the feature map and the share of taps on real cells.

    ``tables`` maps a title ("scale with stride", "keep trained") to its rows;
    ``active`` names the one the model runs (marked in its title).
    """
    titles = [f"{t} (running)" if t == active else t for t in tables]
    fig = make_subplots(
        rows=1, cols=len(tables), subplot_titles=titles, horizontal_spacing=0.1, shared_yaxes=True
    )
    for col, rows in enumerate(tables.values(), start=1):
        strides = sorted({r.output_stride for r in rows})
        n = max((sum(1 for r in rows if r.output_stride == s) for s in strides), default=0)
        z = np.full((len(strides), n), np.nan)
        text = np.full((len(strides), n), "", dtype=object)
        for i, s in enumerate(strides):
            for j, r in enumerate(r for r in rows if r.output_stride == s):
                z[i, j] = 100 * r.valid_share
                h, w = r.feature_hw
                text[i, j] = (
                    f"rate {r.rate}<br>on {h}×{w}<br><b>{100 * r.valid_share:.0f}%</b> real"
                )
        fig.add_trace(
            go.Heatmap(
                z=z,
                x=[f"branch {j + 1}" for j in range(n)],
                y=[f"OS {s}" for s in strides],
                text=text,
                texttemplate="%{text}",
                textfont=dict(size=FONT_SIZE + 1),
                zmin=0,
                zmax=100,
                colorscale=[[0, "#c62828"], [0.5, "#fff59d"], [1, "#64b5f6"]],
                showscale=col == len(tables),
                colorbar=dict(title=dict(text="% of taps<br>on real cells"), ticksuffix="%"),
                xgap=3,
                ygap=3,
                hovertemplate="%{y}, %{x}: %{z:.0f}% of taps on real cells<extra></extra>",
            ),
            row=1,
            col=col,
        )
        fig.update_yaxes(autorange="reversed", row=1, col=col)
    house_style(fig, height=380, subplot_titles=True, top=70)
    return fig
