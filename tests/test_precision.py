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


def test_bfloat16_on_cpu_makes_one_copy_and_leaves_the_base_alone():
    from deeplab_viz.models import load_base

    base = load_base("shapes-deeplabv3")
    before = {k: v.clone() for k, v in base[0].state_dict().items()}
    low = build_model(ModelSpec(name="shapes-deeplabv3", device="cpu", dtype="bfloat16"), base=base)
    assert low.runner is low.module and low.module is not base[0]  # one cast copy, not two
    conv = next(m for m in low.module.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    for k, v in base[0].state_dict().items():  # the shared base: still float32, unchanged
        assert v.dtype == before[k].dtype and torch.equal(v, before[k]), k
    assert not any(
        p.is_contiguous(memory_format=torch.channels_last) and not p.is_contiguous()
        for p in base[0].parameters()
    )


@pytest.fixture(scope="module")
def real_photo_rgb() -> np.ndarray:
    from PIL import Image

    from deeplab_viz.paths import SAMPLES_DIR

    return np.asarray(Image.open(SAMPLES_DIR / "chelsea.png").convert("RGB"))
