"""Cached computations of the "Gridding" page.

    coverage(rates)                       st.cache_data   exact path counts of a 3×3 stack
    hdc_fix(rates)                        st.cache_data   a nearby hole-free stack
    working_image(key, size)              st.cache_data   the image at the lesson's size
    artifact(key, size, rates, noise)     st.cache_data   the image blurred by a stack
    model_erf(spec, key, size, stage, …)  st.cache_data   the gradient ERF of one stage

Arguments whose names start with ``_`` are not hashed: the key and size before them
identify them.
"""

from __future__ import annotations

import numpy as np
import streamlit as st
import torch

from deeplab_viz.atrous_views import resize_longest, to_uint8, with_pixel_noise
from deeplab_viz.gridding import coverage_map, gridding_artifact
from deeplab_viz.receptive_field import suggest_hdc_fix
from deeplab_viz.stage_erf import previous_stage, stage_erf, stage_input

from . import cache

K = 3  # the page's convolutions are 3×3


@st.cache_data(max_entries=64, show_spinner=False)
def coverage(rates: tuple[int, ...]):
    return coverage_map(rates, K)


@st.cache_data(max_entries=64, show_spinner="Looking for a hole-free stack nearby…")
def hdc_fix(rates: tuple[int, ...]):
    return suggest_hdc_fix(rates, K)


@st.cache_data(max_entries=16, show_spinner=False)
def working_image(image_key: str, size: int, _rgb: np.ndarray) -> np.ndarray:
    return resize_longest(_rgb, size)


@st.cache_data(max_entries=24, show_spinner="Blurring with the stack…")
def artifact(image_key: str, size: int, rates: tuple[int, ...], noise: float, _rgb: np.ndarray):
    return to_uint8(gridding_artifact(with_pixel_noise(_rgb, noise), rates, K))


@st.cache_data(max_entries=16, show_spinner="Back-propagating through the stage…")
def model_erf(spec, image_key: str, size: int, stage: str, random: bool, n: int, _model, _x):
    """The stage's ERF; ``_x`` (its input) is identified by spec, image and size."""
    return stage_erf(_model, stage, _x, random_input=random, n_samples=n)


def stage_input_from_probe(lesson, stage: str) -> torch.Tensor:
    """What enters ``stage``: the previous stage's output, from the cached probe."""
    prev = previous_stage(lesson.model.module, stage)
    if prev is None:  # the first stage reads the image itself
        return stage_input(lesson.model, lesson.image.rgb, stage, size=lesson.size)
    probe = cache.probe(lesson.spec, lesson.image.key, lesson.size, lesson.image)
    return torch.from_numpy(np.array(probe.stages[prev]))[None]
