"""What the "Scale lab" page draws, section by section; the widgets stay on the page.

Each function renders one finished part from values the page read and computed; the
words come from ``lessons/scale_lab.md``.
"""

from __future__ import annotations

from functools import partial

import pandas as pd
import streamlit as st

from deeplab_viz import scale_lab as SL
from deeplab_viz import shapes_world as SW
from deeplab_viz.plots import aspp as P
from deeplab_viz.plots import shapes as PS
from deeplab_viz.plots.colours import (
    ERF_SQUARE_COLOURS,
    RF_BRANCH_SHADES,
    RF_STAGE_COLOURS,
    STRIDE_COLOURS,
    shape_colours,
)

from . import prose
from .scale_lab_cache import erf_sides, make_scene

# the theoretical fields drawn around a picked pixel: layer2, layer3, ASPP input, then
# the atrous branches in turn; the two ERF squares
STAGE_COLOURS, BRANCH_SHADES = RF_STAGE_COLOURS, RF_BRANCH_SHADES
ERF_SQUARES = tuple(
    (f"ERF {f:.0%}".replace("%", " %"), f, c) for f, c in ERF_SQUARE_COLOURS.items()
)


text = partial(prose.text, "scale_lab")  # a section of the lesson, fields filled


def asked(label: str, key: str, model_name: str) -> bool:
    """A button that, once clicked for ``model_name``, stays clicked for the session.

    The flag is set in ``on_click``, which Streamlit runs before the script, so the
    click's own run already shows the results and no longer the button.
    """
    done = st.session_state.setdefault(f"{key}_done", set())
    if model_name not in done:
        st.button(label, key=key, on_click=done.add, args=(model_name,))
    return model_name in done


def jump(scene_key: tuple) -> None:
    """Button callback: put the picked pixel deep inside the largest object."""
    y, x = SL.largest_object_pixel(make_scene(*scene_key))
    st.session_state["sl_px"], st.session_state["sl_py"] = int(x), int(y)


def scores(rows: list[SL.ConfigRow], key: str, title_stride: str, title_drop: str, trained: int):
    """The score table, then IoU per size: by output stride, and one branch off."""
    st.dataframe(pd.DataFrame(SL.score_table(rows)), hide_index=True, width="stretch", key=key)
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


def pictures(scene: SW.Scene, maps: dict, model_name: str, asked_for: int) -> None:
    """The scene, its ground truth and the prediction at each stride; what is in it."""
    st.plotly_chart(
        PS.images_figure(
            [("scene", scene.rgb), ("ground truth", shape_colours(scene.mask))]
            + [(f"prediction, OS {s}", shape_colours(maps[f"OS {s}"])) for s in SL.STRIDES],
        ),
        width="stretch",
        key="sl_pictures",
    )
    counts = ", ".join(f"{v} {PS.bucket_label(b)}" for b, v in SL.visible_counts(scene).items())
    caption = text("pictures", model=model_name, counts=counts)
    if len(scene.objects) < asked_for:
        missing = asked_for - len(scene.objects)
        caption += " " + text("left_out", missing=missing, asked=asked_for)
    st.caption(caption)


