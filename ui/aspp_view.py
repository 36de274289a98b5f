"""What the ASPP explorer shows besides its widgets: its tabs, its words, its tables.

The page (pages/aspp_explorer.py) reads the widgets and calls these; nothing here is
bound to the link. The words come from ``lessons/aspp_explorer.md`` through
:func:`text`; the numbers from :mod:`deeplab_viz.aspp` and the caches in
:mod:`ui.aspp_cache`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial

import numpy as np
import pandas as pd
import streamlit as st

from deeplab_viz import aspp as A
from deeplab_viz import voc_aspp_metrics as M
from deeplab_viz.models import LoadedModel
from deeplab_viz.models.registry import REAL_PHOTO_MODEL
from deeplab_viz.palette import overlay
from deeplab_viz.plots import aspp as P
from deeplab_viz.probe import Branch, Probe

from . import aspp_cache as C
from . import prose

PAGE = "aspp_explorer"

# One idea per tab; the labels travel in the link (?aspp_tab=…).
TABS = [
    "1 · Footprints",
    "2 · Branch maps",
    "3 · Projection shares",
    "4 · Switch off",
    "5 · Grad-CAM",
]
# option shown (and kept in the link) → branch_map mode
MODES = {"channel mean": "mean", "top-3 channels": "topk", "PCA": "pca"}
_MODE_NOTES = {"mean": "mode_mean", "topk": "mode_topk", "pca": "mode_pca"}
_KIND_WORDS = {"1x1": "kind_1x1", "atrous": "kind_atrous", "pooling": "kind_pooling"}


text = partial(prose.text, PAGE)  # a section of the lesson, fields filled


def branches_info(
    label: str, branches: Sequence[Branch], output_stride: int, backbone_rates: Sequence[int]
) -> str:
    """The sentence that says which branches the model's ASPP has (and, without atrous
    branches, where its atrous convolutions sit instead)."""
    atrous = [b for b in branches if b.kind == "atrous"]
    if atrous:
        return text(
            "branches_full",
            model=label,
            count=len(branches),
            branches=", ".join(text(_KIND_WORDS[b.kind], rate=b.rate) for b in branches),
            stride=output_stride,
            rates=", ".join(str(b.rate) for b in atrous),
            spacings=", ".join(f"{b.rate * output_stride}" for b in atrous),
        )
    if not backbone_rates:
        where = text("where_backbone_none")
    else:
        where = text(
            "where_backbone_many" if len(backbone_rates) > 1 else "where_backbone_one",
            rates=" and ".join(map(str, backbone_rates)),
            stride=output_stride,
        )
    return text(
        "branches_few",
        model=label,
        count=len(branches),
        names=" and ".join(b.name for b in branches),
        where=where,
        full_model=REAL_PHOTO_MODEL,
    )


def footprint_notes(
    fps: Sequence[A.Footprint], kinds: Mapping[str, str], output_stride: int
) -> list[str]:
    """One line per atrous branch: how far apart its taps are, how many read the image."""
    notes = []
    for f in fps:
        if kinds[f.name] != "atrous":
            continue
        n_on, n = int(f.valid.sum()), len(f.valid)
        which = (
            "tap_note_centre" if n_on == 1 else "tap_note_padding" if n_on < n else "tap_note_all"
        )
        notes.append(
            text(
                which,
                branch=f.name,
                apart=f.rate * output_stride,
                spacing=f"{f.spacing_px:.0f}",
                on=n_on,
                taps=n,
                off=n - n_on,
            )
        )
    return notes


def maps_caption(mode: str, branches: Sequence[Branch]) -> str:
    h, w = branches[0].output.shape[-2:]
    return text("maps_caption", mode=text(_MODE_NOTES[mode]), width=w, height=h)


def map_panels(
    branches: Sequence[Branch],
    pictures: Sequence[tuple[str, np.ndarray, bool]],
    colours: Mapping[str, str],
) -> list[P.Panel]:
    """A panel per branch: its picture, titled with its energy (and "flat" if it is)."""
    panels = []
    for b, (name, rgb, flat) in zip(branches, pictures, strict=True):
        energy = A.branch_energy(b.output)
        flat = " (flat)" if flat else ""
        panels.append(P.Panel(f"{name} · RMS {energy:.2f}{flat}", rgb, colours[name]))
    return panels


def shares_section(label: str, key: tuple, model: LoadedModel, probe: Probe) -> None:
    """Tab 3 (no widgets): the projection split into one term per branch."""
    st.header("3 · How much each branch adds to the projection")
    split = C.split(*key, model, probe)
    off_alone = C.changed_when_off(*key, model, probe)
    st.markdown(text("shares_intro"))
    st.dataframe(
        pd.DataFrame(A.share_rows(probe.branches, split, off_alone, probe.output_stride)),
        hide_index=True,
        width="stretch",
        key="aspp_table",
        column_config={
            "taps apart": st.column_config.TextColumn(help=text("help_taps_apart")),
            "changed when off": st.column_config.TextColumn(help=text("help_changed_when_off")),
        },
    )
    st.plotly_chart(
        P.shares_figure(
            split.share,
            split.magnitude_share,
            split.bias_share,
            title=f"Share of each branch in the projection<br><sup>{label}</sup>",
        ),
        width="stretch",
        key="aspp_shares_fig",
    )
    total = sum(split.share.values()) + split.bias_share
    st.caption(text("shares_check", error=f"{split.max_error:.1e}", total=f"{total:.6f}"))


def ablation_results(
    rgb: np.ndarray, probe: Probe, result: A.Ablation, off: Sequence[str], n_branches: int
) -> None:
    """Tab 4 below its widget: the segmentation before and after, what changed."""
    c1, c2, c3 = st.columns(3, gap="small")
    c1.image(overlay(rgb, probe.class_map), caption="All branches", width="stretch")
    c2.image(
        overlay(rgb, result.class_map),
        caption="Without " + ", ".join(off) if off else "Nothing switched off yet",
        width="stretch",
    )
    c3.image(
        P.changed_overlay(rgb, result.changed),
        caption="Pixels whose class changed (magenta)",
        width="stretch",
    )
    m1, m2 = st.columns([1, 3])
    m1.metric(
        "Pixels that changed class",
        f"{result.changed_fraction:.1%}",
        help=text("help_changed_pixels"),
    )
    with m2:
        if not off:
            st.caption(text("ablation_pick"))
        elif len(off) == n_branches:
            st.caption(text("ablation_all_off"))
        st.dataframe(
            pd.DataFrame(A.class_change_rows(result.class_change)),
            hide_index=True,
            width="stretch",
            key="aspp_class_change",
            column_config={
                "before %": st.column_config.NumberColumn(format="%.1f %%"),
                "after %": st.column_config.NumberColumn(format="%.1f %%"),
                "change (points)": st.column_config.NumberColumn(format="%+.1f"),
            },
        )


def measured_section(model_name: str) -> None:
    """The branch ablation measured on real labels, shipped with the model (if it was)."""
    measured = C.shipped_ablation(model_name)
    if measured is None:
        return
    st.subheader("What each branch is worth on real labels")
    st.markdown(M.ablation_summary(measured))
    st.dataframe(
        pd.DataFrame(M.branch_table(measured)),
        hide_index=True,
        width="stretch",
        key="aspp_measured_table",
    )
    st.caption(text("measured_caption"))


def gradcam_gate(model_name: str) -> bool:
    """The note and the button in front of a slow Grad-CAM; True once it was pressed."""
    gate = st.empty()
    with gate.container():
        st.info(text("gradcam_gate", model=model_name), icon=":material/hourglass_top:")
        clicked = st.button("Compute Grad-CAM", key="aspp_cam_go", type="primary")
    if clicked:
        gate.empty()
    return clicked


def gradcam_panels(
    rgb: np.ndarray,
    maps: Mapping[str, np.ndarray],
    names: Sequence[str],
    colours: Mapping[str, str],
) -> list[P.Panel]:
    """A Grad-CAM panel per branch over the image, all on one colour scale."""
    scaled, _ = A.on_shared_scale(maps)
    return [
        P.Panel(
            f"{name} · peak {float(maps[name].max()):.3g}",
            P.heat_overlay(rgb, scaled[name]),
            colours[name],
        )
        for name in names
    ]
