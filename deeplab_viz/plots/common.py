"""What every figure module shares: images embedded as PNG, and the house layout."""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from PIL import Image

FONT_SIZE = 16  # readable from the back of a classroom; titles 20, subplot titles 18
FONT_FAMILY = '"Source Sans Pro", "Source Sans 3", "Source Sans", Arial, sans-serif'
FONT = dict(size=FONT_SIZE, family=FONT_FAMILY)


def png_uri(image: np.ndarray) -> str:
    """An (H, W), (H, W, 3) or (H, W, 4) uint8 array as a PNG data URI.

    Plotly then ships a small compressed picture instead of an array of numbers.
    """
    arr = np.ascontiguousarray(image)
    if arr.dtype != np.uint8:
        raise ValueError(f"expected a uint8 image, got {arr.dtype}")
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG", compress_level=3)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def house_style(
    fig: go.Figure,
    *,
    height: int,
    title: str | None = None,
    legend_below: bool = False,
    subplot_titles: bool = False,
    top: int | None = None,
) -> go.Figure:
    """The one house style: white background, large text, tight margins.

    Sizes are set on the axes, legend and hover labels themselves (not only the
    global font) so that they survive Streamlit's chart theme. ``legend_below`` puts
    a horizontal legend under the axis titles; ``subplot_titles`` sizes every
    annotation as a subplot title; ``top`` overrides the top margin (default: room
    for a title when there is one).
    """
    fig.update_layout(
        template="plotly_white",
        height=height,
        font=FONT,
        legend=dict(font=dict(size=FONT_SIZE - 1)),
        hoverlabel=dict(font_size=FONT_SIZE - 1),
        margin=dict(l=10, r=10, t=top if top is not None else (65 if title else 60), b=10),
    )
    if title:
        fig.update_layout(title=dict(text=title, font=dict(size=FONT_SIZE + 4)))
    fig.update_xaxes(tickfont=dict(size=FONT_SIZE - 1), title_font=dict(size=FONT_SIZE))
    fig.update_yaxes(tickfont=dict(size=FONT_SIZE - 1), title_font=dict(size=FONT_SIZE))
    if subplot_titles:
        fig.update_annotations(font_size=FONT_SIZE + 2)
    if legend_below:
        # in container coordinates: under the axis titles, whatever the plot's size
        fig.update_layout(
            legend=dict(
                orientation="h", yref="container", y=0.005, yanchor="bottom", x=0, xanchor="left"
            ),
            margin=dict(b=70),
        )
    return fig


CLICK_TARGET = "click target"  # the name of the layer a click selects a point of


def click_targets(
    ys: np.ndarray,
    xs: np.ndarray,
    *,
    marker_px: int,
    hover: str = "click: pick (x=%{x:.0f}, y=%{y:.0f})",
) -> go.Scatter:
    """Almost invisible markers at (``ys``, ``xs``): a click on the image selects the nearest.

    Plotly fires no click on an image or heatmap, so pickable pictures carry this
    layer; Streamlit's point selection then reports the marker's x, y (image pixels)
    and ``customdata`` (y, x rounded). ``marker_px`` should cover the grid's spacing
    on screen so every spot of the picture is a target.
    """
    yy, xx = np.meshgrid(np.asarray(ys, float), np.asarray(xs, float), indexing="ij")
    return go.Scatter(
        x=xx.ravel(),
        y=yy.ravel(),
        mode="markers",
        marker=dict(size=int(marker_px), color="white", opacity=0.01),
        selected=dict(marker=dict(opacity=0.01)),
        unselected=dict(marker=dict(opacity=0.01)),
        customdata=np.stack([yy.ravel().round(), xx.ravel().round()], axis=1),
        hovertemplate=hover + "<extra></extra>",
        showlegend=False,
        name=CLICK_TARGET,
    )


def pick_grid(size: int, *, targets: int = 64) -> np.ndarray:
    """About ``targets`` pixel positions spread evenly over 0..size−1 (centres of equal bins)."""
    n = max(1, min(int(size), int(targets)))
    step = size / n
    return np.minimum(np.arange(n) * step + (step - 1) / 2, size - 1)


def add_pick_targets(
    fig: go.Figure,
    hw: Sequence[int],
    *,
    width_px: int = 640,
    hover: str = "click: pick this pixel (x=%{x:.0f}, y=%{y:.0f})",
    targets: int = 64,
) -> go.Figure:
    """Click targets over an (h, w) image already drawn in ``fig`` in image pixels.

    About ``targets`` per side; ``width_px`` (the figure's width on the page) sizes the
    markers so that every spot of the picture is covered.
    """
    h, w = (int(v) for v in hw[:2])
    ys, xs = pick_grid(h, targets=targets), pick_grid(w, targets=targets)
    marker = max(4, min(18, int(1.2 * width_px / max(len(xs), 1) * w / max(h, w))))
    fig.add_trace(click_targets(ys, xs, marker_px=marker, hover=hover))
    return fig


def pickable_image_figure(
    image: np.ndarray,
    *,
    height: int = 420,
    marks: list[go.BaseTraceType] | None = None,
    hover: str = "click: pick (x=%{x:.0f}, y=%{y:.0f})",
    targets: int = 64,
) -> go.Figure:
    """An RGB picture whose every spot can be clicked, with optional overlays (``marks``).

    A click selects the nearest of about ``targets``² invisible targets; pages turn
    that into a picked pixel (``ui/pick.py``). Axes are image pixels, y down.
    """
    arr = np.asarray(image)
    h, w = arr.shape[:2]
    fig = go.Figure(go.Image(source=png_uri(arr), hoverinfo="skip"))
    # 760 px: a typical column on a 1600 px window
    add_pick_targets(fig, (h, w), width_px=760, hover=hover, targets=targets)
    for m in marks or []:
        fig.add_trace(m)
    fig.update_xaxes(visible=False, range=[-0.5, w - 0.5], constrain="domain")
    fig.update_yaxes(visible=False, range=[h - 0.5, -0.5], scaleanchor="x", constrain="domain")
    fig.update_layout(
        height=height,
        margin=dict(l=0, r=0, t=0, b=0),
        dragmode=False,
        showlegend=False,
        clickmode="event+select",
    )
    return fig
