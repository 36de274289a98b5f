"""What the DeepLab family page draws, piece by piece (pages/deeplab_family.py).

Each function renders one part of a tab from values the page has read off its widgets;
none makes a widget bound to the link (those stay in the page). The words come from
``lessons/deeplab_family.md``.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from deeplab_viz import cost
from deeplab_viz import eval_shapes as ES
from deeplab_viz import family as FA
from deeplab_viz import scale_lab as SL
from deeplab_viz.boundary import boundary_f
from deeplab_viz.gridding import coverage_map
from deeplab_viz.models import REGISTRY, ModelSpec
from deeplab_viz.models.output_stride import current_wiring
from deeplab_viz.plots import family as PF
from deeplab_viz.plots import shapes as PS
from deeplab_viz.plots.colours import shape_colours
from deeplab_viz.plots.gridding import coverage_figure, erf_figure
from deeplab_viz.timing import compare, spread
from deeplab_viz.weights import WeightsUnavailable

from . import cache, prose
from . import family_cache as FC

PAGE = "deeplab_family"

# which head → (cache key, diagram title, label of its input)
HEADS = {
    "v1": (
        "v1",
        "DeepLab v1 head (VGG-16 conv5 → fc8, architecture only)",
        "VGG-16 conv4 (stride 8)",
    ),
    "v2": (
        "v2",
        "DeepLab v2 ASPP (ResNet-101, architecture only)",
        "ResNet-101 layer4 (2048 ch)",
    ),
    "tv": (
        "v3:tv",
        "torchvision DeepLabV3 head (ResNet, rates 12/24/36 at OS 8)",
        "ResNet layer4 (2048 ch)",
    ),
    "v3": (
        f"v3:{FC.V3}",
        "ShapesWorld DeepLabv3: ASPP + head (trained weights)",
        "layer4 (stride 16)",
    ),
    "v3+": (
        f"v3+:{FC.V3P}",
        "ShapesWorld DeepLabv3+: ASPP + decoder (trained weights)",
        "layer4 (stride 16)",
    ),
}


def missing(where) -> None:
    """The ShapesWorld models are not installed: say so in ``where``."""
    where.info(prose.text(PAGE, "missing"), icon="📦")


def version(header: str, section: str, *, wide: bool = False):
    """A version's header and its words; returns ``(left, right)``, right for its diagram
    (``wide``: one below the other, full width, for five branches side by side)."""
    st.header(header)
    if wide:
        left, right = st.container(), st.container()
    else:
        left, right = st.columns([2, 3], gap="large")
    left.markdown(prose.text(PAGE, section))
    return left, right


def head(which: str, key: str, where, model=None) -> None:
    """The head ``which`` of :data:`HEADS` drawn in ``where`` (from ``model``, a loaded
    ShapesWorld model, for "v3" and "v3+"), with the caption that says how."""
    cache_key, title, input_label = HEADS[which]
    module = FC.small_head(which) if model is None else FA.model_head(model.module)
    fig, n_boxes = FC.diagram(cache_key, title, input_label, module)
    where.plotly_chart(fig, width="stretch", key=key)
    where.caption(prose.text(PAGE, "graph_caption", boxes=n_boxes))


def _pictures(scene, v3_map: np.ndarray, plus_map: np.ndarray, names: tuple[str, str]):
    return [
        ("scene", scene.rgb),
        ("ground truth", shape_colours(scene.mask)),
        (names[0], shape_colours(v3_map)),
        (names[1], shape_colours(plus_map)),
    ]


def live_results(scene, v3_map: np.ndarray, steps: FA.PlusSteps, live_os: int) -> None:
    """v3 and v3+ on the scene: the class maps, boundary F here and held out, what the
    decoder buys at each stride, and what the numbers mean."""
    pics = _pictures(scene, v3_map, steps.class_map, ("DeepLabv3", "DeepLabv3+"))
    st.plotly_chart(PS.images_figure(pics), width="stretch", key="fam_live_fig")
    bf3 = boundary_f(v3_map, scene.mask)
    bf3p = boundary_f(steps.class_map, scene.mask)
    # one row that wraps when the window is narrow, rather than cutting a label
    m1 = m2 = m3 = m4 = st.container(horizontal=True)
    m1.metric("Boundary F, v3 (this scene)", f"{bf3:.2f}", border=True, width="content")
    m2.metric(
        "Boundary F, v3+ (this scene)",
        f"{bf3p:.2f}",
        delta=f"{bf3p - bf3:+.2f}",
        border=True,
        width="content",
    )
    table = SL.load_metrics()
    if table is not None:
        try:
            r3, r3p = ES.find_result(table, FC.V3, live_os), ES.find_result(table, FC.V3P, live_os)
            m3.metric(
                "Held-out boundary F: v3 → v3+",
                f"{r3['boundary_f']:.2f} → {r3p['boundary_f']:.2f}",
                border=True,
                width="content",
            )
            m4.metric(
                "Held-out mIoU: v3 → v3+",
                f"{r3['miou']:.2f} → {r3p['miou']:.2f}",
                border=True,
                width="content",
            )
        except KeyError:
            m3.caption(prose.text(PAGE, "no_stride_rows", os=live_os))
    else:
        m3.caption(prose.text(PAGE, "no_metrics"))
    by_stride = ES.decoder_by_stride(table) if table is not None else []
    if by_stride:
        t_col, x_col = st.columns([3, 2], gap="large")
        t_col.dataframe(
            FA.stride_rows(by_stride), hide_index=True, width="stretch", key="fam_stride_table"
        )
        gain = FA.decoder_gain(by_stride, REGISTRY[FC.V3].native_stride)
        lines = []
        if gain.trained is not None:
            lines.append(prose.text(PAGE, "decoder_trained", **gain.trained))
        if gain.coarse is not None:
            lines.append(prose.text(PAGE, "decoder_coarse", **gain.coarse))
        x_col.markdown(" ".join(lines))
    if table:
        seeds = table["heldout_seeds"]
        heldout = prose.text(PAGE, "heldout_counted", scenes=seeds[1] - seeds[0], os=live_os)
    else:
        heldout = prose.text(PAGE, "heldout_plain")
    st.caption(prose.text(PAGE, "boundary_note", tolerance=ES.BOUNDARY_TOLERANCE, heldout=heldout))


def jump_to_difference(v3_map: np.ndarray, plus_map: np.ndarray) -> None:
    """Button callback: centre the zoom where the two class maps differ most."""
    side = int(st.session_state.get("fam_zside", 40))
    y, x = cost.most_disagreement(v3_map, plus_map, side)
    st.session_state["fam_zx"] = int(round(100 * x))
    st.session_state["fam_zy"] = int(round(100 * y))


def zoom(scene, v3_map: np.ndarray, plus_map: np.ndarray, zx: int, zy: int, side: int) -> None:
    """The four pictures cropped around (``zx``, ``zy``) % with ``side`` pixels, enlarged."""
    box = cost.crop_box(scene.mask.shape, (zy / 100, zx / 100), int(side))
    pics = _pictures(scene, v3_map, plus_map, ("v3", "v3+"))
    st.plotly_chart(
        PS.images_figure([(f"{t} · zoom", cost.boundary_zoom(p, box, 320)) for t, p in pics]),
        width="stretch",
        key="fam_zoom_fig",
    )
    y0, x0, y1, x1 = box
    st.caption(prose.text(PAGE, "zoom_caption", x0=x0, x1=x1 - 1, y0=y0, y1=y1 - 1))


def decoder_steps(steps: FA.PlusSteps, live_os: int, size: int = 200) -> None:
    """Every step of the v3+ decoder as pictures, in two rows, and what they show."""
    low = steps.low.shape
    aspp, up = steps.aspp.shape, steps.aspp_up.shape
    classes = shape_colours(steps.logits_low.argmax(0))
    panels = [
        (
            f"ASPP output · {aspp[0]} ch, {aspp[2]}×{aspp[1]} (1/{live_os})",
            PF.feature_picture(steps.aspp, size),
        ),
        (f"after ×{live_os // 4} · {up[2]}×{up[1]}", PF.feature_picture(steps.aspp_up, size)),
        (f"low-level 1×1 → {low[0]} ch · {low[2]}×{low[1]}", PF.feature_picture(steps.low, size)),
        ("after the two 3×3 convs", PF.feature_picture(steps.fused, size)),
        ("classes at 1/4", PS.enlarge(classes, size // steps.logits_low.shape[1])),
        ("final ×4: classes at 1/1", shape_colours(steps.class_map)),
    ]
    st.plotly_chart(PS.images_figure(panels[:3], legend=()), width="stretch", key="fam_steps_a")
    st.plotly_chart(PS.images_figure(panels[3:]), width="stretch", key="fam_steps_b")
    st.caption(prose.text(PAGE, "decoder_caption"))


def separable_counts(cmp) -> None:
    """Parameters and FLOPs of the regular and the separable conv, and their ratio."""
    row = st.container(horizontal=True)  # wraps when narrow, rather than cutting a value
    row.metric(
        "Parameters: regular → separable",
        f"{cmp.regular.params:,} → {cmp.separable.params:,}",
        border=True,
        width="content",
    )
    row.metric(
        "FLOPs: regular → separable",
        f"{cmp.regular.flops / 1e6:,.0f} M → {cmp.separable.flops / 1e6:,.1f} M",
        border=True,
        width="content",
    )
    row.metric(
        "Separable / regular",
        f"{cmp.flop_ratio:.1%}",
        help=prose.text(PAGE, "ratio_help"),
        border=True,
        width="content",
    )


def separable_measured(t: FA.SeparableTiming, cmp) -> None:
    """The measured latencies of both convs, against what the FLOPs promise."""
    left, right = st.columns([3, 2])
    left.plotly_chart(PF.separable_figure(t), width="stretch", key="fam_sep_fig")
    reg, sep = spread(t.runs_ms["regular"]), spread(t.runs_ms["separable"])
    verdict = compare("the regular conv", reg, "the separable one", sep)
    right.markdown(
        prose.text(
            PAGE,
            "separable_measured",
            regular=reg.text(2),
            separable=sep.text(2),
            verdict=verdict.sentence(),
            fewer=f"{1 / cmp.flop_ratio:.1f}",
        )
    )
    right.caption(prose.text(PAGE, "separable_note"))


def mnv2_example() -> None:
    """The dilated depthwise convs of the offline voc-mobilenetv2 at output stride 8."""
    try:
        mnv2 = cache.model_for(ModelSpec(name="voc-mobilenetv2", output_stride=8))
        wiring = current_wiring(mnv2.module, "tflite_mnv2")
        dil = FA.dilated_sites(wiring)
        rates = ", ".join(f"**{n} at rate {d}**" for d, n in dil.items())
        st.markdown(prose.text(PAGE, "mnv2_rates", rates=rates, blocks=len(wiring)))
    except (WeightsUnavailable, ValueError):
        st.caption(prose.text(PAGE, "mnv2_missing"))


def multigrid_column(col, rates: tuple[int, ...], label: str, block: int, side: int) -> None:
    """One stack of rates in ``col``: cells read, the exact coverage, the gradient ERF."""
    cov = coverage_map(rates)
    with col:
        st.metric(
            f"{label} × {block} = rates {', '.join(map(str, rates))}",
            f"{cov.covered} of {cov.rf_cells} cells",
            help=prose.text(PAGE, "cells_help"),
            border=True,
        )
        st.plotly_chart(
            coverage_figure(
                cov,
                height=480,
                title=f"rates {list(rates)}: {cov.coverage:.1%} of {cov.side}×{cov.side}",
            ),
            width="stretch",
            theme=None,
            key=f"fam_mg_cov_{side}",
        )
        res = FC.mg_erf(tuple(rates))
        st.plotly_chart(
            erf_figure(
                res.erf,
                res.out_yx,
                reach=cov.side // 2,
                height=420,
                title=f"ERF of a small conv stack at rates {list(rates)}",
            ),
            width="stretch",
            theme=None,
            key=f"fam_mg_erf_{side}",
        )


def multigrid_notes(base: tuple[int, ...], chosen: tuple[int, ...], unit: str, block) -> None:
    """The verdict on ``unit`` × ``block`` against the plain stack, and what limits both."""
    lat = coverage_map(FA.MULTI_GRIDS[unit])
    st.markdown(FA.multigrid_verdict(coverage_map(base), coverage_map(chosen), unit, int(block)))
    st.caption(
        prose.text(
            PAGE,
            "multigrid_caption",
            block=block,
            cells=int(block) ** 2,
            unit=unit,
            covered=lat.covered,
            rf_cells=lat.rf_cells,
        )
    )
