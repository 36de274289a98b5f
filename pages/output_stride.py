"""Output stride: the same weights at OS 8, 16 and 32; what each sees and what each costs.

The words are in lessons/output_stride.md; what is drawn besides widgets, in
ui/stride_view.py; the numbers come from deeplab_viz/cost/strides.py.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import streamlit as st

from deeplab_viz import cost
from deeplab_viz.plots.output_stride import cost_figure, mark_box, swipe_image
from ui import cache, links, pick, stride_cache
from ui import stride_view as V
from ui.multiscale_view import multiscale_section
from ui.sidebar import current_lesson
from ui.stride_view import BOUNDARY_PX, REFERENCE, REPEATS, STRIDES, ZOOM_SIDE, os_label
from ui.widgets import initial

# --------------------------------------------------------------------------- the three runs

lesson = current_lesson()
active = lesson.model.spec  # what runs (the sidebar's choice or its offline fallback)
specs = {s: dataclasses.replace(active, output_stride=s) for s in STRIDES}
probes = {s: cache.probe(specs[s], lesson.image.key, lesson.size, lesson.image) for s in STRIDES}
models = {s: cache.model_or_fallback(specs[s])[0] for s in STRIDES}
flops = {s: stride_cache.flops(specs[s], tuple(probes[s].padded_hw)) for s in STRIDES}
itemsize = 4 if active.dtype == "float32" else 2
rows = cost.compare_strides(
    probes, flops, reference=REFERENCE, boundary_width=BOUNDARY_PX, itemsize=itemsize
)
by_os = {r.output_stride: r for r in rows}
maps = {s: probes[s].class_map for s in STRIDES}

st.title("Output stride")
st.markdown(V.text("intro"))
st.caption(V.text("model_caption", model=lesson.label, device=active.device, size=lesson.size))

show = links.segmented_control(
    st, "Show", ["overlay", "class map"], default="overlay", key="os_show"
)
views = {
    s: stride_cache.view_image(
        lesson.image.key, specs[s], lesson.size, show, lesson.image.rgb, maps[s]
    )
    for s in STRIDES
}
V.stride_columns(models, views, by_os)
st.markdown(V.text("boundaries_note"))


# --------------------------------------------------------------------------- swipe


@st.fragment
def swipe_view() -> None:
    st.subheader("Swipe between two strides")
    a_col, b_col, x_col = st.columns([1, 1, 2])
    a = links.segmented_control(
        a_col, "Output stride left of the line", STRIDES, default=8, key="os_swipe_a"
    )
    b = links.segmented_control(
        b_col, "Output stride right of the line", STRIDES, default=32, key="os_swipe_b"
    )
    pos = links.slider(x_col, "Line position (% of the width)", 0, 100, 50, key="os_swipe_x")
    img_col, text_col = st.columns([3, 1])
    img_col.image(
        swipe_image(views[a], views[b], pos / 100, labels=(os_label(a), os_label(b))),
        caption=V.text("swipe_caption", left=os_label(a), right=os_label(b), model=lesson.label),
        width="stretch",
    )
    same = cost.agreement(maps[a], maps[b])
    text_col.metric(f"{os_label(a)} and {os_label(b)} agree on", f"{100 * same:.1f}%")
    text_col.markdown(V.text("swipe_note"))


swipe_view()


# --------------------------------------------------------------------------- boundary zoom


@st.fragment
def zoom_view() -> None:
    st.subheader("Zoom on a boundary")
    rgb = lesson.image.rgb
    c1, c2, c3, c4 = st.columns([1, 1, 1, 1.2])
    # start where OS 8 and OS 32 differ most (a boundary), not on an arbitrary spot
    y0, x0 = cost.most_disagreement(maps[8], maps[32], ZOOM_SIDE)
    x = links.slider(
        c1,
        "Crop centre x (% of width)",
        0,
        100,
        initial("os_zoom_x", int(round(100 * x0))),
        key="os_zoom_x",
    )
    y = links.slider(
        c2,
        "Crop centre y (% of height)",
        0,
        100,
        initial("os_zoom_y", int(round(100 * y0))),
        key="os_zoom_y",
    )
    side = links.slider(c3, "Crop size (px)", 16, 256, ZOOM_SIDE, step=8, key="os_zoom_size")
    c4.button(
        "Find the biggest difference",
        key="os_zoom_find",
        on_click=V.jump_to_difference,
        args=(maps[8], maps[32], side),
        width="stretch",
    )
    box = cost.crop_box(rgb.shape[:2], (y / 100, x / 100), side)
    cols = st.columns(1 + len(STRIDES))
    ih, iw = rgb.shape[:2]
    pick.pickable_image(
        cols[0],
        mark_box(rgb, box),
        key="os_where_fig",
        x_key="os_zoom_x",
        y_key="os_zoom_y",
        height=int(np.clip(330 * ih / iw, 160, 440)),
        to_value=pick.percent_value,
        hover="click: zoom here (x=%{x:.0f}, y=%{y:.0f})",
    )
    cols[0].caption(V.text("zoom_where", width=box[3] - box[1], height=box[2] - box[0]))
    V.zoom_crops(cols[1:], maps, views, box)


zoom_view()
multiscale_section(lesson, STRIDES)


# --------------------------------------------------------------------------- cost

st.subheader("What each stride costs")
measure_key = (active, lesson.image.key, lesson.size)
if st.button(
    f"Measure time and peak memory ({len(STRIDES)} strides × {REPEATS + 2} forward passes)",
    key="os_measure",
):
    st.session_state["os_measured_for"] = measure_key
measured = None
if st.session_state.get("os_measured_for") == measure_key:
    with st.spinner(f"Timing the {len(STRIDES)} strides, interleaved…"):
        measured = stride_cache.measured_strides(
            tuple(specs[s] for s in STRIDES),
            tuple(tuple(probes[s].padded_hw) for s in STRIDES),
            REPEATS,
        )

st.plotly_chart(cost_figure(rows, measured, device=active.device), width="stretch")
V.cost_table(rows, measured, models, active.entry.family)
st.caption(V.cost_caption(measured, active, itemsize))
if measured:
    V.measured_notes(measured, by_os)
st.markdown(V.trade_off(by_os, maps))

# --------------------------------------------------------------------------- ASPP rates

V.rates_section(lesson.label, models, active, by_os)
