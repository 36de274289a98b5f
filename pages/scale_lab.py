"""Scale lab: which object sizes survive output stride 8/16/32 and each ASPP branch."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from deeplab_viz import erf as E
from deeplab_viz import scale_lab as SL
from deeplab_viz import shapes_world as SW
from deeplab_viz.models import REGISTRY, ModelSpec
from deeplab_viz.plots import aspp as P
from deeplab_viz.plots import shapes as PS
from deeplab_viz.plots.colours import STRIDE_COLOURS, shape_colours
from deeplab_viz.receptive_field import model_rf_table
from ui import cache, links
from ui.sidebar import current_lesson
from ui.widgets import initial

MODELS = ("shapes-deeplabv3", "shapes-deeplabv3plus")
STRIDES = (8, 16, 32)
HELDOUT_N = 24
SIZE_MIN, SIZE_MAX = 6, 200


def _available() -> list[str]:
    return [m for m in MODELS if m in REGISTRY]


def _models(name: str):
    """The shared, cached model at every output stride (read only)."""
    return {os_: cache.model_for(ModelSpec(name=name, output_stride=os_)) for os_ in STRIDES}


@st.cache_data(max_entries=32, show_spinner=False)
def make_scene(seed: int, lo: int, hi: int, n: int, shapes: tuple[str, ...]) -> SW.Scene:
    return SW.custom_scene(seed, diameters=(lo, hi), n_objects=n, shapes=shapes)


@st.cache_data(max_entries=16, show_spinner="Running the model at output stride 8, 16, 32…")
def scene_results(name: str, scene_key: tuple, _scene: SW.Scene, _models: dict):
    """(rows, class maps per configuration label) on one scene: one backbone pass per stride."""
    e = REGISTRY[name]
    configs = SL.configurations(
        {os_: m.module for os_, m in _models.items()},
        _scene.rgb[None],
        mean=e.mean,
        std=e.std,
        drop_at=e.native_stride,
    )
    return SL.scale_rows(configs, [_scene]), {c.label: c.maps[0] for c in configs}


@st.cache_data(max_entries=4, show_spinner=f"Running the model on {HELDOUT_N} held-out scenes…")
def heldout_configurations(name: str, n: int, _models: dict) -> list[SL.Configuration]:
    """Class maps of the held-out scenes at every stride, branches off at the trained one:
    shared by the held-out table and the depth profile."""
    e = REGISTRY[name]
    rgb = np.stack([s.rgb for s in SW.scenes(SW.heldout_seeds(n))])
    return SL.configurations(
        {os_: m.module for os_, m in _models.items()},
        rgb,
        mean=e.mean,
        std=e.std,
        drop_at=e.native_stride,
    )


@st.cache_data(max_entries=4, show_spinner=f"Scoring {HELDOUT_N} held-out scenes…")
def heldout_results(name: str, n: int, _models: dict) -> list[SL.ConfigRow]:
    scenes = list(SW.scenes(SW.heldout_seeds(n)))
    return SL.scale_rows(heldout_configurations(name, n, _models), scenes)


@st.cache_data(max_entries=4, show_spinner="Sorting object pixels by depth…")
def depth_results(name: str, n: int, _models: dict) -> SL.DepthProfile:
    scenes = list(SW.scenes(SW.heldout_seeds(n)))
    configs = heldout_configurations(name, n, _models)
    return SL.depth_profile_at(configs, scenes, REGISTRY[name].native_stride)


@st.cache_data(max_entries=64, show_spinner="Effective receptive field…")
def erf_sides(name: str, scene_key: tuple, py: int, px: int, target: str, _model, _rgb):
    """Sides (px) of the centred squares holding 50 % and 95 % of the gradient mass."""
    res = E.image_erf(
        _model,
        _rgb,
        size=int(_rgb.shape[0]),
        target=target,
        pixel_yx=(py, px),
        fractions=(0.5, 0.95),
    )
    return res.mass_sides


def _asked(label: str, key: str, model_name: str) -> bool:
    """A button that, once clicked for ``model_name``, stays clicked for the session.

    The flag is set in ``on_click``, which Streamlit runs before the script, so the
    click's own run already shows the results and no longer the button.
    """
    done = st.session_state.setdefault(f"{key}_done", set())
    if model_name not in done:
        st.button(label, key=key, on_click=done.add, args=(model_name,))
    return model_name in done


def _fmt(v: float | None) -> str:
    return "—" if v is None else f"{v:.2f}"


def _table(rows: list[SL.ConfigRow]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "configuration": r.label,
                **{PS.bucket_label(b): _fmt(r.scores.iou_by_size.get(b)) for b in SW.BUCKET_NAMES},
                "mIoU": _fmt(r.scores.miou),
                "boundary F": _fmt(r.scores.boundary_f),
            }
            for r in rows
        ]
    )


def _bars(rows: list[SL.ConfigRow], title_stride: str, title_drop: str, trained: int) -> None:
    by_os = [r for r in rows if r.dropped is None]
    drops = [r for r in rows if r.output_stride == trained]
    c1, c2 = st.columns(2)
    c1.plotly_chart(
        PS.bucket_bars(
            [(r.label, r.scores.iou_by_size) for r in by_os],
            title=title_stride,
            colours=[STRIDE_COLOURS[r.output_stride] for r in by_os],
        ),
        width="stretch",
    )
    c2.plotly_chart(
        PS.bucket_bars([(r.label, r.scores.iou_by_size) for r in drops], title=title_drop),
        width="stretch",
    )


# --------------------------------------------------------------------------- page

current_lesson()  # the sidebar; this page brings its own scenes and models
st.title("Scale lab")
st.markdown(
    "Does a network see small things? In **ShapesWorld** every object is a disc, square, "
    "triangle or ring with a random texture, and the texture says nothing about the class: "
    "only the **outline** does. Two small DeepLabs were trained here on such scenes "
    "(most of the time at output stride 16, then fine-tuned at 8, as DeepLabv3 was). "
    "Pick the sizes of the objects and watch two "
    "effects. A **coarse output stride** (32) keeps one feature per 32×32 pixels, so an "
    "object smaller than a cell can vanish from the prediction (DeepLab: Chen et al. "
    "2014/2016). A **large object** is labelled right in its interior only when the "
    "receptive field of an interior pixel reaches the object's outline: the reason for "
    "atrous rates and ASPP (Chen et al. 2017)."
)

available = _available()
if len(available) < len(MODELS):
    st.info(
        "The ShapesWorld models are not installed yet (deeplab_viz/assets/models/shapes_deeplabv3*.pt "
        "are missing; run `python -m deeplab_viz train-shapes`), so this page has nothing "
        "to run.",
        icon="📦",
    )
else:
    with st.container(border=True):
        c1, c2, c3 = st.columns([2, 3, 3])  # the four shape pills fit on one line at 1280 px
        model_name = links.radio(
            c1,
            "Model",
            list(MODELS),
            key="sl_model",
            help="shapes-deeplabv3: ASPP + head; "
            "shapes-deeplabv3plus: the same with the v3+ decoder.",
        )
        seed = links.number_input(c1, "Scene seed", 0, 99_999, 7, key="sl_seed")
        lo, hi = links.slider(
            c2,
            "Object diameters (px)",
            SIZE_MIN,
            SIZE_MAX,
            (8, 120),
            key="sl_sizes",
            help="Drawn log-uniformly between the two values. The scene is 160×160 px; "
            "buckets: tiny < 12, small 12–32, medium 32–80, large ≥ 80.",
        )
        n = links.slider(c2, "Number of objects", 1, 10, 5, key="sl_count")
        shapes = links.pills(
            c3, "Shapes", list(SW.SHAPES), default=list(SW.SHAPES), key="sl_shapes"
        )
        shapes = tuple(s for s in SW.SHAPES if s in (shapes or []))
        if not shapes:
            c3.caption("No shape picked: using all four.")
            shapes = SW.SHAPES
    scene_key = (int(seed), int(lo), int(hi), int(n), shapes)
    scene = make_scene(*scene_key)
    models = _models(model_name)
    trained = REGISTRY[model_name].native_stride  # the stride the shipped weights end at
    rows, maps = scene_results(model_name, scene_key, scene, models)

    # ----------------------------------------------------------------------- pictures
    st.header("1 · Prediction against ground truth")
    counts = {b: 0 for b in SW.BUCKET_NAMES}
    for o in scene.objects:
        if o.pixels:
            counts[o.bucket] += 1
    st.plotly_chart(
        PS.images_figure(
            [("scene", scene.rgb), ("ground truth", shape_colours(scene.mask))]
            + [(f"prediction, OS {s}", shape_colours(maps[f"OS {s}"])) for s in STRIDES],
        ),
        width="stretch",
        key="sl_pictures",
    )
    st.caption(
        f"{model_name}, the same weights rewired to output stride 8, 16 and 32 (ASPP rates "
        "scaled with the stride). This scene: "
        + ", ".join(f"{v} {PS.bucket_label(b)}" for b, v in counts.items())
        + " objects (visible ones)."
        + (
            f" {int(n) - len(scene.objects)} of the {int(n)} objects asked for were left out: "
            "there was no place for them that kept every outline at least 90 % visible."
            if len(scene.objects) < int(n)
            else ""
        )
    )

    # ----------------------------------------------------------------------- scores
    st.header("2 · IoU per object size")
    st.markdown(
        "IoU of each size bucket on its own region (its objects plus a 3-pixel margin), "
        "mean over the shape classes present: an object labelled background counts as "
        f"missed. Rows with “−” switch one ASPP branch off at output stride {trained}, the "
        "stride the model was trained at (its output set to zero before the projection). "
        "“—”: no object of that size in the scene."
    )
    st.dataframe(_table(rows), hide_index=True, width="stretch", key="sl_scene_table")
    _bars(
        rows,
        "This scene: IoU per size, OS 8/16/32",
        f"This scene: OS {trained} with one ASPP branch off",
        trained,
    )

    with st.container(border=True):
        st.markdown(
            f"One scene is an anecdote. The same numbers on **{HELDOUT_N} held-out scenes** "
            "(never seen in training; a few seconds on a CPU):"
        )
        if _asked(f"Score {HELDOUT_N} held-out scenes", "sl_batch_go", model_name):
            batch = heldout_results(model_name, HELDOUT_N, models)
            st.dataframe(_table(batch), hide_index=True, width="stretch", key="sl_batch_table")
            _bars(
                batch,
                f"{HELDOUT_N} held-out scenes: IoU per size, OS 8/16/32",
                f"{HELDOUT_N} held-out scenes: OS {trained} with one branch off",
                trained,
            )

    # ----------------------------------------------------------------------- RF vs object

    def _jump() -> None:
        y, x = SL.largest_object_pixel(make_scene(*scene_key))
        st.session_state["sl_px"], st.session_state["sl_py"] = int(x), int(y)

    @st.fragment
    def rf_section() -> None:
        st.header("3 · Does the receptive field reach the outline?")
        st.markdown(
            "Inside a big textured object nothing says *disc* or *square*: a pixel can be "
            "classified only from what its receptive field sees of the outline. Pick a pixel "
            "inside a large object. The solid squares are the **theoretical** receptive "
            "fields (every pixel that *can* matter), the dashed ones the **effective** "
            "receptive field of the ASPP input (the squares holding 50 % and 95 % of the "
            "gradient, Luo et al. 2016): it is much smaller, and that is what decides."
        )
        size = scene.size
        c1, c2, c3 = st.columns([3, 3, 2])
        dy, dx = SL.largest_object_pixel(scene)
        px = links.slider(c1, "Picked pixel x", 0, size - 1, initial("sl_px", dx), key="sl_px")
        py = links.slider(c2, "Picked pixel y", 0, size - 1, initial("sl_py", dy), key="sl_py")
        c3.button("Centre of the largest object", key="sl_jump", on_click=_jump)
        mt = models[trained]
        obj = SL.pixel_object(scene, (py, px))
        rf_rows = {r.key: r for r in model_rf_table(mt.module, image_hw=(size, size))}
        names = mt.module.aspp.names
        shown = [
            ("layer2", rf_rows["stage:layer2"].size, "#80deea"),
            ("layer3", rf_rows["stage:layer3"].size, "#4fc3f7"),
            ("ASPP input (layer4)", rf_rows["stage:layer4"].size, "#ffb300"),
        ]
        atrous = [i for i, k in enumerate(mt.module.aspp.kinds) if k == "atrous"]
        shades = ["#ff8a65", "#f4511e", "#bf360c", "#8d2b0b"]
        shown += [
            (f"ASPP {names[i]}", rf_rows[f"aspp:{i}"].size, shades[j % len(shades)])
            for j, i in enumerate(atrous)
        ]
        pooling = [
            (f"ASPP {names[i]}", None, "")
            for i, k in enumerate(mt.module.aspp.kinds)
            if k == "pooling"
        ]
        sides = erf_sides(model_name, scene_key, py, px, "stage:layer4", mt, scene.rgb)
        erf_sq = [
            ("ERF 50 %", sides[0.5], "#e040fb"),
            ("ERF 95 %", sides[0.95], "#aa00ff"),
        ]
        left, right = st.columns([5, 4], gap="medium")
        left.plotly_chart(
            PS.rf_figure(
                scene.rgb,
                (py, px),
                [(nm, s, c) for nm, s, c in shown],
                bbox=obj.bbox,
                erf=erf_sq,
                title=f"Receptive fields around ({px}, {py})",
            ),
            width="stretch",
            key="sl_rf_fig",
        )
        pred = maps[f"OS {trained}"][py, px]
        truth = scene.mask[py, px]
        with right:
            if obj.index is None:
                st.markdown(
                    f"Pixel ({px}, {py}) is **background**. Pick a pixel inside an object "
                    "(the button jumps to the largest one)."
                )
            else:
                need = 2 * obj.outline_distance + 1 if obj.outline_distance is not None else None
                st.markdown(
                    f"Pixel ({px}, {py}) lies in a **{obj.class_name}** of diameter "
                    f"**{obj.diameter:.0f} px** ({obj.bucket}). Its outline is "
                    f"**{obj.outline_distance} px** away, so a square must be at least "
                    f"**{need} px** wide to see across it."
                )
            table = []
            for nm, s, _ in shown + pooling + erf_sq:
                reach = obj.reach(s)
                table.append(
                    {
                        "field": nm,
                        "side": "global" if s is None else f"{s} px",
                        "reaches outline": "✓" if reach.reaches_outline else "✗",
                        "holds object": "✓" if reach.covers_object else "✗",
                    }
                )
            st.dataframe(
                pd.DataFrame(table),
                hide_index=True,
                width="stretch",
                key="sl_rf_table",
                column_config={
                    "field": st.column_config.TextColumn(width=150),
                    "side": st.column_config.TextColumn(width=64),
                    "reaches outline": st.column_config.TextColumn(
                        "outline", width=62, help="the square reaches the object's outline"
                    ),
                    "holds object": st.column_config.TextColumn(
                        "object", width=58, help="the square holds the whole object"
                    ),
                },
            )
            ok = "✓ right" if pred == truth else "✗ wrong"
            st.markdown(
                f"Prediction here at OS {trained}: **{SW.CLASS_NAMES[pred]}** "
                f"(truth: {SW.CLASS_NAMES[truth]}) {ok}."
            )
            if obj.index is not None:
                e95 = obj.reach(sides[0.95]).reaches_outline
                st.caption(
                    "The theoretical fields of layer3 and beyond are larger than the whole "
                    "scene, so they always reach the outline; the effective field "
                    + (
                        "reaches it here."
                        if e95
                        else "does **not** reach it here: the outline hardly moves this unit."
                    )
                )
            st.caption(
                "Theoretical sides from the wiring (model_rf_table, model-input pixels = "
                "scene pixels); squares larger than the view run off it."
            )

    rf_section()

    with st.container(border=True):
        st.markdown(
            f"**Measured, not pictured.** Every pixel of every large object in {HELDOUT_N} "
            "held-out scenes, sorted by its distance to the object's outline: how many are "
            f"labelled right at OS {trained}, with all ASPP branches and with each one off? "
            "Pixels deep inside need a branch whose receptive field reaches the outline."
        )
        if _asked(f"Measure on {HELDOUT_N} held-out scenes", "sl_depth_go", model_name):
            prof = depth_results(model_name, HELDOUT_N, models)
            mt = models[trained].module
            colours = {
                f"− {k}": v for k, v in P.branch_colours(mt.aspp.names, mt.aspp.kinds).items()
            }
            colours["all branches"] = "#212121"
            left, right = st.columns([3, 2], gap="large")
            left.plotly_chart(
                PS.depth_figure(
                    prof.accuracy,
                    prof.bins,
                    colours=colours,
                    title=f"{model_name}, OS {trained}: large objects, by depth",
                ),
                width="stretch",
                key="sl_depth_fig",
            )
            right.markdown(SL.depth_summary(prof))
            right.caption(
                "Depth: Chebyshev distance in pixels to the nearest pixel outside the object "
                "(1 = on the outline). Pixels per bin: "
                + ", ".join(str(n) for n in prof.pixels)
                + "."
            )

    # ----------------------------------------------------------------------- shipped metrics
    table = SL.load_metrics()
    n_ref = table["heldout_seeds"][1] - table["heldout_seeds"][0] if table else 200
    st.header(f"4 · The reference: {n_ref} held-out scenes")
    if table is None:
        st.info(
            "The shipped metrics file (deeplab_viz/assets/models/shapes_metrics.json) is not here yet.",
            icon="📦",
        )
    else:
        ref_rows = SL.metrics_rows(table, model_name, drops_at=trained)
        df = pd.DataFrame(
            [
                {
                    "configuration": f"OS {r['output_stride']}"
                    + (f" − {r['dropped']}" if r.get("dropped") else ""),
                    **{PS.bucket_label(b): _fmt(r["iou_by_size"].get(b)) for b in SW.BUCKET_NAMES},
                    "mIoU": _fmt(r.get("miou")),
                    "boundary F": _fmt(r.get("boundary_f")),
                }
                for r in ref_rows
            ]
        )
        lo_, hi_ = table["heldout_seeds"]
        st.dataframe(df, hide_index=True, width="stretch", key="sl_ref_table")
        left, right = st.columns([3, 2], gap="large")
        trend = {b: SL.vanishing_trend(table, model_name, b) for b in SW.BUCKET_NAMES}
        left.plotly_chart(
            PS.trend_figure(trend, title=f"{model_name}: held-out IoU by size"),
            width="stretch",
            key="sl_trend_fig",
        )
        lines = [
            f"- **{PS.bucket_label(b)}**: "
            + " → ".join("—" if trend[b][o] is None else f"**{trend[b][o]:.2f}**" for o in STRIDES)
            for b in SW.BUCKET_NAMES
        ]
        right.markdown("Held-out IoU at OS 8 → 16 → 32:\n" + "\n".join(lines))
        kept = {
            b: trend[b][32] / trend[b][trained]
            for b in SW.BUCKET_NAMES
            if trend[b][trained] and trend[b][32] is not None
        }
        if kept and trained != 32:
            text = (
                f"From OS {trained} (where the model was trained) to OS 32 each size keeps "
                + ", ".join(f"{b} **{v:.0%}**" for b, v in kept.items())
                + " of its IoU."
            )
            if "large" in kept and kept["large"] == max(kept.values()):
                text += (
                    " Large objects keep the most: a 32×32-pixel feature cell still fits "
                    "well inside them."
                )
            right.markdown(text)
        try:
            costs = SL.branch_costs(table, model_name, trained)
        except KeyError:  # no row at the trained stride in this metrics file
            costs = {}
        small = SL.most_needed(costs, "small")
        small_atrous = SL.most_needed(costs, "small", prefix="rate ")
        large = SL.most_needed(costs, "large")
        large_atrous = SL.most_needed(costs, "large", prefix="rate ")
        if None not in (small, small_atrous, large, large_atrous):
            text = (
                f"**Which branch serves which size** (OS {trained}, one branch off). Small "
                f"objects lose the most without **{small[0]}** (−{small[1]:.2f} IoU); "
                f"no atrous branch costs them more than {max(small_atrous[1], 0):.2f}. "
                f"Large objects lose {max(large[1], 0):.2f} without {large[0]}"
            )
            if large[0] != large_atrous[0]:
                text += (
                    f" and, of the atrous branches, the most without **{large_atrous[0]}** "
                    f"(−{large_atrous[1]:.2f})"
                )
            right.markdown(text + ".")
        lows = [b for b in ("tiny", "small") if all((trend[b][o] or 0) < 0.15 for o in STRIDES)]
        if lows:
            right.caption(
                " and ".join(lows).capitalize()
                + " objects are hardly found at any stride by this small model "
                "(held-out IoU below 0.15 even at OS 8)."
            )
        right.caption(
            f"From deeplab_viz/assets/models/shapes_metrics.json: {hi_ - lo_} held-out scenes "
            f"(seeds {lo_}–{hi_ - 1}), {table.get('scene_size', 160)} px, computed by "
            "`python -m deeplab_viz eval-shapes` (see deeplab_viz/eval_shapes.py)."
        )
