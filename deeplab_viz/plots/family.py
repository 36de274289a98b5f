"""Figures of the DeepLab family page: head diagrams, decoder steps, separable cost."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from ..family import Graph, SeparableTiming
from .atrous import COLORS
from .common import house_style

KIND_STYLE: dict[str, tuple[str, str]] = {  # kind → (fill, what the colour means)
    "input": ("#eceff1", "input / output"),
    "output": ("#eceff1", "input / output"),
    "conv": ("#bbdefb", "3×3 conv (rate 1)"),
    "atrous": ("#ffcc80", "atrous 3×3 conv (rate > 1)"),
    "1x1": ("#c5e1a5", "1×1 conv"),
    "depthwise": ("#b2dfdb", "depthwise-separable conv"),
    "pool": ("#fff59d", "pooling"),
    "merge": ("#e1bee7", "concatenate / sum"),
    "resize": ("#f5f5f5", "resize / broadcast (no weights)"),
    "post": ("#ffcdd2", "post-processing (not learned)"),
}


def _wrap(text: str, width: int) -> str:
    return "<br>".join(textwrap.wrap(text, width)) if text else ""


def graph_figure(g: Graph, *, title: str | None = None, min_width: float = 3.2) -> go.Figure:
    """A head diagram, data flowing top to bottom: boxes for the nodes of
    :func:`deeplab_viz.family.head_graph`, arrows for its edges, parallel branches side
    by side, one colour per kind of layer (legend below)."""
    depth = max(n.col for n in g.nodes) + 1
    xs = [n.row for n in g.nodes]
    lo, hi = min(xs), max(xs)
    pad = max(0.0, (min_width - (hi - lo + 1)) / 2)
    bw, bh = 0.9, 0.72
    wide = hi - lo + 1 + 2 * pad
    wrap = 18 if wide > 4 else 22
    fig = go.Figure()
    for a, b in g.edges:
        na, nb = g.nodes[a], g.nodes[b]
        fig.add_annotation(
            x=nb.row,
            y=nb.col - bh / 2,
            ax=na.row,
            ay=na.col + bh / 2,
            xref="x",
            yref="y",
            axref="x",
            ayref="y",
            showarrow=True,
            arrowhead=3,
            arrowsize=1.1,
            arrowwidth=2,
            arrowcolor="#546e7a",
            text="",
        )
    for n in g.nodes:
        fill = KIND_STYLE.get(n.kind, ("#eeeeee", ""))[0]
        dash = "dot" if n.kind in ("resize", "post") else "solid"
        fig.add_shape(
            type="rect",
            x0=n.row - bw / 2,
            x1=n.row + bw / 2,
            y0=n.col - bh / 2,
            y1=n.col + bh / 2,
            fillcolor=fill,
            line=dict(color="#37474f", width=2, dash=dash),
            layer="below",
        )
        label = f"<b>{_wrap(n.label, wrap)}</b>"
        if n.detail:
            label += f"<br><span style='font-size:13px'>{_wrap(n.detail, wrap + 8)}</span>"
        fig.add_annotation(
            x=n.row,
            y=n.col,
            text=label,
            showarrow=False,
            font=dict(size=15, color="#111"),
            align="center",
        )
    # invisible markers: hover shows the module path (what was walked)
    fig.add_trace(
        go.Scatter(
            x=xs,
            y=[n.col for n in g.nodes],
            mode="markers",
            marker=dict(size=40, opacity=0),
            hovertext=[
                f"{n.label}<br>{n.detail}<br>module: {n.path or '(an operation, no module)'}"
                for n in g.nodes
            ],
            hoverinfo="text",
            showlegend=False,
        )
    )
    used = []
    for n in g.nodes:
        meaning = KIND_STYLE.get(n.kind, ("", ""))[1]
        if meaning and meaning not in used:
            used.append(meaning)
            fig.add_trace(
                go.Scatter(
                    x=[None],
                    y=[None],
                    mode="markers",
                    name=meaning,
                    marker=dict(
                        symbol="square",
                        size=16,
                        color=KIND_STYLE[n.kind][0],
                        line=dict(color="#37474f", width=1),
                    ),
                )
            )
    fig.update_xaxes(visible=False, range=[lo - 0.5 - pad, hi + 0.5 + pad])
    fig.update_yaxes(visible=False, range=[depth - 0.5, -0.5])
    house_style(fig, height=int(150 + 80 * depth), legend_below=True)
    text = title or g.title
    fig.update_layout(
        title=dict(text=text, font=dict(size=20)) if text else None,
        plot_bgcolor="white",
        margin=dict(l=5, r=5, t=50 if text else 10, b=90),
    )
    return fig


def separable_figure(t: SeparableTiming, *, height: int = 420) -> go.Figure:
    """Regular vs separable: parameters, FLOPs and measured time, each relative to regular."""
    names = ["parameters", "FLOPs", "measured time"]
    reg = [t.params["regular"], t.flops["regular"], t.median_ms["regular"]]
    sep = [t.params["separable"], t.flops["separable"], t.median_ms["separable"]]
    fmt = [lambda v: f"{v:,.0f}", lambda v: f"{v / 1e6:,.1f} M", lambda v: f"{v:.2f} ms"]
    fig = go.Figure()
    for label, vals, colour in (
        ("regular 3×3 atrous conv", reg, COLORS["regular"]),
        ("depthwise 3×3 atrous + 1×1", sep, COLORS["separable"]),
    ):
        rel = [v / r if r else np.nan for v, r in zip(vals, reg, strict=True)]
        fig.add_trace(
            go.Bar(
                name=label,
                x=names,
                y=rel,
                marker_color=colour,
                text=[f"{f(v)}<br>({x:.0%})" for f, v, x in zip(fmt, vals, rel, strict=True)],
                textposition="outside",
                textfont=dict(size=14),
            )
        )
    fig.update_layout(
        barmode="group",
        title=dict(
            text=f"{t.channels}→{t.channels} channels, rate {t.rate}, {t.hw}×{t.hw} map",
            font=dict(size=20),
        ),
        yaxis=dict(title="relative to the regular conv", tickformat=".0%", range=[0, 1.35]),
    )
    return house_style(fig, height=height, legend_below=True)


def feature_picture(feat: np.ndarray, out_side: int) -> np.ndarray:
    """(C, h, w) features → (S, S', 3) uint8: the first three principal components as RGB,
    enlarged by nearest neighbour to about ``out_side`` pixels (cells stay crisp)."""
    from ..aspp import branch_map

    pca = branch_map(np.asarray(feat, dtype=np.float32), "pca")  # (h, w, 3) in 0..1
    rgb = (pca * 255).round().astype(np.uint8)
    f = max(1, int(out_side) // max(rgb.shape[:2]))
    return np.repeat(np.repeat(rgb, f, axis=0), f, axis=1)


def steps_titles(shape_of: Sequence[tuple[str, tuple[int, ...]]]) -> list[str]:
    """ "ASPP output · 64×10×10" style titles."""
    return [f"{name} · {s[0]} ch, {s[2]}×{s[1]}" for name, s in shape_of]
