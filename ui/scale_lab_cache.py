"""Cached computations of the "Scale lab" page (ShapesWorld scenes and models).

    models_for(name)                        the shared models at OS 8, 16, 32 (ui.cache)
    make_scene(seed, lo, hi, n, shapes)     st.cache_data  one ShapesWorld scene
    scene_results(name, scene_key)          st.cache_data  scores and class maps on it
    heldout_configurations(name, n)         st.cache_data  class maps of the held-out scenes
      ├─ heldout_results(name, n)           st.cache_data  their scores
      └─ depth_results(name, n)             st.cache_data  accuracy by depth
    erf_sides(name, scene_key, py, px, …)   st.cache_data  ERF squares around a pixel

Arguments whose names start with ``_`` are not hashed: the names and keys before them
identify them. The held-out table and the depth profile share one forward.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from deeplab_viz import erf as E
from deeplab_viz import scale_lab as SL
from deeplab_viz import shapes_world as SW
from deeplab_viz.models import REGISTRY, ModelSpec

from . import cache

MODELS = ("shapes-deeplabv3", "shapes-deeplabv3plus")
HELDOUT_N = 24


def available() -> list[str]:
    """The page's models that are installed."""
    return [m for m in MODELS if m in REGISTRY]


def models_for(name: str):
    """The shared, cached model at every output stride (read only)."""
    return {os_: cache.model_for(ModelSpec(name=name, output_stride=os_)) for os_ in SL.STRIDES}


@st.cache_data(max_entries=32, show_spinner=False)
def make_scene(seed: int, lo: int, hi: int, n: int, shapes: tuple[str, ...]) -> SW.Scene:
    return SW.custom_scene(seed, diameters=(lo, hi), n_objects=n, shapes=shapes)


@st.cache_data(max_entries=16, show_spinner="Running the model at output stride 8, 16, 32…")
def scene_results(name: str, scene_key: tuple, _scene: SW.Scene, _models: dict):
    """(rows, class maps per configuration label) on one scene: one backbone pass per stride."""
    e = REGISTRY[name]
    configs = SL.configurations(
        {os_: m.module for os_, m in _models.items()},
        _scene.rgb[None],
        mean=e.mean,
        std=e.std,
        drop_at=e.native_stride,
    )
    return SL.scale_rows(configs, [_scene]), {c.label: c.maps[0] for c in configs}


@st.cache_data(max_entries=4, show_spinner=f"Running the model on {HELDOUT_N} held-out scenes…")
def heldout_configurations(name: str, n: int, _models: dict) -> list[SL.Configuration]:
    """Class maps of the held-out scenes at every stride, branches off at the trained one:
    shared by the held-out table and the depth profile."""
    e = REGISTRY[name]
    rgb = np.stack([s.rgb for s in SW.scenes(SW.heldout_seeds(n))])
    return SL.configurations(
        {os_: m.module for os_, m in _models.items()},
        rgb,
        mean=e.mean,
        std=e.std,
        drop_at=e.native_stride,
    )


@st.cache_data(max_entries=4, show_spinner=f"Scoring {HELDOUT_N} held-out scenes…")
def heldout_results(name: str, n: int, _models: dict) -> list[SL.ConfigRow]:
    scenes = list(SW.scenes(SW.heldout_seeds(n)))
    return SL.scale_rows(heldout_configurations(name, n, _models), scenes)


@st.cache_data(max_entries=4, show_spinner="Sorting object pixels by depth…")
def depth_results(name: str, n: int, _models: dict) -> SL.DepthProfile:
    scenes = list(SW.scenes(SW.heldout_seeds(n)))
    configs = heldout_configurations(name, n, _models)
    return SL.depth_profile_at(configs, scenes, REGISTRY[name].native_stride)


@st.cache_data(max_entries=64, show_spinner="Effective receptive field…")
def erf_sides(name: str, scene_key: tuple, py: int, px: int, target: str, _model, _rgb):
    """Sides (px) of the centred squares holding 50 % and 95 % of the gradient mass."""
    res = E.image_erf(
        _model,
        _rgb,
        size=int(_rgb.shape[0]),
        target=target,
        pixel_yx=(py, px),
        fractions=(0.5, 0.95),
    )
    return res.mass_sides
