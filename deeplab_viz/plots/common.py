"""What every figure module shares: images embedded as PNG, and the house layout."""

from __future__ import annotations

import base64
import io

import numpy as np
import plotly.graph_objects as go
from PIL import Image

FONT = dict(size=17)  # readable from the back of a classroom


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


def house_layout(fig: go.Figure, *, title: str | None, height: int) -> go.Figure:
    """Big fonts, tight margins, room for a title only when there is one."""
    fig.update_layout(
        title=dict(text=title, font=dict(size=20)) if title else None,
        font=FONT,
        height=height,
        margin=dict(l=10, r=10, t=65 if title else 20, b=10),
        legend=dict(font=dict(size=16)),
        hoverlabel=dict(font=dict(size=15)),
    )
    return fig
