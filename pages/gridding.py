"""Gridding: the holes a stack of dilated convolutions leaves, and the HDC rule that avoids them."""

from __future__ import annotations

import streamlit as st

from deeplab_viz.atrous_views import to_uint8, with_pixel_noise, zoom_box
from deeplab_viz.gridding import artifact_panels, rates_label, stage_label
from deeplab_viz.rates import RatesError, parse_rates
from deeplab_viz.receptive_field import hdc_check
from deeplab_viz.stage_erf import dilated_stages
from ui import links, pick, prose
from ui.gridding_cache import (
    K,
    artifact,
    coverage,
    hdc_fix,
    model_erf,
    stage_input_from_probe,
    working_image,
)
from ui.gridding_view import artifact_view, coverage_view, erf_view, hdc_view, text
from ui.sidebar import current_lesson

ZOOM = 64  # side of the zoomed-in crop, image pixels
# Bound widgets put their option's text in the URL, so the options are the labels;
# each preset's one-line description is a section of lessons/gridding.md.
PRESETS = {
    "2, 2, 2": ((2, 2, 2), "preset_same"),
    "2, 4, 8": ((2, 4, 8), "preset_doubling"),
    "1, 2, 5 · HDC": ((1, 2, 5), "preset_hdc"),
    "1, 2, 4 · multi-grid": ((1, 2, 4), "preset_multigrid"),
}
CUSTOM = "your own"
VIEWS = ["Coverage", "HDC rule", "On your image", "In the model"]

# --------------------------------------------------------------------------- page

lesson = current_lesson()
st.title("Gridding")
prose.show("gridding", "intro")

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
        typed = links.text_input(
            st,
            "Your rates (comma-separated, bottom to top)",
            "1, 2, 9",
            max_chars=200,
            key="gr_rates",
            parse=parse_rates,
            help=text("rates_help"),
        )
        try:
            rates = parse_rates(typed)
        except RatesError as exc:
            st.error(links.plain(str(exc)))  # it may quote what was typed
            rates = None
    else:
        rates, blurb = PRESETS[preset]
        prose.show("gridding", blurb)

tabs = links.tabs(st, VIEWS, key="gr_view")
cov_tab, hdc_tab, image_tab, model_tab = tabs

if rates is not None:
    cov = coverage(rates)
    hdc = hdc_check(rates, K)
    fix = None if hdc.passes else hdc_fix(rates)

    with cov_tab:
        if cov_tab.open:
            coverage_view(rates, cov)

    with hdc_tab:
        if hdc_tab.open:
            hdc_view(rates, cov, hdc, fix)

    with image_tab:
        if image_tab.open:
            prose.show("gridding", "blur")
            noise = links.slider(
                st, "Pixel noise added to the image (std)", 0.0, 0.3, 0.15, 0.05, key="gr_noise"
            )
            img = working_image(lesson.image.key, lesson.size, lesson.image.rgb)
            other = fix.suggested if fix is not None else None
            pics = [
                (title, to_uint8(with_pixel_noise(img, noise)))
                if rr is None
                else (title, artifact(lesson.image.key, lesson.size, rr, noise, img))
                for title, rr in artifact_panels(rates, other, noise)
            ]
            h, w = img.shape[:2]
            a, b = st.columns(2)
            pick.keep_inside(w, h, "gr_zx", "gr_zy")  # a narrower image: stay on it
            zx = links.slider(a, "Zoom centre x (px)", 0, w - 1, w // 2, key="gr_zx")
            zy = links.slider(b, "Zoom centre y (px)", 0, h - 1, h // 2, key="gr_zy")
            artifact_view(pics, zoom_box((h, w), (zy, zx), ZOOM), zy, zx, ZOOM)
            if other is None:
                st.caption(text("smooth", rates=rates_label(rates)))

if rates is None:
    for tab in (cov_tab, hdc_tab, image_tab):
        if tab.open:
            tab.info(text("fix_the_rates"), icon="✏️")

# --------------------------------------------------------------------------- in the model

with model_tab:
    if model_tab.open:
        model = lesson.model
        os_ = model.spec.output_stride
        stages = dilated_stages(model.module)
        if not stages:
            prose.show("gridding", "model_why")
            st.info(text("model_undilated", os=os_, model=lesson.label))
        else:
            prose.show("gridding", "model_intro", model=lesson.label, os=os_)
            names = [s.name for s in stages]
            a, b, c = st.columns([2, 2, 1])
            stage = links.selectbox(
                a,
                "Dilated stage",
                names,
                index=len(names) - 1,
                key="gr_stage",
                help="; ".join(stage_label(s) for s in stages),
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
            erf_view(res, info, stage, source, n, os_)
