"""What the GPU and cost page draws, piece by piece (pages/gpu_and_cost.py).

The measurement tables, readable at 1280 px: short headers (the full name in each one's
tooltip), widths that fit, and the columns that hold one value for the whole run (how
memory was measured, the number of runs) said once in the caption instead. None of
these functions makes a widget bound to the link (those stay in the page); the words
come from ``lessons/gpu_and_cost.md``, the measurements from :mod:`ui.stride_cache`.
"""

from __future__ import annotations

from collections.abc import Sequence

import streamlit as st

from deeplab_viz import cost
from deeplab_viz.cost.benchmark import bench_spec, model_title
from deeplab_viz.plots.cost import latency_figure, points_table, rate_figure, rate_table
from deeplab_viz.weights import WeightsUnavailable

from . import prose, stride_cache

PAGE = "gpu_and_cost"
Col = st.column_config


def _num(label: str, width: int, help: str) -> Col.NumberColumn:
    return Col.NumberColumn(label, width=width, help=help)


LATENCY_COLUMNS = {
    "model": Col.TextColumn(width=215),
    "output stride": _num("OS", 40, "output stride"),
    "precision": Col.TextColumn(width=75),
    "input (px)": Col.TextColumn("input px", width=70, help="input size, pixels"),
    "GFLOPs": _num("GFLOPs", 66, "GFLOPs of one forward"),
    "median (ms)": _num("median ms", 82, "median latency, milliseconds"),
    "p90 (ms)": _num("p90 ms", 64, "90th percentile of the latency, milliseconds"),
    "peak memory (MB)": _num("peak MB", 70, "peak memory of one forward, MB"),
    "torch allocations (MB)": _num("torch MB", 76, "peak of torch's own allocations, MB"),
}
RATE_COLUMNS = {
    "rate": _num("rate", 45, "atrous rate"),
    "cuDNN benchmark": Col.TextColumn("cudnn", width=60, help="cudnn.benchmark"),
    "median (ms)": _num("median ms", 82, "median latency, milliseconds"),
    "peak memory (MB)": _num("peak MB", 70, "peak memory, MB (the most precise figure)"),
    "RSS growth (MB)": _num("RSS growth MB", 112, "growth of the process's resident memory, MB"),
    "output (MB)": _num("output MB", 80, "size of the output, MB"),
    "padded input (MB)": _num("padded input MB", 118, "size of the zero-padded input, MB"),
    "taps on real cells": Col.TextColumn(
        "real taps", width=76, help="share of the kernel's taps that land on real cells"
    ),
    "GFLOPs": _num("GFLOPs", 66, "GFLOPs of the convolution"),
}


def shown(rows: list[dict], config: dict) -> list[str]:
    """The configured columns that hold something in ``rows``."""
    return [c for c in config if any(r.get(c) not in (None, "—") for r in rows)]


def machine_caption(device: str, machine: dict, lesson_label: str) -> None:
    """Where the numbers are measured (and that the sidebar's lesson is not used)."""
    where = machine["device_name"] if device == "cuda" else f"CPU: {machine['cpu_model']}"
    st.caption(
        prose.text(
            PAGE,
            "machine",
            device=device,
            where=where,
            torch=machine["torch"],
            cores=machine["cpu_count"],
            threads=machine["torch_threads"],
            lesson=lesson_label,
        )
    )


def run_benchmark(configs: Sequence[tuple[str, int, str, int]], repeats: int, device: str):
    """Measure every configuration, with a progress bar; ``{"points", "skipped"}``."""
    bar = st.progress(0.0, text="Starting…")
    points, skipped = [], []
    for i, (n, s, d, z) in enumerate(configs):
        bar.progress(i / len(configs), text=f"{model_title(n)} · OS {s} · {d} · {z} px")
        try:
            points.append(stride_cache.bench_point(bench_spec(n, s, d, device), z, 1, repeats))
        except WeightsUnavailable as exc:
            skipped.append(f"{n}: {exc.message}")
    bar.empty()
    return {"points": points, "skipped": skipped}


def latency_results(results: dict) -> None:
    """The latency benchmark's results: what was skipped, the figure, the table, the ratios
    measured in the run and how it was measured."""
    points = results["points"]
    for line in sorted(set(results["skipped"])):
        st.warning(f"Skipped {line}", icon="📦")
    if not points:
        return
    st.plotly_chart(latency_figure(points), width="stretch")
    rows = points_table(points)
    st.dataframe(
        rows,
        hide_index=True,
        width="stretch",
        row_height=66,  # a long model name wraps onto three lines
        column_order=shown(rows, LATENCY_COLUMNS),
        column_config=LATENCY_COLUMNS,
    )
    found = cost.ratios(points)
    if found:
        lines = [
            f"- **{k}**: " + ", ".join(f"{name} = {v:.2f}" for name, v in r.items())
            for k, r in found.items()
        ]
        st.markdown(prose.text(PAGE, "ratios", lines="\n".join(lines)))
    memory = points[0].memory
    allocations = (
        " " + prose.text(PAGE, "latency_allocations", note=cost.ALLOC_NOTE)
        if memory.allocated_bytes is not None
        else ""
    )
    st.caption(
        prose.text(
            PAGE,
            "latency_note",
            runs=len(points[0].latency.runs),
            flops=cost.FLOP_CONVENTION,
            method=memory.method,
            note=memory.note,
            allocations=allocations,
        )
    )


def rate_results(sweep: list) -> None:
    """Memory against rate: the figure, its verdict, and the numbers in an expander."""
    st.plotly_chart(rate_figure(sweep), width="stretch")
    st.markdown(cost.rate_verdict(sweep))
    with st.expander("The numbers"):
        rows = rate_table(sweep)
        st.dataframe(
            rows,
            hide_index=True,
            width="stretch",
            column_order=shown(rows, RATE_COLUMNS),
            column_config=RATE_COLUMNS,
        )
        memory = sweep[0].memory
        values = {"best": memory.best_method, "method": memory.method, "note": memory.note}
        if memory.allocated_bytes is not None:
            st.caption(
                prose.text(PAGE, "rate_memory_allocations", allocations=cost.ALLOC_NOTE, **values)
            )
        else:
            st.caption(prose.text(PAGE, "rate_memory", **values))
