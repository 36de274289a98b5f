"""Figures of the receptive-field page: pure functions returning plotly figures.

* :func:`layer_growth_figure` - how the RF of a layer stack grows, one bar per layer;
* :func:`model_rf_figure` - the RF side of every stage / ASPP branch against the image;
* :func:`rf_boxes_figure` - those RFs as squares on the user's image around one pixel;
* :func:`erf_figure` - an effective receptive field over the image, with the theoretical
  RF and the mass squares;
* :func:`erf_profile_figure` - the ERF's horizontal profile against the theoretical RF;
* :func:`placed_rects`, :func:`erf_rects` - the squares those figures draw.

Coordinates on images: pixel ``i`` is centred at ``i`` (its edges at ``i ± 0.5``), y down.
Images are embedded as PNG data URIs (small, fast), never as arrays of numbers.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import plotly.graph_objects as go
from plotly.colors import sample_colorscale

from ..erf import MASS_FRACTIONS
from ..erf_views import rf_square
from ..receptive_field import ModelRFRow, PlacedRF, RFRow
from .colours import ERF_MASS_COLOUR, RF_COLOUR
from .common import FONT, add_pick_targets, house_style
from .common import png_uri as _png_uri

if TYPE_CHECKING:
    from ..erf import ImageErf

__all__ = [
    "FONT",
    "Rect",
    "erf_figure",
    "erf_profile_figure",
    "layer_growth_figure",
    "model_rf_figure",
    "box_colours",
    "erf_display",
    "erf_overlay",
    "erf_rects",
    "placed_rects",
    "rf_boxes_figure",
]

ERF_SCALE = "Inferno"
_KIND_COLOURS = {
    "plain": "#4C78A8",
    "stride": "#F58518",
    "dilation": "#54A24B",
    "both": "#B279A2",
}
_KIND_LABELS = {
    "plain": "stride 1, dilation 1",
    "stride": "strided (stride > 1)",
    "dilation": "dilated (rate > 1)",
    "both": "strided and dilated",
}
_PART_COLOURS = {"stage": "#4C78A8", "aspp": "#54A24B", "logits": "#E45756"}
TRF_COLOUR = RF_COLOUR  # the theoretical RF over an ERF
MASS_COLOUR = ERF_MASS_COLOUR  # the squares holding 20 / 50 / 95 % of the gradient
MASS_DASHES = ("dot", "dash", "longdash")


def _kind(stride: int, dilation: int) -> str:
    if stride > 1 and dilation > 1:
        return "both"
    return "stride" if stride > 1 else "dilation" if dilation > 1 else "plain"


# --------------------------------------------------------------------------- layer stacks


def layer_growth_figure(rows: Sequence[RFRow], *, title: str | None = None) -> go.Figure:
    """One horizontal bar per layer, centred on the unit: its RF side in input pixels.

    Read bottom-up: the input pixel (side 1), then each layer. The bar's colour says
    whether the layer strides, dilates, both or neither; its label gives ``size · jump``.
    The ``start`` offset is ignored (bars are centred) so the growth is easy to compare.
    """
    if not rows:
        raise ValueError("need at least one row")
    names = ["input pixel"] + [f"{i + 1}. {r.name}" for i, r in enumerate(rows)]
    sizes = [1] + [r.size for r in rows]
    kinds = ["plain"] + [_kind(r.stride, r.dilation) for r in rows]
    hover = ["one input pixel"] + [
        f"<b>{r.name}</b><br>kernel {r.kernel}, stride {r.stride}, dilation {r.dilation}, "
        f"padding {r.padding}<br>RF size {r.size} px · jump {r.jump} px · start {r.start:g}"
        for r in rows
    ]
    labels = ["1 px"] + [f"{r.size} px · jump {r.jump}" for r in rows]
    fig = go.Figure()
    for kind in ("plain", "stride", "dilation", "both"):
        idx = [i for i, k in enumerate(kinds) if k == kind]
        if not idx:
            continue
        fig.add_trace(
            go.Bar(
                orientation="h",
                y=[names[i] for i in idx],
                x=[sizes[i] for i in idx],
                base=[-sizes[i] / 2 for i in idx],
                marker=dict(color=_KIND_COLOURS[kind]),
                name=_KIND_LABELS[kind],
                text=[labels[i] for i in idx],
                textposition="outside",
                cliponaxis=False,
                hovertext=[hover[i] for i in idx],
                hoverinfo="text",
            )
        )
    biggest = max(sizes)
    fig.update_yaxes(categoryorder="array", categoryarray=names, title=None, tickfont=FONT)
    fig.update_xaxes(  # room on the right for the labels
        title="input pixels, centred on the unit",
        range=[-0.55 * biggest, 1.1 * biggest],
        zeroline=True,
        zerolinecolor="#999",
    )
    fig.update_layout(
        barmode="overlay",
        bargap=0.25,
        legend=dict(orientation="h", yanchor="bottom", y=1.0, x=0, xanchor="left"),
        uniformtext=dict(minsize=12, mode="show"),
    )
    height = int(min(max(170 + 30 * len(names), 420), 1600))
    house_style(fig, title=title, height=height)
    fig.update_layout(margin=dict(t=110 if title else 50))
    return fig


# --------------------------------------------------------------------------- real models


def model_rf_figure(
    rows: Sequence[ModelRFRow], image_hw: Sequence[int], *, title: str | None = None
) -> go.Figure:
    """RF side of every stage, ASPP branch and the logits, against the image's sides.

    Global rows (image pooling) are hatched and drawn to the image's longer side; dashed
    lines mark the image height and width (model-input pixels).
    """
    if not rows:
        raise ValueError("need at least one row")
    h, w = (int(v) for v in image_hw)
    names = [r.title for r in rows]
    sizes = [r.size if r.size is not None else max(h, w) for r in rows]
    fig = go.Figure(
        go.Bar(
            orientation="h",
            y=names,
            x=sizes,
            marker=dict(
                color=[_PART_COLOURS[r.part] for r in rows],
                pattern=dict(shape=["/" if r.size is None else "" for r in rows]),
            ),
            text=["global" if r.size is None else f"{r.size} px" for r in rows],
            textposition="outside",
            cliponaxis=False,
            hovertext=[
                f"<b>{r.title}</b><br>RF {r.size_label} px · jump {r.jump} px · "
                f"{len(r.layers)} spatial layers"
                for r in rows
            ],
            hoverinfo="text",
            showlegend=False,
        )
    )
    small, big = sorted(((h, "height"), (w, "width")))
    for (side, label), pos in ((small, "top left"), (big, "top right")):
        fig.add_vline(
            x=side,
            line=dict(color="#333", dash="dash", width=2),
            annotation=dict(text=f"image {label} {side}", font=dict(size=14)),
            annotation_position=pos,
        )
    fig.update_yaxes(categoryorder="array", categoryarray=names[::-1], tickfont=FONT)
    fig.update_xaxes(
        title="receptive field side, model-input pixels",
        range=[0, max(max(sizes), h, w) * 1.22],
    )
    house_style(fig, title=title, height=int(min(max(130 + 42 * len(rows), 340), 900)))
    fig.update_layout(margin=dict(t=90 if title else 40))
    return fig


@dataclass(frozen=True)
class Rect:
    """A rectangle on an image in plot coordinates (pixel ``i`` centred at ``i``)."""

    label: str
    top: float
    bottom: float
    left: float
    right: float
    colour: str = RF_COLOUR
    dash: str = "solid"
    width: float = 3.0


def _image_axes(fig: go.Figure, image_hw: Sequence[int], margin: float = 0.0) -> None:
    h, w = image_hw
    mx, my = margin * w, margin * h
    common = dict(showgrid=False, zeroline=False, showticklabels=False, ticks="")
    fig.update_xaxes(range=[-0.5 - mx, w - 0.5 + mx], constrain="domain", **common)
    fig.update_yaxes(
        range=[h - 0.5 + my, -0.5 - my], scaleanchor="x", scaleratio=1, constrain="domain", **common
    )


def _add_rect(fig: go.Figure, r: Rect, *, legend: bool = True) -> None:
    fig.add_shape(
        type="rect",
        x0=r.left,
        x1=r.right,
        y0=r.top,
        y1=r.bottom,
        line=dict(color=r.colour, width=r.width, dash=r.dash),
        name=r.label,
        showlegend=legend,
    )


def _marker(fig: go.Figure, centre_yx: Sequence[float], name: str = "picked pixel") -> None:
    fig.add_trace(
        go.Scatter(
            x=[centre_yx[1]],
            y=[centre_yx[0]],
            mode="markers",
            marker=dict(symbol="cross-thin", size=16, line=dict(width=3, color=ERF_MASS_COLOUR)),
            name=name,
            hoverinfo="skip",
        )
    )


def box_colours(n: int) -> list[str]:
    """``n`` distinct colours from small (yellow) to large (purple) receptive fields."""
    if n <= 1:
        return [RF_COLOUR]
    return sample_colorscale("Plasma_r", [0.05 + 0.9 * i / (n - 1) for i in range(n)])


def placed_rects(placed: Sequence[PlacedRF], chosen: Collection[str]) -> list[Rect]:
    """The chosen parts' RF squares around the picked pixel, for :func:`rf_boxes_figure`.

    Colours follow the order of every part with a local RF (chosen or not), so a part
    keeps its colour when others are added or removed; a label says how much of a
    clipped square lies on the image.
    """
    keys = [p.row.key for p in placed if p.row.size is not None]
    colours = dict(zip(keys, box_colours(len(keys)), strict=True))
    rects = []
    for p in placed:
        if p.row.key in chosen:
            top, bottom, left, right = p.edges
            clipped = "" if not p.box.is_clipped else f", {p.box.inside_fraction:.0%} on image"
            label = f"{p.row.title} {p.row.size} px{clipped}"
            rects.append(Rect(label, top, bottom, left, right, colour=colours[p.row.key]))
    return rects


def _image_height(image_hw: Sequence[int], plot_width: float, extra: float, margin: float) -> int:
    """Figure height (px) that shows an image ``plot_width`` px wide without blank bands."""
    h, w = image_hw
    return int(min(max(plot_width * h / w + extra + 2 * margin * plot_width * h / w, 260), 900))


def _view(
    image_hw: Sequence[int], rects: Sequence[Rect], *, min_margin: float, max_margin: float
) -> tuple[tuple[float, float], tuple[float, float]]:
    """x and y ranges holding the image and the rectangles, within ``max_margin`` of it."""
    h, w = image_hw
    lo_x, hi_x = -0.5 - min_margin * w, w - 0.5 + min_margin * w
    lo_y, hi_y = -0.5 - min_margin * h, h - 0.5 + min_margin * h
    for r in rects:
        lo_x, hi_x = min(lo_x, r.left), max(hi_x, r.right)
        lo_y, hi_y = min(lo_y, r.top), max(hi_y, r.bottom)
    lo_x, hi_x = max(lo_x, -0.5 - max_margin * w), min(hi_x, w - 0.5 + max_margin * w)
    lo_y, hi_y = max(lo_y, -0.5 - max_margin * h), min(hi_y, h - 0.5 + max_margin * h)
    pad_x, pad_y = 0.01 * w, 0.01 * h  # so a border line is not cut in half
    return (lo_x - pad_x, hi_x + pad_x), (lo_y - pad_y, hi_y + pad_y)


def rf_boxes_figure(
    rgb: np.ndarray,
    rects: Sequence[Rect],
    *,
    centre_yx: Sequence[float],
    title: str | None = None,
    max_margin: float = 0.35,
    width_hint: int = 640,
    clickable: bool = False,
) -> go.Figure:
    """The image with one square per receptive field and a cross at the picked pixel.

    The view (grey outside the image) grows to show each square whole, up to
    ``max_margin`` of the image on every side, so a square clipped by the image visibly
    runs off it. Each rectangle is listed in the legend under the image.
    ``width_hint``: the width the figure gets on the page (px), to fit its height.
    """
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError("rgb must be an (H, W, 3) array")
    h, w = rgb.shape[:2]
    fig = go.Figure(go.Image(source=_png_uri(rgb), x0=0, y0=0, dx=1, dy=1, hoverinfo="skip"))
    for r in rects:
        _add_rect(fig, r)
    _marker(fig, centre_yx)
    (x0, x1), (y0, y1) = _view((h, w), rects, min_margin=0.04, max_margin=max_margin)
    common = dict(showgrid=False, zeroline=False, showticklabels=False, ticks="")
    fig.update_xaxes(range=[x0, x1], constrain="domain", **common)
    fig.update_yaxes(range=[y1, y0], scaleanchor="x", scaleratio=1, constrain="domain", **common)
    legend_px = 23 * (len(rects) + 1) + 20  # one entry per line, under the image
    fig.update_layout(
        plot_bgcolor="#d9d9d9",
        legend=dict(orientation="v", yanchor="top", y=-0.02, x=0, font=dict(size=15)),
    )
    top = 50 if title else 10
    plot_w = width_hint - 20
    height = int(min(max(plot_w * (y1 - y0) / (x1 - x0) + top + legend_px + 20, 300), 1000))
    house_style(fig, title=title, height=height)
    fig.update_layout(margin=dict(l=10, r=10, t=top, b=legend_px + 10))
    if clickable:  # a click on the picture picks the pixel (ui/pick.py)
        add_pick_targets(fig, rgb.shape, width_px=width_hint)
    return fig


# --------------------------------------------------------------------------- ERF


def _lut(scale: str = ERF_SCALE) -> np.ndarray:
    cols = sample_colorscale(scale, list(np.linspace(0, 1, 256)))
    return np.array(
        [[float(c) for c in s[s.index("(") + 1 : -1].split(",")] for s in cols], dtype=np.float64
    )


def erf_display(
    erf: np.ndarray, *, log: bool, decades: float = 3.0, top_percentile: float = 99.5
) -> np.ndarray:
    """ERF map → values in 0..1 for display.

    Linear: relative to the ``top_percentile`` of the non-zero values (a single-image
    gradient is speckled, and its few brightest pixels would make the rest look black);
    log: ``log10`` of the share of the maximum over ``decades``, 0 below that.
    """
    arr = np.asarray(erf, dtype=np.float64)
    nonzero = arr[arr > 0]
    if nonzero.size == 0:
        return np.zeros_like(arr)
    peak = float(nonzero.max()) if log else float(np.percentile(nonzero, top_percentile))
    rel = np.clip(arr / peak, 0, 1)
    if not log:
        return rel
    with np.errstate(divide="ignore"):
        logged = np.log10(np.maximum(rel, 10.0**-decades))
    return (logged + decades) / decades


def erf_overlay(rgb: np.ndarray, values: np.ndarray) -> np.ndarray:
    """The image in grey with the ERF (0..1) painted on in the Inferno colours."""
    grey = rgb.astype(np.float64).mean(axis=2, keepdims=True) * 0.55 + 40
    lut = _lut()
    v = np.clip(values, 0, 1)
    colour = lut[(v * 255).round().astype(int)]
    alpha = np.sqrt(v)[..., None] * 0.9
    out = grey * (1 - alpha) + colour * alpha
    return out.clip(0, 255).astype(np.uint8)


def erf_figure(
    rgb: np.ndarray,
    erf_image: np.ndarray,
    *,
    centre_yx: Sequence[float],
    rects: Sequence[Rect] = (),
    log: bool = False,
    title: str | None = None,
    width_hint: int = 560,
    decades: float = 4.0,
) -> go.Figure:
    """The ERF over the (greyed) image, the theoretical RF and mass squares as rectangles.

    No legend (the page explains the rectangles next to the numbers they stand for).
    ``erf_image`` has the image's (H, W). Linear scale: relative to a high percentile
    (see :func:`erf_display`); log scale over ``decades`` shows how far the faint tail
    of the gradient reaches. ``width_hint``: the width the figure gets on the page (px).
    """
    if erf_image.shape != rgb.shape[:2]:
        raise ValueError(f"erf map {erf_image.shape} and image {rgb.shape[:2]} differ in size")
    values = erf_display(erf_image, log=log, decades=decades)
    fig = go.Figure(
        go.Image(
            source=_png_uri(erf_overlay(rgb, values)), x0=0, y0=0, dx=1, dy=1, hoverinfo="skip"
        )
    )
    tick_vals = [0, 0.5, 1]
    if log:
        ticks = [f"10<sup>-{decades:g}</sup>", f"10<sup>-{decades / 2:g}</sup>", "max"]
    else:
        ticks = ["0", "½", "top"]
    fig.add_trace(  # only to draw the colour bar
        go.Scatter(
            x=[None],
            y=[None],
            mode="markers",
            marker=dict(
                colorscale=ERF_SCALE,
                cmin=0,
                cmax=1,
                color=[0],
                showscale=True,
                colorbar=dict(
                    tickvals=tick_vals,
                    ticktext=ticks,
                    tickfont=dict(size=14),
                    len=0.9,
                    thickness=14,
                    x=1.0,
                    xanchor="left",
                ),
            ),
            showlegend=False,
            hoverinfo="skip",
        )
    )
    for r in rects:
        _add_rect(fig, r, legend=False)
    _marker(fig, centre_yx, "unit centre")
    h, w = rgb.shape[:2]
    margin = 0.04
    _image_axes(fig, (h, w), margin)
    fig.update_layout(plot_bgcolor="#d9d9d9", showlegend=False)
    top = 50 if title else 10
    height = _image_height((h, w), width_hint - 70, top + 20, margin)
    house_style(fig, title=title, height=height)
    fig.update_layout(margin=dict(l=5, r=5, t=top, b=10))
    return fig


def erf_profile_figure(
    profiles: dict[str, np.ndarray],
    *,
    centre: float,
    rf_bounds: tuple[float, float] | None,
    title: str | None = None,
    height: int = 380,
) -> go.Figure:
    """Horizontal profiles of ERFs (mass per input column, % of total) around the unit.

    ``profiles``: ``{label: 1-D mass per column}`` in model-input pixels; ``centre`` is
    the unit's column; ``rf_bounds`` the theoretical RF's first and last column (None for
    a global RF). The flat box next to the bump is the lesson of Luo et al. (2016).
    """
    fig = go.Figure()
    colours = ["#E45756", "#4C78A8", "#54A24B", "#F58518"]
    for (label, prof), colour in zip(profiles.items(), colours, strict=False):
        p = np.asarray(prof, dtype=np.float64)
        total = p.sum()
        y = p / total * 100 if total > 0 else p
        fig.add_trace(
            go.Scatter(
                x=np.arange(p.size) - centre,
                y=y,
                mode="lines",
                name=label,
                line=dict(color=colour, width=3),
                hovertemplate="%{x:.0f} px: %{y:.2f} %<extra>" + label + "</extra>",
            )
        )
    n = max((np.asarray(p).size for p in profiles.values()), default=1)
    if rf_bounds is not None:
        lo, hi = rf_bounds[0] - centre, rf_bounds[1] - centre
        room = 0.4 * (hi - lo) + 5  # zoom on the RF, with some of the outside for contrast
        fig.update_xaxes(range=[max(lo - room, -centre - 0.5), min(hi + room, n - centre - 0.5)])
        fig.add_vrect(
            x0=lo - 0.5,
            x1=hi + 0.5,
            fillcolor=RF_COLOUR,
            opacity=0.15,
            line_width=0,
            annotation=dict(text="theoretical RF", font=dict(size=14)),
            annotation_position="top left",
        )
    fig.update_xaxes(title="input columns from the unit's centre (model-input pixels)")
    fig.update_yaxes(title="share of the gradient, % per column", rangemode="tozero")
    fig.update_layout(legend=dict(orientation="h", yanchor="bottom", y=1.0, x=0))
    return house_style(fig, title=title, height=height)


def erf_rects(res: ImageErf) -> list[Rect]:
    """The theoretical RF (its local path when image pooling makes it global) and the
    squares holding 20 / 50 / 95 % of the gradient, for :func:`erf_figure`."""
    label = (
        f"theoretical RF {res.row.size} px"
        if res.row.size is not None
        else f"local path {res.row.local_size} px (+ image pooling: global)"
    )
    box = rf_square(res)
    out = [Rect(label, *res.to_image(box.y0, box.y1, box.x0, box.x1), colour=TRF_COLOUR)]
    for f, dash in zip(MASS_FRACTIONS, MASS_DASHES, strict=True):
        side = res.mass_sides[f]
        if side > 0:
            out.append(
                Rect(
                    f"{f:.0%} of the gradient: {side} px",
                    *res.square_on_image(side),
                    colour=MASS_COLOUR,
                    dash=dash,
                    width=2.5,
                )
            )
    return out
