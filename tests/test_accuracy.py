"""Accuracy on real PASCAL VOC 2012 val labels (../shared/eval/voc2012_val_subset).

The full 445-image set must reach, at output stride 8 with the app's default
settings, a mean IoU of at least 0.86 over the seven classes this subset covers
well and a pixel accuracy of at least 0.955. Stride 16 and 32 must not beat 8.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import TFLITE, VOC_DIR

from deeplab_viz.evaluate import VOC_SUBSET_CORE, confusion, scores


def test_confusion_and_scores_by_hand():
    label = np.array([[0, 0, 1, 1], [2, 2, 255, 1]])
    pred = np.array([[0, 1, 1, 1], [2, 0, 0, 1]])
    conf = confusion(pred, label, 3)
    assert conf.sum() == 7  # the void pixel is skipped
    assert conf.tolist() == [[1, 1, 0], [0, 3, 0], [1, 0, 1]]
    s = scores(conf, ("bg", "a", "b"))
    assert s.pixel_accuracy == pytest.approx(5 / 7)
    # bg: TP 1, union 2 + 2 - 1 = 3; a: TP 3, union 3 + 4 - 3 = 4; b: TP 1, union 2 + 1 - 1 = 2
    assert s.iou == pytest.approx({"bg": 1 / 3, "a": 3 / 4, "b": 1 / 2})
    assert s.miou == pytest.approx((1 / 3 + 3 / 4 + 1 / 2) / 3)


def test_classes_only_predicted_do_not_enter_the_mean():
    conf = np.array([[5, 1], [0, 0]])  # class 1 predicted once, never in the labels
    s = scores(conf, ("bg", "x"))
    assert s.iou["x"] == 0.0 and s.miou == pytest.approx(5 / 6)


@pytest.mark.slow
@pytest.mark.skipif(
    not (TFLITE.exists() and VOC_DIR.exists()), reason="model or VOC subset missing"
)
def test_offline_model_accuracy_on_the_full_subset(voc_reports):
    reports = voc_reports
    for os_ in (8, 16, 32):
        core = reports[os_]["miou_core7"]
        print(
            f"OS {os_}: pixel accuracy {reports[os_]['pixel_accuracy']:.4f}, core-7 mIoU {core:.4f}"
        )
    r8 = reports[8]
    assert r8["n_images"] == 445
    assert r8["miou_core7"] >= 0.86
    assert r8["pixel_accuracy"] >= 0.955
    assert set(VOC_SUBSET_CORE) <= set(r8["iou"])
    assert reports[16]["miou_core7"] <= r8["miou_core7"]
    assert reports[32]["miou_core7"] < reports[16]["miou_core7"]
