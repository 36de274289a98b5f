"""Figures of the ASPP explorer: pure functions returning plotly figures or RGB arrays.

* colours (branches, value ramps) come from :mod:`deeplab_viz.plots.colours`;
* :func:`feature_to_image` - a feature-grid map resized onto the image the user gave;
* :func:`branch_picture` - a branch map (channel mean, top-3 channels, PCA) as RGB;
* :func:`panels_figure` - a grid of titled RGB panels (branch maps, Grad-CAM);
* :func:`footprint_figure` - every branch's taps around one pixel, on the image;
* :func:`shares_figure` - signed and magnitude share of each branch in the projection;
* :func:`changed_overlay`, :func:`heat_overlay` - pictures for ablation and Grad-CAM;
* :func:`class_change_figure` - pixel share of each class before and after an ablation.

Coordinates on images: pixel ``i`` is centred at ``i`` (its edges at ``i ± 0.5``), y down.
Images are embedded as PNG data URIs (small, fast), never as arrays of numbers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
import torch
import torch.nn.functional as F
from plotly.subplots import make_subplots

from ..aspp import Footprint
from ..palette import hex_color
from .colours import (
    CHANGED_COLOUR,
    HEAT_SCALE,
    MAP_SCALE,
    PADDING_COLOUR,
    PICK_COLOUR,
    branch_colours,
    scale_lut,
    unit_range,
    value_colours,
)
from .common import FONT, add_pick_targets, house_style
from .common import png_uri as _png_uri

__all__ = [
    "FONT",
    "MAP_SCALE",
    "HEAT_SCALE",
    "Panel",
    "branch_colours",
    "branch_picture",
    "changed_overlay",
    "class_change_figure",
    "value_colours",
    "feature_to_image",
    "footprint_figure",
    "heat_overlay",
    "panels_figure",
    "shares_figure",
]

# --------------------------------------------------------------------------- helpers


# --------------------------------------------------------------------------- maps


def feature_to_image(
    fmap: np.ndarray,
    *,
    padded_hw: Sequence[int],
    valid_hw: Sequence[int],
    image_hw: Sequence[int],
    align_corners: bool = False,
) -> np.ndarray:
    """A map on the feature grid, (h, w) or (h, w, C), resized onto the user's image.

    The way the network's own logits travel: bilinear up to the padded input the
    network got (``padded_hw``), the padding cropped off (``valid_hw``, the resized
    image), then bilinear to the image's ``image_hw``. Returns float64, (H, W[, C]).
    """
    arr = np.asarray(fmap, dtype=np.float32)
    if arr.ndim not in (2, 3):
        raise ValueError("expected an (h, w) or (h, w, C) array")
    t = torch.from_numpy(np.ascontiguousarray(arr if arr.ndim == 3 else arr[..., None]))
    t = t.permute(2, 0, 1)[None]  # (1, C, h, w)
    t = F.interpolate(t, size=tuple(padded_hw), mode="bilinear", align_corners=align_corners)
    vh, vw = valid_hw
    t = t[..., :vh, :vw]
    if (vh, vw) != tuple(image_hw):
        t = F.interpolate(t, size=tuple(image_hw), mode="bilinear", align_corners=False)
    out = t[0].permute(1, 2, 0).double().numpy()
    return out if arr.ndim == 3 else out[..., 0]


def branch_picture(picture: np.ndarray, mode: str, scale: str = MAP_SCALE) -> np.ndarray:
    """What :func:`deeplab_viz.aspp.branch_map` returns, as (H, W, 3) uint8.

    "mean" (H, W): colour-mapped from its own min to max. "topk" (k, H, W): the first
    three channels as red, green, blue, each scaled to its own range. "pca" (H, W, 3)
    in 0..1: shown as it is.
    """
    a = np.asarray(picture, dtype=np.float64)
    if mode == "mean":
        return value_colours(a, scale)
    if mode == "topk":
        if a.ndim != 3:
            raise ValueError("topk pictures are (k, H, W)")
        chans = [unit_range(c) for c in a[:3]]
        while len(chans) < 3:
            chans.append(np.zeros(a.shape[1:]))
        return (np.stack(chans, -1) * 255).round().astype(np.uint8)
    if mode == "pca":
        if a.ndim != 3 or a.shape[-1] != 3:
            raise ValueError("pca pictures are (H, W, 3)")
        return (np.clip(a, 0, 1) * 255).round().astype(np.uint8)
    raise ValueError(f"mode must be 'mean', 'topk' or 'pca', got {mode!r}")


@dataclass(frozen=True)
class Panel:
    """One titled RGB picture of a :func:`panels_figure`."""

    title: str
    rgb: np.ndarray  # (H, W, 3) uint8
    colour: str | None = None  # a coloured bar under the title (the branch's colour)


def panels_figure(
    panels: Sequence[Panel],
    *,
    cols: int = 3,
    title: str | None = None,
    width_hint: int = 1200,
    colorbar: tuple[str, Sequence[str]] | None = None,
) -> go.Figure:
    """A grid of RGB pictures with a title each, sized to fill ``width_hint`` pixels.

    ``colorbar``: (plotly colour scale, three tick labels for low, middle, high) to draw
    one colour bar for the whole grid (when every panel uses the same scale).
    """
    if not panels:
        raise ValueError("need at least one panel")
    cols = max(1, min(cols, len(panels)))
    rows = math.ceil(len(panels) / cols)
    h, w = panels[0].rgb.shape[:2]
    fig = make_subplots(
        rows=rows,
        cols=cols,
        subplot_titles=[p.title for p in panels],
        horizontal_spacing=0.02,
        vertical_spacing=0.06 if rows > 1 else 0.0,
    )
    for i, p in enumerate(panels):
        if p.rgb.ndim != 3 or p.rgb.shape[2] != 3:
            raise ValueError(f"panel {p.title!r}: expected an (H, W, 3) picture")
        ph, pw = p.rgb.shape[:2]
        r, c = divmod(i, cols)
        fig.add_trace(
            go.Image(source=_png_uri(p.rgb), x0=0, y0=0, dx=1, dy=1, hoverinfo="skip"),
            row=r + 1,
            col=c + 1,
        )
        common = dict(showgrid=False, zeroline=False, showticklabels=False, ticks="")
        fig.update_xaxes(range=[-0.5, pw - 0.5], row=r + 1, col=c + 1, **common)
        fig.update_yaxes(range=[ph - 0.5, -0.5], row=r + 1, col=c + 1, **common)
        if p.colour:
            fig.add_shape(
                type="rect",
                x0=-0.5,
                x1=pw - 0.5,
                y0=-0.5,
                y1=ph - 0.5,
                line=dict(color=p.colour, width=5),
                row=r + 1,
                col=c + 1,
            )
    fig.update_annotations(font=dict(size=18))
    if colorbar is not None:
        scale, ticks = colorbar
        fig.add_trace(
            go.Scatter(
                x=[None],
                y=[None],
                mode="markers",
                marker=dict(
                    colorscale=scale,
                    cmin=0,
                    cmax=1,
                    color=[0],
                    showscale=True,
                    colorbar=dict(
                        tickvals=[0, 0.5, 1],
                        ticktext=list(ticks),
                        tickfont=dict(size=15),
                        len=0.8,
                        thickness=16,
                    ),
                ),
                showlegend=False,
                hoverinfo="skip",
            ),
            row=1,
            col=1,
        )
    top = 90 if title else 45
    plot_w = (width_hint - 20 - (90 if colorbar else 0)) / cols
    row_h = plot_w * h / w
    height = int(min(max(rows * (row_h + 40) + top, 260), 1500))
    house_style(fig, title=title, height=height)
    fig.update_layout(margin=dict(l=10, r=10, t=top, b=10), plot_bgcolor="white")
    return fig


def heat_overlay(rgb: np.ndarray, heat: np.ndarray, scale=HEAT_SCALE) -> np.ndarray:
    """The image in grey with ``heat`` (0..1, image-sized) painted on in a colour scale."""
    if heat.shape != rgb.shape[:2]:
        raise ValueError(f"heat map {heat.shape} and image {rgb.shape[:2]} differ in size")
    grey = rgb.astype(np.float64).mean(axis=2, keepdims=True) * 0.6 + 30
    v = np.clip(np.nan_to_num(heat), 0, 1)
    colour = scale_lut(scale)[(v * 255).round().astype(np.intp)]
    alpha = np.sqrt(v)[..., None] * 0.85
    return (grey * (1 - alpha) + colour * alpha).clip(0, 255).astype(np.uint8)


def changed_overlay(rgb: np.ndarray, changed: np.ndarray) -> np.ndarray:
    """The image dimmed to grey, pixels whose class changed painted magenta."""
    if changed.shape != rgb.shape[:2]:
        raise ValueError(f"mask {changed.shape} and image {rgb.shape[:2]} differ in size")
    grey = rgb.astype(np.float64).mean(axis=2, keepdims=True) * 0.45 + 20
    out = np.repeat(grey, 3, axis=2)
    out[changed.astype(bool)] = CHANGED_COLOUR
    return out.clip(0, 255).astype(np.uint8)


# --------------------------------------------------------------------------- footprints


def _tap_text(fp: Footprint, yx: np.ndarray, valid: bool) -> str:
    where = "on the image" if valid else "in the zero padding"
    return f"<b>{fp.name}</b><br>tap at x={yx[1]:.0f}, y={yx[0]:.0f} px<br>{where}"


def footprint_figure(
    rgb: np.ndarray,
    footprints: Sequence[Footprint],
    *,
    pixel_yx: Sequence[float],
    kinds: Mapping[str, str],
    colours: Mapping[str, str] | None = None,
    title: str | None = None,
    width_hint: int = 900,
    max_margin: float = 1.0,
    clickable: bool = False,
) -> go.Figure:
    """Every branch's sampling taps around ``pixel_yx``, drawn on the image in image pixels.

    Taps on the image: filled circles in the branch's colour, joined by a dotted square
    (the kernel's reach); taps in the padding: hollow red crosses; the 1×1 branch: one
    square marker; image pooling: a frame around the whole image. The view reaches past
    the image (grey = zero padding) far enough to show every tap, at most ``max_margin``
    image sides beyond each border; taps beyond the view are counted in the legend.
    ``kinds``: branch name → "1x1", "atrous" or "pooling".
    """
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError("rgb must be an (H, W, 3) array")
    h, w = rgb.shape[:2]
    names = [f.name for f in footprints]
    colours = dict(colours or branch_colours(names, [kinds[n] for n in names]))
    taps = [f.centres_yx for f in footprints if kinds[f.name] != "pooling"]
    all_taps = np.concatenate(taps) if taps else np.zeros((0, 2))
    pad_y, pad_x = 0.04 * h, 0.04 * w
    y0 = max(min(-0.5, float(all_taps[:, 0].min(initial=0))) - pad_y, -0.5 - max_margin * h)
    y1 = min(max(h - 0.5, float(all_taps[:, 0].max(initial=0))) + pad_y, h - 0.5 + max_margin * h)
    x0 = max(min(-0.5, float(all_taps[:, 1].min(initial=0))) - pad_x, -0.5 - max_margin * w)
    x1 = min(max(w - 0.5, float(all_taps[:, 1].max(initial=0))) + pad_x, w - 0.5 + max_margin * w)

    fig = go.Figure(go.Image(source=_png_uri(rgb), x0=0, y0=0, dx=1, dy=1, hoverinfo="skip"))
    fig.add_shape(  # the image border: outside it the network reads zeros
        type="rect",
        x0=-0.5,
        x1=w - 0.5,
        y0=-0.5,
        y1=h - 0.5,
        line=dict(color="#333", width=1.5),
    )
    order = sorted(
        footprints,
        key=lambda f: {"pooling": 0, "atrous": 1, "1x1": 2}[kinds[f.name]] * 1000 - (f.rate or 0),
    )  # pooling frame first, big rates under small ones, the 1×1 tap on top
    rank = {n: 10 * (i + 1) for i, n in enumerate(names)}  # legend in branch order
    any_padding = False
    for fp in order:
        colour = colours[fp.name]
        kind = kinds[fp.name]
        if kind == "pooling":
            inset = 0.012 * max(h, w)
            fig.add_trace(
                go.Scatter(
                    x=[-0.5 + inset, w - 0.5 - inset, w - 0.5 - inset, -0.5 + inset, -0.5 + inset],
                    y=[-0.5 + inset, -0.5 + inset, h - 0.5 - inset, h - 0.5 - inset, -0.5 + inset],
                    mode="lines",
                    line=dict(color=colour, width=6, dash="dash"),
                    name=f"{fp.name}: the whole image",
                    legendrank=rank[fp.name],
                    hovertext=f"<b>{fp.name}</b><br>averages the whole feature map",
                    hoverinfo="text",
                )
            )
            continue
        c = fp.centres_yx
        inside_view = (c[:, 0] >= y0) & (c[:, 0] <= y1) & (c[:, 1] >= x0) & (c[:, 1] <= x1)
        n_on, n = int(fp.valid.sum()), len(fp.valid)
        beyond = int((~inside_view).sum())
        if kind == "1x1":
            label = f"{fp.name}: 1 tap"
        else:
            label = f"{fp.name}: {n_on} of {n} taps on the image"
            if beyond:
                label += f" ({beyond} beyond the view)"
            lo, hi = c.min(0), c.max(0)
            fig.add_trace(
                go.Scatter(
                    x=[lo[1], hi[1], hi[1], lo[1], lo[1]],
                    y=[lo[0], lo[0], hi[0], hi[0], lo[0]],
                    mode="lines",
                    line=dict(color=colour, width=2.5, dash="dot"),
                    legendgroup=fp.name,
                    showlegend=False,
                    hoverinfo="skip",
                )
            )
        ok = fp.valid & inside_view
        fig.add_trace(
            go.Scatter(
                x=c[ok, 1],
                y=c[ok, 0],
                mode="markers",
                marker=dict(
                    symbol="square" if kind == "1x1" else "circle",
                    size=24 if kind == "1x1" else 17,
                    color=colour,
                    line=dict(color="white", width=2),
                ),
                name=label,
                legendgroup=fp.name,
                legendrank=rank[fp.name],
                hovertext=[_tap_text(fp, yx, True) for yx in c[ok]],
                hoverinfo="text",
            )
        )
        bad = ~fp.valid & inside_view
        if bad.any():
            any_padding = True
            fig.add_trace(
                go.Scatter(
                    x=c[bad, 1],
                    y=c[bad, 0],
                    mode="markers",
                    marker=dict(
                        symbol="x-open", size=18, color=PADDING_COLOUR, line=dict(width=2.5)
                    ),
                    legendgroup=fp.name,
                    showlegend=False,
                    hovertext=[_tap_text(fp, yx, False) for yx in c[bad]],
                    hoverinfo="text",
                )
            )
    if any_padding:  # one legend entry for every padding tap
        fig.add_trace(
            go.Scatter(
                x=[None],
                y=[None],
                mode="markers",
                marker=dict(symbol="x-open", size=18, color=PADDING_COLOUR, line=dict(width=2.5)),
                name="tap in the padding (reads zeros)",
                legendrank=10 * len(names) + 10,
            )
        )
    fig.add_trace(
        go.Scatter(
            x=[pixel_yx[1]],
            y=[pixel_yx[0]],
            mode="markers",
            marker=dict(symbol="cross-thin", size=26, line=dict(width=3, color=PICK_COLOUR)),
            name="picked pixel",
            legendrank=10 * len(names) + 20,
            hoverinfo="skip",
        )
    )
    common = dict(showgrid=False, zeroline=False, showticklabels=False, ticks="")
    fig.update_xaxes(range=[x0, x1], constrain="domain", **common)
    fig.update_yaxes(range=[y1, y0], scaleanchor="x", scaleratio=1, constrain="domain", **common)
    n_legend = len(footprints) + 1 + int(any_padding)
    legend_px = 28 * math.ceil(n_legend / 2) + 20
    top = 60 if title else 10
    plot_w = width_hint - 20
    height = int(min(max(plot_w * (y1 - y0) / (x1 - x0) + top + legend_px + 20, 320), 1100))
    house_style(fig, title=title, height=height)
    fig.update_layout(
        plot_bgcolor="#cfcfcf",
        legend=dict(orientation="h", yanchor="top", y=-0.02, x=0, font=dict(size=16)),
        margin=dict(l=10, r=10, t=top, b=legend_px + 10),
    )
    if clickable:  # a click on the picture picks the pixel (ui/pick.py)
        add_pick_targets(fig, rgb.shape, width_px=width_hint)
    return fig


# --------------------------------------------------------------------------- numbers


def shares_figure(
    share: Mapping[str, float],
    magnitude_share: Mapping[str, float],
    bias_share: float,
    *,
    title: str | None = None,
) -> go.Figure:
    """Each branch's signed share of the projection (plus the bias) and its magnitude share.

    Signed shares and the bias add up to 1; magnitude shares add up to 1 over the
    branches (the bias has none). Bars are labelled in percent.
    """
    names = list(share)
    if set(names) != set(magnitude_share):
        raise ValueError("share and magnitude_share must name the same branches")
    x = [*names, "bias"]
    signed = [share[n] for n in names] + [bias_share]
    mags = [magnitude_share[n] for n in names] + [None]
    fig = go.Figure(
        [
            go.Bar(
                x=x,
                y=signed,
                name="signed share (adds up to 1 with the bias)",
                marker_color="#4C78A8",
                text=[f"{v:+.1%}" for v in signed],
                textposition="outside",
                cliponaxis=False,
            ),
            go.Bar(
                x=x,
                y=mags,
                name="magnitude share",
                marker_color="#F58518",
                text=[f"{v:.1%}" if v is not None else "" for v in mags],
                textposition="outside",
                cliponaxis=False,
            ),
        ]
    )
    vals = [v for v in signed + mags if v is not None]
    lo, hi = min(0.0, min(vals)), max(0.0, max(vals))
    span = max(hi - lo, 0.05)
    fig.update_yaxes(
        tickformat=".0%",
        range=[lo - 0.15 * span if lo < 0 else 0, hi + 0.18 * span],
        zeroline=True,
        zerolinecolor="#555",
        zerolinewidth=2,
        title=None,
    )
    fig.update_xaxes(tickfont=dict(size=18))
    fig.update_layout(
        barmode="group",
        bargap=0.25,
        legend=dict(orientation="h", yanchor="bottom", y=1.0, x=0, xanchor="left"),
        uniformtext=dict(minsize=13, mode="show"),
    )
    house_style(fig, title=title, height=440)
    fig.update_layout(margin=dict(t=110 if title else 60))
    return fig


def class_change_figure(
    class_change: Mapping[str, tuple[float, float]],
    class_names: Sequence[str],
    *,
    title: str | None = None,
    top: int = 10,
) -> go.Figure:
    """Share of pixels per class before (hatched) and after (solid) switching branches off.

    The ``top`` classes with the largest share before or after, largest first; each bar
    in the class's VOC colour.
    """
    if not class_change:
        raise ValueError("no classes to show")
    rows = sorted(class_change.items(), key=lambda kv: -max(kv[1]))[:top]
    names = [k for k, _ in rows][::-1]  # largest at the top
    colours = [hex_color(class_names.index(n)) for n in names]
    before = [class_change[n][0] for n in names]
    after = [class_change[n][1] for n in names]
    fig = go.Figure(
        [
            go.Bar(
                orientation="h",
                y=names,
                x=before,
                name="before",
                marker=dict(
                    color=colours,
                    line=dict(color=colours, width=2),
                    pattern=dict(
                        shape="/",
                        fillmode="replace",
                        bgcolor="white",
                        fgcolor=colours,
                        solidity=0.4,
                    ),
                ),
                text=[f"{v:.1%}" for v in before],
                textposition="outside",
                cliponaxis=False,
            ),
            go.Bar(
                orientation="h",
                y=names,
                x=after,
                name="after",
                marker=dict(color=colours, line=dict(color="#333", width=1)),
                text=[f"{v:.1%}" for v in after],
                textposition="outside",
                cliponaxis=False,
            ),
        ]
    )
    fig.update_xaxes(tickformat=".0%", range=[0, max(before + after) * 1.25 or 1], title=None)
    fig.update_yaxes(tickfont=dict(size=17))
    fig.update_layout(
        barmode="group",
        legend=dict(orientation="h", yanchor="bottom", y=1.0, x=0, xanchor="left"),
        legend_traceorder="reversed",
    )
    house_style(fig, title=title, height=int(min(max(160 + 56 * len(names), 300), 900)))
    fig.update_layout(margin=dict(t=100 if title else 50))
    return fig
