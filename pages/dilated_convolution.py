"""Dilated convolution: where a k×k kernel at rate r reads, what it costs, how to compute it."""

from __future__ import annotations

from functools import partial

import numpy as np
import streamlit as st

from deeplab_viz import atrous
from deeplab_viz.atrous_views import (
    filter_at_rates,
    resize_longest,
    space_to_batch_check,
)
from deeplab_viz.plots.atrous import (
    cost_figure,
    image_taps_figure,
    interleave_figure,
    sampling_grid_figure,
    stacked_1d_figure,
    subimages_figure,
)
from deeplab_viz.rates import RatesError, parse_rates
from ui import links, pick
from ui.sidebar import current_lesson

VIEWS = ["Sampling grid", "On your image", "Stacking", "Space-to-batch", "Filters", "Cost"]
STACK_KERNELS = {"2 taps, causal": 2, "3 taps, centred": 3}  # WaveNet / Yu & Koltun
STACK_LIMITS = {"max_layers": 8, "max_rate": 32}
UNITS = ["centre", "top edge", "corner"]  # which output unit the grid shows


@st.cache_data(max_entries=16, show_spinner=False)
def working_image(image_key: str, size: int, _rgb: np.ndarray) -> np.ndarray:
    """The image at the size the model sees (longest side ``size``)."""
    return resize_longest(_rgb, size)


@st.cache_data(max_entries=32, show_spinner="Checking the identity on your image…")
def s2b_check(image_key: str, size: int, rate: int, k: int, _rgb: np.ndarray):
    return space_to_batch_check(_rgb, rate, kernel=k)


@st.cache_data(max_entries=32, show_spinner="Filtering…")
def filtered(image_key: str, size: int, kernel: str, rates: tuple[int, ...], _rgb: np.ndarray):
    return filter_at_rates(_rgb, kernel, rates)


def _out_index(unit: str, m: int) -> tuple[int, int]:
    c = m // 2
    return {"centre": (c, c), "top edge": (0, c), "corner": (0, 0)}[unit]


# --------------------------------------------------------------------------- page

lesson = current_lesson()
OS = lesson.model.spec.output_stride
img = working_image(lesson.image.key, lesson.size, lesson.image.rgb)
H, W = img.shape[:2]

st.title("Dilated convolution")
st.markdown(
    "A **dilated** (atrous, *à trous* = “with holes”) convolution spreads the taps of a "
    "k×k kernel **r pixels apart**. With the same k² weights it spans "
    "**k + (k−1)(r−1)** pixels, so a network sees farther without more parameters and "
    "without shrinking its feature map (Yu & Koltun 2016). DeepLab replaces the last "
    "strides of its backbone with rates, and its ASPP reads the same features at several "
    "rates at once (Chen et al., DeepLab v2/v3)."
)

with st.container(border=True):
    c1, c2, c3 = st.columns([2, 2, 3])
    k = links.slider(c1, "Kernel size k", 1, 7, 3, key="dc_k")
    r = links.slider(c2, "Rate r (dilation)", 1, 36, 2, key="dc_rate")
    k_eff = atrous.effective_kernel_size(k, r)
    c3.markdown(
        f"**{k}×{k} at rate {r}** spans **{k_eff}×{k_eff} px** with {k * k} weights "
        f"(per channel pair).  \nUsed by *Sampling grid*, *On your image* and *Cost*."
    )

tabs = links.tabs(st, VIEWS, key="dc_view")
grid_tab, image_tab, stack_tab, s2b_tab, filter_tab, cost_tab = tabs

