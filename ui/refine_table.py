"""What the refine views share: the VOC val table of the test-time extras, and how a
class map is drawn over the photo."""

from __future__ import annotations

import numpy as np
import streamlit as st

from deeplab_viz import refine
from deeplab_viz.palette import overlay

from . import refine_cache

TABLE_MODELS = ("voc-mobilenetv2", "voc-mobilenetv2-aspp")


def shown(rgb: np.ndarray, class_map: np.ndarray) -> np.ndarray:
    """A class map over the photo, outlined (the refine views' one way to draw it)."""
    return overlay(rgb, class_map, outline=True)


def points(x: float | None) -> str:
    return "n/a" if x is None else f"{x:+.1f}"


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
