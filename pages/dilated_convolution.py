"""Dilated convolution: where a k×k kernel at rate r reads, what it costs, how to compute it.

The page reads its widgets and calls: the words are in lessons/dilated_convolution.md,
what it draws in ui/dilated_view.py, the cached image work in ui/dilated_cache.py.
"""

from __future__ import annotations

from functools import partial

import numpy as np
import streamlit as st

from deeplab_viz import atrous
from deeplab_viz import atrous_lesson as AL
from deeplab_viz.plots.atrous import image_taps_figure, sampling_grid_figure, stacked_1d_figure
from deeplab_viz.rates import RatesError, parse_rates
from ui import dilated_cache, dilated_view, links, pick
from ui.dilated_view import say
from ui.sidebar import current_lesson

VIEWS = ["Sampling grid", "On your image", "Stacking", "Space-to-batch", "Filters", "Cost"]
STACK_KERNELS = {"2 taps, causal": 2, "3 taps, centred": 3}  # WaveNet / Yu & Koltun
STACK_LIMITS = {"max_layers": 8, "max_rate": 32}

lesson = current_lesson()
OS = lesson.model.spec.output_stride
img = dilated_cache.working_image(lesson.image.key, lesson.size, lesson.image.rgb)
H, W = img.shape[:2]

st.title("Dilated convolution")
st.markdown(say("intro"))

with st.container(border=True):
    c1, c2, c3 = st.columns([2, 2, 3])
    k = links.slider(c1, "Kernel size k", 1, 7, 3, key="dc_k")
    r = links.slider(c2, "Rate r (dilation)", 1, 36, 2, key="dc_rate")
    k_eff = atrous.effective_kernel_size(k, r)
    c3.markdown(say("kernel_summary", k=k, r=r, k_eff=k_eff, weights=k * k))

tabs = links.tabs(st, VIEWS, key="dc_view")
grid_tab, image_tab, stack_tab, s2b_tab, filter_tab, cost_tab = tabs

# --------------------------------------------------------------------------- sampling grid
with grid_tab:
    if grid_tab.open:
        st.markdown(say("grid_intro"))
        a, b = st.columns(2)
        size = links.slider(a, "Input size (pixels per side)", 3, 65, 15, key="dc_size")
        stride = links.slider(b, "Stride s", 1, 4, 1, key="dc_stride")
        c, d = st.columns(2)
        units = list(AL.UNITS)
        unit = links.segmented_control(c, "Output unit", units, default="centre", key="dc_unit")
        same = links.toggle(d, '"Same" padding p = (k_eff−1)/2', value=True, key="dc_same")
        if same:
            pad = atrous.default_padding(k, r)
            d.caption(say("same_padding", k_eff=k_eff, pad=pad))
        else:
            pad = links.slider(d, "Padding p", 0, 110, 0, key="dc_pad")
        try:
            m = atrous.conv_output_size(size, k, stride=stride, padding=pad, dilation=r)
        except ValueError:
            st.error(say("no_output", k_eff=k_eff, padded=size + 2 * pad, size=size, pad=pad))
        else:
            fig_col, num_col = st.columns([3, 1.1])
            out_index = AL.output_unit_index(unit, m)
            fig = sampling_grid_figure(size, k, r, out_index=out_index, stride=stride, padding=pad)
            fig_col.plotly_chart(fig, width="stretch", theme=None, key="dc_grid_fig")
            dilated_view.grid_numbers(num_col, k, r, size, pad, stride, m)

# --------------------------------------------------------------------------- on the image


