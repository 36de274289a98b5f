"""What the "Receptive fields" page draws once its widgets are read.

The words come from lessons/receptive_fields.md (:func:`say`), the rows and squares
from :mod:`deeplab_viz.receptive_field.views`, :mod:`deeplab_viz.erf_views` and
:mod:`deeplab_viz.plots.receptive_field`. Nothing here makes a widget bound to the
link: those stay on the page (the layer table, bound through ``rf_layers``, is drawn
here and synced there).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from functools import partial

import numpy as np
import pandas as pd
import streamlit as st

from deeplab_viz import erf_views as EV
from deeplab_viz.erf import MASS_FRACTIONS, ImageErf, erf_over_rf_note
from deeplab_viz.plots import receptive_field as P
from deeplab_viz.receptive_field import ModelRFRow, PlacedRF, RFRow
from deeplab_viz.receptive_field import views as RV

from . import erf_cache, links, pick, prose

say = partial(prose.text, "receptive_fields")  # a section of the lesson, fields filled
COLUMNS = ["layer", "kernel", "stride", "dilation", "padding"]
NOTES = {"mobilenet_v3": "note_squeeze_excite", "tflite_mnv2": "note_tf_same"}  # by family


# --------------------------------------------------------------------------- 1. calculator
def reset_table() -> None:
    """A new preset starts a fresh table (and drops a custom stack from the link)."""
    st.session_state.pop("rf_base", None)
    links.drop_param("rf_layers")


def layer_editor(rows: list[dict]) -> pd.DataFrame:
    """The editable layer table (key ``rf_table``), started from ``rows``."""
    number = partial(st.column_config.NumberColumn, step=1, width=40)
    return st.data_editor(
        pd.DataFrame(rows, columns=COLUMNS).astype(
            {c: "Int64" for c in ("kernel", "stride", "dilation", "padding")}
        ),
        key="rf_table",
        num_rows="dynamic",
        hide_index=True,
        width="stretch",
        height=385,
        column_config={
            "layer": st.column_config.TextColumn("layer", width=160),
            "kernel": number("k", min_value=1, help="kernel"),
            "stride": number("s", min_value=1, help="stride"),
            "dilation": number("r", min_value=1, help="rate (dilation)"),
            "padding": number("p", min_value=0, help="padding per side; empty = same padding"),
        },
    )


def calc_intro() -> None:
    st.header("1 · The arithmetic of a stack of layers")
    st.markdown(say("calc_intro"))
    st.markdown(say("calc_formula_intro"))
    st.latex(say("calc_formula"))
    st.caption(say("calc_caption"))


def calc_result(table: Sequence[RFRow], right, metric_cols: Sequence) -> None:
    """The RF after every layer (a table on the ``right``), the top unit's three
    numbers (in ``metric_cols``), and the growth chart."""
    last = table[-1]
    with right:
        st.dataframe(
            pd.DataFrame(RV.layer_records(table)),
            hide_index=True,
            width="stretch",
            height=385,
            key="rf_result",
        )
    c1, c2, c3 = metric_cols
    c1.metric("RF of the top unit", f"{last.size} px", help=say("top_rf_help"))
    c2.metric("jump", f"{last.jump} px", help=say("jump_help"))
    c3.metric("start", f"{last.start:g} px", help=say("start_help"))
    st.plotly_chart(
        P.layer_growth_figure(table, title="How the receptive field grows, layer by layer"),
        width="stretch",
        key="rf_growth",
    )


# --------------------------------------------------------------------------- 2. real model
def model_intro(label: str, output_stride: int, input_hw: Sequence[int]) -> None:
    st.header(f"2 · Inside {label}")
    st.markdown(say("model_intro", os=output_stride, w=input_hw[1], h=input_hw[0]))


def model_notes(family: str) -> str:
    """The notes under the model's table: strides against dilation, and the family's own."""
    names = ["note_stride"] + ([NOTES[family]] if family in NOTES else [])
    return " ".join(say(name) for name in names)


def model_view(
    rgb: np.ndarray,
    rows: Sequence[ModelRFRow],
    placed: Sequence[PlacedRF],
    chosen: Collection[str],
    pixel_yx: tuple[int, int],
    input_hw: Sequence[int],
    family: str,
) -> None:
    """The chosen RFs on the image (a click moves the pixel), the table, the chart."""
    img_h, img_w = rgb.shape[:2]
    c_img, c_tab = st.columns([5, 4], gap="medium")
    with c_img:
        pick.chart(
            st,
            P.rf_boxes_figure(
                rgb,
                P.placed_rects(placed, chosen),
                centre_yx=pixel_yx,
                title="Theoretical RFs around the picked pixel · click to move it",
                width_hint=560,
                clickable=True,
            ),
            key="rf_boxes_fig",
            x_key="rf_x",
            y_key="rf_y",
            width=img_w,
            height=img_h,
        )
    with c_tab:
        st.dataframe(
            pd.DataFrame(RV.placed_records(placed)),
            hide_index=True,
            width="stretch",
            key="rf_model_table",
            column_config={
                "part": st.column_config.TextColumn(width=150),
                "RF (px)": st.column_config.TextColumn(width=60),
                "jump": st.column_config.NumberColumn(width=50),
                "on image": st.column_config.TextColumn(width=70),
            },
        )
        st.caption(say("model_on_image"))
        st.caption(say("model_squares"))
        st.caption(model_notes(family))
    st.plotly_chart(
        P.model_rf_figure(rows, input_hw, title="RF side vs the image"),
        width="stretch",
        key="rf_model_fig",
    )


# --------------------------------------------------------------------------- 3. ERF
def erf_intro(label: str) -> None:
    st.header("3 · The effective receptive field")
    st.markdown(say("erf_intro", label=label))


def erf_failed(exc: Exception) -> None:
    st.error(say("erf_failed", error=exc), icon="⚠️")


def compute_erfs(params: tuple, runs: Sequence[tuple[str, bool]], model, image, *, progress: bool):
    """``(label, ERF)`` for each run (cached, :func:`ui.erf_cache.erf`), with a progress
    bar when they are slow; None after showing the error when one cannot be computed."""
    results = []
    bar = st.progress(0.0, text="Computing the gradients…") if progress else None
    for i, (label, random) in enumerate(runs):
        try:
            res = erf_cache.erf(*params, random, model, image)
        except (ValueError, RuntimeError) as exc:
            erf_failed(exc)
            return None
        results.append((label, res))
        if bar is not None:
            bar.progress((i + 1) / len(runs), text=f"Computed: {label}")
    if bar is not None:
        bar.empty()
    return results


def slow_notice(slow_model: bool, model: str, target: str, n: int, count: int) -> None:
    """Why this ERF waits for a click: a slow network, or many random inputs."""
    if slow_model:
        text = say("erf_slow_model", model=model, target=target, count=count)
    else:
        text = say("erf_slow_noise", n=n, count=count)
    st.info(text, icon="⏳")


def _mass_metrics(row, res: ImageErf, single: bool) -> None:
    """The sides of the 20 / 50 / 95 % squares, each against the theoretical RF."""
    section = "erf_mass_help_global" if res.row.is_global else "erf_mass_help"
    for f in MASS_FRACTIONS:
        side, ratio = res.mass_sides[f], res.ratios[f]
        row.metric(
            f"{f:.0%} of the gradient",
            f"{side} px" if side else "—",
            delta=None if math.isnan(ratio) else f"{ratio:.2f} × RF",
            delta_color="off",
            delta_arrow="off",
            help=say(section, share=f"{f:.0%}", rf=res.row.local_size),
            width="stretch" if single else "content",
        )


def erf_caption(results: Sequence[tuple[str, ImageErf]], target: str, averaged: bool) -> str:
    """What the figures show: the unit, its RF, the scale, the colours, the time."""
    first = results[0][1]
    rf = (
        say("erf_rf_size", size=first.row.size)
        if first.row.size
        else say("erf_rf_global", local=first.row.local_size)
    )
    scale = f"{first.scale_yx[1]:.2f}"
    return say(
        "erf_caption",
        unit=first.unit_yx,
        w=first.output_hw[1],
        h=first.output_hw[0],
        target=target,
        rf=rf,
        jump=first.row.jump,
        scaled=" " + say("erf_scaled", scale=scale) if EV.is_rescaled(first) else "",
        averaged=say("erf_averaged") + " " if averaged else "",
        seconds=f"{EV.gradient_seconds(results):.1f}",
    )


def erf_view(
    results: Sequence[tuple[str, ImageErf]],
    rgb: np.ndarray,
    *,
    log: bool,
    target: str,
    averaged: bool,
) -> None:
    """Each ERF over the image with its squares and numbers, the caption, the profile."""
    single = len(results) == 1
    cols = st.columns([3, 2] if single else [1, 1], gap="medium")
    for i, (label, res) in enumerate(results):
        fig = P.erf_figure(
            rgb,
            res.erf_image,
            centre_yx=res.centre_image_yx,
            rects=P.erf_rects(res),
            log=log,
            title=f"ERF · {label}",
            width_hint=560 if single else 460,
        )
        cols[i].plotly_chart(fig, width="stretch", key=f"rf_erf_fig_{i}")
        # side by side, each result's three numbers share a row that wraps when narrow
        row = cols[1] if single else cols[i].container(horizontal=True, gap="medium")
        _mass_metrics(row, res, single)
        note = erf_over_rf_note(res)
        if note:
            (cols[1] if single else cols[i]).caption(note)
    st.caption(erf_caption(results, target, averaged))
    first = results[0][1]
    box = EV.rf_square(first)
    st.plotly_chart(
        P.erf_profile_figure(
            EV.profiles(results),
            centre=first.centre_input_yx[1],
            rf_bounds=(box.x0, box.x1),
            title="Across the unit: gradient per column vs the theoretical RF",
        ),
        width="stretch",
        key="rf_profile_fig",
    )
    if first.row.is_global:
        st.caption(say("erf_pooling_floor"))
