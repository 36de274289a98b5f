"""What the "Dilated convolution" page draws once its widgets are read.

The words come from lessons/dilated_convolution.md (:func:`say`), the numbers from
:mod:`deeplab_viz.atrous` and :mod:`deeplab_viz.atrous_lesson`. Nothing here makes a
widget bound to the link: those stay on the page.
"""

from __future__ import annotations

from functools import partial

import numpy as np
import streamlit as st

from deeplab_viz import atrous
from deeplab_viz import atrous_lesson as AL
from deeplab_viz.atrous import CostComparison, ImageTaps, Stacked1D
from deeplab_viz.atrous_views import SpaceToBatchCheck
from deeplab_viz.plots.atrous import cost_figure, interleave_figure, subimages_figure

from . import prose

say = partial(prose.text, "dilated_convolution")  # a section of the lesson, fields filled


def grid_numbers(where, k: int, r: int, size: int, pad: int, stride: int, m: int) -> None:
    """The sampling grid's four numbers beside its figure."""
    k_eff = atrous.effective_kernel_size(k, r)
    share = atrous.valid_tap_fraction((size, size), k, r, padding=pad, stride=stride)
    help_ = say("effective_help", k=k, k1=k - 1, r1=r - 1, k_eff=k_eff)
    where.metric("Effective size", f"{k_eff} px", help=help_, border=True)
    where.metric("Parameters", f"{k * k}", help=say("params_help"), border=True)
    where.caption(say("params_note"))
    reach = r * (k - 1)
    help_ = say("output_help", size=size, pad2=2 * pad, reach=reach, stride=stride, m=m)
    where.metric("Output size", f"{m} × {m}", help=help_, border=True)
    where.metric("Valid taps", f"{share:.0%}", help=say("valid_help"), border=True)


def image_numbers(where, taps: ImageTaps, k: int, r: int, os_: int, w: int, h: int) -> None:
    """The taps on the image: spacing, span, how many land on the feature map."""
    spacing = taps.spacing
    where.metric("Tap spacing", f"{spacing} px", help=say("spacing_help", r=r, os=os_))
    span = AL.image_kernel_span(k, r, os_)
    help_ = say("span_help", spacing=spacing, os=os_)
    where.metric("Kernel span on the image", f"{span} px", help=help_)
    taps_on = f"{int(taps.valid.sum())} of {taps.valid.size}"
    where.metric("Taps on the feature map", taps_on, help=say("taps_help"))
    (fh, fw), (cy, cx) = taps.feature_hw, taps.centre_cell
    where.caption(say("image_caption", w=w, h=h, fw=fw, fh=fh, cx=cx, cy=cy))


def stack_caption(stack: Stacked1D) -> None:
    """How the 1-D stack's receptive field grows, and what its weights cost."""
    k, rates = stack.kernel, stack.rates
    values = {"sizes": AL.stack_growth(stack), "k1": k - 1, "rate_sum": sum(rates)}
    st.caption(say("stack_caption", **values, layers=len(rates), kernel=k))


def s2b_result(check: SpaceToBatchCheck, img: np.ndarray) -> None:
    """The live space-to-batch check: its numbers, its verdict, the sub-images."""
    h, w = img.shape[:2]
    rate = check.rate
    c1, c2, c3 = st.columns(3)
    diff = AL.s2b_diff_text(check)
    help_ = say("s2b_diff_help", top=f"{check.max_abs_value:.1f}")
    c1.metric("max |difference|", diff, help=help_, border=True)
    c2.metric("Sub-images", f"{check.n_subimages}", border=True)
    times = f"{check.dilated_ms:.0f} / {check.subimage_ms:.0f} ms"
    runs, dilated, subs = len(check.dilated.runs_ms), check.dilated, check.subimages
    help_ = say("s2b_time_help", runs=runs, dilated=dilated.text(0), subimages=subs.text(0))
    c3.metric("Time: dilated vs sub-images", times, help=help_, border=True)
    verdict = say("s2b_equal" if AL.s2b_equal(check) else "s2b_not_equal")
    how = say("s2b_round_off" if check.max_abs_diff else "s2b_identical")
    st.success(
        say(
            "s2b_result",
            w=w,
            h=h,
            k=check.kernel,
            channels=check.out_channels,
            rate=rate,
            n=check.n_subimages,
            verdict=verdict,
            diff=diff,
            how=how,
        )
    )
    st.caption(say("s2b_speed", sentence=check.speed().sentence()))
    left, right = st.columns([3, 1.4])
    fig = subimages_figure(atrous.subimages(img, rate), rate)
    left.plotly_chart(fig, width="stretch", theme=None, key="dc_s2b_fig")
    right.plotly_chart(interleave_figure(rate), width="stretch", theme=None, key="dc_s2b_grid")
    right.caption(say("s2b_interleave"))


def filter_pictures(results: list[tuple[int, np.ndarray]]) -> None:
    """One picture per rate, at most four to a row."""
    cols = st.columns(min(len(results), 4))
    for i, (rr, pic) in enumerate(results):
        span = atrous.effective_kernel_size(3, rr)
        caption = f"rate {rr} · spans {span}×{span} px"
        cols[i % len(cols)].image(pic, caption=caption, width="stretch")


def cost_numbers(cmp: CostComparison, k: int, r: int, c_out: int, out: int) -> None:
    """Regular against depthwise-separable: parameters, FLOPs, their ratio, the chart."""
    m1, m2, m3 = st.columns(3)
    m1.metric("Regular: parameters", f"{cmp.regular.params:,}", border=True)
    m1.metric("Regular: FLOPs", f"{cmp.regular.flops:,}", border=True)
    m2.metric("Separable: parameters", f"{cmp.separable.params:,}", border=True)
    m2.metric("Separable: FLOPs", f"{cmp.separable.flops:,}", border=True)
    help_ = say("ratio_help", c_out=c_out, k2=k * k)
    m3.metric("Separable / regular", f"{cmp.flop_ratio:.3f}", help=help_, border=True)
    m3.metric("Saving", f"{1 / cmp.flop_ratio:.1f}×", border=True)
    st.plotly_chart(cost_figure(cmp), width="stretch", theme=None, key="dc_cost_fig")
    st.caption(say("cost_caption", k=k, r=r, out=out))
