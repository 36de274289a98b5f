"""What voc-mobilenetv2-aspp is worth on real labels: the measuring code and the shipped figures."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT, VOC_DIR

from deeplab_viz import voc_aspp_metrics as M
from deeplab_viz.models import REGISTRY
from deeplab_viz.paths import MODELS_DIR, SAMPLES_DIR

SHIPPED = MODELS_DIR / "voc_mobilenetv2_aspp.json"
CHELSEA = SAMPLES_DIR / "chelsea.png"
needs_voc = pytest.mark.skipif(not VOC_DIR.exists(), reason=f"{VOC_DIR} missing")


def test_size_buckets_use_cocos_area_thresholds():
    assert M.size_bucket(1) == "small" and M.size_bucket(32 * 32 - 1) == "small"
    assert M.size_bucket(32 * 32) == "medium" and M.size_bucket(96 * 96 - 1) == "medium"
    assert M.size_bucket(96 * 96) == "large"


def test_size_regions_split_objects_by_connected_component():
    label = np.zeros((200, 200), np.uint8)
    label[10:20, 10:20] = 8  # a small cat (100 px)
    label[10:20, 40:50] = 8  # a second, separate small cat
    label[50:90, 50:90] = 12  # a medium dog (1600 px)
    label[100:200, 100:200] = 15  # a large person (10,000 px)
    label[0:2, :] = 255  # void
    regions, count = M.size_regions(label, margin=2)
    assert count == {"small": 2, "medium": 1, "large": 1}
    assert regions["small"][15, 15] and regions["small"][9, 9]  # inside and in the margin
    assert not regions["small"][60, 60]  # another size's object is never counted here
    assert regions["medium"][60, 60] and regions["medium"][48, 48]
    assert not regions["medium"][120, 120] and regions["large"][120, 120]
    assert not regions["large"][50, 50]


def test_object_miou_leaves_background_out():
    conf = np.array([[10, 2, 0], [1, 5, 0], [0, 0, 0]])  # class 2 absent
    # class 1: TP 5, union 6 + 7 - 5 = 8
    assert M.object_miou(conf) == pytest.approx(5 / 8)
    assert M.object_miou(np.diag([5, 0, 0])) is None


def _ablation() -> dict:
    full = {"miou": 0.6, "iou_by_size": {"small": 0.4, "medium": 0.7, "large": 0.9}}
    off = {
        "1×1": {"miou": 0.5, "iou_by_size": {"small": 0.1, "medium": 0.6, "large": 0.88}},
        "rate 12": {"miou": 0.55, "iou_by_size": {"small": 0.38, "medium": 0.65, "large": 0.7}},
    }
    return {"full": full, "branch_off": off}


def test_branch_table_and_most_needed():
    rows = M.branch_table(_ablation())
    assert rows[0] == {
        "switched off": "nothing",
        "mIoU": 60.0,
        "small": 40.0,
        "medium": 70.0,
        "large": 90.0,
    }
    assert rows[1]["Δ small"] == -30.0 and rows[2]["Δ large"] == -20.0
    assert M.most_needed(_ablation()) == {
        "small": ("1×1", 30.0),
        "medium": ("1×1", 10.0),
        "large": ("rate 12", 20.0),
    }


def test_shipped_model_runs_with_no_tflite_file_and_has_five_branches(tmp_path):
    """No weights folder, an empty cache, no network: the CLI still prints five branches."""
    env = {
        "PATH": "/usr/bin:/bin",
        "DEEPLAB_VIZ_WEIGHTS_DIR": str(tmp_path / "empty"),
        "DEEPLAB_VIZ_CACHE": str(tmp_path / "cache"),
        "DEEPLAB_VIZ_OFFLINE": "1",
        "HOME": str(tmp_path),
    }
    out = subprocess.run(
        [sys.executable, "-m", "deeplab_viz", "aspp", str(CHELSEA), "--out", str(tmp_path / "o"),
         "--model", "voc-mobilenetv2-aspp"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout.strip().splitlines()[-1])
    rows = report["branches"]
    assert [r["name"] for r in rows] == ["1×1", "rate 6", "rate 12", "rate 18", "image pooling"]
    assert [r["rate"] for r in rows] == [None, 6, 12, 18, None]


def test_registry_entry_comes_from_the_shipped_json():
    meta = json.loads(SHIPPED.read_text())
    entry = REGISTRY["voc-mobilenetv2-aspp"]
    assert entry.kind == "local" and entry.native_stride == 16
    assert entry.trained_rates == (6, 12, 18)
    assert len(meta["class_names"]) == 21 and meta["class_names"][0] == "background"
    assert "Apache-2.0" in entry.license and "deeplabv3.tflite" in entry.license
    t = meta["training"]
    assert t["config"]["crop"] == 385 and t["output_stride"] == 16
    assert t["seconds_total"] < 60 * 60  # the budget is about 40 CPU-minutes


@pytest.mark.slow
@needs_voc
def test_shipped_metrics_are_reproduced_and_meet_the_targets(voc_reports):
    meta = json.loads(SHIPPED.read_text())["metrics"]
    from deeplab_viz.models import load_base

    base = load_base("voc-mobilenetv2-aspp")
    now = M.accuracy_by_stride(base, VOC_DIR)
    for os_ in ("8", "16", "32"):
        shipped = meta["accuracy"][os_]
        assert now[os_]["n_images"] == 445
        for key in ("pixel_accuracy", "miou", "miou_core7"):
            assert now[os_][key] == pytest.approx(shipped[key], abs=2e-3), (os_, key)
    # The bar: core-7 ≥ 0.85 at OS 8 and 16, within 2 points of voc-mobilenetv2.
    # Measured: OS 8 meets both; OS 16 is within 2 points but under 0.85 (README says so),
    # which is why the app's default stays voc-mobilenetv2.
    assert now["8"]["miou_core7"] >= 0.85
    for os_ in (8, 16):
        core = now[str(os_)]["miou_core7"]
        assert core >= voc_reports[os_]["miou_core7"] - 0.02, (os_, core)


@pytest.mark.slow
@needs_voc
def test_shipped_branch_ablation_is_reproduced():
    from deeplab_viz.models import ModelSpec, build_model, load_base

    shipped = json.loads(SHIPPED.read_text())["metrics"]["ablation"]
    model = build_model(
        ModelSpec(name="voc-mobilenetv2-aspp"), base=load_base("voc-mobilenetv2-aspp")
    )
    now = M.branch_ablation(model, VOC_DIR)
    assert now["objects"] == shipped["objects"]
    for name in [None, *model.module.aspp.names]:
        a = now["full"] if name is None else now["branch_off"][name]
        b = shipped["full"] if name is None else shipped["branch_off"][name]
        assert a["miou"] == pytest.approx(b["miou"], abs=2e-3), name
        for size in M.SIZE_BUCKETS:
            assert a["iou_by_size"][size] == pytest.approx(b["iou_by_size"][size], abs=3e-3), (
                name,
                size,
            )
    # Every branch is worth something on real labels: switching any one off costs mIoU.
    assert all(r["miou"] < now["full"]["miou"] for r in now["branch_off"].values())
