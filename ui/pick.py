"""Pick a pixel by clicking a picture: the click writes the page's pixel sliders.

The sliders stay the source of truth (exact values, and the link): a click only
sets their session-state keys in the chart's ``on_select`` callback, which runs
before the page's widgets are drawn again.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import streamlit as st

from deeplab_viz.plots.common import pickable_image_figure


def keep_inside(width: int, height: int, x_key: str, y_key: str) -> None:
    """Before the pixel sliders ``x_key``/``y_key`` are drawn for a ``width`` × ``height``
    image: a value kept from a larger image (the session's; links.slider checks the
    link's) moves to the middle instead of sitting past the slider's end."""
    for key, n in ((x_key, width), (y_key, height)):
        if key in st.session_state and st.session_state[key] > n - 1:
            st.session_state[key] = n // 2


def clicked(fig_key: str) -> tuple[float, float] | None:
    """The (x, y) image pixel of the last click on the chart ``fig_key``, if any."""
    state = st.session_state.get(fig_key)
    points = state.selection.points if state is not None else []
    if not points:
        return None
    pt = points[-1]
    return float(pt["x"]), float(pt["y"])


def pixel_value(v: float, size: int) -> int:
    """A click coordinate as a whole image pixel in 0..size−1."""
    return int(np.clip(round(v), 0, size - 1))


def percent_value(v: float, size: int) -> int:
    """A click coordinate as a whole percentage of the side (for % sliders)."""
    return int(np.clip(round(100 * v / max(size - 1, 1)), 0, 100))


def on_click_set(
    fig_key: str,
    x_key: str,
    y_key: str,
    *,
    width: int,
    height: int,
    to_value: Callable[[float, int], int] = pixel_value,
) -> Callable[[], None]:
    """An ``on_select`` callback: the click on ``fig_key`` moves the sliders ``x_key``, ``y_key``."""

    def callback() -> None:
        xy = clicked(fig_key)
        if xy is not None:
            st.session_state[x_key] = to_value(xy[0], width)
            st.session_state[y_key] = to_value(xy[1], height)

    return callback


def chart(
    container,
    fig,
    *,
    key: str,
    x_key: str,
    y_key: str,
    width: int,
    height: int,
    to_value: Callable[[float, int], int] = pixel_value,
    **kwargs,
) -> None:
    """A figure with click targets (``clickable=True`` or :func:`pickable_image_figure`)
    drawn so that a click on it moves the sliders ``x_key``/``y_key`` of a
    ``width`` × ``height`` image."""
    container.plotly_chart(
        fig,
        width="stretch",
        key=key,
        on_select=on_click_set(key, x_key, y_key, width=width, height=height, to_value=to_value),
        selection_mode="points",
        **kwargs,
    )


def pickable_image(
    container,
    image: np.ndarray,
    *,
    key: str,
    x_key: str,
    y_key: str,
    marks: list | None = None,
    height: int = 420,
    to_value: Callable[[float, int], int] = pixel_value,
    hover: str = "click: pick this pixel (x=%{x:.0f}, y=%{y:.0f})",
) -> None:
    """``image`` drawn so that a click on it moves the pixel sliders ``x_key``/``y_key``."""
    h, w = np.asarray(image).shape[:2]
    chart(
        container,
        pickable_image_figure(image, height=height, marks=marks, hover=hover),
        key=key,
        x_key=x_key,
        y_key=y_key,
        width=w,
        height=h,
        to_value=to_value,
        theme=None,
        config={"displaylogo": False, "displayModeBar": False},
    )
