"""Output stride: the same weights at OS 8, 16 and 32; what each sees and what each costs."""

from __future__ import annotations

import dataclasses

import numpy as np
import streamlit as st

from deeplab_viz import cost
from deeplab_viz.boundary import share_near_boundary
from deeplab_viz.models import OUTPUT_STRIDES, ModelSpec, current_wiring
from deeplab_viz.models.output_stride import scaled_rates
from deeplab_viz.palette import overlay, voc_colours
from deeplab_viz.plots.output_stride import (
    cost_figure,
    mark_box,
    swipe_image,
    tap_share_figure,
    with_boundaries,
)
from deeplab_viz.timing import compare
from ui import cache, links, pick, stride_cache
from ui.multiscale_view import multiscale_section
from ui.sidebar import current_lesson
from ui.widgets import initial

STRIDES = tuple(OUTPUT_STRIDES)  # (8, 16, 32)
REFERENCE = 8
BOUNDARY_PX = 3  # "near a boundary": within this many pixels of a class change at OS 8
REPEATS = 3  # timed forwards per stride when the user asks for a measurement
DEEPLABV3_RATES = (12, 24, 36)  # ASPP rates of DeepLabv3 at OS 8 (6/12/18 at OS 16)
MB = 1024**2
ZOOM_SIDE = 64  # default crop side, pixels


def _os(s: int) -> str:
    return f"OS {s}"


@st.cache_data(max_entries=24, show_spinner=False)
def view_image(
    image_key: str, spec: ModelSpec, size: int, show: str, _rgb: np.ndarray, _cm: np.ndarray
) -> np.ndarray:
    """The class map of one stride as shown: over the image with its class boundaries
    drawn in white, or in colour alone."""
    return with_boundaries(overlay(_rgb, _cm), _cm) if show == "overlay" else voc_colours(_cm)


def _jump_to_difference(a: np.ndarray, b: np.ndarray, side: int) -> None:
    y, x = cost.most_disagreement(a, b, side)
    st.session_state["os_zoom_x"] = int(round(100 * x))
    st.session_state["os_zoom_y"] = int(round(100 * y))


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
entry = active.entry

st.title("Output stride")
st.markdown(
    "**Output stride** (OS) = input size ÷ feature-map size: how much the backbone has "
    "shrunk the image by the time ASPP reads it. A classification backbone ends at OS 32. "
    "DeepLab removes its last one or two strides and **dilates** the layers after them "
    "instead, so the *same weights* give features at OS 16 or OS 8: every later layer then "
    "runs on 4× or 16× more cells. DeepLabv3 (Chen et al. 2017, Tables 1 and 3) found the "
    "trend you can check below: OS 8 is the most accurate and the most expensive, OS 32 the "
    "cheapest and the coarsest (they trained at 16 and evaluated at 8)."
)
st.caption(
    f"Model: **{lesson.label}** on {active.device}, run at OS 8, 16 and 32 with the same "
    f"weights · working size {lesson.size} px · each stride runs once per image and is cached."
)

show = links.segmented_control(
    st, "Show", ["overlay", "class map"], default="overlay", key="os_show"
)
views = {
    s: view_image(lesson.image.key, specs[s], lesson.size, show, lesson.image.rgb, maps[s])
    for s in STRIDES
}

cols = st.columns(len(STRIDES))
for col, s in zip(cols, STRIDES, strict=True):
    r = by_os[s]
    h, w = r.feature_hw
    col.markdown(f"### {_os(s)}")
    col.image(views[s], caption=models[s].spec.label, width="stretch")
    m1, m2 = col.columns(2)
    m1.metric("ASPP input", f"{w}×{h}", help="Feature map every ASPP branch reads, cells (W×H).")
    m2.metric(
        "Same as OS 8",
        f"{100 * r.agreement:.1f}%",
        help="Share of pixels given the same class as at OS 8; "
        f"{100 * r.boundary_agreement:.1f}% within {BOUNDARY_PX} px of an OS 8 class boundary.",
    )
    col.caption(
        f"{r.input_hw[1]}×{r.input_hw[0]} px in ÷ {s} ≈ {w}×{h} cells · "
        + (
            "the pixel-for-pixel reference"
            if s == REFERENCE
            else f"{100 * r.boundary_agreement:.1f}% agree near OS 8's boundaries"
        )
    )
