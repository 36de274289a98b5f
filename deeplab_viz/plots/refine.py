"""Pictures of DeepLab's test-time extras: what the CRF changed, and how it converged."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from .common import house_style

CHANGED = np.array([255, 0, 200], dtype=np.uint8)  # magenta: reads on photos and in grey


def changed_image(rgb: np.ndarray, changed: np.ndarray, *, dim: float = 0.45) -> np.ndarray:
    """The photo in dimmed grey with the ``changed`` (H, W) pixels in magenta."""
    rgb = np.asarray(rgb)
    mask = np.asarray(changed, dtype=bool)
    if mask.shape != rgb.shape[:2]:
        raise ValueError(f"mask {mask.shape} does not match the image {rgb.shape[:2]}")
    grey = rgb.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    out = np.repeat((dim * grey).round().astype(np.uint8)[..., None], 3, axis=2)
    out[mask] = CHANGED
    return out


def convergence_figure(changes: Sequence[int], step: int, n_pixels: int) -> go.Figure:
    """Share of pixels relabelled at each mean-field step, the shown step marked."""
    steps = list(range(1, len(changes) + 1))
    share = [100 * c / max(n_pixels, 1) for c in changes]
    fig = go.Figure(
        go.Bar(
            x=steps,
            y=share,
            marker_color=["#c2185b" if s == step else "#90a4ae" for s in steps],
            hovertemplate="step %{x}: %{customdata:,} px relabelled (%{y:.2f}%)<extra></extra>",
            customdata=list(changes),
        )
    )
    fig.update_xaxes(title="mean-field step", dtick=1 if len(steps) <= 20 else None)
    fig.update_yaxes(title="% of pixels relabelled", rangemode="tozero")
    return house_style(fig, height=260, top=20)
