"""The offline model against an outside reference: the TFLite Task Library's golden masks.

The upstream test (image_segmenter_test.cc) accepts a result when at most 1% of
pixels differ (``mask * 10 != golden``). The rotation90_flop case is fed the way
a user's photo would come: a JPEG whose EXIF orientation (7) says how to turn it
upright, read by the project's own loader.
"""

from __future__ import annotations

import struct

import numpy as np
import pytest
from conftest import GOLDEN_DIR
from PIL import Image

from deeplab_viz.images import load_image
from deeplab_viz.inference import segment
from deeplab_viz.models import ModelSpec, build_model

pytestmark = pytest.mark.skipif(not GOLDEN_DIR.exists(), reason="golden masks not found")

EXPORT_SIZE = 257  # the Task Library feeds the model at its 257×257 export size


def _with_exif_orientation(jpeg: bytes, orientation: int) -> bytes:
    """The same JPEG bytes with an APP1/EXIF segment added: no re-encoding."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    payload = b"Exif\x00\x00" + exif.tobytes()
    segment_ = b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload
    assert jpeg[:2] == b"\xff\xd8"
    return jpeg[:2] + segment_ + jpeg[2:]


def _mismatch(class_map: np.ndarray, golden: np.ndarray) -> float:
    assert class_map.shape == golden.shape
    return float(np.mean(class_map.astype(np.int32) * 10 != golden))


@pytest.fixture(scope="module")
def model(voc_base):
    return build_model(ModelSpec(name="voc-mobilenetv2"), base=voc_base)


def test_rotation0_matches_golden(model):
    img = load_image(GOLDEN_DIR / "segmentation_input_rotation0.jpg")
    golden = np.asarray(Image.open(GOLDEN_DIR / "segmentation_golden_rotation0.png"))
    seg = segment(model, img.rgb, size=EXPORT_SIZE)
    assert _mismatch(seg.class_map, golden) <= 0.01
    assert {"background", "horse", "person"} == set(seg.fractions())


def test_rotation90_flop_through_exif_orientation_7(model, tmp_path):
    stored = (GOLDEN_DIR / "segmentation_input_rotation90_flop.jpg").read_bytes()
    tagged = tmp_path / "rotated.jpg"
    tagged.write_bytes(_with_exif_orientation(stored, 7))
    img = load_image(tagged)
    assert img.exif_orientation == 7
    raw = np.asarray(Image.open(GOLDEN_DIR / "segmentation_input_rotation90_flop.jpg"))
    assert img.rgb.shape == (raw.shape[1], raw.shape[0], 3)  # turned upright
    seg = segment(model, img.rgb, size=EXPORT_SIZE)
    # Orientation 7 is a transpose over the anti-diagonal: its own inverse.
    back = np.asarray(Image.fromarray(seg.class_map).transpose(Image.Transpose.TRANSVERSE))
    golden = np.asarray(Image.open(GOLDEN_DIR / "segmentation_golden_rotation90_flop.png"))
    assert _mismatch(back, golden) <= 0.01


def test_the_upright_image_matches_the_unrotated_golden(model, tmp_path):
    """Orientation really applied: the upright image segments like rotation0's golden."""
    stored = (GOLDEN_DIR / "segmentation_input_rotation90_flop.jpg").read_bytes()
    tagged = tmp_path / "rotated.jpg"
    tagged.write_bytes(_with_exif_orientation(stored, 7))
    seg = segment(model, load_image(tagged).rgb, size=EXPORT_SIZE)
    golden0 = np.asarray(Image.open(GOLDEN_DIR / "segmentation_golden_rotation0.png"))
    assert _mismatch(seg.class_map, golden0) <= 0.05
