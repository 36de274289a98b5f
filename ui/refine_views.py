"""The two live views of DeepLab's test-time extras, each one section of a page.

- :func:`crf_section` (DeepLab family, v1/v2): the dense CRF on the user's image
  beside the plain prediction, the mean-field iterations as a slider, a
  changed-pixel map, a zoom where it changed most, and the VOC val table.
- :func:`multiscale_section` (Output stride): multi-scale + flip inputs behind a
  switch, each scale's prediction as a small multiple, the merged one, and the
  measured gain and cost.

Heavy work is cached per image, model and settings (:mod:`ui.refine_cache`); the
sliders and zooms only choose among cached class maps.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import streamlit as st

from deeplab_viz import cost, refine
from deeplab_viz.crf import CRFParams
from deeplab_viz.multiscale import DEEPLAB_SCALES
from deeplab_viz.palette import overlay
from deeplab_viz.plots.output_stride import mark_box
from deeplab_viz.plots.refine import changed_image, convergence_figure

from . import cache, links, refine_cache

ZOOM_SIDE = 96  # pixels of the image in the boundary zoom
STEP_MAX = 50  # most mean-field steps offered on the page (the library allows more)
TABLE_MODELS = ("voc-mobilenetv2", "voc-mobilenetv2-aspp")


def _shown(rgb: np.ndarray, class_map: np.ndarray) -> np.ndarray:
    return overlay(rgb, class_map, outline=True)


# --------------------------------------------------------------------------- the measured table


def _table_rows(rows: dict[int, dict[str, dict]], variants: tuple[str, ...]) -> list[dict]:
    out = []
    for stride in sorted(rows):
        plain = rows[stride]["plain"]
        for v in variants:
            r = rows[stride][v]
            out.append(
                {
                    "OS": stride,
                    "inference": refine.VARIANT_LABELS[v],
                    "core-7 mIoU": r["miou_core7"],
                    "mIoU (present)": r["miou"],
                    "boundary F (3 px)": r["boundary_f"],
                    "ms / image": r["ms_per_image_median"],
                    "× plain time": round(
                        r["ms_per_image_median"] / max(plain["ms_per_image_median"], 1e-9), 1
                    ),
                }
            )
    return out


def _measured_for(model_name: str) -> tuple[str | None, dict[int, dict[str, dict]], dict | None]:
    """(model the numbers are for, its rows, the whole table): the lesson's model when it
    was measured, else the first measured one."""
    table = refine_cache.measured()
    for name in (model_name, *TABLE_MODELS):
        rows = refine.measured_rows(name, table)
        if rows:
            return name, rows, table
    return None, {}, table


def _points(x: float | None) -> str:
    return "n/a" if x is None else f"{x:+.1f}"


def measured_table(model_name: str, variants: tuple[str, ...], *, key: str) -> dict:
    """The VOC val table for ``variants``; returns ``{stride: rows}`` (empty if none)."""
    name, rows, table = _measured_for(model_name)
    if not rows:
        st.caption(
            "The VOC val table is not in this copy (deeplab_viz/assets/metrics/refine_voc.json); "
            "`python bench/refine_table.py --val DIR` measures it."
        )
        return {}
    st.dataframe(
        _table_rows(rows, variants),
        hide_index=True,
        width="stretch",
        key=key,
        column_config={
            "core-7 mIoU": st.column_config.NumberColumn(format="%.4f"),
            "mIoU (present)": st.column_config.NumberColumn(format="%.4f"),
            "boundary F (3 px)": st.column_config.NumberColumn(format="%.3f"),
            "ms / image": st.column_config.NumberColumn(format="%.0f"),
        },
    )
    n = next(iter(rows.values()))["plain"]["n_images"]
    st.caption(
        f"Measured on the {n} PASCAL VOC 2012 val images of the shared subset with "
        f"**{name}** at working size {table.get('size')} px on this project's 2-core CPU "
        f"({table.get('threads')} threads): scales {', '.join(f'{s:g}' for s in table['scales'])}"
        " with flips; CRF with DeepLab v1's settings. Time: median per image of the "
        "forward passes (and CRF) the variant needs. "
        + (
            ""
            if name == model_name
            else f"The sidebar's model was not measured; these are {name}'s."
        )
    )
    return rows


# --------------------------------------------------------------------------- dense CRF


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
        st.caption(
            "w1 = 4, σα = 121 px, σβ = 5, w2 = 3, σγ = 3 px, 10 steps: DeepLab-CRF-LargeFOV "
            "(v1, kept in v2). Bigger σα lets colour similarity pull labels from farther; "
            "smaller σβ makes the bilateral kernel stop at weaker edges."
        )
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
    c1.image(_shown(rgb, plain), caption="The network alone (plain softmax)", width="stretch")
    c2.image(_shown(rgb, now), caption=f"Dense CRF after {step} step(s)", width="stretch")
    c3.image(
        changed_image(rgb, changed),
        caption=f"Relabelled by the CRF: {n_changed:,} px ({100 * n_changed / plain.size:.2f}%)",
        width="stretch",
    )
    z1, z2, z3, z4 = st.columns([1, 1, 1, 1.3])
    y, x = cost.most_disagreement(plain, now, ZOOM_SIDE)
    box = cost.crop_box(plain.shape, (y, x), ZOOM_SIDE)
    z1.image(mark_box(rgb, box), caption="Where the CRF changed most", width="stretch")
    z2.image(cost.boundary_zoom(_shown(rgb, plain), box), caption="Plain, zoomed", width="stretch")
    z3.image(cost.boundary_zoom(_shown(rgb, now), box), caption="CRF, zoomed", width="stretch")
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
    st.markdown(
        "v1 and v2 ran a **fully connected CRF** (Krähenbühl & Koltun 2011) after the "
        "network: every pixel is linked to every other, pixels of similar colour nearby want "
        "the same label (the *bilateral* kernel) and near neighbours want it too (the "
        "*Gaussian* kernel). Mean-field inference starts from the network's softmax and "
        "pulls the blurry, upsampled labels onto the image's colour edges. Below it runs on "
        f"**{lesson.label}**'s prediction for your image."
    )
    params = _crf_params(st)
    run = refine_cache.crf_run(lesson.spec, lesson.image.key, lesson.size, params, lesson.image)
    _crf_view(lesson.image.rgb, run.maps, run.changes)
    st.caption(
        f"The CRF took {run.ms:.0f} ms for {params.iterations} steps on "
        f"{lesson.image.rgb.shape[1]}×{lesson.image.rgb.shape[0]} px (W×H), on top of the "
        "network's forward pass."
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
        + ", ".join(f"{_points(miou[s])} points at OS {s}" for s in strides)
        + " and the boundary F-score by "
        + ", ".join(f"{_points(bf[s])} at OS {s}" for s in strides)
        + "."
    ]
    if len(strides) >= 2 and None not in (miou[strides[0]], miou[strides[-1]]):
        fine, coarse = miou[strides[0]], miou[strides[-1]]
        parts.append(
            f"It matters {'more' if coarse > fine else 'less'} at the coarse stride "
            f"(OS {strides[-1]}) than at OS {strides[0]}" + "."
        )
    ms = rows.get(16, rows[strides[0]])
    extra = ms["crf"]["ms_per_image_median"] - ms["plain"]["ms_per_image_median"]
    parts.append(
        f"It costs about {extra:.0f} ms per image on this CPU on top of the network. "
        "DeepLab v3 dropped it: with ASPP's image-level context and a finer output stride its "
        "boundaries were good enough that the CRF's gain no longer paid for a separate, "
        "non-differentiable step (v3 reports its best VOC result without one)."
    )
    return " ".join(parts)


# --------------------------------------------------------------------------- multi-scale


def multiscale_section(lesson, strides: tuple[int, ...]) -> None:
    """DeepLab v3's multi-scale + flip inference behind a switch, at one chosen stride."""
    st.subheader("Multi-scale + flip inputs (DeepLab v3's test-time trick)")
    st.markdown(
        "DeepLab v3 reports its best VOC result by feeding the image at six scales "
        f"({', '.join(f'×{s:g}' for s in DEEPLAB_SCALES)}) and mirrored, and averaging the "
        "twelve softmaxes. A small input lets the fixed receptive field see a whole large "
        "object; a large one resolves thin parts. It costs one forward pass per view."
    )
    on = links.toggle(st, "Run multi-scale + flip on this image", key="os_ms")
    if not on:
        st.caption(
            "Off: twelve forward passes at up to 1.75× the working size take a few seconds "
            "on a CPU; switch it on to run them once for this image (then cached)."
        )
        measured_table(lesson.spec.name, ("plain", "ms_flip"), key="os_ms_table")
        return
    stride = links.segmented_control(
        st,
        "At output stride",
        strides,
        default=lesson.spec.output_stride if lesson.spec.output_stride in strides else 16,
        key="os_ms_os",
    )
    spec = dataclasses.replace(lesson.spec, output_stride=stride)
    run = refine_cache.multiscale_run(
        spec, lesson.image.key, lesson.size, DEEPLAB_SCALES, True, lesson.image
    )
    rgb = lesson.image.rgb
    plain = cache.probe(spec, lesson.image.key, lesson.size, lesson.image).class_map
    cols = st.columns(len(run.scale_maps))
    for col, (scale, cmap) in zip(cols, run.scale_maps.items(), strict=True):
        views = [v for v in run.views if v.scale == scale]
        w_h = f"{views[0].input_hw[1]}×{views[0].input_hw[0]}"
        col.image(
            _shown(rgb, cmap),
            caption=f"×{scale:g}: {w_h} px in, {sum(v.ms for v in views):.0f} ms (2 views)",
            width="stretch",
        )
    changed = run.class_map != plain
    plain_ms = sum(v.ms for v in run.views if v.scale == 1.0 and not v.flipped)
    c1, c2, c3 = st.columns(3)
    c1.image(_shown(rgb, plain), caption=f"Plain (×1, OS {stride})", width="stretch")
    c2.image(
        _shown(rgb, run.class_map),
        caption=f"All {len(run.views)} views averaged (OS {stride})",
        width="stretch",
    )
    c3.image(
        changed_image(rgb, changed),
        caption=f"Changed by multi-scale + flip: {100 * changed.mean():.2f}% of the pixels",
        width="stretch",
    )
    st.caption(
        f"This image: {run.ms:.0f} ms for the {len(run.views)} views against {plain_ms:.0f} ms "
        f"for the plain one ({run.ms / max(plain_ms, 1e-9):.1f}×; single runs on a shared "
        "CPU, so read the ratio roughly). The table below is the careful measurement."
    )
    measured_table(lesson.spec.name, ("plain", "ms_flip"), key="os_ms_table")
