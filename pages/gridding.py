"""Gridding: the holes a stack of dilated convolutions leaves, and the HDC rule that avoids them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st
import torch

from deeplab_viz.atrous_views import (
    resize_longest,
    to_uint8,
    with_pixel_noise,
    zoom_box,
    zoom_crop,
)
from deeplab_viz.gridding import coverage_map, gridding_artifact
from deeplab_viz.plots.gridding import coverage_figure, erf_figure, erf_profile_figure
from deeplab_viz.plots.output_stride import mark_box
from deeplab_viz.rates import RatesError, format_rates, parse_rates
from deeplab_viz.receptive_field import hdc_check, suggest_hdc_fix
from deeplab_viz.stage_erf import dilated_stages, previous_stage, stage_erf, stage_input
from ui import cache, links, pick
from ui.sidebar import current_lesson

K = 3
ZOOM = 64  # side of the zoomed-in crop, image pixels
# Bound widgets put their option's text in the URL, so the options are the labels.
PRESETS = {
    "2, 2, 2": ((2, 2, 2), "Same rate three times: the classic gridding example."),
    "2, 4, 8": ((2, 4, 8), "Doubling rates that all share the factor 2."),
    "1, 2, 5 · HDC": ((1, 2, 5), "Hybrid Dilated Convolution: no common factor, starts at 1."),
    "1, 2, 4 · multi-grid": ((1, 2, 4), "DeepLabv3's multi-grid unit rates (× the block's rate)."),
}
CUSTOM = "your own"
VIEWS = ["Coverage", "HDC rule", "On your image", "In the model"]


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


def _rates_label(rates) -> str:
    return "[" + format_rates(rates) + "]"


# --------------------------------------------------------------------------- page

lesson = current_lesson()
st.title("Gridding")
st.markdown(
    "Stack 3×3 convolutions whose rates share a factor, like **2, 2, 2**, and an output "
    "unit only ever reads a **lattice** of its receptive field: every other row and "
    "column is never touched. Neighbouring outputs then see disjoint sets of pixels, "
    "which shows up as a checkerboard: **gridding** (Yu & Koltun 2017; Wang et al. 2018). "
    "Pick a stack below; the numbers are exact path counts, not estimates."
)

with st.container(border=True):
    preset = links.segmented_control(
        st,
        "Rates of the 3×3 layers (stride 1, bottom to top)",
        [*PRESETS, CUSTOM],
        default="2, 2, 2",
        key="gr_preset",
    )
    rates: tuple[int, ...] | None
    if preset == CUSTOM:
        text = links.text_input(
            st,
            "Your rates (comma-separated, bottom to top)",
            "1, 2, 9",
            max_chars=200,
            key="gr_rates",
            parse=parse_rates,
            help="Whole numbers from 1 to 64, at most 8 layers.",
        )
        try:
            rates = parse_rates(text)
        except RatesError as exc:
            st.error(links.plain(str(exc)))  # it may quote what was typed
            rates = None
    else:
        rates, blurb = PRESETS[preset]
        st.markdown(blurb)

tabs = links.tabs(st, VIEWS, key="gr_view")
cov_tab, hdc_tab, image_tab, model_tab = tabs

if rates is not None:
    cov = coverage(rates)
    hdc = hdc_check(rates, K)
    fix = None if hdc.passes else hdc_fix(rates)

    # ----------------------------------------------------------------------- coverage
    with cov_tab:
        if cov_tab.open:
            m1, m2, m3 = st.columns(3)
            m1.metric(
                "Coverage of the receptive field",
                f"{cov.coverage:.1%}",
                help="Cells reached by at least one path, over the theoretical receptive field.",
                border=True,
            )
            m2.metric("Cells read", f"{cov.covered} / {cov.rf_cells}", border=True)
            m3.metric(
                "Receptive field",
                f"{cov.side} × {cov.side}",
                help=f"1 + (k−1)·Σr = 1 + 2·{sum(rates)} = {cov.side} cells per side",
                border=True,
            )
            left, right = st.columns([3, 2])
            left.plotly_chart(
                coverage_figure(cov, height=640), width="stretch", theme=None, key="gr_cov_fig"
            )
            right.markdown(
                "Each cell shows how many paths lead from the output unit (orange ×) down "
                "to that input cell through the stack. **White cells are holes**: no "
                "combination of taps lands there, so whatever is in those pixels cannot "
                "change this unit at all."
            )
            if cov.full:
                right.success(
                    f"{_rates_label(rates)} reads every one of its {cov.rf_cells} cells: no holes."
                )
            else:
                right.warning(
                    f"{_rates_label(rates)} reads only {cov.covered} of {cov.rf_cells} cells "
                    f"({cov.coverage:.1%}): {cov.rf_cells - cov.covered} holes."
                )
                right.caption(
                    "Rates with a common factor g reach only the cells whose offsets are "
                    "multiples of g: (1/g)² of the area, at best."
                )

    # ----------------------------------------------------------------------- HDC rule
    with hdc_tab:
        if hdc_tab.open:
            st.markdown(
                "**Hybrid Dilated Convolution** (Wang et al. 2018) checks a group of K×K "
                "layers with rates r₁…rₙ from the top down: Mₙ = rₙ and "
                "Mᵢ = max(Mᵢ₊₁ − 2rᵢ, Mᵢ₊₁ − 2(Mᵢ₊₁ − rᵢ), rᵢ), the largest gap between two "
                "taps that layer i still has to fill. The stack is hole-free when "
                "**M₂ ≤ K**, with a first layer at **rate 1** (the paper's groups start at "
                "1, e.g. 1, 2, 5). The paper also asks for rates without a common factor: "
                "2, 4, 8 fails. Note that for **2, 2, 2** the bare M₂ = 2 ≤ 3 would "
                "pass, but its first layer at rate 2 can never reach the odd pixels, so "
                "the check here, like the paper, requires r₁ = 1."
            )
            left, right = st.columns([3, 2])
            rows = []
            for i, (r, m) in enumerate(zip(rates, hdc.m, strict=True), start=1):
                note = ""
                if i == 1:
                    note = "r₁ = 1 ✓ pass" if r == 1 else "r₁ ≠ 1 ✗ fail"
                if i == 2:
                    note = f"M₂ = {m} ≤ {K} ✓ pass" if m <= K else f"M₂ = {m} > {K} ✗ fail"
                rows.append({"layer i": i, "rate rᵢ": r, "Mᵢ": m, "check": note})
            left.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
            checks = [
                ("first rate is 1", rates[0] == 1),
                (f"M₂ ≤ K = {K}", hdc.m2 is None or hdc.m2 <= K),
                ("every cell covered (exact count)", hdc.full_coverage),
            ]
            right.markdown(
                "\n".join(f"- **{'✓ pass' if ok else '✗ fail'}**: {txt}" for txt, ok in checks)
            )
            if hdc.passes:
                right.success(f"{_rates_label(rates)} passes the HDC rule.")
            else:
                right.warning(f"{_rates_label(rates)} fails the HDC rule.")
            if fix is not None:
                fcov = coverage(fix.suggested)
                st.subheader(f"Suggested fix: {_rates_label(fix.suggested)}")
                st.caption(
                    f"How it was found: {fix.strategy}. Receptive field {fix.suggested_rf} "
                    f"cells per side (yours: {fix.original_rf})."
                )
                c1, c2 = st.columns(2)
                c1.plotly_chart(
                    coverage_figure(cov, title=f"yours {_rates_label(rates)}: {cov.coverage:.1%}"),
                    width="stretch",
                    theme=None,
                    key="gr_hdc_orig",
                )
                c2.plotly_chart(
                    coverage_figure(
                        fcov, title=f"fixed {_rates_label(fix.suggested)}: {fcov.coverage:.1%}"
                    ),
                    width="stretch",
                    theme=None,
                    key="gr_hdc_fix",
                )

    # ----------------------------------------------------------------------- on the image
    with image_tab:
        if image_tab.open:
            st.markdown(
                "Each layer here is a 3×3 **box blur** at its rate. With holes, two "
                "neighbouring output pixels average two disjoint lattices of input "
                "pixels, so fine texture turns into a **checkerboard** instead of being "
                "smoothed. Pixel noise is the finest texture there is, which is why a bit "
                "of it makes the lattice easy to see."
            )
            noise = links.slider(
                st, "Pixel noise added to the image (std)", 0.0, 0.3, 0.15, 0.05, key="gr_noise"
            )
            img = working_image(lesson.image.key, lesson.size, lesson.image.rgb)
            other = fix.suggested if fix is not None else None
            shown = [("input" + (" + noise" if noise else ""), None)]
            shown.append((f"your stack {_rates_label(rates)}", rates))
            if other is not None:
                shown.append((f"HDC fix {_rates_label(other)}", other))
            pics = []
            for title, rr in shown:
                if rr is None:
                    pics.append((title, to_uint8(with_pixel_noise(img, noise))))
                else:
                    pics.append((title, artifact(lesson.image.key, lesson.size, rr, noise, img)))
            h, w = img.shape[:2]
            a, b = st.columns(2)
            pick.keep_inside(w, h, "gr_zx", "gr_zy")  # a narrower image: stay on it
            zx = links.slider(a, "Zoom centre x (px)", 0, w - 1, w // 2, key="gr_zx")
            zy = links.slider(b, "Zoom centre y (px)", 0, h - 1, h // 2, key="gr_zy")
            box = zoom_box((h, w), (zy, zx), ZOOM)
            cols = st.columns(len(pics))
            for i, (col, (title, pic)) in enumerate(zip(cols, pics, strict=True)):
                if i == 0:  # the input: click it to move the zoom
                    pick.pickable_image(
                        col,
                        mark_box(pic, box),
                        key="gr_img_fig",
                        x_key="gr_zx",
                        y_key="gr_zy",
                        height=int(np.clip(380 * h / w, 160, 480)),
                        hover="click: zoom here (x=%{x:.0f}, y=%{y:.0f})",
                    )
                    col.caption(f"{title} · click to move the zoom")
                else:
                    col.image(pic, caption=title, width="stretch")
            st.markdown(
                f"**Zoomed in** around x={zx}, y={zy} ({ZOOM}×{ZOOM} pixels, each pixel a "
                "square; move it with the sliders or a click on the input):"
            )
            cols = st.columns(len(pics))
            for col, (title, pic) in zip(cols, pics, strict=True):
                col.image(zoom_crop(pic, (zy, zx), ZOOM, 6), caption=title, width="stretch")
            if other is None:
                st.caption(f"{_rates_label(rates)} has no holes: the blur is smooth.")

if rates is None:
    for tab in (cov_tab, hdc_tab, image_tab):
        if tab.open:
            tab.info("Fix the rates above to see this view.", icon="✏️")

# --------------------------------------------------------------------------- in the model


def _stage_label(info) -> str:
    return f"{info.name} · rates {format_rates(info.dilations)}"


with model_tab:
    if model_tab.open:
        model = lesson.model
        os_ = model.spec.output_stride
        stages = dilated_stages(model.module)
        if not stages:
            st.markdown(
                "DeepLab gets its dense features by dilating the last backbone stages "
                "instead of striding them; this view shows the holes that leaves in a "
                "real network."
            )
            st.info(
                f"At output stride {os_} no stage of {lesson.label} is dilated: every "
                "spatial convolution has rate 1, so there is nothing to grid. Choose "
                "output stride 8 or 16 in the sidebar."
            )
        else:
            st.markdown(
                f"The same holes appear in a real network. **{lesson.label}** runs its "
                f"last backbone stage(s) dilated at output stride {os_}. Below: the "
                "gradient of the centre unit of one dilated stage's output with respect "
                "to that stage's **input** feature map (Luo et al. 2016's effective "
                "receptive field). Cells left white have *exactly zero* gradient: the "
                "stage cannot see them."
            )
            names = [s.name for s in stages]
            a, b, c = st.columns([2, 2, 1])
            stage = links.selectbox(
                a,
                "Dilated stage",
                names,
                index=len(names) - 1,
                key="gr_stage",
                help="; ".join(_stage_label(s) for s in stages),
            )
            source = links.segmented_control(
                b,
                "Input to the stage",
                ["your image", "random"],
                default="your image",
                key="gr_input",
            )
            n = 1
            if source == "random":
                n = links.select_slider(c, "Samples", [1, 2, 4, 8], value=2, key="gr_n")
            res = model_erf(
                model.spec,
                lesson.image.key,
                lesson.size,
                stage,
                source == "random",
                int(n),
                model,
                stage_input_from_probe(lesson, stage),
            )
            info = next(s for s in stages if s.name == stage)
            m1, m2, m3 = st.columns(3)
            m1.metric(
                "Zero-gradient cells",
                f"{res.hole_share:.0%}",
                help="Share of cells with exactly zero gradient inside the square that holds "
                "every non-zero cell (centred on the unit).",
                border=True,
            )
            m2.metric("Reach", f"± {res.reach} cells", border=True)
            m3.metric(
                "Spatial conv rates in the stage",
                format_rates(info.dilations),
                border=True,
            )
            left, right = st.columns([2, 1])
            src = "random normal input" + (f", {n} samples" if n > 1 else "")
            title = (
                f"{stage}: |∂ centre unit / ∂ input|, "
                f"{'your image' if source == 'your image' else src}"
            )
            left.plotly_chart(
                erf_figure(res.erf, res.centre_yx, reach=res.reach, title=title, height=620),
                width="stretch",
                theme=None,
                key="gr_erf_fig",
            )
            right.markdown(
                "Each square is one cell of the stage's input feature map, coloured by its "
                "share of the gradient (log scale). **White cells are holes**: changing "
                "them does not change the centre unit at all."
            )
            kernels = {kk for kk, _ in info.convs}
            if kernels == {K}:
                pred = coverage(tuple(info.dilations))
                right.markdown(
                    f"A plain chain of 3×3 convs at rates {format_rates(info.dilations)} "
                    f"reads {pred.coverage:.0%} of its receptive field, so "
                    f"{1 - pred.coverage:.0%} of it are holes; the gradient finds "
                    f"**{res.hole_share:.0%}**. Residual shortcuts let paths skip blocks, but "
                    "every path still moves in steps that are multiples of the rates."
                )
            if res.hole_share == 0 and any(d > 1 for d in info.dilations):
                right.info(
                    "No cell has exactly zero gradient here: some layer sees the whole "
                    "map (a rate-1 block that fills the gaps, or a squeeze-and-excitation "
                    "pooling), but the lattice of strong cells still shows on the log scale."
                )
            right.caption(
                f"Stage input: {res.input_hw[1]}×{res.input_hw[0]} cells at output stride "
                f"{os_}. Use *random normal* to see the architecture without the image; "
                "the holes are the same, because they come from the wiring, not the weights."
            )
            st.plotly_chart(
                erf_profile_figure(res.erf, res.centre_yx, reach=res.reach),
                width="stretch",
                theme=None,
                key="gr_erf_row",
            )