def rf_view(scene, scene_key, model_name: str, mt, trained: int, maps, py: int, px: int):
    """The fields around the picked pixel, and whether each reaches the object's outline."""
    obj = SL.pixel_object(scene, (py, px))
    drawn, pooling = SL.rf_fields(mt.module, scene.size)
    shown = [
        (name, side, STAGE_COLOURS[i] if i < 3 else BRANCH_SHADES[(i - 3) % len(BRANCH_SHADES)])
        for i, (name, side) in enumerate(drawn)
    ]
    sides = erf_sides(model_name, scene_key, py, px, "stage:layer4", mt, scene.rgb)
    erf_sq = [(name, sides[f], c) for name, f, c in ERF_SQUARES]
    left, right = st.columns([5, 4], gap="medium")
    left.plotly_chart(
        PS.rf_figure(
            scene.rgb,
            (py, px),
            shown,
            bbox=obj.bbox,
            erf=erf_sq,
            title=f"Receptive fields around ({px}, {py})",
        ),
        width="stretch",
        key="sl_rf_fig",
    )
    pred, truth = maps[f"OS {trained}"][py, px], scene.mask[py, px]
    with right:
        if obj.index is None:
            st.markdown(text("background", x=px, y=py))
        else:
            d = obj.outline_distance
            st.markdown(
                text(
                    "in_object",
                    x=px,
                    y=py,
                    shape=obj.class_name,
                    diameter=f"{obj.diameter:.0f}",
                    bucket=obj.bucket,
                    distance=d,
                    need=2 * d + 1 if d is not None else None,
                )
            )
        fields = [(n, s) for n, s, _ in shown] + [(n, None) for n in pooling]
        fields += [(n, s) for n, s, _ in erf_sq]
        st.dataframe(
            pd.DataFrame(SL.reach_table(obj, fields)),
            hide_index=True,
            width="stretch",
            key="sl_rf_table",
            column_config={
                "field": st.column_config.TextColumn(width=150),
                "side": st.column_config.TextColumn(width=64),
                "reaches outline": st.column_config.TextColumn(
                    "outline", width=62, help=text("outline_help")
                ),
                "holds object": st.column_config.TextColumn(
                    "object", width=58, help=text("object_help")
                ),
            },
        )
        verdict = "prediction_right" if pred == truth else "prediction_wrong"
        names = SW.CLASS_NAMES
        st.markdown(text(verdict, trained=trained, pred=names[pred], truth=names[truth]))
        if obj.index is not None:
            e95 = obj.reach(sides[0.95]).reaches_outline
            st.caption(text("erf_reaches" if e95 else "erf_misses"))
        st.caption(text("rf_source"))


def depth_view(prof: SL.DepthProfile, module, model_name: str, trained: int) -> None:
    """Accuracy of large objects' pixels by depth, all branches and each one off."""
    colours = {
        f"− {k}": v for k, v in P.branch_colours(module.aspp.names, module.aspp.kinds).items()
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
    right.caption(text("depth_bins", pixels=", ".join(str(n) for n in prof.pixels)))


def reference(table: dict, model_name: str, trained: int) -> None:
    """The shipped held-out table of ``model_name`` and what it says about size."""
    ref_rows = SL.metrics_rows(table, model_name, drops_at=trained)
    df = pd.DataFrame(SL.reference_table(ref_rows))
    st.dataframe(df, hide_index=True, width="stretch", key="sl_ref_table")
    left, right = st.columns([3, 2], gap="large")
    trend = SL.size_trends(table, model_name)
    left.plotly_chart(
        PS.trend_figure(trend, title=f"{model_name}: held-out IoU by size"),
        width="stretch",
        key="sl_trend_fig",
    )
    right.markdown(text("trend", lines=SL.trend_lines(trend)))
    kept = SL.kept_shares(trend, trained)
    if kept:
        shares = ", ".join(f"{b} **{v:.0%}**" for b, v in kept.items())
        said = text("kept", trained=trained, shares=shares)
        if SL.large_keeps_most(kept):
            said += " " + text("kept_large")
        right.markdown(said)
    bs = SL.branch_summary(table, model_name, trained)
    if bs is not None:
        said = text(
            "branches",
            trained=trained,
            small=bs.small[0],
            small_loss=f"{bs.small[1]:.2f}",
            small_atrous_loss=f"{max(bs.small_atrous[1], 0):.2f}",
            large_loss=f"{max(bs.large[1], 0):.2f}",
            large=bs.large[0],
        )
        if bs.large[0] != bs.large_atrous[0]:
            said += " " + text(
                "branches_atrous",
                large_atrous=bs.large_atrous[0],
                large_atrous_loss=f"{bs.large_atrous[1]:.2f}",
            )
        right.markdown(said + ".")
    lows = SL.hardly_found(trend)
    if lows:
        right.caption(text("hardly_found", sizes=" and ".join(lows).capitalize()))
    lo, hi = table["heldout_seeds"]
    right.caption(
        text(
            "reference_source",
            n=hi - lo,
            first=lo,
            last=hi - 1,
            size=table.get("scene_size", 160),
        )
    )
