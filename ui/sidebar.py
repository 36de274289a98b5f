"""The one sidebar every page uses: image, model, output stride, device.

Widget functions return plain values; :func:`sidebar` returns a frozen
:class:`Lesson`. The settings are mirrored into ``st.query_params`` so a shared
link reproduces the view: every lesson widget is bound to a query parameter
named after its key (``?sb_model=…&sb_os=16``); uploads cannot travel in a link.
"""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st
import torch

from deeplab_viz.images import DEFAULT_MAX_SIDE, ImageError, LoadedImage, describe
from deeplab_viz.inference import DEFAULT_SIZE
from deeplab_viz.models import OUTPUT_STRIDES, REGISTRY, LoadedModel, ModelSpec
from deeplab_viz.models.registry import DEFAULT_MODEL

from . import cache
from .bootstrap import ensure_app_entry

SIZES = (257, 321, 385, 449, 513, 641, 769, 1025)
UPLOAD_TYPES = ["png", "jpg", "jpeg", "webp", "gif", "bmp", "tif", "tiff"]


@dataclass(frozen=True)
class Lesson:
    """What every page works on."""

    image: LoadedImage
    requested: ModelSpec  # what the user asked for
    model: LoadedModel  # what runs: the same, or the offline fallback
    notice: str | None  # why it fell back, if it did
    size: int  # longest side fed to the model, pixels

    @property
    def spec(self) -> ModelSpec:
        """The spec of the model that runs: the key for every cached result.

        Keying results by what runs (not by what was asked for) keeps a result
        computed on the fallback from being served once the real weights arrive.
        """
        return self.model.spec

    @property
    def label(self) -> str:
        return self.model.spec.label


def _model_options() -> list[str]:
    opts = []
    for name, entry in REGISTRY.items():
        opts.append(name)
        if entry.kind == "torchvision":
            opts.append(f"{name}:random")
    return opts


def _model_label(opt: str) -> str:
    name, _, random = opt.partition(":")
    title = REGISTRY[name].title
    return f"{title} · architecture only (random weights)" if random else title


def _devices() -> list[str]:
    devs = ["auto", "cpu"]
    if torch.cuda.is_available():
        devs.append("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        devs.append("mps")
    return devs


def _on_model_change() -> None:
    """A new model starts at the stride its weights were trained at."""
    name = st.session_state["sb_model"].partition(":")[0]
    st.session_state["sb_os"] = REGISTRY[name].native_stride


def image_picker() -> LoadedImage:
    """A sample or the user's upload; a bad upload keeps the last good image."""
    samples = cache.sample_files()
    sample = st.selectbox(
        "Sample image",
        samples,
        index=samples.index(cache.DEFAULT_SAMPLE),
        key="sb_sample",
        bind="query-params",
    )
    upload = st.file_uploader(
        "…or your own image",
        type=UPLOAD_TYPES,
        key="sb_upload",
        help="Up to the size cap in the app's settings; big images are scaled to 1024 px.",
    )
    image = cache.sample_image(sample, DEFAULT_MAX_SIDE)
    if upload is not None:
        try:
            image = cache.upload_image(upload.getvalue(), upload.name, DEFAULT_MAX_SIDE)
            st.session_state["sb_last_upload"] = image
            st.caption("Using your upload; remove it (×) to go back to the sample.")
        except ImageError as exc:
            st.error(exc.message, icon="🖼️")
            last = st.session_state.get("sb_last_upload")
            if last is not None:
                st.caption("Still showing your previous image.")
                image = last
    st.caption(describe(image))
    return image


def model_picker() -> tuple[ModelSpec, int]:
    opts = _model_options()
    # Options are the short names (":random" for architecture only), with no
    # format_func: a bound widget writes what it displays into the link, so this
    # keeps links short and readable (?sb_model=deeplabv3_resnet50:random).
    choice = st.selectbox(
        "Model",
        opts,
        index=opts.index(DEFAULT_MODEL),
        key="sb_model",
        bind="query-params",
        on_change=_on_model_change,
        help="“:random” = the architecture with random weights (no download needed).",
    )
    st.caption(_model_label(choice))
    name, _, random = choice.partition(":")
    entry = REGISTRY[name]
    os_ = st.segmented_control(
        "Output stride",
        list(OUTPUT_STRIDES),
        default=REGISTRY[DEFAULT_MODEL].native_stride,
        required=True,
        key="sb_os",
        bind="query-params",
        help=f"This model was trained at {entry.native_stride}. Smaller = denser "
        "features and more compute; the same weights serve every stride.",
    )
    rates = "scale"
    if entry.trained_rates:
        rates = st.radio(
            "ASPP rates",
            ["scale", "keep"],
            key="sb_rates",
            bind="query-params",
            horizontal=True,
            help="scale: rates follow the stride so each branch keeps its reach in image "
            "pixels (rate × output stride); keep: the trained rates at every stride.",
        )
    with st.expander("Device and working size"):
        device = st.selectbox("Device", _devices(), key="sb_device")
        dtype = "float32"
        if device == "cuda" or (device == "auto" and torch.cuda.is_available()):
            dtype = st.selectbox("Precision", ["float32", "float16", "bfloat16"], key="sb_dtype")
        size = st.select_slider(
            "Working size (longest side, px)",
            SIZES,
            value=DEFAULT_SIZE,
            key="sb_size",
            bind="query-params",
            help="What the model sees. 513 is the crop size the VOC models were trained at.",
        )
    spec = ModelSpec(
        name=name,
        output_stride=int(os_),
        aspp_rates=rates,
        pretrained=not random,
        device=device,
        dtype=dtype,
    )
    return spec, int(size)


def sidebar() -> Lesson:
    with st.sidebar:
        st.markdown("### Your lesson")
        image = image_picker()
        spec, size = model_picker()
        model, notice = cache.model_or_fallback(spec)
        if notice:
            st.warning(notice, icon="📦")
        st.caption(f"Running: **{model.spec.label}** on {model.spec.device}")
    return Lesson(image=image, requested=spec, model=model, notice=notice, size=size)


def current_lesson() -> Lesson:
    """The lesson the sidebar made in this run (pages call this)."""
    ensure_app_entry()  # a deep link on a fresh server runs the page file first
    lesson = st.session_state.get("_lesson")
    if lesson is None:  # a page run on its own (e.g. in a test): draw the sidebar here
        lesson = sidebar()
        st.session_state["_lesson"] = lesson
    return lesson
