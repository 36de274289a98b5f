"""DeepLab v3's multi-scale + flip inputs behind a switch (a section of Output stride).

The twelve views run once per image, model, stride and scales, with a progress bar
(:func:`ui.refine_cache.multiscale_run`); only class maps are kept.
"""

from __future__ import annotations

import dataclasses

import streamlit as st

from deeplab_viz.multiscale import DEEPLAB_SCALES
from deeplab_viz.plots.refine import changed_image

from . import cache, links, prose, refine_cache
from .refine_table import measured_table, shown


def multiscale_section(lesson, strides: tuple[int, ...]) -> None:
    """DeepLab v3's multi-scale + flip inference behind a switch, at one chosen stride."""
    st.subheader("Multi-scale + flip inputs (DeepLab v3's test-time trick)")
    scales = ", ".join(f"×{s:g}" for s in DEEPLAB_SCALES)
    prose.show("output_stride", "multiscale_intro", scales=scales)
    on = links.toggle(st, "Run multi-scale + flip on this image", key="os_ms")
    if not on:
        st.caption(prose.text("output_stride", "multiscale_off"))
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
            shown(rgb, cmap),
            caption=f"×{scale:g}: {w_h} px in, {sum(v.ms for v in views):.0f} ms ({len(views)} views)",
            width="stretch",
        )
    changed = run.class_map != plain
    plain_ms = sum(v.ms for v in run.views if v.scale == 1.0 and not v.flipped)
    c1, c2, c3 = st.columns(3)
    c1.image(shown(rgb, plain), caption=f"Plain (×1, OS {stride})", width="stretch")
    c2.image(
        shown(rgb, run.class_map),
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
