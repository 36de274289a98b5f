"""Cached results of the ASPP explorer, derived from the one shared probe.

None of these runs the model: the probe (``ui.cache.probe``) holds the branch
outputs, so the projection split, the maps and an ablation (projection + head again
on cached branch outputs) need no backbone; Grad-CAM works on a private copy of
ASPP + head. Each is keyed by (model spec, image key, working size, what was asked)
(the arguments with a leading underscore are not hashed: the key names them) and
every cache has a size limit.
"""

from __future__ import annotations

import numpy as np
import streamlit as st
from torch import nn

from deeplab_viz import aspp as A
from deeplab_viz.models import LoadedModel, ModelSpec
from deeplab_viz.plots import aspp as P
from deeplab_viz.probe import Probe


@st.cache_data(max_entries=8, show_spinner=False)
def shipped_ablation(name: str) -> dict | None:
    """The branch ablation on real labels that ships with a model's metadata, if any."""
    from deeplab_viz.voc_aspp_metrics import shipped_ablation as read

    return read(name)


@st.cache_data(max_entries=16, show_spinner=False)
def split(spec: ModelSpec, image_key: str, size: int, _model: LoadedModel, _probe: Probe):
    """:func:`deeplab_viz.aspp.projection_split` of the probe."""
    return A.projection_split(_model, _probe)


@st.cache_data(max_entries=16, show_spinner="Switching each branch off in turn…")
def changed_when_off(
    spec: ModelSpec, image_key: str, size: int, _model: LoadedModel, _probe: Probe
) -> dict[str, float]:
    """Branch name → share of pixels whose class changes when that branch alone is off."""
    return {b.name: A.ablate(_model, _probe, [b.name]).changed_fraction for b in _probe.branches}


@st.cache_data(max_entries=32, show_spinner="Switching branches off…")
def ablation(
    spec: ModelSpec,
    image_key: str,
    size: int,
    off: tuple[str, ...],
    _model: LoadedModel,
    _probe: Probe,
) -> A.Ablation:
    """:func:`deeplab_viz.aspp.ablate` with the branches ``off`` (names, sorted)."""
    return A.ablate(_model, _probe, off)


@st.cache_data(max_entries=24, show_spinner="Drawing the branch maps…")
def branch_pictures(
    spec: ModelSpec,
    image_key: str,
    size: int,
    mode: str,
    align_corners: bool,
    _probe: Probe,
) -> list[tuple[str, np.ndarray, bool]]:
    """(branch name, RGB picture on the image grid, whether the map is flat), per branch."""
    out = []
    for b in _probe.branches:
        pic = A.branch_map(b.output, mode, k=min(3, b.output.shape[0]))
        if mode == "topk":
            pic = np.moveaxis(pic, 0, -1)  # (h, w, k) to resize, back below
        on_image = P.feature_to_image(
            pic,
            padded_hw=_probe.padded_hw,
            valid_hw=_probe.model_input_hw,
            image_hw=_probe.image_hw,
            align_corners=align_corners,
        )
        if mode == "topk":
            on_image = np.moveaxis(on_image, -1, 0)
        flat = float(np.ptp(pic)) <= A.FLAT_TOLERANCE * float(np.abs(pic).max())
        out.append((b.name, P.branch_picture(on_image, mode), flat))
    return out


@st.cache_data(max_entries=16, show_spinner="Grad-CAM for every branch…")
def gradcam(
    spec: ModelSpec,
    image_key: str,
    size: int,
    class_name: str,
    align_corners: bool,
    _model: LoadedModel,
    _probe: Probe,
) -> dict[str, np.ndarray]:
    """Branch name → Grad-CAM map (≥ 0) of ``class_name`` resized onto the image."""
    maps = A.branch_gradcam(_model, _probe, class_name)
    return {
        name: P.feature_to_image(
            m,
            padded_hw=_probe.padded_hw,
            valid_hw=_probe.model_input_hw,
            image_hw=_probe.image_hw,
            align_corners=align_corners,
        ).clip(0, None)
        for name, m in maps.items()
    }


def backbone_rates(module: nn.Module) -> list[int]:
    """The dilation rates (> 1) of the convolutions inside the backbone, as wired now."""
    return sorted(
        {
            int(m.dilation[0])
            for m in module.stages.modules()
            if isinstance(m, nn.Conv2d) and m.dilation[0] > 1
        }
    )
