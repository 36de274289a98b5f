"""Figures of the "GPU and cost" page: latency per model, memory against atrous rate.

Same house style and stride colours as :mod:`deeplab_viz.plots.output_stride`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..cost import CUDA_METHOD, CostPoint, LatencyResult, RatePoint
from .colours import stride_colour
from .common import FONT_SIZE, house_style
from .output_stride import MB

__all__ = ["cudnn_figure", "latency_figure", "points_table", "rate_figure", "rate_table"]


def points_table(points: Sequence[CostPoint]) -> list[dict[str, object]]:
    """One plain row per measurement, for ``st.dataframe`` and JSON."""
    return [
        {
            "model": p.label,
            "output stride": p.output_stride,
            "precision": p.dtype,
            "input (px)": f"{p.size}×{p.size}",
            "GFLOPs": round(p.flops / 1e9, 2),
            "median (ms)": round(p.latency.median_ms, 1),
            "p90 (ms)": round(p.latency.p90_ms, 1),
            "runs": len(p.latency.runs),
            "peak memory (MB)": round(p.memory.bytes / MB, 1),
            "memory method": p.memory.method,
            "torch allocations (MB)": None
            if p.memory.allocated_bytes is None
            else round(p.memory.allocated_bytes / MB, 1),
        }
        for p in points
    ]


def latency_figure(points: Sequence[CostPoint]) -> go.Figure:
    """Median latency (whisker to the 90th percentile), one group per model, one bar per
    output stride; one panel per input size and precision."""
    panels = sorted({(p.dtype, p.size) for p in points}, key=lambda k: (k[0] != "float32", k))
    strides = sorted({p.output_stride for p in points})
    models = list(dict.fromkeys(p.model for p in points))
    cols = min(3, len(panels)) or 1
    rows = -(-len(panels) // cols) or 1
    fig = make_subplots(
        rows=rows,
        cols=cols,
        subplot_titles=[f"{dt} · {size}×{size} px" for dt, size in panels],
        horizontal_spacing=0.06,
        vertical_spacing=0.22 if rows > 1 else 0.1,
    )
    index = {(p.model, p.output_stride, p.dtype, p.size): p for p in points}
    for i, (dt, size) in enumerate(panels):
        r, c = divmod(i, cols)
        for os_ in strides:
            found = [index.get((m, os_, dt, size)) for m in models]
            med = [p.latency.median_ms if p else None for p in found]
            err = [max(0.0, p.latency.p90_ms - p.latency.median_ms) if p else 0 for p in found]
            fig.add_bar(
                x=[m.replace("deeplabv3_", "") for m in models],
                y=med,
                name=f"OS {os_}",
                legendgroup=f"OS {os_}",
                showlegend=i == 0,
                marker_color=stride_colour(os_),
                error_y=dict(type="data", symmetric=False, array=err, color="#424242"),
                text=[f"{v:.0f}" if v is not None else "" for v in med],
                textposition="inside",
                insidetextanchor="start",
                textfont=dict(color="white", size=FONT_SIZE),
                hovertemplate=f"%{{x}} · OS {os_}: median %{{y:.1f}} ms<extra></extra>",
                row=r + 1,
                col=c + 1,
            )
        fig.update_yaxes(title_text="ms per image" if c == 0 else None, row=r + 1, col=c + 1)
    fig.update_layout(barmode="group")
    house_style(fig, height=300 + 280 * rows, subplot_titles=True, top=70)
    fig.update_layout(
        legend=dict(orientation="h", yref="container", y=1.0, yanchor="top", x=1, xanchor="right")
    )
    return fig


def rate_table(points: Sequence[RatePoint]) -> list[dict[str, object]]:
    return [
        {
            "rate": p.rate,
            "cuDNN benchmark": "—" if p.cudnn_benchmark is None else str(p.cudnn_benchmark),
            "median (ms)": round(p.latency.median_ms, 2),
            "peak memory (MB)": round(p.memory.best_bytes / MB, 2),
            "measured as": p.memory.best_method,
            "RSS growth (MB)": round(p.memory.bytes / MB, 2)
            if p.memory.method != CUDA_METHOD
            else None,
            "output (MB)": round(p.output_bytes / MB, 2),
            "padded input (MB)": round(p.padded_input_bytes / MB, 2),
            "taps on real cells": f"{100 * p.valid_tap_share:.0f}%",
            "GFLOPs": round(p.flops / 1e9, 3),
        }
        for p in points
    ]


def rate_figure(points: Sequence[RatePoint]) -> go.Figure:
    """Three panels against the rate: peak memory (with the output size and the padded
    input for reference), latency, and the share of taps on real cells."""
    fig = make_subplots(
        rows=1,
        cols=3,
        subplot_titles=("Peak memory (MB)", "Time (ms)", "Taps on real cells (%)"),
        horizontal_spacing=0.08,
    )
    groups: dict[bool | None, list[RatePoint]] = {}
    for p in points:
        groups.setdefault(p.cudnn_benchmark, []).append(p)
    palette = {None: "#1565c0", False: "#1565c0", True: "#c62828"}
    for flag, pts in groups.items():
        pts = sorted(pts, key=lambda p: p.rate)
        rates = [p.rate for p in pts]
        suffix = "" if flag is None else f" (cudnn.benchmark {'on' if flag else 'off'})"
        color = palette[flag]
        fig.add_scatter(
            x=rates,
            y=[p.memory.best_bytes / MB for p in pts],
            mode="lines+markers",
            name=f"measured peak, {pts[0].memory.best_method}{suffix}",
            line=dict(color=color, width=3),
            marker=dict(size=10),
            row=1,
            col=1,
        )
        if pts[0].memory.allocated_bytes is not None:  # CPU: the coarse RSS figure too
            fig.add_scatter(
                x=rates,
                y=[p.memory.bytes / MB for p in pts],
                mode="lines+markers",
                name="RSS growth (coarse)",
                line=dict(color="#90a4ae", width=2),
                marker=dict(size=7),
                row=1,
                col=1,
            )
        fig.add_scatter(
            x=rates,
            y=[p.latency.median_ms for p in pts],
            mode="lines+markers",
            name=f"median time{suffix}",
            line=dict(color=color, width=3),
            marker=dict(size=10),
            showlegend=False,
            row=1,
            col=2,
        )
    pts = sorted(next(iter(groups.values()), []), key=lambda p: p.rate)
    if pts:
        rates = [p.rate for p in pts]
        fig.add_scatter(
            x=rates,
            y=[p.output_bytes / MB for p in pts],
            mode="lines",
            name="output feature map",
            line=dict(color="#616161", dash="dot", width=2),
            row=1,
            col=1,
        )
        fig.add_scatter(
            x=rates,
            y=[p.padded_input_bytes / MB for p in pts],
            mode="lines",
            name="input + zero padding, if it were materialised",
            line=dict(color="#ef6c00", dash="dash", width=2),
            row=1,
            col=1,
        )
        fig.add_scatter(
            x=rates,
            y=[100 * p.valid_tap_share for p in pts],
            mode="lines+markers",
            name="taps on real cells",
            line=dict(color="#2e7d32", width=3),
            marker=dict(size=10),
            showlegend=False,
            row=1,
            col=3,
        )
    for col in (1, 2, 3):
        fig.update_xaxes(title_text="atrous rate", row=1, col=col)
        fig.update_yaxes(rangemode="tozero", row=1, col=col)
    fig.update_yaxes(range=[0, 105], row=1, col=3)
    house_style(fig, height=470, subplot_titles=True, top=70)
    fig.update_layout(
        legend=dict(
            orientation="h", yref="container", y=0.0, yanchor="bottom", x=0, xanchor="left"
        ),
        margin=dict(b=90),
    )
    return fig


def cudnn_figure(results: Mapping[str, Mapping[bool, LatencyResult]]) -> go.Figure:
    """Median latency with cudnn.benchmark off and on, one group per configuration."""
    fig = go.Figure()
    names = list(results)
    for flag, color in ((False, "#90a4ae"), (True, "#c62828")):
        med = [results[n][flag].median_ms for n in names]
        fig.add_bar(
            x=names,
            y=med,
            name=f"cudnn.benchmark {'on' if flag else 'off'}",
            marker_color=color,
            text=[f"{v:.1f}" for v in med],
            textposition="outside",
            cliponaxis=False,
        )
    fig.update_layout(barmode="group", yaxis_title="median ms per image")
    house_style(fig, height=420, subplot_titles=True, top=70)
    fig.update_layout(legend=dict(orientation="h", y=1.12, x=1, xanchor="right"))
    return fig
