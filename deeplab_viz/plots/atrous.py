"""Figures of the "Dilated convolution" page: pure functions returning plotly figures.

Sizes and fonts are chosen for a projector: big markers, 16 px text, a legend
that says what each colour means. Images travel as PNG data URIs (one small
string instead of a list of every pixel value).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..atrous import CostComparison, ImageTaps, Stacked1D, default_padding, tap_grid
from .common import click_targets, house_style, png_uri

__all__ = [
    "COLORS",
    "cost_figure",
    "image_source",
    "image_taps_figure",
    "interleave_figure",
    "sampling_grid_figure",
    "stacked_1d_figure",
    "subimages_figure",
]

COLORS = {
    "input": "#dbe9f6",  # an input pixel
    "padding": "#bdbdbd",  # a zero of the padding
    "tap": "#1565c0",  # a tap that reads a real pixel
    "pad_tap": "#d62728",  # a tap that reads a padding zero
    "accent": "#ff8f00",  # the unit / pixel the user picked
    "muted": "#9e9e9e",
    "regular": "#607d8b",
    "separable": "#2e7d32",
}


def image_source(image: np.ndarray) -> str:
    """An (H, W[, 3]) uint8 array as a PNG data URI for ``go.Image(source=...)``."""
    return png_uri(np.asarray(image))


def _legend_square(name: str, color: str, *, line: str = "#616161") -> go.Scatter:
    # A legend-only entry for a heatmap colour.
    return go.Scatter(
        x=[None],
        y=[None],
        mode="markers",
        name=name,
        marker=dict(symbol="square", size=16, color=color, line=dict(color=line, width=1)),
        hoverinfo="skip",
    )


# --------------------------------------------------------------------------- sampling grid


def sampling_grid_figure(
    input_size: int,
    k: int,
    r: int,
    *,
    out_index: Sequence[int],
    stride: int = 1,
    padding: int | None = None,
) -> go.Figure:
    """The taps of one output unit of a ``k x k`` conv at rate ``r`` on a square input.

    Input pixels are light blue, the zero padding (``padding`` pixels per side,
    ``None`` = "same") grey; taps reading a real pixel are blue dots, taps reading
    padding red crosses; the dashed square is the dilated kernel's span.
    Raises ``ValueError`` (from :func:`deeplab_viz.atrous.tap_grid`) when the kernel
    does not fit.
    """
    p = default_padding(k, r) if padding is None else int(padding)
    n = int(input_size)
    grid = tap_grid((n, n), k, r, out_index=tuple(out_index), stride=stride, padding=p)
    coords = np.arange(-p, n + p)
    inside = (coords >= 0) & (coords < n)
    z = np.outer(inside, inside).astype(np.int8)  # 1 input, 0 padding
    side = coords.size
    gap = 1 if side <= 48 else 0
    labels = np.where(z == 1, "input pixel", "padding (zero)")
    hover = np.char.add(
        np.char.add(labels, " at (y, x) = "),
        np.array([[f"({y}, {x})" for x in coords] for y in coords]),
    )
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=coords,
            y=coords,
            zmin=0,
            zmax=1,
            colorscale=[[0, COLORS["padding"]], [1, COLORS["input"]]],
            showscale=False,
            xgap=gap,
            ygap=gap,
            text=hover,
            hoverinfo="text",
            name="cells",
        )
    )
    pos = grid.positions.reshape(-1, 2)
    valid = grid.valid.ravel()
    msize = int(np.clip(560 / side, 6, 26))
    fig.add_trace(_legend_square("input pixel", COLORS["input"]))
    fig.add_trace(_legend_square("zero padding", COLORS["padding"]))
    fig.add_trace(
        go.Scatter(
            x=pos[valid, 1],
            y=pos[valid, 0],
            mode="markers",
            name=f"tap on the input ({int(valid.sum())} of {valid.size})",
            marker=dict(size=msize, color=COLORS["tap"], line=dict(color="white", width=1.5)),
            hovertemplate="tap reads input (y=%{y}, x=%{x})<extra></extra>",
            cliponaxis=False,
        )
    )
    fig.add_trace(
        go.Scatter(
            x=pos[~valid, 1],
            y=pos[~valid, 0],
            mode="markers",
            name=f"tap in the padding ({int((~valid).sum())})",
            marker=dict(size=msize, color=COLORS["pad_tap"], symbol="x"),
            hovertemplate="tap reads a padding zero (y=%{y}, x=%{x})<extra></extra>",
            cliponaxis=False,
        )
    )
    y0, y1 = pos[:, 0].min(), pos[:, 0].max()
    x0, x1 = pos[:, 1].min(), pos[:, 1].max()
    fig.add_shape(
        type="rect",
        x0=x0 - 0.5,
        x1=x1 + 0.5,
        y0=y0 - 0.5,
        y1=y1 + 0.5,
        line=dict(color=COLORS["accent"], width=3, dash="dash"),
    )
    fig.add_shape(
        type="rect",
        x0=-0.5,
        x1=n - 0.5,
        y0=-0.5,
        y1=n - 0.5,
        line=dict(color="#263238", width=2),
    )
    oy, ox = grid.out_index
    fig.update_layout(
        title=dict(
            text=f"Output unit ({oy}, {ox}) reads {k}×{k} taps, {r} px apart",
            font=dict(size=18),
        ),
        xaxis=dict(
            range=[-p - 0.5, n + p - 0.5], constrain="domain", showgrid=False, zeroline=False
        ),
        yaxis=dict(
            range=[n + p - 0.5, -p - 0.5],
            scaleanchor="x",
            constrain="domain",
            showgrid=False,
            zeroline=False,
        ),
    )
    return house_style(fig, height=640, legend_below=True)


# --------------------------------------------------------------------------- on the image


def image_taps_figure(
    image: np.ndarray,
    taps: ImageTaps,
    pixel_yx: Sequence[int],
    *,
    clickable: bool = True,
    width_hint: int = 640,
) -> go.Figure:
    """An atrous kernel's taps on the image, in image pixels.

    ``taps`` from :func:`deeplab_viz.atrous.image_taps` on this image's size. Taps on
    the feature map are blue dots joined by the kernel's grid lines; taps that fall
    outside it (into the zero padding) red crosses; the picked pixel an orange
    cross and its feature cell an orange square. The view widens to include every
    tap. ``clickable`` adds an almost invisible point at each feature cell so a click
    can select a cell (``customdata`` holds the cell's centre pixel ``(y, x)``).
    ``width_hint`` (screen px the figure will get) sets the height, so the picture
    fills the figure, and the marker size, so neighbouring taps do not overlap.
    """
    arr = np.asarray(image)
    h, w = arr.shape[:2]
    os_ = _output_stride_of(taps)
    ys = np.concatenate([taps.centres[:, 0], [0, h - 1]])
    xs = np.concatenate([taps.centres[:, 1], [0, w - 1]])
    pad = max(taps.spacing * 0.3, 0.03 * max(h, w))
    xr = (xs.min() - pad, xs.max() + pad)
    yr = (ys.max() + pad, ys.min() - pad)
    scale = (width_hint - 70) / (xr[1] - xr[0])  # screen px per image px
    msize = int(np.clip(0.6 * taps.spacing * scale, 7, 18))
    height = int(np.clip((width_hint - 70) * (yr[0] - yr[1]) / (xr[1] - xr[0]) + 130, 380, 820))
    fig = go.Figure(go.Image(source=image_source(arr), name="image", hoverinfo="skip"))
    if clickable:
        fh, fw = taps.feature_hw
        cy = np.minimum(np.arange(fh) * os_ + (os_ - 1) / 2.0, h - 1)
        cx = np.minimum(np.arange(fw) * os_ + (os_ - 1) / 2.0, w - 1)
        fig.add_trace(
            click_targets(
                cy,
                cx,
                marker_px=max(4, min(14, int(500 / max(fh, fw)))),
                hover="click: put the kernel's centre here (x=%{x:.0f}, y=%{y:.0f})",
            )
        )
    k = int(round(np.sqrt(len(taps.centres))))
    cen = taps.centres.reshape(k, k, 2)
    lx, ly = [], []
    for i in range(k):  # the kernel's grid lines: rows then columns
        lx += [cen[i, 0, 1], cen[i, -1, 1], None, cen[0, i, 1], cen[-1, i, 1], None]
        ly += [cen[i, 0, 0], cen[i, -1, 0], None, cen[0, i, 0], cen[-1, i, 0], None]
    fig.add_trace(
        go.Scatter(
            x=lx,
            y=ly,
            mode="lines",
            line=dict(color="rgba(255,255,255,0.85)", width=2),
            hoverinfo="skip",
            showlegend=False,
        )
    )
    v = taps.valid
    fig.add_trace(
        go.Scatter(
            x=taps.centres[v, 1],
            y=taps.centres[v, 0],
            mode="markers",
            name=f"tap on the feature map ({int(v.sum())} of {v.size})",
            marker=dict(size=msize, color=COLORS["tap"], line=dict(color="white", width=2)),
            selected=dict(marker=dict(opacity=1)),
            unselected=dict(marker=dict(opacity=1)),
            customdata=taps.feature_yx[v],
            hovertemplate="tap: feature cell (%{customdata[0]}, %{customdata[1]}), "
            "image px (%{y:.1f}, %{x:.1f})<extra></extra>",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=taps.centres[~v, 1],
            y=taps.centres[~v, 0],
            mode="markers",
            name=f"tap outside: reads padding zeros ({int((~v).sum())})",
            marker=dict(size=msize, color=COLORS["pad_tap"], symbol="x", line=dict(width=1)),
            selected=dict(marker=dict(opacity=1)),
            unselected=dict(marker=dict(opacity=1)),
            hovertemplate="outside the feature map (zero padding)<extra></extra>",
        )
    )
    py, px = (int(c) for c in pixel_yx)
    fy, fx = taps.centre_cell
    fig.add_shape(
        type="rect",
        x0=fx * os_ - 0.5,
        x1=fx * os_ + os_ - 0.5,
        y0=fy * os_ - 0.5,
        y1=fy * os_ + os_ - 0.5,
        line=dict(color=COLORS["accent"], width=3),
    )
    fig.add_shape(
        type="rect", x0=-0.5, x1=w - 0.5, y0=-0.5, y1=h - 0.5, line=dict(color="#263238", width=2)
    )
    fig.add_trace(
        go.Scatter(
            x=[px],
            y=[py],
            mode="markers",
            name=f"your pixel (x={px}, y={py}) and its feature cell",
            marker=dict(
                size=18,
                color=COLORS["accent"],
                symbol="cross-thin",
                line_width=4,
                line_color=COLORS["accent"],
            ),
            hoverinfo="skip",
        )
    )
    fig.update_layout(
        xaxis=dict(
            range=list(xr),
            showgrid=False,
            zeroline=False,
            constrain="domain",
        ),
        yaxis=dict(
            range=list(yr),
            scaleanchor="x",
            showgrid=False,
            zeroline=False,
            constrain="domain",
        ),
        plot_bgcolor="#eceff1",
        clickmode="event+select",
        dragmode="pan" if not clickable else "zoom",
    )
    house_style(fig, height=height, legend_below=True)
    fig.update_layout(margin=dict(t=20))
    return fig


def _output_stride_of(taps: ImageTaps) -> int:
    # a feature cell f is drawn at f*OS + (OS-1)/2, so c + 1/2 = (f + 1/2) * OS
    c, f = taps.centres[0, 1], taps.feature_yx[0, 1]
    return int(round((c + 0.5) / (f + 0.5)))


# --------------------------------------------------------------------------- 1-D stack


def stacked_1d_figure(stack: Stacked1D) -> go.Figure:
    """Layers of nodes (input at the bottom), with every connection to the top output.

    Units on a path to the top output are filled; the others hollow. Each row is
    labelled with its rate and the receptive field after it.
    """
    n_layers = len(stack.rates)
    n = stack.n_positions
    conn = stack.connected
    k = stack.kernel
    ex, ey = [], []
    for layer in range(1, n_layers + 1):
        r = stack.rates[layer - 1]
        if stack.causal:
            offs = (np.arange(k) - (k - 1)) * r
        else:
            offs = np.arange(k) * r - ((k - 1) * r) // 2
        for u in np.flatnonzero(conn[layer]):
            for o in offs:
                ex += [u + o, u, None]
                ey += [layer - 1, layer, None]
    fig = go.Figure(
        go.Scatter(
            x=ex,
            y=ey,
            mode="lines",
            line=dict(color="rgba(21,101,192,0.55)", width=2 if n <= 80 else 1),
            hoverinfo="skip",
            name="connection to the top output",
        )
    )
    size = int(np.clip(700 / n, 4, 16))
    yy, xx = np.nonzero(conn)
    fig.add_trace(
        go.Scatter(
            x=xx,
            y=yy,
            mode="markers",
            name="unit that feeds the top output",
            marker=dict(size=size, color=COLORS["tap"], line=dict(color="white", width=1)),
            hovertemplate="row %{y}, position %{x}<extra></extra>",
        )
    )
    yy0, xx0 = np.nonzero(~conn)
    fig.add_trace(
        go.Scatter(
            x=xx0,
            y=yy0,
            mode="markers",
            name="unit not on any path",
            marker=dict(
                size=max(3, size - 4), color="white", line=dict(color=COLORS["muted"], width=1)
            ),
            hoverinfo="skip",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=[stack.top_index],
            y=[n_layers],
            mode="markers",
            name="top output",
            marker=dict(size=size + 10, color=COLORS["accent"], line=dict(color="white", width=2)),
            hoverinfo="skip",
        )
    )
    ticks = ["input"] + [
        f"layer {i} · rate {r} · RF {stack.rf_sizes[i]}" for i, r in enumerate(stack.rates, start=1)
    ]
    fig.update_layout(
        xaxis=dict(title="position", showgrid=False, zeroline=False, range=[-1, n]),
        yaxis=dict(
            tickmode="array",
            tickvals=list(range(n_layers + 1)),
            ticktext=ticks,
            range=[-0.5, n_layers + 0.6],
            showgrid=False,
            zeroline=False,
        ),
        title=dict(
            text=f"{n_layers} layers, kernel {k}: the top output sees {n} input positions",
            font=dict(size=18),
        ),
    )
    return house_style(fig, height=max(360, 90 * (n_layers + 1) + 80), legend_below=True)


# --------------------------------------------------------------------------- space-to-batch


def subimages_figure(subs: Sequence[np.ndarray], r: int) -> go.Figure:
    """The ``r²`` interleaved sub-images in an ``r x r`` grid, titled by their offset."""
    r = int(r)
    if len(subs) != r * r:
        raise ValueError(f"expected {r * r} sub-images, got {len(subs)}")
    titles = [f"rows {i}::{r}, cols {j}::{r}" for i in range(r) for j in range(r)]
    fig = make_subplots(
        rows=r, cols=r, subplot_titles=titles, horizontal_spacing=0.03, vertical_spacing=0.1
    )
    for idx, sub in enumerate(subs):
        i, j = divmod(idx, r)
        fig.add_trace(go.Image(source=image_source(sub), hoverinfo="skip"), row=i + 1, col=j + 1)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    h, w = np.asarray(subs[0]).shape[:2]
    height = int(np.clip(r * 330 * h / max(w, 1) + 80, 300, 980))
    fig.update_annotations(font_size=14)
    return house_style(fig, height=height, legend_below=True)


def interleave_figure(r: int, side: int | None = None) -> go.Figure:
    """A small pixel grid coloured by the sub-image each pixel goes to: ``(y mod r, x mod r)``."""
    r = int(r)
    side = int(side or 3 * r)
    yy, xx = np.mgrid[0:side, 0:side]
    idx = (yy % r) * r + (xx % r)
    text = np.vectorize(lambda a, b: f"{a},{b}")(yy % r, xx % r)
    palette = [
        "#1565c0", "#ef6c00", "#2e7d32", "#c62828", "#6a1b9a", "#00838f", "#9e9d24", "#ad1457",
        "#4e342e", "#37474f", "#0277bd", "#f9a825", "#558b2f", "#d84315", "#4527a0", "#00695c",
    ]  # fmt: skip
    n = r * r
    scale = []
    for c in range(n):
        col = palette[c % len(palette)]
        scale += [[c / n, col], [(c + 1) / n, col]]
    fig = go.Figure(
        go.Heatmap(
            z=idx,
            zmin=0,
            zmax=max(n - 1, 1),
            colorscale=scale,  # bin c of n holds z = c, since c/(n-1) lies in [c/n, (c+1)/n]
            showscale=False,
            xgap=2,
            ygap=2,
            text=text,
            texttemplate="%{text}" if side <= 16 else "",
            textfont=dict(size=13, color="white"),
            hovertemplate="pixel (%{y}, %{x}) → sub-image %{text}<extra></extra>",
        )
    )
    fig.update_layout(
        title=dict(text=f"which sub-image, r = {r}", font=dict(size=16)),
        xaxis=dict(
            showgrid=False, zeroline=False, constrain="domain", title="x", range=[-0.5, side - 0.5]
        ),
        yaxis=dict(
            range=[side - 0.5, -0.5],
            scaleanchor="x",
            constrain="domain",
            showgrid=False,
            zeroline=False,
            title="y",
        ),
    )
    if side <= 16:
        fig.update_xaxes(dtick=1)
        fig.update_yaxes(dtick=1)
    return house_style(fig, height=380)


# --------------------------------------------------------------------------- cost


def _human(v: float) -> str:
    for unit, div in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(v) >= div:
            return f"{v / div:.3g} {unit}"
    return f"{v:.3g}"


def cost_figure(cmp: CostComparison) -> go.Figure:
    """Parameters and FLOPs of a regular vs a depthwise-separable conv, side by side."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("parameters", "FLOPs (2 × multiply-adds)"))
    for col, attr in ((1, "params"), (2, "flops")):
        vals = [getattr(cmp.regular, attr), getattr(cmp.separable, attr)]
        fig.add_trace(
            go.Bar(
                x=["regular", "depthwise-separable"],
                y=vals,
                text=[_human(v) for v in vals],
                textposition="outside",
                marker_color=[COLORS["regular"], COLORS["separable"]],
                showlegend=False,
                hovertemplate="%{x}: %{y:,}<extra></extra>",
            ),
            row=1,
            col=col,
        )
        fig.update_yaxes(range=[0, max(vals) * 1.2], row=1, col=col)
    fig.update_annotations(font_size=17)
    return house_style(fig, height=420)
