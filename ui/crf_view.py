"""DeepLab v1/v2's dense CRF, live on the lesson's image (a section of DeepLab family).

The CRF runs once per image, model and settings with every mean-field step kept
(:func:`ui.refine_cache.crf_run`); the step slider, the changed-pixel map and the
boundary zoom only choose among those class maps.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from deeplab_viz import cost, refine
from deeplab_viz.crf import CRFParams
from deeplab_viz.plots.output_stride import mark_box
from deeplab_viz.plots.refine import changed_image, convergence_figure

from . import links, prose, refine_cache
from .refine_table import measured_table, points, shown

ZOOM_SIDE = 96  # pixels of the image in the boundary zoom
STEP_MAX = 50  # most mean-field steps offered on the page (the library allows more)


def _crf_params(where) -> CRFParams:
    d = CRFParams()
    with where.expander("CRF parameters (DeepLab v1's released settings)"):
        c1, c2, c3 = st.columns(3)
        iters = links.slider(
            c1, "Mean-field iterations", 1, STEP_MAX, d.iterations, key="fam_crf_iters"
        )
        w1 = links.number_input(
            c2, "Bilateral weight w1", 0.0, 50.0, d.bilateral_weight, 0.5, key="fam_crf_w1"
        )
        sxy = links.number_input(
            c3, "Bilateral σα (px)", 1.0, 500.0, d.bilateral_xy_std, 1.0, key="fam_crf_sxy"
        )
        c4, c5, c6 = st.columns(3)
        srgb = links.number_input(
            c4,
            "Bilateral σβ (colour levels)",
            1.0,
            100.0,
            d.bilateral_rgb_std,
            1.0,
            key="fam_crf_srgb",
        )
        w2 = links.number_input(
            c5, "Gaussian weight w2", 0.0, 50.0, d.gaussian_weight, 0.5, key="fam_crf_w2"
        )
        gxy = links.number_input(
            c6, "Gaussian σγ (px)", 0.5, 50.0, d.gaussian_xy_std, 0.5, key="fam_crf_gxy"
        )
        st.caption(prose.text("deeplab_family", "crf_settings"))
    try:
        return CRFParams(iters, w1, sxy, srgb, w2, gxy)
    except ValueError as exc:  # the widgets' ranges make this unreachable; a link cannot
        st.warning(f"{exc}; using DeepLab's settings.")
        return d


@st.fragment
def _crf_view(rgb: np.ndarray, maps: tuple[np.ndarray, ...], changes: tuple[int, ...]) -> None:
    last = len(maps) - 1
    if st.session_state.get("fam_crf_step", 0) > last:
        st.session_state["fam_crf_step"] = last
    step = links.slider(
        st,
        "Show the mean field after step (0 = the network alone)",
        0,
        last,
        last,
        key="fam_crf_step",
        help="The CRF ran once with every step kept; moving this recomputes nothing.",
    )
    plain, now = maps[0], maps[step]
    changed = now != plain
    n_changed = int(changed.sum())
    c1, c2, c3 = st.columns(3)
    c1.image(shown(rgb, plain), caption="The network alone (plain softmax)", width="stretch")
    c2.image(shown(rgb, now), caption=f"Dense CRF after {step} step(s)", width="stretch")
    c3.image(
        changed_image(rgb, changed),
        caption=f"Relabelled by the CRF: {n_changed:,} px ({100 * n_changed / plain.size:.2f}%)",
        width="stretch",
    )
    z1, z2, z3, z4 = st.columns([1, 1, 1, 1.3])
    y, x = cost.most_disagreement(plain, now, ZOOM_SIDE)
    box = cost.crop_box(plain.shape, (y, x), ZOOM_SIDE)
    z1.image(mark_box(rgb, box), caption="Where the CRF changed most", width="stretch")
    z2.image(cost.boundary_zoom(shown(rgb, plain), box), caption="Plain, zoomed", width="stretch")
    z3.image(cost.boundary_zoom(shown(rgb, now), box), caption="CRF, zoomed", width="stretch")
    with z4:
        st.plotly_chart(
            convergence_figure(changes, step, plain.size), key="fam_crf_conv", width="stretch"
        )
        st.caption(
            "Pixels relabelled at each step: the mean field settles within a few steps, "
            "which is why DeepLab stopped at 10."
            if len(changes) >= 3 and changes[-1] <= max(changes[:3])
            else "Pixels relabelled at each step."
        )


def crf_section(lesson) -> None:
    """DeepLab v1/v2's dense CRF, live on the lesson's image, and what it buys on VOC val."""
    st.subheader("The dense CRF of v1 and v2, on your image")
    prose.show("deeplab_family", "crf_intro", model=lesson.label)
    params = _crf_params(st)
    run = refine_cache.crf_run(lesson.spec, lesson.image.key, lesson.size, params, lesson.image)
    _crf_view(lesson.image.rgb, run.maps, run.changes)
    st.caption(
        prose.text(
            "deeplab_family",
            "crf_cost",
            ms=f"{run.ms:.0f}",
            steps=params.iterations,
            width=lesson.image.rgb.shape[1],
            height=lesson.image.rgb.shape[0],
        )
    )
    st.markdown("**What it is worth on real labels, and why v3 could drop it**")
    rows = measured_table(lesson.spec.name, ("plain", "crf"), key="fam_crf_table")
    if rows:
        st.markdown(_crf_verdict(rows))


def _crf_verdict(rows: dict[int, dict[str, dict]]) -> str:
    """Sentences read off the measured rows (never a claim the numbers do not show)."""
    strides = sorted(rows)
    miou = {s: refine.gain(rows, s, "crf", "miou_core7") for s in strides}
    bf = {s: refine.gain(rows, s, "crf", "boundary_f") for s in strides}
    parts = [
        "The CRF changes core-7 mIoU by "
        + ", ".join(f"{points(miou[s])} points at OS {s}" for s in strides)
        + " and the boundary F-score by "
        + ", ".join(f"{points(bf[s])} at OS {s}" for s in strides)
        + "."
    ]
    if len(strides) >= 2 and None not in (miou[strides[0]], miou[strides[-1]]):
        fine, coarse = miou[strides[0]], miou[strides[-1]]
        parts.append(
            f"It matters {'more' if coarse > fine else 'less'} at the coarse stride "
            f"(OS {strides[-1]}) than at OS {strides[0]}."
        )
    ms = rows.get(16, rows[strides[0]])
    extra = ms["crf"]["ms_per_image_median"] - ms["plain"]["ms_per_image_median"]
    parts.append(prose.text("deeplab_family", "crf_why_dropped", extra_ms=f"{extra:.0f}"))
    return " ".join(parts)
