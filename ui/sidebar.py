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

from deeplab_viz import first_run as FR
from deeplab_viz.images import DEFAULT_MAX_SIDE, ImageError, LoadedImage, describe
from deeplab_viz.inference import DEFAULT_SIZE
from deeplab_viz.models import OUTPUT_STRIDES, REGISTRY, LoadedModel, ModelSpec
from deeplab_viz.models.registry import (
    DEFAULT_MODEL,
    LOW_PRECISION,
    is_shapes_model,
    resolve_device,
)

from . import cache, links
from .bootstrap import ensure_app_entry

SIZES = (257, 321, 385, 449, 513, 641, 769, 1025)
UPLOAD_TYPES = ["png", "jpg", "jpeg", "webp", "gif", "bmp", "tif", "tiff"]


@dataclass(frozen=True)
class Lesson:
    """What every page works on."""

    image: LoadedImage
    requested: ModelSpec  # what the user asked for
    model: LoadedModel  # what runs: the same, or the fallback
    notice: FR.Fallback | None  # why it fell back, if it did
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
    st.session_state["_model_chosen"] = True  # from now on the pages keep the user's choice


def open_on(model_name: str | None) -> None:
    """Start this page on ``model_name`` (None: no model of its own) until the user picks one.

    A page whose lesson needs another model than the default (the ASPP explorer
    needs five branches) opens on it, at that model's trained stride, and the
    session keeps it on the other pages, as if picked in the sidebar (the
    sidebar's caption names it). A model picked in the sidebar or named in the
    link always wins. Call before :func:`sidebar` draws the picker.
    """
    if links.in_link("sb_model"):  # a model in the link counts as picked, for the session
        st.session_state["_model_chosen"] = True
    if model_name not in REGISTRY or st.session_state.get("_model_chosen"):
        return
    if st.session_state.get("sb_model", DEFAULT_MODEL) != model_name:
        st.session_state["sb_model"] = model_name
        st.session_state["_model_chosen"] = True  # the session keeps it from here on
        if not links.in_link("sb_os"):  # a stride in the link is kept
            st.session_state["sb_os"] = REGISTRY[model_name].native_stride


OWN_IMAGE = "your own image"  # the sample list's entry for an upload or a photo
OWN_MISSING_KEY = "_own_image_missing"  # this run: the link names an image it cannot carry


def _has_own_image() -> bool:
    """Whether an upload or a camera photo is in the sidebar (state of the last run)."""
    ss = st.session_state
    shot = ss.get("sb_camera") if ss.get("sb_camera_on") else None
    return ss.get("sb_upload") is not None or shot is not None


def _on_own_image_change() -> None:
    """An upload or photo came or went: the sample list (and so the link) says so.

    A link cannot carry the image itself; ``sb_sample=your own image`` in it lets the
    person who opens it be told so instead of silently seeing the sample.
    """
    ss = st.session_state
    if _has_own_image():
        if ss.get("sb_sample") != OWN_IMAGE:
            ss["_sample_before_own"] = ss.get("sb_sample")
        ss["sb_sample"] = OWN_IMAGE
    elif ss.get("sb_sample") == OWN_IMAGE:
        ss["sb_sample"] = ss.pop("_sample_before_own", None) or cache.DEFAULT_SAMPLE


def image_picker() -> LoadedImage:
    """A sample, a generated ShapesWorld scene or the user's upload; a bad upload keeps
    the last good image."""
    samples = [*cache.sample_files(), FR.SCENE_SOURCE, OWN_IMAGE]
    sample = links.selectbox(
        st,
        "Sample image",
        samples,
        index=samples.index(cache.DEFAULT_SAMPLE),
        key="sb_sample",
        help=f"“{FR.SCENE_SOURCE}”: the world the ShapesWorld models were trained on. "
        f"“{OWN_IMAGE}”: chosen for you when you upload an image or take a photo.",
    )
    seed = None
    if sample == FR.SCENE_SOURCE:
        seed = links.number_input(st, "Scene seed", 0, 99_999, 7, key="sb_scene")
    upload = st.file_uploader(
        "…or your own image",
        type=UPLOAD_TYPES,
        key="sb_upload",
        help="Up to the size cap in the app's settings; big images are scaled to 1024 px.",
        on_change=_on_own_image_change,
    )
    # The drop zone's one-line hint (size cap · PNG, JPG, WEBP, GIF, BMP, TIF) is wider than
    # the sidebar, and Streamlit cuts it with an ellipsis: let it wrap. Style only, so it
    # takes no place among the sidebar's elements (tests/test_browser_truncation.py).
    st.html(
        "<style>[data-testid='stFileUploaderDropzoneInstructions'] span"
        " { white-space: normal; }</style>"
    )
    from_camera = False
    # In class: photograph the room or a student's drawing. Off by default, so no page
    # asks for the camera until someone wants it; a photo taken wins over an upload.
    if st.toggle(
        "…or take a photo",
        key="sb_camera_on",
        help="Uses this device's camera.",
        on_change=_on_own_image_change,
    ):
        shot = st.camera_input(
            "Camera",
            key="sb_camera",
            label_visibility="collapsed",
            on_change=_on_own_image_change,
        )
        if shot is not None:
            upload, from_camera = shot, True
    st.session_state[OWN_MISSING_KEY] = sample == OWN_IMAGE and upload is None
    if seed is not None:
        image = cache.scene_image(int(seed))
    else:
        image = cache.sample_image(
            sample if sample != OWN_IMAGE else cache.DEFAULT_SAMPLE, DEFAULT_MAX_SIDE
        )
    if upload is not None:
        try:
            image = cache.upload_image(upload.getvalue(), upload.name, DEFAULT_MAX_SIDE)
            st.session_state["sb_last_upload"] = image
            st.caption(
                "Using your photo; clear it or switch the camera off to go back."
                if from_camera
                else "Using your upload; remove it (×) to go back to the sample."
            )
        except ImageError as exc:
            st.error(links.plain(exc.message), icon="🖼️")  # the file name is not Markdown
            last = st.session_state.get("sb_last_upload")
            if last is not None:
                st.caption("Still showing your previous image.")
                image = last
    st.caption(links.plain(describe(image)))
    return image


