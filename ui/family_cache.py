"""Cached calls of the "DeepLab family" page (pages/deeplab_family.py).

    small_head(which)                        st.cache_resource  an architecture-only head
    diagram(key, title, input_label, _module) st.cache_data     a head drawn, its box count
    live(seed, os_, _v3, _v3p)               st.cache_data      v3 and v3+ on one scene
    timing(channels, rate, hw)               st.cache_data      regular vs separable, timed
    mg_erf(rates)                            st.cache_data      ERF of a multi-grid stack

The arguments with a leading underscore are not hashed: the key names them (``key`` for
a diagram's module, the stride for the two models). The ShapesWorld models come shared
from :mod:`ui.cache` and are only read.
"""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st
import torch

from deeplab_viz import family as FA
from deeplab_viz import scale_lab as SL
from deeplab_viz import shapes_world as SW
from deeplab_viz.models import REGISTRY, ModelSpec
from deeplab_viz.plots import family as PF

from . import cache

V3, V3P = "shapes-deeplabv3", "shapes-deeplabv3plus"
LIVE_OS = 16  # stride of the diagrams and the default of the live comparison


def have_shapes() -> bool:
    """Both ShapesWorld models are installed."""
    return V3 in REGISTRY and V3P in REGISTRY


def pair(os_: int):
    """Both ShapesWorld models, shared and cached, rewired to ``os_`` (read only)."""
    return (
        cache.model_for(ModelSpec(name=V3, output_stride=os_)),
        cache.model_for(ModelSpec(name=V3P, output_stride=os_)),
    )


@st.cache_resource(max_entries=4, show_spinner=False)
def small_head(which: str):
    """Architecture-only heads for the diagrams, built on the meta device: the real
    layer sizes (VGG's 512/1024 channels) without allocating a single weight."""
    with torch.device("meta"):
        return {"v1": FA.v1_head, "v2": FA.v2_head, "tv": FA.torchvision_v3_head}[which]()


@st.cache_data(max_entries=8, show_spinner=False)
def diagram(key: str, title: str, input_label: str, _module) -> tuple[go.Figure, int]:
    """The head drawn as a figure (laying it out takes ~0.1 s; a rerun reads it) and its
    number of boxes."""
    g = FA.head_graph(_module, title=title, input_label=input_label)
    return PF.graph_figure(g), len(g.nodes)


@st.cache_data(max_entries=16, show_spinner="Running v3 and v3+ on the scene…")
def live(seed: int, os_: int, _v3, _v3p):
    """Both models on one ShapesWorld scene: class maps, the v3+ decoder's steps."""
    scene = SW.generate_scene(seed)
    e = REGISTRY[V3P]
    x = SL.normalise(scene.rgb, e.mean, e.std)
    steps = FA.plus_steps(_v3p.module, x)
    e3 = REGISTRY[V3]
    v3 = SL.predict(_v3.module, scene.rgb, mean=e3.mean, std=e3.std)[None][0]
    return scene, v3, steps


@st.cache_data(max_entries=16, show_spinner="Timing both convolutions…")
def timing(channels: int, rate: int, hw: int) -> FA.SeparableTiming:
    return FA.separable_latency(channels, rate, hw, repeats=7)


@st.cache_data(max_entries=16, show_spinner=False)
def mg_erf(rates: tuple[int, ...]):
    return FA.multigrid_erf(rates, n_samples=4)
