"""Cached effective-receptive-field gradients of the "Receptive fields" page (tab 3).

    random_module(spec, _module)          st.cache_resource  a random-weights copy
    graph(spec, image_key, size, target,  st.cache_resource  one forward kept for the
          random, _model, _image)                            backward of any unit
    erf(spec, image_key, size, target,    st.cache_data      one unit's ERF, trained
        unit_yx, inputs, n, random,                          or random weights
        _model, _image)

The ERF is keyed by the feature-map unit, not the picked pixel, so every pixel that
maps to one unit reuses its result. The arguments with a leading underscore are not
hashed (the key names them). The copy is shared read-only, like every cached model.

A new unit on the same image and target costs one backward, not a forward and a
backward: :func:`graph` keeps the forward (``erf.UnitGradients``, about 270 MB for the
default model at 513 px, so two are kept: trained and random weights). Slow networks
and random inputs run on a click and keep no graph.
"""

from __future__ import annotations

import streamlit as st

from deeplab_viz import erf as E
from deeplab_viz.erf_views import slow_on_cpu


@st.cache_resource(max_entries=2, show_spinner="Making a random-weights copy…")
def random_module(spec, _module):
    """The lesson's network with re-initialised weights (a copy; shared read-only)."""
    return E.random_like(_module, seed=0)


@st.cache_resource(max_entries=2, show_spinner=False)
def graph(spec, image_key, size, target, random, _model, _image) -> E.UnitGradients:
    """The forward of ``target`` at the image, kept; a backward per unit asked for."""
    module = random_module(spec, _model.module) if random else None
    return E.image_graph(_model, _image.rgb, size=size, target=target, module=module)


@st.cache_data(max_entries=48, show_spinner="Computing the gradients…")
def erf(spec, image_key, size, target, unit_yx, inputs, n, random, _model, _image):
    """Keyed by the feature-map unit: every pixel that maps to it reuses the result."""
    module = random_module(spec, _model.module) if random else None
    keep = inputs == "image" and not slow_on_cpu(_model.entry.family, _model.device.type, target)
    kept = graph(spec, image_key, size, target, random, _model, _image) if keep else None
    return E.image_erf(
        _model,
        _image.rgb,
        size=size,
        target=target,
        unit_yx=unit_yx,
        inputs=inputs,
        n_samples=n,
        seed=0,
        module=module,
        graph=kept,
    )