def model_picker() -> tuple[ModelSpec, int]:
    opts = _model_options()
    # Options are the short names (":random" for architecture only), with no
    # format_func: a bound widget writes what it displays into the link, so this
    # keeps links short and readable (?sb_model=deeplabv3_resnet50:random).
    choice = links.selectbox(
        st,
        "Model",
        opts,
        index=opts.index(DEFAULT_MODEL),
        key="sb_model",
        on_change=_on_model_change,
        help="“:random” = the architecture with random weights (no download needed).",
    )
    name, _, random = choice.partition(":")
    entry = REGISTRY[name]
    os_ = links.segmented_control(
        st,
        "Output stride",
        list(OUTPUT_STRIDES),
        default=REGISTRY[DEFAULT_MODEL].native_stride,
        key="sb_os",
        help=f"This model was trained at {entry.native_stride}. Smaller = denser "
        "features and more compute; the same weights serve every stride.",
    )
    rates = "scale"
    if entry.trained_rates:
        rates = links.radio(
            st,
            "ASPP rates",
            ["scale", "keep"],
            key="sb_rates",
            horizontal=True,
            help="scale: rates follow the stride so each branch keeps its reach in image "
            "pixels (rate × output stride); keep: the trained rates at every stride.",
        )
    # Keyed: the expander keeps its place in the browser when the picks above it come
    # and go (ASPP rates, scene seed, camera), so its bound slider keeps writing the link.
    with st.expander("Device and working size", key="sb_more"):
        device = st.selectbox("Device", _devices(), key="sb_device")
        precisions = ("float32", *LOW_PRECISION.get(resolve_device(device), ()))
        dtype = st.selectbox(
            "Precision",
            precisions,
            key="sb_dtype",
            help="float32 is exact. bfloat16 is faster on CPUs with bf16 instructions "
            "but inexact: the sidebar shows how many of this image's pixels change class.",
        )
        size = links.select_slider(
            st,
            "Working size (longest side, px)",
            SIZES,
            DEFAULT_SIZE,
            key="sb_size",
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
        st.caption(
            FR.running_caption(
                REGISTRY[model.spec.name].title,
                model.spec.label,
                model.spec.device,
                instead_of=notice.requested if notice else None,
            )
        )
        if model.spec.dtype != "float32":
            check = cache.precision_check(model.spec, image.key, size, image)
            st.caption(check.sentence())
    show_notices(notice, model.spec.name, image)
    return Lesson(image=image, requested=spec, model=model, notice=notice, size=size)


def own_image_missing(shown: str) -> str:
    """The one sentence for a link made with an uploaded image or a photo."""
    return (
        "This link was made with the sender's own image, which a link cannot carry: "
        f"you see the sample {shown} instead. Upload an image in the sidebar to use yours."
    )


def show_notices(notice: FR.Fallback | None, running: str, image: LoadedImage) -> None:
    """In the main area: which model runs instead and why; a ShapesWorld model on a photo.

    Always one container, empty or not, so the page below keeps its place whatever
    the model (a section that moves loses its widgets' link: see ui/links.py).
    """
    with st.container():
        if notice is not None:
            st.warning(notice.sentence, icon="📦")
            with st.expander("Details"):
                st.code(notice.details, language=None, wrap_lines=True)
        if is_shapes_model(running) and not FR.is_scene(image):
            st.info(FR.shapes_on_photo(running), icon=":material/category:")
        if st.session_state.get(OWN_MISSING_KEY):
            st.info(own_image_missing(cache.DEFAULT_SAMPLE), icon=":material/link_off:")


def current_lesson() -> Lesson:
    """The lesson the sidebar made in this run (pages call this)."""
    ensure_app_entry()  # a deep link on a fresh server runs the page file first
    lesson = st.session_state.get("_lesson")
    if lesson is None:  # a page run on its own (e.g. in a test): draw the sidebar here
        lesson = sidebar()
        st.session_state["_lesson"] = lesson
    return lesson
