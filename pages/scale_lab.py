"""Scale lab: which object sizes survive output stride 8/16/32 and each ASPP branch."""

from __future__ import annotations

import streamlit as st

from deeplab_viz import scale_lab as SL
from deeplab_viz import shapes_world as SW
from deeplab_viz.models import REGISTRY
from ui import links, prose
from ui.scale_lab_cache import (
    HELDOUT_N,
    MODELS,
    available,
    depth_results,
    heldout_results,
    make_scene,
    models_for,
    scene_results,
)
from ui.scale_lab_view import asked, depth_view, jump, pictures, reference, rf_view, scores, text
from ui.sidebar import current_lesson
from ui.widgets import initial

SIZE_MIN, SIZE_MAX = 6, 200

# --------------------------------------------------------------------------- page

current_lesson()  # the sidebar; this page brings its own scenes and models
st.title("Scale lab")
prose.show("scale_lab", "intro")

if len(available()) < len(MODELS):
    st.info(text("not_installed"), icon="📦")
else:
    with st.container(border=True):
        c1, c2, c3 = st.columns([2, 3, 3])  # the four shape pills fit on one line at 1280 px
        model_name = links.radio(c1, "Model", list(MODELS), key="sl_model", help=text("model_help"))
        seed = links.number_input(c1, "Scene seed", 0, 99_999, 7, key="sl_seed")
        lo, hi = links.slider(
            c2,
            "Object diameters (px)",
            SIZE_MIN,
            SIZE_MAX,
            (8, 120),
            key="sl_sizes",
            help=text("sizes_help"),
        )
        n = links.slider(c2, "Number of objects", 1, 10, 5, key="sl_count")
        shapes = links.pills(
            c3, "Shapes", list(SW.SHAPES), default=list(SW.SHAPES), key="sl_shapes"
        )
        shapes = tuple(s for s in SW.SHAPES if s in (shapes or []))
        if not shapes:
            c3.caption(text("no_shapes"))
            shapes = SW.SHAPES
    scene_key = (int(seed), int(lo), int(hi), int(n), shapes)
    scene = make_scene(*scene_key)
    models = models_for(model_name)
    trained = REGISTRY[model_name].native_stride  # the stride the shipped weights end at
    rows, maps = scene_results(model_name, scene_key, scene, models)

    # ----------------------------------------------------------------------- pictures
    st.header("1 · Prediction against ground truth")
    pictures(scene, maps, model_name, int(n))

    # ----------------------------------------------------------------------- scores
    st.header("2 · IoU per object size")
    prose.show("scale_lab", "iou_per_size", trained=trained)
    scores(
        rows,
        "sl_scene_table",
        "This scene: IoU per size, OS 8/16/32",
        f"This scene: OS {trained} with one ASPP branch off",
        trained,
    )

    with st.container(border=True):
        prose.show("scale_lab", "heldout", n=HELDOUT_N)
        if asked(f"Score {HELDOUT_N} held-out scenes", "sl_batch_go", model_name):
            scores(
                heldout_results(model_name, HELDOUT_N, models),
                "sl_batch_table",
                f"{HELDOUT_N} held-out scenes: IoU per size, OS 8/16/32",
                f"{HELDOUT_N} held-out scenes: OS {trained} with one branch off",
                trained,
            )

    # ----------------------------------------------------------------------- RF vs object

    @st.fragment
    def rf_section() -> None:
        st.header("3 · Does the receptive field reach the outline?")
        prose.show("scale_lab", "rf_intro")
        size = scene.size
        c1, c2, c3 = st.columns([3, 3, 2])
        dy, dx = SL.largest_object_pixel(scene)
        px = links.slider(c1, "Picked pixel x", 0, size - 1, initial("sl_px", dx), key="sl_px")
        py = links.slider(c2, "Picked pixel y", 0, size - 1, initial("sl_py", dy), key="sl_py")
        c3.button("Centre of the largest object", key="sl_jump", on_click=jump, args=(scene_key,))
        rf_view(scene, scene_key, model_name, models[trained], trained, maps, py, px)

    rf_section()

    with st.container(border=True):
        prose.show("scale_lab", "depth_intro", n=HELDOUT_N, trained=trained)
        if asked(f"Measure on {HELDOUT_N} held-out scenes", "sl_depth_go", model_name):
            prof = depth_results(model_name, HELDOUT_N, models)
            depth_view(prof, models[trained].module, model_name, trained)

    # ----------------------------------------------------------------------- shipped metrics
    table = SL.load_metrics()
    st.header(f"4 · The reference: {SL.heldout_count(table)} held-out scenes")
    if table is None:
        st.info(text("no_metrics"), icon="📦")
    else:
        reference(table, model_name, trained)
