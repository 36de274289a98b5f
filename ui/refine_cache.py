"""Cached test-time extras for the pages: the dense CRF and multi-scale + flip inference.

    crf_run(spec, key, size, params)        st.cache_resource  the CRF on the probe's softmax
    multiscale_run(spec, key, size, ...)    st.cache_resource  every scale's class map
    measured()                              st.cache_data      the VOC val table (JSON)

Both runs keep class maps only (uint8), never the (classes, H, W) probabilities,
so a cached entry is a few hundred kB; a view change (an iteration slider, a
zoom) reads them and runs nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import streamlit as st
import torch

from deeplab_viz import refine
from deeplab_viz.crf import CRFParams, dense_crf
from deeplab_viz.images import LoadedImage
from deeplab_viz.models import ModelSpec
from deeplab_viz.multiscale import View, multiscale

from . import cache


@dataclass(frozen=True)
class CRFRun:
    """The labelling after each mean-field step, and what it cost."""

    maps: tuple[np.ndarray, ...] = field(repr=False)  # (H, W) uint8; index 0: the network
    changes: tuple[int, ...]  # pixels relabelled at each step 1…T
    ms: float  # wall time of the CRF, milliseconds


@st.cache_resource(max_entries=8, show_spinner="Running the dense CRF…")
def crf_run(
    spec: ModelSpec, image_key: str, size: int, params: CRFParams, _image: LoadedImage
) -> CRFRun:
    """The CRF (``params``) on the plain prediction's softmax at image resolution."""
    p = cache.probe(spec, image_key, size, _image)
    probs = torch.softmax(torch.from_numpy(p.logits.astype(np.float64)), dim=0).float().numpy()
    result = dense_crf(_image.rgb, probs, params)
    return CRFRun(result.maps, tuple(result.changes_per_step()), result.ms)


@dataclass(frozen=True)
class MultiScaleRun:
    """Class maps of a multi-scale + flip run: merged and per scale, with the views' sizes."""

    class_map: np.ndarray = field(repr=False)  # (H, W) uint8 merged
    scale_maps: dict[float, np.ndarray] = field(repr=False)  # scale -> (H, W) uint8
    views: tuple[View, ...]  # no logits kept

    @property
    def ms(self) -> float:
        return float(sum(v.ms for v in self.views))


@st.cache_resource(max_entries=8, show_spinner=False)
def multiscale_run(
    spec: ModelSpec,
    image_key: str,
    size: int,
    scales: tuple[float, ...],
    flip: bool,
    _image: LoadedImage,
) -> MultiScaleRun:
    """Every scale (and its flip) of ``spec`` on the image, with a progress bar per view.

    The bar lives in a placeholder made here (a cached function may only write to
    blocks it creates: Streamlit replays them on a cache hit) and is emptied at the end.
    """
    model, _ = cache.model_or_fallback(spec)
    slot = st.empty()

    def progress(done: int, total: int) -> None:
        slot.progress(done / total, text=f"Multi-scale + flip: view {done} of {total}…")

    try:
        out = multiscale(
            model,
            _image.rgb,
            size=size,
            scales=scales,
            flip=flip,
            keep_logits=False,
            progress=progress,
        )
    finally:
        slot.empty()
    return MultiScaleRun(out.class_map, out.scale_maps, out.views)


@st.cache_data(max_entries=1, ttl=600, show_spinner=False)
def measured() -> dict | None:
    """The table of ``bench/refine_table.py`` (plain / multi-scale / CRF on VOC val)."""
    return refine.measured_table()
