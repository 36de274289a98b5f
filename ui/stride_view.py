"""What the Output stride page shows besides its widgets: its words, columns and tables.

The page (pages/output_stride.py) reads the widgets and calls these; nothing here is
bound to the link. The words come from ``lessons/output_stride.md`` through
:func:`text`; the numbers from :mod:`deeplab_viz.cost.strides`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial

import numpy as np
import streamlit as st

from deeplab_viz import cost
from deeplab_viz.boundary import share_near_boundary
from deeplab_viz.cost.strides import (
    MB,
    contrast,
    policy_tap_tables,
    stride_table,
    widest_rate,
)
from deeplab_viz.models import OUTPUT_STRIDES, LoadedModel, ModelSpec
from deeplab_viz.models.output_stride import max_dilation
from deeplab_viz.plots.output_stride import tap_share_figure
from deeplab_viz.timing import compare

from . import prose

PAGE = "output_stride"
STRIDES = tuple(OUTPUT_STRIDES)  # (8, 16, 32)
REFERENCE = 8
BOUNDARY_PX = 3  # "near a boundary": within this many pixels of a class change at OS 8
REPEATS = 3  # timed forwards per stride when the user asks for a measurement
DEEPLABV3_RATES = (12, 24, 36)  # ASPP rates of DeepLabv3 at OS 8 (6/12/18 at OS 16)
ZOOM_SIDE = 64  # default crop side, pixels
POLICY_TITLES = {"scale": "scale with stride", "keep": "keep trained"}

Measured = Mapping[int, tuple[cost.LatencyResult, cost.MemoryResult]]


text = partial(prose.text, PAGE)  # a section of the lesson, fields filled


def os_label(s: int) -> str:
    return f"OS {s}"


def _pct(v: float, digits: int = 1) -> str:
    return f"{100 * v:.{digits}f}"


def stride_columns(
    models: Mapping[int, LoadedModel],
    views: Mapping[int, np.ndarray],
    by_os: Mapping[int, cost.StrideRow],
) -> None:
    """One column per stride: the class map, the ASPP input's size, the agreement."""
    cols = st.columns(len(STRIDES))
    for col, s in zip(cols, STRIDES, strict=True):
        r = by_os[s]
        h, w = r.feature_hw
        near = _pct(r.boundary_agreement)
        col.markdown(f"### {os_label(s)}")
        col.image(views[s], caption=models[s].spec.label, width="stretch")
        m1, m2 = col.columns(2)
        m1.metric("ASPP input", f"{w}×{h}", help=text("help_aspp_input"))
        m2.metric(
            "Same as OS 8",
            f"{_pct(r.agreement)}%",
            help=text("help_same_as_reference", near=near, px=BOUNDARY_PX),
        )
        col.caption(
            text(
                "column_reference" if s == REFERENCE else "column_other",
                in_width=r.input_hw[1],
                in_height=r.input_hw[0],
                stride=s,
                width=w,
                height=h,
                near=near,
            )
        )


def jump_to_difference(a: np.ndarray, b: np.ndarray, side: int) -> None:
    """Move the zoom's crop onto the window where two class maps differ most."""
    y, x = cost.most_disagreement(a, b, side)
    st.session_state["os_zoom_x"] = int(round(100 * x))
    st.session_state["os_zoom_y"] = int(round(100 * y))


def zoom_crops(
    cols: Sequence,
    maps: Mapping[int, np.ndarray],
    views: Mapping[int, np.ndarray],
    box: Sequence[int],
) -> None:
    """The crop ``box`` of each stride's view, enlarged, with its agreement with OS 8."""
    y0, x0, y1, x1 = box
    for col, s in zip(cols, STRIDES, strict=True):
        if s == REFERENCE:
            caption = text("crop_reference", stride=os_label(s))
        else:
            share = cost.agreement(maps[s][y0:y1, x0:x1], maps[REFERENCE][y0:y1, x0:x1])
            caption = text("crop_other", stride=os_label(s), share=_pct(share, 0))
        col.image(cost.boundary_zoom(views[s], box), caption=caption, width="stretch")
    st.caption(text("zoom_caption"))


