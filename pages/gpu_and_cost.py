"""GPU and cost: measured latency per model and stride, and memory against atrous rate."""

from __future__ import annotations

import streamlit as st
import torch

from deeplab_viz import cost
from deeplab_viz.models import OUTPUT_STRIDES, REGISTRY, ModelSpec
from deeplab_viz.models.registry import DEFAULT_MODEL, resolve_device
from deeplab_viz.plots.cost import (
    cudnn_figure,
    latency_figure,
    points_table,
    rate_figure,
    rate_table,
)
from deeplab_viz.weights import WeightsUnavailable
from ui import links, stride_cache
from ui.sidebar import current_lesson

SIZES = (129, 257, 385, 513)  # all OS·k + 1 for OS 8, 16 and 32
RATES = (1, 2, 4, 6, 12, 18, 24, 36)
CHANNELS = (32, 64, 128, 256)
FEATURES = (17, 33, 65, 129)


def _spec(name: str, os_: int, dtype: str, device: str) -> ModelSpec:
    """Trained weights for the offline model, random ones for torchvision models: weights
    do not change what a forward costs."""
    pretrained = REGISTRY[name].kind == "tflite"
    return ModelSpec(name, os_, pretrained=pretrained, device=device, dtype=dtype)


# The measurement tables, readable at 1280 px: short headers (the full name in each one's
# tooltip), widths that fit, and the columns that hold one value for the whole run (how
# memory was measured, the number of runs) said once in the caption instead.
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


def _shown(rows: list[dict], config: dict) -> list[str]:
    """The configured columns that hold something in ``rows``."""
    return [c for c in config if any(r.get(c) not in (None, "—") for r in rows)]


def _model_title(name: str) -> str:
    suffix = "" if REGISTRY[name].kind == "tflite" else " · random weights"
    return f"{name}{suffix}"


lesson = current_lesson()
cuda = torch.cuda.is_available()
device = resolve_device("cuda" if cuda else "cpu")
machine = cost.machine_info(device)

st.title("GPU and cost")
st.markdown(
    "How long does a DeepLab forward take, and what makes it cost more? Here you measure it "
    "on this machine rather than take it on trust: the four models of the app at output "
    "stride 8, 16 and 32, in each precision the device offers, at a few input sizes. Weights "
    "do not change the cost of a forward, so the torchvision models run with random weights "
    "(*architecture only*). Then a claim you will often read: *large atrous rates cost GPU "
    "memory*. A dilated 3×3 convolution has the same weights, the same FLOPs and the same "
    "output at every rate, so measure it before you repeat it."
)
where = machine["device_name"] if device == "cuda" else f"CPU: {machine['cpu_model']}"
st.caption(
    f"Measuring on **{device}** ({where}) · torch {machine['torch']} · "
    f"{machine['cpu_count']} CPU cores, {machine['torch_threads']} torch threads · the "
    f"sidebar's lesson ({lesson.label}) is not used here."
)
if not cuda:
    st.info(
        "CUDA not available on this machine: everything below runs on the CPU in float32 "
        "(float16 and bfloat16 are offered on CUDA only). Keep the runs small; the numbers "
        "are still honest, just slower. Run `python bench/gpu_cost.py` on a GPU machine for "
        "the full table.",
        icon=":material/memory:",
    )

# --------------------------------------------------------------------------- latency

st.subheader("1 · Latency per model, output stride, precision and size")
MODELS = list(cost.benchmark_models())
names = links.pills(
    st,
    "Models",
    MODELS,
    default=MODELS if cuda else [DEFAULT_MODEL, "deeplabv3_mobilenet_v3_large"],
    key="cost_models",
    help="The torchvision models run with random weights: weights do not change the cost.",
)
c2, c3, c4 = st.columns(3)
strides = links.pills(
    c2, "Output strides", list(OUTPUT_STRIDES), default=list(OUTPUT_STRIDES), key="cost_strides"
)
dtypes = links.pills(
    c3,
    "Precision",
    ["float32", "float16", "bfloat16"] if cuda else ["float32"],
    default=["float32", "float16"] if cuda else ["float32"],
    key="cost_dtypes",
    disabled=not cuda,
    help=None if cuda else "float16 and bfloat16 run on CUDA only.",
)
sizes = links.pills(
    c4, "Input size (px)", list(SIZES), default=[257, 513] if cuda else [257], key="cost_sizes"
)
r1, r2 = st.columns([1, 3])
repeats = links.slider(r1, "Timed runs per point", 1, 30, 10 if cuda else 3, key="cost_repeats")
configs = [
    (n, s, d, z)
    for n in names
    for d in (dtypes if cuda else ["float32"])
    for s in sorted(strides)
    for z in sorted(sizes)
]
r2.caption(
    f"{len(configs)} points × ({1 + repeats} timed-or-warm-up + 1 memory) forward passes. "
    "Each point is cached: pressing again with the same settings reads the cache."
)
if st.button("Run the latency benchmark", key="cost_run", type="primary", disabled=not configs):
    bar = st.progress(0.0, text="Starting…")
    points, skipped = [], []
    for i, (n, s, d, z) in enumerate(configs):
        bar.progress(i / len(configs), text=f"{_model_title(n)} · OS {s} · {d} · {z} px")
        try:
            points.append(stride_cache.bench_point(_spec(n, s, d, device), z, 1, repeats))
        except WeightsUnavailable as exc:
            skipped.append(f"{n}: {exc.message}")
    bar.empty()
    st.session_state["cost_results"] = {"points": points, "skipped": skipped}

