"""What every figure module shares: images embedded as PNG, and the house layout."""

from __future__ import annotations

import base64
import io

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