def cost_table(
    rows: Sequence[cost.StrideRow],
    measured: Measured | None,
    models: Mapping[int, LoadedModel],
    family: str,
) -> None:
    """The per-stride table, short headers (the full name in each tooltip) and widths
    that fit a 1280 px window."""
    wiring = {s: max_dilation(models[s].module, family) for s in STRIDES}
    table = stride_table(rows, measured, wiring)
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
            "max dilation": Col.NumberColumn("max rate", width=70, help=text("help_max_dilation")),
            "GFLOPs": Col.NumberColumn(width=66),
            "time (ms)": Col.NumberColumn("time ms", width=64, help="time (ms)"),
            "feature maps (MB)": Col.NumberColumn(
                "features MB", width=92, help="feature maps (MB)"
            ),
            **{
                c: Col.NumberColumn(
                    "torch MB" if "torch" in c else "peak MB",
                    width=78 if "torch" in c else 72,
                    help=c,
                )
                for c in peak_names
            },
            "same as OS 8": Col.TextColumn("vs OS 8", width=70, help=text("help_same")),
            "near boundaries": Col.TextColumn("near edges", width=86, help=text("help_near")),
        },
    )


def cost_caption(measured: Measured | None, active: ModelSpec, itemsize: int) -> str:
    """What the table's columns and the figure's bars are, and how they were measured."""
    if measured:
        time_note = text("time_measured", repeats=REPEATS)
    else:
        time_note = text("time_probe")
    method = next(iter(measured.values()))[1] if measured else None
    if method is None:
        mem_note = text("memory_later")
    elif method.allocated_bytes is None:
        mem_note = text(
            "memory_one_way", method=method.method, device=active.device, note=method.note
        )
    else:
        mem_note = text(
            "memory_two_ways", alloc_note=cost.ALLOC_NOTE, method=method.method, note=method.note
        )
    return text(
        "cost_caption",
        px=BOUNDARY_PX,
        flops=cost.FLOP_CONVENTION,
        time=time_note,
        dtype="float32" if itemsize == 4 else active.dtype,
        memory=mem_note,
    )


def measured_notes(measured: Measured, by_os: Mapping[int, cost.StrideRow]) -> None:
    """After a measurement: which stride is faster, and how the peaks compare."""
    verdicts = [
        compare(
            os_label(a), measured[a][0].spread(), os_label(b), measured[b][0].spread()
        ).sentence()
        for a, b in ((8, 16), (16, 32), (8, 32))
    ]
    st.markdown(text("time_verdicts", verdicts="; ".join(verdicts)))
    p8, p32 = measured[8][1].best_bytes, measured[32][1].best_bytes
    st.markdown(
        text(
            "memory_ratio",
            ratio=f"{p8 / max(p32, 1):.1f}",
            fine_mb=f"{p8 / MB:.0f}",
            coarse_mb=f"{p32 / MB:.0f}",
            method=measured[8][1].best_method,
            bytes_ratio=f"{contrast(by_os[8], by_os[32]).bytes_ratio:.1f}",
        )
    )


def trade_off(by_os: Mapping[int, cost.StrideRow], maps: Mapping[int, np.ndarray]) -> str:
    """OS 8 against OS 32 on this image: what it costs, what it changes, and where."""
    c = contrast(by_os[8], by_os[32])
    near = share_near_boundary(maps[32], maps[8], 16)  # half an OS 32 cell
    return text(
        "trade_off",
        flops=f"{c.flops_ratio:.1f}",
        bytes=f"{c.bytes_ratio:.1f}",
        changed=_pct(c.changed),
        near=_pct(near, 0),
    )


def rates_section(
    label: str,
    models: Mapping[int, LoadedModel],
    active: ModelSpec,
    by_os: Mapping[int, cost.StrideRow],
) -> None:
    """The share of ASPP taps on real cells at each stride, rates scaled or kept."""
    st.subheader("ASPP rates must follow the stride")
    entry = active.entry
    has_atrous = any(k == "atrous" for k in models[REFERENCE].module.aspp.kinds)
    running = (active.aspp_rates, {s: models[s].aspp_rates for s in STRIDES})
    tables = policy_tap_tables(
        {s: by_os[s].feature_hw for s in STRIDES},
        trained_rates=entry.trained_rates if has_atrous else DEEPLABV3_RATES,
        trained_stride=entry.native_stride if has_atrous else 8,
        running=running if has_atrous else None,
    )
    st.markdown(text("rates_intro"))
    if not has_atrous:
        st.info(text("no_atrous", model=label), icon="ℹ️")
    active_title = POLICY_TITLES[active.aspp_rates] if has_atrous else None
    titled = {POLICY_TITLES[p]: rows for p, rows in tables.items()}
    st.plotly_chart(tap_share_figure(titled, active=active_title), width="stretch")
    worst = widest_rate(tables["keep"], 32)
    if worst is not None:
        h, w = worst.feature_hw
        st.caption(
            text(
                "widest_rate",
                rate=worst.rate,
                width=w,
                height=h,
                spacing=worst.spacing_px,
                span=worst.span_px,
                share=_pct(worst.valid_share, 0),
            )
        )