results = st.session_state.get("cost_results")
if results:
    points = results["points"]
    for line in sorted(set(results["skipped"])):
        st.warning(f"Skipped {line}", icon="📦")
    if points:
        st.plotly_chart(latency_figure(points), width="stretch")
        rows = points_table(points)
        st.dataframe(
            rows,
            hide_index=True,
            width="stretch",
            row_height=66,  # a long model name wraps onto three lines
            column_order=_shown(rows, LATENCY_COLUMNS),
            column_config=LATENCY_COLUMNS,
        )
        found = cost.ratios(points)
        if found:
            lines = [
                f"- **{k}**: " + ", ".join(f"{name} = {v:.2f}" for name, v in r.items())
                for k, r in found.items()
            ]
            st.markdown("**Ratios measured in this run**\n" + "\n".join(lines))
        st.caption(
            f"Median of the {len(points[0].latency.runs)} timed runs after one warm-up, batch "
            f"of one, whisker to the 90th percentile. FLOPs: {cost.FLOP_CONVENTION} Peak memory: "
            f"{points[0].memory.method} — {points[0].memory.note}."
            + (
                f" Torch allocations: {cost.ALLOC_NOTE}."
                if points[0].memory.allocated_bytes is not None
                else ""
            )
        )
else:
    st.caption("Nothing measured yet: choose the settings and press the button.")

# --------------------------------------------------------------------------- memory vs rate

st.subheader("2 · Does a large atrous rate cost memory?")
st.markdown(
    "One 3×3 convolution, channels → channels, on one feature map, at each rate with "
    "'same' padding (padding = rate). Its weights, FLOPs and output are identical at every "
    "rate; only where its taps read changes. If an implementation materialises the zero "
    "padding, or rearranges the map into rate² sub-maps (TensorFlow's space-to-batch), memory "
    "can grow with the rate, and on small maps the extra taps read padding anyway."
)
m1, m2, m3, m4 = st.columns([2.4, 1, 1, 1.2])
rates = links.pills(m1, "Rates", list(RATES), default=list(RATES), key="cost_rates")
channels = links.selectbox(
    m2, "Channels", CHANNELS, index=CHANNELS.index(256 if cuda else 128), key="cost_channels"
)
feature = links.selectbox(
    m3, "Feature map (cells)", FEATURES, index=FEATURES.index(65), key="cost_feature"
)
rate_cudnn = None
if cuda:
    rate_cudnn = links.toggle(m4, "cudnn.benchmark", value=False, key="cost_rate_cudnn")
else:
    m4.caption("cudnn.benchmark: CUDA only")
if st.button("Measure memory against rate", key="cost_rate_run", disabled=len(rates) < 2):
    with st.spinner(f"Running {len(rates)} convolutions…"):
        sweep = stride_cache.rate_sweep(
            tuple(sorted(rates)), int(channels), int(feature), device, "float32", rate_cudnn, 3
        )
    st.session_state["cost_rate_results"] = sweep
sweep = st.session_state.get("cost_rate_results")
if sweep:
    st.plotly_chart(rate_figure(sweep), width="stretch")
    st.markdown(cost.rate_verdict(sweep))
    with st.expander("The numbers"):
        rows = rate_table(sweep)
        st.dataframe(
            rows,
            hide_index=True,
            width="stretch",
            column_order=_shown(rows, RATE_COLUMNS),
            column_config=RATE_COLUMNS,
        )
        note = f"{sweep[0].memory.method}: {sweep[0].memory.note}."
        if sweep[0].memory.allocated_bytes is not None:
            note = f"torch CPU allocations: {cost.ALLOC_NOTE}. RSS growth (coarse): " + note
        st.caption(f"Peak memory, measured as {sweep[0].memory.best_method}; " + note)
else:
    st.caption("Nothing measured yet: press the button (a few seconds on a CPU).")

# --------------------------------------------------------------------------- cudnn.benchmark

st.subheader("3 · cudnn.benchmark on and off")
st.markdown(
    "With `torch.backends.cudnn.benchmark = True`, cuDNN times several convolution "
    "algorithms the first time it meets an input shape and keeps the fastest; with it off, "
    "cuDNN picks one by heuristics. Whether the search pays off for dilated convolutions "
    "on a given GPU is what this measures. The first run pays for the search (the warm-ups "
    "absorb it); the bars are the runs after it."
)
if not cuda:
    st.info(
        "CUDA not available on this machine: cudnn.benchmark only applies to NVIDIA GPUs. "
        "`python bench/gpu_cost.py --device cuda` measures it on one.",
        icon=":material/memory:",
    )
else:
    k1, k2, k3, k4 = st.columns(4)
    cname = links.selectbox(
        k1, "Model", MODELS, index=2, format_func=_model_title, key="cost_cudnn_model"
    )
    cos = links.selectbox(k2, "Output stride", list(OUTPUT_STRIDES), key="cost_cudnn_os")
    csize = links.selectbox(k3, "Input size (px)", list(SIZES), index=3, key="cost_cudnn_size")
    cdt = links.selectbox(
        k4, "Precision", ["float32", "float16", "bfloat16"], key="cost_cudnn_dtype"
    )
    if st.button("Compare cudnn.benchmark off and on", key="cost_cudnn_run"):
        spec = _spec(cname, int(cos), cdt, device)
        with st.spinner("Timing with cudnn.benchmark off, then on…"):
            pair = stride_cache.cudnn_point(spec, int(csize), 10)
        st.session_state.setdefault("cost_cudnn_results", {})[
            f"{cname.replace('deeplabv3_', '')} · OS {cos} · {cdt} · {csize} px"
        ] = pair
    found = st.session_state.get("cost_cudnn_results")
    if found:
        st.plotly_chart(cudnn_figure(found), width="stretch")
        st.caption(
            "Median of 10 runs after 2 warm-ups, each setting. The switch is process-wide "
            "while it is measured, then restored."
        )
