"""AppTest of the entry point, the shared sidebar and the home page, on the real model."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

pytestmark = pytest.mark.slow


def _legend(at) -> str:
    return " ".join(m.value for m in at.main.markdown if "border-radius" in m.value)


def _png(rgb: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG")
    return buf.getvalue()


def test_home_segments_default_sample_with_offline_model(app):
    at = app.run()
    assert not at.exception
    assert len(at.main.get("image")) == 2  # the input and the overlay
    legend = _legend(at)
    assert "cat" in legend and "background" in legend
    captions = " ".join(c.value for c in at.sidebar.caption)
    assert "voc-mobilenetv2 · OS 8" in captions
    assert "chelsea.png" in captions


def test_sidebar_choice_reaches_the_page(app):
    at = app.run()
    at.sidebar.selectbox(key="sb_sample").set_value("astronaut.png").run()
    assert not at.exception
    assert "person" in _legend(at)
    at.sidebar.segmented_control(key="sb_os").set_value(16).run()
    assert not at.exception
    assert "voc-mobilenetv2 · OS 16" in " ".join(c.value for c in at.sidebar.caption)


def test_architecture_only_model_is_labelled(app):
    at = app.run()
    at.sidebar.selectbox(key="sb_model").set_value("deeplabv3_resnet50:random").run()
    assert not at.exception
    text = " ".join(c.value for c in at.sidebar.caption) + " ".join(
        c.value for c in at.main.caption
    )
    assert "architecture only (random weights)" in text
    # choosing a model resets the stride to the one it was trained at
    assert at.sidebar.segmented_control(key="sb_os").value == 8
    assert "rate 12" in text  # ASPP branch names as wired


def test_missing_trained_weights_fall_back_with_a_clear_message(app):
    from deeplab_viz.models.registry import FALLBACKS, REGISTRY

    running = next(name for name in FALLBACKS if name in REGISTRY)
    at = app.run()
    at.sidebar.selectbox(key="sb_model").set_value("deeplabv3_resnet101").run()
    assert not at.exception
    (warning,) = [w.value for w in at.main.warning]  # on the page, not only in the sidebar
    assert "deeplabv3_resnet101" in warning and f"{running} runs instead" in warning
    assert "python -m deeplab_viz fetch deeplabv3_resnet101" in warning and "http" not in warning
    (details,) = at.main.expander
    assert "deeplabv3_resnet101_coco" in details.code[0].value  # names the file to put in place
    assert f"{running} · OS" in " ".join(c.value for c in at.sidebar.caption)


def test_upload_then_bad_upload_keeps_the_previous_image(app):
    at = app.run()
    rgb = np.zeros((64, 96, 3), np.uint8)
    rgb[:, 48:] = 255
    at.sidebar.file_uploader(key="sb_upload").upload("mine.png", _png(rgb), "image/png").run()
    assert not at.exception
    assert "mine.png · 96×64 px" in " ".join(c.value for c in at.sidebar.caption)

    at.sidebar.file_uploader(key="sb_upload").upload("broken.png", b"not a png", "image/png").run()
    assert not at.exception
    errors = [e.value for e in at.sidebar.error]
    assert len(errors) == 1 and "broken.png" in errors[0] and "\n" not in errors[0]
    captions = " ".join(c.value for c in at.sidebar.caption)
    assert "mine.png" in captions and "previous image" in captions


def test_a_photo_from_the_camera_is_the_lesson_image(app):
    at = app.run()
    assert not at.sidebar.camera_input  # no camera until asked for
    at.sidebar.toggle(key="sb_camera_on").set_value(True).run()
    rgb = np.zeros((120, 160, 3), np.uint8)
    rgb[:, 80:] = (200, 40, 40)
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG")
    at.sidebar.camera_input(key="sb_camera").upload("photo.jpg", buf.getvalue()).run()
    assert not at.exception
    captions = " ".join(c.value for c in at.sidebar.caption)
    assert "Using your photo" in captions and "160×120 px" in captions


def test_query_params_reproduce_a_view(app):
    app.query_params["sb_sample"] = "camera.png"
    app.query_params["sb_os"] = "32"
    at = app.run()
    assert not at.exception
    assert at.sidebar.selectbox(key="sb_sample").value == "camera.png"
    assert "OS 32" in " ".join(c.value for c in at.sidebar.caption)


def test_a_model_link_is_short_and_reproduces_the_model(app):
    app.query_params["sb_model"] = "deeplabv3_resnet50:random"
    app.query_params["sb_os"] = "16"
    at = app.run()
    assert not at.exception
    assert "deeplabv3_resnet50 · OS 16 · architecture only (random weights)" in " ".join(
        c.value for c in at.sidebar.caption
    )


def test_bfloat16_on_the_cpu_is_a_visible_inexact_choice(app):
    at = app.run()
    dtype = at.sidebar.selectbox(key="sb_dtype")
    assert list(dtype.options) == ["float32", "bfloat16"]  # float16 convolutions are CUDA's
    dtype.set_value("bfloat16").run()
    assert not at.exception
    captions = " ".join(c.value for c in at.sidebar.caption)
    assert "voc-mobilenetv2 · OS 8 · bfloat16" in captions
    # measured on this image: share of pixels that changed class, and the speed ratio
    assert "bfloat16 changes the class of" in captions and "× float32's" in captions
    assert "cat" in _legend(at)


def test_an_upload_is_named_in_the_link_and_a_link_without_it_says_so(app):
    from ui.cache import DEFAULT_SAMPLE
    from ui.sidebar import OWN_IMAGE

    at = app.run()
    rgb = np.zeros((64, 96, 3), np.uint8)
    at.sidebar.file_uploader(key="sb_upload").upload("mine.png", _png(rgb), "image/png").run()
    assert not at.exception
    # the sample list (bound to the link) now says the lesson runs on the user's image
    assert at.sidebar.selectbox(key="sb_sample").value == OWN_IMAGE
    assert "mine.png · 96×64 px" in " ".join(c.value for c in at.sidebar.caption)
    assert not any("cannot carry" in i.value for i in at.main.info)
    at.sidebar.file_uploader(key="sb_upload").set_value(None).run()
    assert not at.exception
    assert at.sidebar.selectbox(key="sb_sample").value == DEFAULT_SAMPLE  # back to the sample


def test_a_link_made_with_an_upload_opens_on_the_sample_with_one_sentence(app):
    from ui.cache import DEFAULT_SAMPLE
    from ui.sidebar import OWN_IMAGE, own_image_missing

    app.query_params["sb_sample"] = OWN_IMAGE
    at = app.run()
    assert not at.exception
    notes = [i.value for i in at.main.info if "cannot carry" in i.value]
    assert notes == [own_image_missing(DEFAULT_SAMPLE)]
    assert "\n" not in notes[0] and DEFAULT_SAMPLE in notes[0]
    assert "cat" in _legend(at)  # the sample, segmented as usual