# --------------------------------------------------------------------------- sampling grid
with grid_tab:
    if grid_tab.open:
        st.markdown(
            "Each output unit reads the input at **o·s − p + t·r** for taps t = 0…k−1 "
            "(stride s, padding p). The blue dots are real pixels; red crosses land in the "
            "zero padding and contribute nothing. Pick a corner unit and a big rate to see "
            "how many taps are wasted at the border."
        )
        a, b = st.columns(2)
        size = links.slider(a, "Input size (pixels per side)", 3, 65, 15, key="dc_size")
        stride = links.slider(b, "Stride s", 1, 4, 1, key="dc_stride")
        c, d = st.columns(2)
        unit = links.segmented_control(c, "Output unit", UNITS, default="centre", key="dc_unit")
        same = links.toggle(d, '"Same" padding p = (k_eff−1)/2', value=True, key="dc_same")
        if same:
            pad = atrous.default_padding(k, r)
            d.caption(f"p = ({k_eff}−1)/2 = {pad} px per side")
        else:
            pad = links.slider(d, "Padding p", 0, 110, 0, key="dc_pad")
        try:
            m = atrous.conv_output_size(size, k, stride=stride, padding=pad, dilation=r)
        except ValueError:
            st.error(
                f"The dilated kernel spans {k_eff} px but the padded input is only "
                f"{size + 2 * pad} px ({size} + 2×{pad}), so there is no output: lower the "
                "rate, or add padding."
            )
        else:
            fig_col, num_col = st.columns([3, 1.1])
            fig = sampling_grid_figure(
                size, k, r, out_index=_out_index(unit, m), stride=stride, padding=pad
            )
            fig_col.plotly_chart(fig, width="stretch", theme=None, key="dc_grid_fig")
            share = atrous.valid_tap_fraction((size, size), k, r, padding=pad, stride=stride)
            num_col.metric(
                "Effective size",
                f"{k_eff} px",
                help=f"k + (k−1)(r−1) = {k} + {k - 1}·{r - 1} = {k_eff}",
                border=True,
            )
            num_col.metric(
                "Parameters",
                f"{k * k}",
                help="k² weights per (input, output) channel pair: the rate changes "
                "where they read, not how many there are.",
                border=True,
            )
            num_col.caption("the same at every rate")
            num_col.metric(
                "Output size",
                f"{m} × {m}",
                help=f"⌊(i + 2p − r(k−1) − 1)/s⌋ + 1 = ⌊({size} + {2 * pad} − {r * (k - 1)}"
                f" − 1)/{stride}⌋ + 1 = {m}",
                border=True,
            )
            num_col.metric(
                "Valid taps",
                f"{share:.0%}",
                help="Share of all (output unit, tap) pairs that read a real pixel rather "
                "than a padding zero, over the whole output.",
                border=True,
            )

# --------------------------------------------------------------------------- on the image


