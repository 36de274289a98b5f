"""GPU and cost: measured latency per model and stride, and memory against atrous rate."""

from __future__ import annotations

import streamlit as st
import torch

from deeplab_viz import cost
from deeplab_viz.cost.benchmark import bench_plan, bench_spec, cudnn_label, model_title
from deeplab_viz.models import OUTPUT_STRIDES
from deeplab_viz.models.registry import DEFAULT_MODEL, resolve_device
from deeplab_viz.plots.cost import cudnn_figure
from ui import cost_view, links, prose, stride_cache
from ui.sidebar import current_lesson

P = "gpu_and_cost"  # the lesson file: lessons/gpu_and_cost.md
SIZES = (129, 257, 385, 513)  # all OS·k + 1 for OS 8, 16 and 32
RATES = (1, 2, 4, 6, 12, 18, 24, 36)
CHANNELS = (32, 64, 128, 256)
FEATURES = (17, 33, 65, 129)

lesson = current_lesson()
cuda = torch.cuda.is_available()
device = resolve_device("cuda" if cuda else "cpu")
machine = cost.machine_info(device)

st.title("GPU and cost")
prose.show(P, "intro")
cost_view.machine_caption(device, machine, lesson.label)
if not cuda:
    st.info(prose.text(P, "no_cuda"), icon=":material/memory:")

# --------------------------------------------------------------------------- latency

st.subheader("1 · Latency per model, output stride, precision and size")
MODELS = list(cost.benchmark_models())
names = links.pills(
    st,
    "Models",
    MODELS,
    default=MODELS if cuda else [DEFAULT_MODEL, "deeplabv3_mobilenet_v3_large"],
    key="cost_models",
    help=prose.text(P, "models_help"),
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
    help=None if cuda else prose.text(P, "dtypes_help"),
)
sizes = links.pills(
    c4, "Input size (px)", list(SIZES), default=[257, 513] if cuda else [257], key="cost_sizes"
)
r1, r2 = st.columns([1, 3])
repeats = links.slider(r1, "Timed runs per point", 1, 30, 10 if cuda else 3, key="cost_repeats")
configs = bench_plan(names, dtypes if cuda else ["float32"], strides, sizes)
r2.caption(prose.text(P, "plan", points=len(configs), passes=1 + repeats))
if st.button("Run the latency benchmark", key="cost_run", type="primary", disabled=not configs):
    st.session_state["cost_results"] = cost_view.run_benchmark(configs, repeats, device)

results = st.session_state.get("cost_results")
if results:
    cost_view.latency_results(results)
else:
    st.caption(prose.text(P, "nothing_yet"))

# --------------------------------------------------------------------------- memory vs rate

st.subheader("2 · Does a large atrous rate cost memory?")
prose.show(P, "rate")
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
    m4.caption(prose.text(P, "rate_cudnn_cuda_only"))
if st.button("Measure memory against rate", key="cost_rate_run", disabled=len(rates) < 2):
    with st.spinner(f"Running {len(rates)} convolutions…"):
        sweep = stride_cache.rate_sweep(
            tuple(sorted(rates)), int(channels), int(feature), device, "float32", rate_cudnn, 3
        )
    st.session_state["cost_rate_results"] = sweep
sweep = st.session_state.get("cost_rate_results")
if sweep:
    cost_view.rate_results(sweep)
else:
    st.caption(prose.text(P, "rate_nothing_yet"))

# --------------------------------------------------------------------------- cudnn.benchmark

st.subheader("3 · cudnn.benchmark on and off")
prose.show(P, "cudnn")
if not cuda:
    st.info(prose.text(P, "cudnn_no_cuda"), icon=":material/memory:")
else:
    k1, k2, k3, k4 = st.columns(4)
    cname = links.selectbox(
        k1, "Model", MODELS, index=2, format_func=model_title, key="cost_cudnn_model"
    )
    cos = links.selectbox(k2, "Output stride", list(OUTPUT_STRIDES), key="cost_cudnn_os")
    csize = links.selectbox(k3, "Input size (px)", list(SIZES), index=3, key="cost_cudnn_size")
    cdt = links.selectbox(
        k4, "Precision", ["float32", "float16", "bfloat16"], key="cost_cudnn_dtype"
    )
    if st.button("Compare cudnn.benchmark off and on", key="cost_cudnn_run"):
        spec = bench_spec(cname, int(cos), cdt, device)
        with st.spinner("Timing with cudnn.benchmark off, then on…"):
            pair = stride_cache.cudnn_point(spec, int(csize), 10)
        label = cudnn_label(cname, cos, cdt, csize)
        st.session_state.setdefault("cost_cudnn_results", {})[label] = pair
    found = st.session_state.get("cost_cudnn_results")
    if found:
        st.plotly_chart(cudnn_figure(found), width="stretch")
        st.caption(prose.text(P, "cudnn_note"))
