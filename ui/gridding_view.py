"""What the "Gridding" page draws, tab by tab; the widgets stay on the page.

Each function renders one finished view from values the page read and computed; the
words come from ``lessons/gridding.md``.
"""

from __future__ import annotations

from functools import partial

import numpy as np
import pandas as pd
import streamlit as st

from deeplab_viz.atrous_views import zoom_crop
from deeplab_viz.gridding import Coverage, erf_title, hdc_checklist, hdc_rows, is_plain_chain
from deeplab_viz.gridding import rates_label as label
from deeplab_viz.plots.gridding import coverage_figure, erf_figure, erf_profile_figure
from deeplab_viz.plots.output_stride import mark_box
from deeplab_viz.rates import format_rates

from . import pick, prose
from .gridding_cache import K, coverage

text = partial(prose.text, "gridding")  # a section of the lesson, fields filled


def coverage_view(rates: tuple[int, ...], cov: Coverage) -> None:
    """The "Coverage" tab: three numbers, the map of paths, what it says."""
    m1, m2, m3 = st.columns(3)
    m1.metric(
        "Coverage of the receptive field",
        f"{cov.coverage:.1%}",
        help=text("coverage_help"),
        border=True,
    )
    m2.metric("Cells read", f"{cov.covered} / {cov.rf_cells}", border=True)
    m3.metric(
        "Receptive field",
        f"{cov.side} × {cov.side}",
        help=text("rf_help", rate_sum=sum(rates), side=cov.side),
        border=True,
    )
    left, right = st.columns([3, 2])
    left.plotly_chart(
        coverage_figure(cov, height=640), width="stretch", theme=None, key="gr_cov_fig"
    )
    right.markdown(text("paths"))
    if cov.full:
        right.success(text("no_holes", rates=label(rates), cells=cov.rf_cells))
    else:
        right.warning(
            text(
                "holes",
                rates=label(rates),
                covered=cov.covered,
                cells=cov.rf_cells,
                share=f"{cov.coverage:.1%}",
                holes=cov.rf_cells - cov.covered,
            )
        )
        right.caption(text("common_factor"))


def hdc_view(rates: tuple[int, ...], cov: Coverage, hdc, fix) -> None:
    """The "HDC rule" tab: the rule layer by layer, its verdict, a fix side by side."""
    st.markdown(text("hdc_rule"))
    left, right = st.columns([3, 2])
    left.dataframe(pd.DataFrame(hdc_rows(hdc)), hide_index=True, width="stretch")
    right.markdown(hdc_checklist(hdc))
    if hdc.passes:
        right.success(text("hdc_passes", rates=label(rates)))
    else:
        right.warning(text("hdc_fails", rates=label(rates)))
    if fix is None:
        return
    fcov = coverage(fix.suggested)
    st.subheader(f"Suggested fix: {label(fix.suggested)}")
    st.caption(
        text(
            "fix_found",
            strategy=fix.strategy,
            suggested=fix.suggested_rf,
            original=fix.original_rf,
        )
    )
    c1, c2 = st.columns(2)
    for col, c, title, key in (
        (c1, cov, f"yours {label(rates)}: {cov.coverage:.1%}", "gr_hdc_orig"),
        (c2, fcov, f"fixed {label(fix.suggested)}: {fcov.coverage:.1%}", "gr_hdc_fix"),
    ):
        col.plotly_chart(coverage_figure(c, title=title), width="stretch", theme=None, key=key)


def artifact_view(pics, box, zy: int, zx: int, zoom: int) -> None:
    """The pictures side by side (the input one clickable: it moves the zoom), then the
    same crop of each, enlarged."""
    h, w = pics[0][1].shape[:2]
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
            col.caption(text("click_to_zoom", title=title))
        else:
            col.image(pic, caption=title, width="stretch")
    st.markdown(text("zoomed", x=zx, y=zy, zoom=zoom))
    cols = st.columns(len(pics))
    for col, (title, pic) in zip(cols, pics, strict=True):
        col.image(zoom_crop(pic, (zy, zx), zoom, 6), caption=title, width="stretch")


def erf_view(res, info, stage: str, source: str, n: int, os_: int) -> None:
    """The "In the model" tab once the stage's ERF is there: numbers, map, profile."""
    m1, m2, m3 = st.columns(3)
    m1.metric("Zero-gradient cells", f"{res.hole_share:.0%}", help=text("zero_help"), border=True)
    m2.metric("Reach", f"± {res.reach} cells", border=True)
    m3.metric("Spatial conv rates in the stage", format_rates(info.dilations), border=True)
    left, right = st.columns([2, 1])
    left.plotly_chart(
        erf_figure(
            res.erf, res.centre_yx, reach=res.reach, title=erf_title(stage, source, n), height=620
        ),
        width="stretch",
        theme=None,
        key="gr_erf_fig",
    )
    right.markdown(text("erf_cells"))
    if is_plain_chain(info, K):
        pred = coverage(tuple(info.dilations))
        right.markdown(
            text(
                "erf_predicted",
                rates=format_rates(info.dilations),
                coverage=f"{pred.coverage:.0%}",
                holes=f"{1 - pred.coverage:.0%}",
                found=f"{res.hole_share:.0%}",
            )
        )
    if res.hole_share == 0 and info.dilated:
        right.info(text("erf_no_zero"))
    right.caption(text("stage_input", width=res.input_hw[1], height=res.input_hw[0], os=os_))
    st.plotly_chart(
        erf_profile_figure(res.erf, res.centre_yx, reach=res.reach),
        width="stretch",
        theme=None,
        key="gr_erf_row",
    )