@st.fragment
def image_view(img: np.ndarray, k: int, r: int, os_: int, label: str) -> None:
    h, w = img.shape[:2]
    spacing = r * os_
    st.markdown(
        f"Inside **{label}**, a feature map at output stride **{os_}** has one cell per "
        f"{os_}×{os_} image pixels, so a rate-{r} kernel on it reads image points "
        f"**r × OS = {r} × {os_} = {spacing} px** apart. That is how DeepLab's ASPP "
        "covers objects of many sizes; at large rates most taps fall off the feature map "
        "and read zeros (why DeepLabv3 adds image-level pooling). Move the pixel with the "
        "sliders or click the picture."
    )
    a, b = st.columns(2)
    pick.keep_inside(w, h, "dc_px", "dc_py")  # a narrower image: stay on it
    px = links.slider(a, "Pixel x", 0, w - 1, w // 2, key="dc_px")
    py = links.slider(b, "Pixel y", 0, h - 1, h // 2, key="dc_py")
    taps = atrous.image_taps(
        (py, px), (h, w), k, r, os_, align_corners=lesson.model.entry.align_corners
    )
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
    n_valid = int(taps.valid.sum())
    num_col.metric("Tap spacing", f"{spacing} px", help=f"rate × output stride = {r} × {os_}")
    num_col.metric(
        "Kernel span on the image",
        f"{(k - 1) * spacing + os_} px",
        help=f"(k−1) × {spacing} px between the outer taps, plus one {os_}-px cell",
    )
    num_col.metric(
        "Taps on the feature map",
        f"{n_valid} of {taps.valid.size}",
        help="The others fall outside the feature map and read padding zeros.",
    )
    fh, fw = taps.feature_hw
    num_col.caption(
        f"Image {w}×{h} px as the model sees it; feature map {fw}×{fh} cells. "
        f"Your pixel is in cell ({taps.centre_cell[1]}, {taps.centre_cell[0]}) (x, y)."
    )


with image_tab:
    if image_tab.open:
        image_view(img, k, r, OS, lesson.label)

# --------------------------------------------------------------------------- stacking
with stack_tab:
    if stack_tab.open:
        st.markdown(
            "Stack dilated layers with rates **1, 2, 4, 8**: each layer doubles the "
            "receptive field, so it grows **exponentially with depth** while parameters "
            "grow linearly, and no position is skipped (WaveNet, van den Oord et al. 2016; "
            "the context module of Yu & Koltun 2016). Try 2, 2, 2 or 4, 4 to see units "
            "that no path reaches."
        )
        a, b = st.columns([2, 1])
        text = links.text_input(
            a,
            "Rates, bottom to top",
            "1, 2, 4, 8",
            key="dc_stack",
            max_chars=200,
            parse=partial(parse_rates, **STACK_LIMITS),
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
            st.plotly_chart(
                stacked_1d_figure(stack), width="stretch", theme=None, key="dc_stack_fig"
            )
            sizes = " → ".join(str(s) for s in stack.rf_sizes[1:])
            st.caption(
                f"Receptive field after each layer: {sizes} positions "
                f"(1 + (k−1)·Σr = 1 + {int(kern) - 1}·{sum(rates)}). "
                f"Parameters: {len(rates)} × {kern} weights per channel pair."
            )

# --------------------------------------------------------------------------- space-to-batch
with s2b_tab:
    if s2b_tab.open:
        st.markdown(
            "A rate-r convolution never mixes pixels whose rows (or columns) differ by "
            "anything but a multiple of r. So it is the same as splitting the image into "
            "its **r² interleaved sub-images** (every r-th pixel), running an **ordinary** "
            "convolution on each, and interleaving the results back: TensorFlow's "
            "`space_to_batch` trick behind `atrous_conv2d` (Chen et al., DeepLab)."
        )
        rate = links.slider(st, "Rate r for this view", 2, 4, 2, key="dc_s2b_rate")
        check = s2b_check(lesson.image.key, lesson.size, rate, k, img)
        c1, c2, c3 = st.columns(3)
        diff = f"{check.max_abs_diff:.1e}" if check.max_abs_diff else "0"
        c1.metric(
            "max |difference|",
            diff,
            help=f"Largest gap between the two outputs (values up to {check.max_abs_value:.1f}):"
            " float32 round-off only.",
            border=True,
        )
        c2.metric("Sub-images", f"{check.n_subimages}", border=True)
        c3.metric(
            "Time: dilated vs sub-images",
            f"{check.dilated_ms:.0f} / {check.subimage_ms:.0f} ms",
            help=f"Medians of {len(check.dilated.runs_ms)} interleaved runs each: dilated "
            f"{check.dilated.text(0)}; sub-images {check.subimages.text(0)}.",
            border=True,
        )
        verdict = (
            "equal" if check.max_abs_diff < 1e-3 * max(1.0, check.max_abs_value) else "NOT equal"
        )
        st.success(
            f"Checked live on your image ({W}×{H} px): a random {check.kernel}×{check.kernel} "
            f"kernel with {check.out_channels} output channels at rate {rate}, once dilated "
            f"and once on the {check.n_subimages} sub-images: **{verdict}**, "
            f"max |difference| = {diff}"
            + (" (bit-identical)." if not check.max_abs_diff else " (float32 round-off).")
        )
        st.caption(f"Speed, medians of interleaved runs: {check.speed().sentence()}.")
        left, right = st.columns([3, 1.4])
        subs = atrous.subimages(img, rate)
        left.plotly_chart(
            subimages_figure(subs, rate), width="stretch", theme=None, key="dc_s2b_fig"
        )
        right.plotly_chart(interleave_figure(rate), width="stretch", theme=None, key="dc_s2b_grid")
        right.caption(
            "Pixel (y, x) goes to sub-image (y mod r, x mod r). Each sub-image is the "
            "picture at 1/r resolution, shifted by less than r pixels: a rate-r kernel on "
            "the full image is a rate-1 kernel on one of them."
        )

# --------------------------------------------------------------------------- filters


@st.fragment
def filter_view(img: np.ndarray, image_key: str, size: int) -> None:
    st.markdown(
        "The same 3×3 kernel applied to your image at several rates. The weights never "
        "change, only the distance between the pixels they combine: edges get thicker "
        "and doubled, blur reaches farther but keeps fine detail between its taps."
    )
    a, b = st.columns([1, 2])
    kernel = links.selectbox(a, "Kernel", list(atrous.KERNELS), index=1, key="dc_filter")
    chosen = links.pills(
        b, "Rates", [1, 2, 4, 8, 16, 32], default=[1, 2, 4, 8], key="dc_filter_rates"
    )
    rates = tuple(sorted(int(x) for x in chosen or []))
    if not rates:
        st.info("Pick at least one rate.")
        return
    results = filtered(image_key, size, kernel, rates, img)
    cols = st.columns(min(len(results), 4))
    for i, (rr, pic) in enumerate(results):
        span = atrous.effective_kernel_size(3, rr)
        cols[i % len(cols)].image(
            pic, caption=f"rate {rr} · spans {span}×{span} px", width="stretch"
        )


with filter_tab:
    if filter_tab.open:
        filter_view(img, lesson.image.key, lesson.size)

# --------------------------------------------------------------------------- cost


@st.fragment
def cost_view(k: int, r: int, os_: int, size: int) -> None:
    st.markdown(
        "DeepLabv3+ (Chen et al. 2018) makes atrous convolution cheap by splitting it into "
        "a **depthwise** k×k conv (one filter per channel) and a **pointwise** 1×1 conv "
        "that mixes channels. Both costs depend on k and the channels, **not on the "
        "rate**: dilation moves the taps but adds no weights and no multiply-adds."
    )
    feat_default = -(-size // os_)
    a, b, c = st.columns(3)
    c_in = links.number_input(a, "Input channels C_in", 1, 4096, 256, key="dc_cin")
    c_out = links.number_input(b, "Output channels C_out", 1, 4096, 256, key="dc_cout")
    feat = links.number_input(
        c,
        "Feature map side (cells)",
        1,
        1025,
        feat_default,
        key="dc_feat",
        help=f"{size} px at output stride {os_} gives {feat_default} cells.",
    )
    pad = atrous.default_padding(k, r)
    out = atrous.conv_output_size(int(feat), k, padding=pad, dilation=r)
    cmp = atrous.separable_vs_regular(k, int(c_in), int(c_out), out, out)
    m1, m2, m3 = st.columns(3)
    m1.metric("Regular: parameters", f"{cmp.regular.params:,}", border=True)
    m1.metric("Regular: FLOPs", f"{cmp.regular.flops:,}", border=True)
    m2.metric("Separable: parameters", f"{cmp.separable.params:,}", border=True)
    m2.metric("Separable: FLOPs", f"{cmp.separable.flops:,}", border=True)
    m3.metric(
        "Separable / regular",
        f"{cmp.flop_ratio:.3f}",
        help=f"= 1/C_out + 1/k² = 1/{int(c_out)} + 1/{k * k} (same for parameters and FLOPs)",
        border=True,
    )
    m3.metric("Saving", f"{1 / cmp.flop_ratio:.1f}×", border=True)
    st.plotly_chart(cost_figure(cmp), width="stretch", theme=None, key="dc_cost_fig")
    st.caption(
        f"k = {k}, rate {r} (any rate gives the same numbers), {out}×{out} output cells; "
        "FLOPs = 2 × multiply-adds, biases not counted."
    )


with cost_tab:
    if cost_tab.open:
        cost_view(k, r, OS, lesson.size)
