"""Cached image work of the "Dilated convolution" page.

Each is keyed by (image key, working size, what was asked); the image itself, the
argument with a leading underscore, is not hashed (the key names it). Every cache has
a size limit.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from deeplab_viz.atrous_views import filter_at_rates, resize_longest, space_to_batch_check


@st.cache_data(max_entries=16, show_spinner=False)
def working_image(image_key: str, size: int, _rgb: np.ndarray) -> np.ndarray:
    """The image at the size the model sees (longest side ``size``)."""
    return resize_longest(_rgb, size)


@st.cache_data(max_entries=32, show_spinner="Checking the identity on your image…")
def s2b_check(image_key: str, size: int, rate: int, k: int, _rgb: np.ndarray):
    return space_to_batch_check(_rgb, rate, kernel=k)


@st.cache_data(max_entries=32, show_spinner="Filtering…")
def filtered(image_key: str, size: int, kernel: str, rates: tuple[int, ...], _rgb: np.ndarray):
    return filter_at_rates(_rgb, kernel, rates)
