"""DeepLab family: v1 → v2 → v3 → v3+, each head drawn from its own modules."""

from __future__ import annotations

import streamlit as st

from deeplab_viz import family as FA
from deeplab_viz.atrous import separable_vs_regular
from ui import family_cache as FC
from ui import family_view as FV
from ui import links, prose
from ui.crf_view import crf_section
from ui.sidebar import current_lesson
from ui.widgets import initial

P = "deeplab_family"  # the lesson file: lessons/deeplab_family.md
V3_SOURCES = ["ShapesWorld v3 (trained here)", "torchvision ResNet-101 (architecture)"]

lesson = current_lesson()
st.title("The DeepLab family")
prose.show(P, "intro")
shapes_ok = FC.have_shapes()
LIVE_OS = FC.LIVE_OS  # stride of the diagrams and the default of the live comparison

v3m = v3p = None
if shapes_ok:
    v3m, v3p = FC.pair(LIVE_OS)

# --------------------------------------------------------------------------- tabs
# One idea per tab: only the open tab runs (the page was 9,500 px tall as one scroll).
TABS = ["v1 · v2 and the dense CRF", "v3", "v3+", "Atrous separable conv", "Multi-grid"]
t_v12, t_v3, t_v3p, t_sep, t_mg = links.tabs(st, TABS, key="fam_tab", label="Part of the family")

# --------------------------------------------------------------------------- v1 · v2
with t_v12:
    if t_v12.open:
        left, right = FV.version("DeepLab v1 (Chen et al. 2014)", "v1")
        FV.head("v1", "fam_v1_fig", right)
        left, right = FV.version("DeepLab v2 (Chen et al. 2016)", "v2")
        FV.head("v2", "fam_v2_fig", right)
        crf_section(lesson)

# --------------------------------------------------------------------------- v3
with t_v3:
    if t_v3.open:
        # full width: five branches side by side
        left, right = FV.version("DeepLab v3 (Chen et al. 2017)", "v3", wide=True)
        src = links.radio(left, "Draw", V3_SOURCES, horizontal=True, key="fam_v3_src")
        if src == V3_SOURCES[0] and shapes_ok:
            FV.head("v3", "fam_v3_fig", right, model=v3m)
        else:
            if src == V3_SOURCES[0]:
                FV.missing(left)
            FV.head("tv", "fam_v3_fig", right)

# --------------------------------------------------------------------------- v3+
with t_v3p:
    if t_v3p.open:
        left, right = FV.version("DeepLab v3+ (Chen et al. 2018)", "v3plus", wide=True)
        if not shapes_ok:
            FV.missing(right)
        else:
            FV.head("v3+", "fam_v3p_fig", right, model=v3p)

            # ----------------------------------------------------------------------- live
            st.subheader("v3 against v3+ on a ShapesWorld scene")
            prose.show(P, "live")
            c_seed, c_os, _ = st.columns([1, 2, 1])
            seed = links.number_input(c_seed, "Scene seed", 0, 99_999, 3, key="fam_seed")
            live_os = links.segmented_control(
                c_os,
                "Output stride of both models",
                [8, 16, 32],
                default=LIVE_OS,
                key="fam_os",
                help=prose.text(P, "live_os_help"),
            )
            live_os = int(live_os or LIVE_OS)
            scene, v3_map, steps = FC.live(int(seed), live_os, *FC.pair(live_os))
            FV.live_results(scene, v3_map, steps, live_os)

            @st.fragment
            def zoom_section() -> None:
                c1, c2, c3, c4 = st.columns([2, 2, 2, 2])
                zx = links.slider(
                    c1, "Zoom centre x (%)", 0, 100, initial("fam_zx", 50), key="fam_zx"
                )
                zy = links.slider(
                    c2, "Zoom centre y (%)", 0, 100, initial("fam_zy", 50), key="fam_zy"
                )
                side = links.select_slider(
                    c3, "Crop side (px)", [16, 24, 32, 40, 48, 64, 96], 40, key="fam_zside"
                )
                c4.button(
                    "Where they differ most",
                    key="fam_zjump",
                    on_click=FV.jump_to_difference,
                    args=(v3_map, steps.class_map),
                )
                FV.zoom(scene, v3_map, steps.class_map, zx, zy, side)

            zoom_section()

            st.subheader("Inside the v3+ decoder")
            FV.decoder_steps(steps, live_os)

# --------------------------------------------------------------------------- separable
with t_sep:
    if t_sep.open:
        st.header("Atrous separable convolution (v3+)")
        prose.show(P, "separable")
        c1, c2, c3 = st.columns(3)
        ch = links.select_slider(
            c1, "Channels (in = out)", [64, 128, 256, 512], 256, key="fam_sep_ch"
        )
        rate = links.select_slider(c2, "Rate", [1, 2, 4, 6, 12], 2, key="fam_sep_rate")
        hw = links.select_slider(c3, "Feature map side (cells)", [17, 33, 65], 33, key="fam_sep_hw")
        cmp = separable_vs_regular(3, int(ch), int(ch), int(hw), int(hw))
        FV.separable_counts(cmp)
        sep_key = (int(ch), int(rate), int(hw))
        sep_done = st.session_state.setdefault("fam_sep_done", set())
        if sep_key not in sep_done and st.button(
            "Measure the latency (CPU, a few runs)", key="fam_sep_go"
        ):
            sep_done.add(sep_key)
        if sep_key in sep_done:
            FV.separable_measured(FC.timing(*sep_key), cmp)
        FV.mnv2_example()

# --------------------------------------------------------------------------- multi-grid
with t_mg:
    if t_mg.open:
        st.header("Multi-grid (v3)")
        prose.show(P, "multigrid")
        c1, c2 = st.columns(2)
        unit = links.segmented_control(
            c1, "Unit rates (multi-grid)", list(FA.MULTI_GRIDS), default="(1, 2, 4)", key="fam_mg"
        )
        block = links.segmented_control(
            c2,
            "Block rate",
            [1, 2, 4],
            default=2,
            key="fam_mg_block",
            help=prose.text(P, "block_help"),
        )
        base = FA.multigrid_rates((1, 1, 1), int(block))
        chosen = FA.multigrid_rates(FA.MULTI_GRIDS[unit], int(block))
        cols = st.columns(2)
        FV.multigrid_column(cols[0], base, "(1, 1, 1)", block, 0)
        FV.multigrid_column(cols[1], chosen, unit, block, 1)
        FV.multigrid_notes(base, chosen, unit, block)