st.markdown(
    "Most pixels get the same class at every stride: the differences sit on the **object "
    "boundaries**, where a coarse feature map has to be stretched over many pixels."
)


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
        swipe_image(views[a], views[b], pos / 100, labels=(_os(a), _os(b))),
        caption=f"{_os(a)} left of the line, {_os(b)} right of it · {lesson.label}",
        width="stretch",
    )
    same = cost.agreement(maps[a], maps[b])
    text_col.metric(f"{_os(a)} and {_os(b)} agree on", f"{100 * same:.1f}%")
    text_col.markdown(
        "Drag the line across an edge of the object: at OS 32 the outline is built from "
        f"blobs {32} px apart, at OS 8 from cells {8} px apart."
    )


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
        on_click=_jump_to_difference,
        args=(maps[8], maps[32], side),
        width="stretch",
    )
    box = cost.crop_box(rgb.shape[:2], (y / 100, x / 100), side)
    crop_h, crop_w = box[2] - box[0], box[3] - box[1]
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
    cols[0].caption(f"Where: a {crop_w}×{crop_h} px crop · click to move it")
    for col, s in zip(cols[1:], STRIDES, strict=True):
        inside = np.zeros(maps[s].shape, dtype=bool)
        inside[box[0] : box[2], box[1] : box[3]] = True
        share = cost.agreement(maps[s], maps[REFERENCE], inside)
        note = "reference" if s == REFERENCE else f"{100 * share:.0f}% of the crop as OS 8"
        col.image(
            cost.boundary_zoom(views[s], box),
            caption=f"{_os(s)} · {note}",
            width="stretch",
        )
    st.caption(
        "Crops are enlarged with nearest-neighbour, so every block is one image pixel. "
        f"One OS {32} feature cell covers a {32}×{32} px square of the model input."
    )


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
method = next(iter(measured.values()))[1] if measured else None
wiring = {
    s: max((d for _, d in current_wiring(models[s].module, entry.family)), default=1)
    for s in STRIDES
}
table = []
for r in rows:
    s = r.output_stride
    lat = measured[s][0] if measured else None
    row = {
        "OS": s,
        "input (px, W×H)": f"{r.input_hw[1]}×{r.input_hw[0]}",
        "ASPP input (W×H)": f"{r.feature_hw[1]}×{r.feature_hw[0]}",
        "max dilation": wiring[s],
        "GFLOPs": round((r.flops or 0) / 1e9, 2),
        "time (ms)": round(lat.median_ms if lat else r.probe_ms, 1),
        "feature maps (MB)": round(r.activation_bytes / MB, 1),
    }
    if measured:
        mem = measured[s][1]
        row[f"peak, {mem.method} (MB)"] = round(mem.bytes / MB, 1)
        if mem.allocated_bytes is not None:
            row["peak, torch allocations (MB)"] = round(mem.allocated_bytes / MB, 1)
    row["same as OS 8"] = f"{100 * r.agreement:.1f}%"
    row["near boundaries"] = f"{100 * r.boundary_agreement:.1f}%"
    table.append(row)
# Short headers (the full name in each tooltip) and widths that fit a 1280 px window.
Col = st.column_config
peak_names = [c for c in table[0] if c.startswith("peak, ")]
st.dataframe(
    table,
    hide_index=True,
    width="stretch",
    column_config={
        "OS": Col.NumberColumn(width=40, help="output stride"),
        "input (px, W×H)": Col.TextColumn("input px", width=72, help="input (px, W×H)"),
        "ASPP input (W×H)": Col.TextColumn("ASPP input", width=86, help="ASPP input (W×H)"),
        "max dilation": Col.NumberColumn(
            "max rate", width=70, help="max dilation: the largest rate the backbone uses"
        ),
        "GFLOPs": Col.NumberColumn(width=66),
        "time (ms)": Col.NumberColumn("time ms", width=64, help="time (ms)"),
        "feature maps (MB)": Col.NumberColumn("features MB", width=92, help="feature maps (MB)"),
        **{
            c: Col.NumberColumn(
                "torch MB" if "torch" in c else "peak MB", width=78 if "torch" in c else 72, help=c
            )
            for c in peak_names
        },
        "same as OS 8": Col.TextColumn("vs OS 8", width=70, help="same class as at OS 8"),
        "near boundaries": Col.TextColumn(
            "near edges", width=86, help="same class as at OS 8, near boundaries"
        ),
    },
)
time_note = (
    f"median of {REPEATS} forwards per stride after a warm-up, the strides interleaved "
    "(bar whisker: 90th percentile)"
    if measured
    else "the probe's single forward, cold and noisy: press the button for a proper measurement"
)
if method is None:
    mem_note = "peak memory is measured on the button press"
elif method.allocated_bytes is None:
    mem_note = f"peak memory is **{method.method}** on {active.device}: {method.note}"
else:
    mem_note = (
        f"peak memory on the CPU is measured two ways in one forward: **torch allocations**, "
        f"{cost.ALLOC_NOTE} (the bars), and **{method.method}**, {method.note}"
    )
