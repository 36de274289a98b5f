"""bfloat16 on a CPU: allowed as a visible choice, compared with float32 on the image."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from deeplab_viz.models import ModelSpec, build_model
from deeplab_viz.precision import compare_precision


def test_cpu_offers_bfloat16_but_not_float16():
    spec = ModelSpec(name="shapes-deeplabv3", device="cpu", dtype="bfloat16")
    assert spec.label.endswith("· bfloat16")
    with pytest.raises(ValueError, match="CUDA only"):
        ModelSpec(device="cpu", dtype="float16")


def test_bfloat16_model_runs_in_bfloat16_and_changes_few_pixels(real_photo_rgb):
    low = build_model(ModelSpec(name="voc-mobilenetv2", device="cpu", dtype="bfloat16"))
    ref = build_model(ModelSpec(name="voc-mobilenetv2", device="cpu"))
    assert next(low.runner.parameters()).dtype == torch.bfloat16
    check = compare_precision(low, ref, real_photo_rgb, size=257, repeats=2)
    assert check.dtype == "bfloat16"
    # not identical (8-bit mantissa), but the same segmentation almost everywhere
    assert 0 < check.changed_share < 0.05
    assert check.low_ms > 0 and check.reference_ms > 0
    assert f"{check.changed_share:.2%}" in check.sentence()
    with pytest.raises(ValueError, match="float32"):
        compare_precision(ref, low, real_photo_rgb)


@pytest.fixture(scope="module")
def real_photo_rgb() -> np.ndarray:
    from PIL import Image

    from deeplab_viz.paths import SAMPLES_DIR

    return np.asarray(Image.open(SAMPLES_DIR / "chelsea.png").convert("RGB"))