@st.fragment
def image_view(img: np.ndarray, k: int, r: int, os_: int, label: str) -> None:
    h, w = img.shape[:2]
    st.markdown(say("image_intro", label=label, os=os_, r=r, spacing=r * os_))
    a, b = st.columns(2)
    pick.keep_inside(w, h, "dc_px", "dc_py")  # a narrower image: stay on it
    px = links.slider(a, "Pixel x", 0, w - 1, w // 2, key="dc_px")
    py = links.slider(b, "Pixel y", 0, h - 1, h // 2, key="dc_py")
    align = lesson.model.entry.align_corners
    taps = atrous.image_taps((py, px), (h, w), k, r, os_, align_corners=align)
    fig_col, num_col = st.columns([3, 1.1])
    fig = image_taps_figure(img, taps, (py, px))
    pick.chart(
        fig_col,
        fig,
        key="dc_img_fig",
        x_key="dc_px",
        y_key="dc_py",
        width=W,
        height=H,
        theme=None,
        config={"displaylogo": False},
    )
    dilated_view.image_numbers(num_col, taps, k, r, os_, w, h)


with image_tab:
    if image_tab.open:
        image_view(img, k, r, OS, lesson.label)

# --------------------------------------------------------------------------- stacking
with stack_tab:
    if stack_tab.open:
        st.markdown(say("stack_intro"))
        a, b = st.columns([2, 1])
        parse = partial(parse_rates, **STACK_LIMITS)
        text = links.text_input(
            a, "Rates, bottom to top", "1, 2, 4, 8", key="dc_stack", max_chars=200, parse=parse
        )
        choice = links.segmented_control(
            b, "Kernel", list(STACK_KERNELS), default="2 taps, causal", key="dc_stack_k"
        )
        kern = STACK_KERNELS[choice]
        try:
            rates = parse_rates(text, **STACK_LIMITS)
        except RatesError as exc:
            st.error(links.plain(str(exc)))  # it may quote what was typed
        else:
            stack = atrous.stacked_1d_rf(rates, int(kern), causal=int(kern) == 2)
            fig = stacked_1d_figure(stack)
            st.plotly_chart(fig, width="stretch", theme=None, key="dc_stack_fig")
            dilated_view.stack_caption(stack)

# --------------------------------------------------------------------------- space-to-batch
with s2b_tab:
    if s2b_tab.open:
        st.markdown(say("s2b_intro"))
        rate = links.slider(st, "Rate r for this view", 2, 4, 2, key="dc_s2b_rate")
        check = dilated_cache.s2b_check(lesson.image.key, lesson.size, rate, k, img)
        dilated_view.s2b_result(check, img)

# --------------------------------------------------------------------------- filters


@st.fragment
def filter_view(img: np.ndarray, image_key: str, size: int) -> None:
    st.markdown(say("filter_intro"))
    a, b = st.columns([1, 2])
    kernel = links.selectbox(a, "Kernel", list(atrous.KERNELS), index=1, key="dc_filter")
    chosen = links.pills(
        b, "Rates", [1, 2, 4, 8, 16, 32], default=[1, 2, 4, 8], key="dc_filter_rates"
    )
    rates = AL.picked_rates(chosen)
    if not rates:
        st.info(say("filter_no_rate"))
        return
    dilated_view.filter_pictures(dilated_cache.filtered(image_key, size, kernel, rates, img))


with filter_tab:
    if filter_tab.open:
        filter_view(img, lesson.image.key, lesson.size)

# --------------------------------------------------------------------------- cost


@st.fragment
def cost_view(k: int, r: int, os_: int, size: int) -> None:
    st.markdown(say("cost_intro"))
    cells = AL.feature_cells(size, os_)
    a, b, c = st.columns(3)
    c_in = links.number_input(a, "Input channels C_in", 1, 4096, 256, key="dc_cin")
    c_out = links.number_input(b, "Output channels C_out", 1, 4096, 256, key="dc_cout")
    help_ = say("feature_help", size=size, os=os_, cells=cells)
    feat = links.number_input(
        c, "Feature map side (cells)", 1, 1025, cells, key="dc_feat", help=help_
    )
    pad = atrous.default_padding(k, r)
    out = atrous.conv_output_size(int(feat), k, padding=pad, dilation=r)
    cmp = atrous.separable_vs_regular(k, int(c_in), int(c_out), out, out)
    dilated_view.cost_numbers(cmp, k, r, int(c_out), out)


with cost_tab:
    if cost_tab.open:
        cost_view(k, r, OS, lesson.size)