st.caption(
    f"Max dilation: the largest rate the backbone uses instead of a stride. Near "
    f"boundaries: pixels within {BOUNDARY_PX} px of a class change at OS 8. "
    f"FLOPs: {cost.FLOP_CONVENTION} Time: {time_note}. Feature maps: the bytes of every "
    f"backbone stage and ASPP branch output of one forward ({'float32' if itemsize == 4 else active.dtype}), "
    f"a deterministic companion to the measurement; {mem_note}."
)
if measured:
    verdicts = [
        compare(_os(a), measured[a][0].spread(), _os(b), measured[b][0].spread()).sentence()
        for a, b in ((8, 16), (16, 32), (8, 32))
    ]
    st.markdown(
        "**Time, measured here** (middle halves of the runs compared; a difference inside "
        "them is not ranked): " + "; ".join(verdicts) + "."
    )
    p8, p32 = measured[8][1].best_bytes, measured[32][1].best_bytes
    st.markdown(
        f"Measured peak memory at OS 8 is **{p8 / max(p32, 1):.1f}** times the peak at OS 32 "
        f"({p8 / MB:.0f} MB vs {p32 / MB:.0f} MB, {measured[8][1].best_method}), while the "
        f"feature maps add up to {by_os[8].activation_bytes / max(by_os[32].activation_bytes, 1):.1f}×. "
        "At inference only a few maps are alive at once, and the largest are often "
        "full-resolution ones that every stride shares (the logits upsampled to the input, "
        "the first layers); training keeps every map for the backward pass, which is where "
        "OS 8 really costs memory."
    )
f8, f32 = by_os[8].flops or 1, by_os[32].flops or 1
near = share_near_boundary(maps[32], maps[8], 16)  # half an OS 32 cell
st.markdown(
    f"On this image OS 8 needs **{f8 / f32:.1f}×** the FLOPs of OS 32 and keeps "
    f"**{by_os[8].activation_bytes / max(by_os[32].activation_bytes, 1):.1f}×** the feature-map "
    f"bytes; in exchange **{100 * (1 - by_os[32].agreement):.1f}%** of the pixels change class "
    f"between them, and {100 * near:.0f}% of those lie within 16 px (half an OS 32 cell) of "
    "an OS 8 class boundary."
)


# --------------------------------------------------------------------------- ASPP rates

st.subheader("ASPP rates must follow the stride")
feature = {s: by_os[s].feature_hw for s in STRIDES}
has_atrous = any(k == "atrous" for k in models[REFERENCE].module.aspp.kinds)
trained = entry.trained_rates if has_atrous else DEEPLABV3_RATES
native = entry.native_stride if has_atrous else 8
policies = {"scale": "scale with stride", "keep": "keep trained"}
tables = {}
for policy, title in policies.items():
    if has_atrous and policy == active.aspp_rates:
        rates = {s: models[s].aspp_rates for s in STRIDES}  # as wired in the running models
    else:
        rates = {
            s: scaled_rates(trained, trained_stride=native, output_stride=s, policy=policy)
            for s in STRIDES
        }
    tables[title] = cost.tap_table(rates, feature)
st.markdown(
    "An atrous branch at rate *r* on an OS *s* feature map puts its taps **r × s image "
    "pixels** apart. To keep the same reach when the stride changes, the rate must change "
    "the other way: 12/24/36 at OS 8 = 6/12/18 at OS 16 = 3/6/9 at OS 32. Keep the trained "
    "rates instead and, on a small map, most taps fall into the zero padding: the red cells "
    "below read mostly nothing (DeepLabv3 Fig. 4 shows the same effect)."
)
if not has_atrous:
    st.info(
        f"{lesson.label}: this model's ASPP has no atrous branches (a 1×1 convolution and "
        "image pooling only). The tables show DeepLabv3's rates (12/24/36 at OS 8) on the "
        "feature maps this image gives at each stride; pick a torchvision model in the "
        "sidebar to see its own branches.",
        icon="ℹ️",
    )
active_title = policies[active.aspp_rates] if has_atrous else None
st.plotly_chart(tap_share_figure(tables, active=active_title), width="stretch")
keep32 = [t for t in tables["keep trained"] if t.output_stride == 32]
if keep32:
    worst = max(keep32, key=lambda t: t.rate)
    h, w = worst.feature_hw
    st.caption(
        f"Rate {worst.rate} at OS 32 on this {w}×{h} map: taps {worst.spacing_px} px apart, a "
        f"kernel spanning {worst.span_px} px; only {100 * worst.valid_share:.0f}% of its taps "
        "land on real cells (share of all cell × tap pairs, 'same' zero padding)."
    )
