"""Cached measurements for the "Output stride" and "GPU and cost" pages.

Built on :mod:`ui.cache` (models and probes are shared from there, never mutated):

    view_image(image_key, spec, size, show, …)  st.cache_data      a stride's class map as shown
    flops(spec, input_hw)                        st.cache_data      shapes only, instant
    measured(spec, input_hw, repeats)            st.cache_data      latency + peak memory
    measured_strides(specs, hws, repeats)        st.cache_data      the same, strides interleaved
    bench_model(spec)                            st.cache_resource  a model built for a benchmark
    bench_point(...)                             st.cache_data      one model × OS × dtype × size
    rate_sweep(...)                              st.cache_data      memory and time against rate
    cudnn_point(...)                             st.cache_data      cudnn.benchmark off vs on

Measurements run only when a page asks for them on a button press; a rerun with the
same settings reads the cache.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from deeplab_viz import cost
from deeplab_viz.models import LoadedModel, ModelSpec, build_model
from deeplab_viz.palette import overlay, voc_colours
from deeplab_viz.plots.output_stride import with_boundaries

from . import cache


@st.cache_data(max_entries=24, show_spinner=False)
def view_image(
    image_key: str, spec: ModelSpec, size: int, show: str, _rgb: np.ndarray, _cm: np.ndarray
) -> np.ndarray:
    """The class map of one stride as shown: over the image with its class boundaries
    drawn in white, or in colour alone."""
    return with_boundaries(overlay(_rgb, _cm), _cm) if show == "overlay" else voc_colours(_cm)


@st.cache_data(max_entries=48, show_spinner=False)
def flops(spec: ModelSpec, input_hw: tuple[int, int]) -> int:
    """FLOPs of one forward of the model for ``spec`` (2 per multiply-add)."""
    model, _ = cache.model_or_fallback(spec)
    return cost.count_flops(model, input_hw)


@st.cache_data(max_entries=24, show_spinner=False)
def measured(
    spec: ModelSpec, input_hw: tuple[int, int], repeats: int
) -> tuple[cost.LatencyResult, cost.MemoryResult]:
    """Median latency over ``repeats`` forwards after one warm-up, then peak memory."""
    model, _ = cache.model_or_fallback(spec)
    latency = cost.measure_latency(model, input_hw, warmup=1, repeats=repeats)
    return latency, cost.peak_memory(model, input_hw)


@st.cache_data(max_entries=12, show_spinner=False)
def measured_strides(
    specs: tuple[ModelSpec, ...], input_hws: tuple[tuple[int, int], ...], repeats: int
) -> dict[int, tuple[cost.LatencyResult, cost.MemoryResult]]:
    """Per output stride: latency from runs interleaved across the strides, then peak memory.

    Interleaving makes the strides' medians comparable on a shared CPU: a load
    change during the measurement hits every stride alike.
    """
    models = [cache.model_or_fallback(s)[0] for s in specs]
    runs = {s.output_stride: (m, hw) for s, m, hw in zip(specs, models, input_hws, strict=True)}
    latency = cost.interleaved_latency(runs, warmup=1, repeats=repeats)
    return {
        s.output_stride: (latency[s.output_stride], cost.peak_memory(m, hw))
        for s, m, hw in zip(specs, models, input_hws, strict=True)
    }


@st.cache_resource(max_entries=2, show_spinner=False)
def bench_model(spec: ModelSpec) -> LoadedModel:
    """A model for the benchmark, built from the shared base (read-only) and kept for
    the next few points only (the app's own model cache is left to the lessons)."""
    return build_model(spec, base=cache.base_model(spec.name, spec.pretrained))


@st.cache_data(max_entries=256, show_spinner=False)
def bench_point(spec: ModelSpec, size: int, warmup: int, repeats: int) -> cost.CostPoint:
    return cost.measure_config(spec, size, model=bench_model(spec), warmup=warmup, repeats=repeats)


@st.cache_data(max_entries=16, show_spinner=False)
def rate_sweep(
    rates: tuple[int, ...],
    channels: int,
    feature: int,
    device: str,
    dtype: str,
    cudnn_on: bool | None,
    repeats: int,
) -> list[cost.RatePoint]:
    return cost.memory_vs_rate(
        rates,
        channels=channels,
        feature_hw=(feature, feature),
        device=device,
        dtype=dtype,
        cudnn_benchmark_on=cudnn_on,
        warmup=1,
        repeats=repeats,
    )


@st.cache_data(max_entries=16, show_spinner=False)
def cudnn_point(spec: ModelSpec, size: int, repeats: int) -> dict[bool, cost.LatencyResult]:
    return cost.cudnn_compare(bench_model(spec), (size, size), warmup=2, repeats=repeats)
