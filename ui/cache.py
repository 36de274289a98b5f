"""The app's cached functions: a small DAG over the library.

    base_model(name, pretrained)        st.cache_resource  weights read once, shared
      └─ model_for(spec)                st.cache_resource  rewired copy per spec, shared
    sample_image(file) / upload_image   st.cache_data      decoded, checked images
    probe(spec, key, size)              st.cache_resource  ONE forward per image × spec × size,
                                                           every intermediate kept

Models in ``st.cache_resource`` are shared by every session and thread and are
never mutated (no hooks, no in-place rewiring: the library copies before it
changes anything). A probe holds only read-only numpy arrays, so it too is shared
through ``st.cache_resource`` (``st.cache_data`` would pickle a copy of tens of MB
on every rerun); every page reads the same probe, and a widget that only changes a
view never runs the model again. Every cache has a size limit.
"""

from __future__ import annotations

import dataclasses
import weakref
from pathlib import Path

import streamlit as st

from deeplab_viz import first_run as FR
from deeplab_viz.images import LoadedImage, load_image
from deeplab_viz.models import LoadedModel, ModelSpec, build_model, load_base
from deeplab_viz.models.registry import load_with_fallback
from deeplab_viz.paths import SAMPLES_DIR
from deeplab_viz.precision import PrecisionCheck, compare_precision
from deeplab_viz.probe import Probe, run_probe

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SAMPLE = "chelsea.png"


def sample_files() -> list[str]:
    return sorted(
        p.name for p in SAMPLES_DIR.iterdir() if p.suffix.lower() in {".png", ".jpg", ".jpeg"}
    )


@st.cache_resource(max_entries=4, show_spinner="Loading model weights…")
def base_model(name: str, pretrained: bool):
    """The network as trained, shared read-only by all sessions."""
    return load_base(name, pretrained=pretrained)


# The models this process holds now, for the About page's health check. Weak
# references: a model the cache evicts (max_entries) is freed, not kept alive here.
LOADED: weakref.WeakValueDictionary[ModelSpec, LoadedModel] = weakref.WeakValueDictionary()


@st.cache_resource(max_entries=8, show_spinner="Preparing the model…")
def model_for(spec: ModelSpec) -> LoadedModel:
    model = build_model(spec, base=base_model(spec.name, spec.pretrained))
    LOADED[spec] = model
    return model


@st.cache_resource(max_entries=8, ttl=600, show_spinner=False)
def model_or_fallback(spec: ModelSpec) -> tuple[LoadedModel, FR.Fallback | None]:
    """The model for ``spec`` or, if its weights cannot be had, the real-photo fallback
    (never a ShapesWorld model) and why.

    Kept for ten minutes so a user who puts a weights file in place sees it soon.
    """
    return load_with_fallback(spec, load=model_for)


@st.cache_data(max_entries=16, show_spinner=False)
def sample_image(filename: str, max_side: int) -> LoadedImage:
    return load_image(SAMPLES_DIR / filename, max_side=max_side)


@st.cache_data(max_entries=16, show_spinner=False)
def scene_image(seed: int) -> LoadedImage:
    """A generated ShapesWorld scene (deterministic in ``seed``)."""
    return FR.scene_image(seed)


@st.cache_data(max_entries=16, show_spinner=False)
def upload_image(data: bytes, name: str, max_side: int) -> LoadedImage:
    """Decode an upload (raises ImageError with a one-line message)."""
    return load_image(data, name=name, max_side=max_side)


@st.cache_data(max_entries=16, show_spinner="Comparing with float32…")
def precision_check(
    spec: ModelSpec, image_key: str, size: int, _image: LoadedImage
) -> PrecisionCheck:
    """``spec`` (a reduced precision) against the same model in float32 on one image."""
    low, _ = model_or_fallback(spec)
    reference, _ = model_or_fallback(dataclasses.replace(low.spec, dtype="float32"))
    return compare_precision(low, reference, _image.rgb, size=size)


@st.cache_resource(max_entries=12, show_spinner="Running DeepLab…")
def probe(spec: ModelSpec, image_key: str, size: int, _image: LoadedImage) -> Probe:
    """One forward per (spec, image, size); ``_image`` is identified by ``image_key``."""
    model, _ = model_or_fallback(spec)
    return run_probe(model, _image.rgb, size=size)
