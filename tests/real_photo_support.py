"""The real-photo fallback model for tests, shipped or (until it ships) an untrained copy.

``voc-mobilenetv2-aspp`` is where a photo goes when the chosen model's weights
cannot be had. When ``deeplab_viz/assets/models`` does not hold it yet, :func:`use_real_photo_model`
builds the same network with an untrained head (the trained backbone of
``deeplabv3.tflite``, rewired to output stride 16, and torchvision's seeded
``DeepLabHead``), writes it with the training command's own ``save`` into a
temporary models folder next to links to the shipped ShapesWorld models, and points
the registry there for one test. Nothing is ever written into ``deeplab_viz/assets/models``.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from deeplab_viz.models import registry as R


def write_untrained(folder: Path, voc_base) -> None:
    """``voc_mobilenetv2_aspp.pt`` / ``.json`` with an untrained head, in ``folder``."""
    from deeplab_viz.models.output_stride import rewire
    from deeplab_viz.models.voc_aspp import STEM, architecture, on_backbone
    from deeplab_viz.train_voc_aspp import save

    module, names = voc_base
    stride16 = rewire(module, family="tflite_mnv2", output_stride=16, trained_stride=8)
    model = on_backbone(copy.deepcopy(stride16.stages), len(names))
    meta = {
        "name": R.REAL_PHOTO_MODEL,
        "title": "DeepLabV3 · MobileNetV2 + 5-branch ASPP (untrained test copy)",
        "class_names": list(names),
        "architecture": architecture(model),
        "input": {"mean": [127.5] * 3, "std": [127.5] * 3},
        "license": "Apache-2.0 (test copy)",
        "dataset": {"name": "none (untrained test copy)"},
    }
    save(model, meta, folder)
    assert (folder / f"{STEM}.json").is_file()
    for p in R.LOCAL_DIR.iterdir():  # the shipped ShapesWorld models stay loadable
        if not (folder / p.name).exists():
            (folder / p.name).symlink_to(p)


def use_real_photo_model(monkeypatch: pytest.MonkeyPatch, folder: Path, voc_base) -> None:
    """Make ``REAL_PHOTO_MODEL`` loadable for this test (the shipped one when it exists)."""
    if R.REAL_PHOTO_MODEL in R.REGISTRY:
        return
    if not (folder / f"{R.LOCAL_MODELS[R.REAL_PHOTO_MODEL]}.json").exists():
        folder.mkdir(parents=True, exist_ok=True)
        write_untrained(folder, voc_base)
    monkeypatch.setattr(R, "LOCAL_DIR", folder)
    entry = R._local_entry(R.REAL_PHOTO_MODEL, R.LOCAL_MODELS[R.REAL_PHOTO_MODEL])
    assert entry is not None
    monkeypatch.setitem(R.REGISTRY, R.REAL_PHOTO_MODEL, entry)
