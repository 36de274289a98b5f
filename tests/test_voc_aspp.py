"""voc-mobilenetv2-aspp: its backbone skeleton, head, training pieces and command line."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import SHARED, needs_weights

from deeplab_viz import train_voc_aspp as T
from deeplab_viz.cli import main
from deeplab_viz.models.output_stride import current_wiring, plan, rewire
from deeplab_viz.models.tflite_mnv2 import block_widths, mnv2_stages
from deeplab_viz.models.voc_aspp import architecture, on_backbone, skeleton

TRAIN_DIR = SHARED / "train" / "voc2012_trainaug_subset"
needs_train = pytest.mark.skipif(not TRAIN_DIR.exists(), reason=f"{TRAIN_DIR} missing")


def _features(stages, x):
    for stage in stages.values():
        x = stage(x)
    return x


@needs_weights
def test_skeleton_backbone_loads_the_tflite_weights_bit_for_bit(voc_base):
    module, _ = voc_base
    stem, widths = block_widths(module.stages)
    assert stem == 16 and len(widths) == 17 and widths[-1].cout == 160
    sk = torch.nn.ModuleDict(mnv2_stages(stem, widths, output_stride=8))
    assert list(sk.state_dict()) == list(module.stages.state_dict())
    sk.load_state_dict(module.stages.state_dict())
    x = torch.randn(1, 3, 97, 129)
    with torch.no_grad():
        assert torch.equal(_features(sk, x), _features(module.stages, x))


@needs_weights
@pytest.mark.parametrize("os_", [8, 16, 32])
def test_skeleton_is_wired_like_the_rewired_tflite_model(voc_base, os_):
    module, _ = voc_base
    stem, widths = block_widths(module.stages)
    sk = on_backbone(mnv2_stages(stem, widths, output_stride=os_), 21)
    ref = (
        module
        if os_ == 8
        else rewire(module, family="tflite_mnv2", output_stride=os_, trained_stride=8)
    )
    assert current_wiring(sk, "tflite_mnv2") == current_wiring(ref, "tflite_mnv2")


ARCH = {
    "stem_channels": 16,
    "block_widths": [[16, None, 8]] + [[8, 48, 8]] * 15 + [[8, 48, 160]],
    "output_stride": 16,
    "aspp_rates": [6, 12, 18],
}


def test_five_branch_head_is_torchvisions_deeplab_head():
    from torchvision.models.segmentation.deeplabv3 import DeepLabHead

    model = skeleton(ARCH, 21).eval()  # its head is seeded with 0
    assert model.aspp.names == ("1×1", "rate 6", "rate 12", "rate 18", "image pooling")
    torch.manual_seed(0)
    tv = DeepLabHead(160, 21, [6, 12, 18]).eval()
    f = torch.randn(2, 160, 9, 11)
    with torch.no_grad():
        torch.testing.assert_close(model.head(model.aspp(f)), tv(f))


def test_architecture_round_trips_through_the_metadata():
    model = skeleton(ARCH, 21)
    again = architecture(model)
    assert again["block_widths"] == ARCH["block_widths"]
    assert again["aspp_rates"] == [6, 12, 18] and again["output_stride"] == 16
    assert again["parameters"] == sum(p.numel() for p in model.parameters())


def test_train_config_validates():
    with pytest.raises(ValueError, match="16·k"):
        T.TrainConfig(crop=384)
    with pytest.raises(ValueError, match="scale"):
        T.TrainConfig(scale_min=0)
    with pytest.raises(ValueError, match="steps"):
        T.TrainConfig(steps=0)
    with pytest.raises(ValueError, match="init"):
        T.TrainConfig(init="imagenet")
    with pytest.raises(ValueError, match="dropout"):
        T.TrainConfig(dropout=1.0)


def test_augment_keeps_image_and_label_together():
    # The label is a function of the image: red pixels are class 1, the rest class 0.
    rng = np.random.default_rng(0)
    rgb = np.zeros((40, 60, 3), np.uint8)
    rgb[5:30, 10:25, 0] = 255
    mask = (rgb[..., 0] == 255).astype(np.uint8)
    cfg = T.TrainConfig(crop=33, scale_min=0.7, scale_max=1.6)
    for _ in range(20):
        x, y = T.augment(rgb, mask, cfg, rng)
        assert x.shape == (3, 33, 33) and y.shape == (33, 33)
        red = x[0] > 0.5  # normalised red channel of a red pixel is near +1
        valid = y != 255
        agree = (red[valid] == (y[valid] == 1)).float().mean()
        assert agree > 0.9  # bilinear vs nearest differ only along the outline
        assert torch.all(x[:, ~valid] == 0)  # padding is the mean colour


def test_poly_lr_and_distillation():
    assert T.poly_lr(0.02, 0, 100, 0.9) == 0.02
    assert T.poly_lr(0.02, 50, 100, 0.9) == pytest.approx(0.02 * 0.5**0.9)
    s = torch.randn(2, 21, 5, 5)
    assert float(T.distillation(s, s, 1.0)) == pytest.approx(0, abs=1e-6)
    t = torch.randn(2, 21, 5, 5)
    ref = F.kl_div(F.log_softmax(s, 1), F.log_softmax(t, 1), log_target=True, reduction="none")
    assert float(T.distillation(s, t, 1.0)) == pytest.approx(float(ref.sum(1).mean()), rel=1e-5)


@needs_weights
@needs_train
def test_a_short_training_run_leaves_backbone_and_teacher_untouched(voc_base, tmp_path):
    teacher, names = voc_base
    before = copy.deepcopy(teacher.state_dict())
    cfg = T.TrainConfig(
        limit_images=2, crops_per_image=2, steps=3, batch_size=2, dev_from="all",
        eval_every=100,
    )  # fmt: skip
    logs: list[str] = []
    model, meta = T.train(teacher, names, TRAIN_DIR, cfg, log=logs.append, cache_dir=tmp_path)
    # a second run with the same data reads the stored features and trains identically
    again, meta2 = T.train(teacher, names, TRAIN_DIR, cfg, log=logs.append, cache_dir=tmp_path)
    assert any(line.startswith("read the cached features") for line in logs)
    for k, v in model.state_dict().items():
        torch.testing.assert_close(again.state_dict()[k], v)
    assert len(list(tmp_path.glob("voc_aspp_features_*.pt"))) == 1
    for k, v in teacher.state_dict().items():
        assert torch.equal(v, before[k]), k
    t16 = rewire(teacher, family="tflite_mnv2", output_stride=16, trained_stride=8)
    for k, v in t16.stages.state_dict().items():
        assert torch.equal(model.stages.state_dict()[k], v), k  # backbone frozen
    assert model.aspp.names == ("1×1", "rate 6", "rate 12", "rate 18", "image pooling")
    # the first of the two photos is held out as the dev set that chooses the checkpoint
    assert meta["dataset"]["images"] == 1 and meta["dataset"]["dev_images"] == 1
    assert meta["dataset"]["crops"] == 2 and meta["training"]["config"]["steps"] == 3
    log = meta["training"]["log"]
    assert all(np.isfinite(row["loss"]) for row in log if "loss" in row)
    assert log[-1]["chosen_step"] == 3  # eval_every 100 > 3 steps: only the last is scored
    pt, js = T.save(model, meta, tmp_path)
    state = torch.load(pt, weights_only=True)
    loaded = skeleton(json.loads(js.read_text())["architecture"], len(names))
    loaded.load_state_dict(state)
    x = torch.randn(1, 3, 65, 81)
    with torch.no_grad():
        torch.testing.assert_close(loaded.eval()(x), model.eval()(x))


def test_dev_set_from_a_pool_and_the_void_band():
    ids = [f"id{k}" for k in range(10)]
    pool = ["id1", "id4", "id5", "id8"]  # e.g. the photos with VOC's own masks
    fit, dev = T.split_ids(ids, 2, pool=pool)
    assert dev == ["id1", "id5"] and fit == [i for i in ids if i not in dev]
    mask = np.zeros((20, 20), np.uint8)
    mask[5:15, 5:15] = 8
    banded = T.void_band(mask, 2)
    assert banded[10, 10] == 8 and banded[0, 0] == 0  # inside and far outside kept
    assert banded[10, 3] == 255 and banded[10, 4] == 255 and banded[10, 6] == 255
    assert banded[10, 2] == 0 and banded[10, 7] == 8  # the band is 2 px each side
    assert ((banded == 255).sum(1)[10]) == 8
    voc = mask.copy()
    voc[4, :] = 255  # a VOC mask already has its void band: left alone
    assert np.array_equal(T.void_band(voc, 2), voc)
    assert np.array_equal(T.void_band(mask, 0), mask)
    with pytest.raises(ValueError, match="dev_from"):
        T.TrainConfig(dev_from="val")
    with pytest.raises(ValueError, match="lr"):
        T.TrainConfig(lr=float("nan"))


@needs_train
def test_voc_mask_ids_are_the_masks_with_void_pixels():
    ids = T.train_ids(TRAIN_DIR)
    voc = T.voc_mask_ids(TRAIN_DIR, ids[:60])
    for i in ids[:60]:
        _, mask = T.read_pair(TRAIN_DIR, i)
        assert (i in voc) == bool((mask == 255).any())


def test_every_tenth_training_photo_is_the_dev_set():
    ids = [f"id{k}" for k in range(25)]
    fit, dev = T.split_ids(ids, 10)
    assert dev == ["id0", "id10", "id20"] and len(fit) == 22 and not set(fit) & set(dev)
    assert T.split_ids(ids, 0) == (ids, [])
    with pytest.raises(ValueError, match="dev_every"):
        T.TrainConfig(dev_every=1)


def test_plan_of_the_skeleton_matches_tf_wiring_at_os8():
    from deeplab_viz.models.tflite_mnv2 import _MNV2_BLOCKS

    sk = skeleton(ARCH | {"output_stride": 8}, 21)
    expected = plan(
        [s for _, s in _MNV2_BLOCKS], stem_stride=2, output_stride=8, convention="after"
    )
    assert current_wiring(sk, "tflite_mnv2") == expected
    # TF's deeplabv3.tflite: rate 2 for blocks 7-13, rate 4 for 14-16 (see tflite_mnv2's doc)
    assert [d for _, d in expected][7:14] == [2] * 7 and [d for _, d in expected][14:] == [4] * 3


@pytest.mark.parametrize(
    "argv, text",
    [
        (["train-voc-aspp", "--data", "/nonexistent"], "not a VOC train_aug folder"),
        (["train-voc-aspp", "--measure-only"], "needs --val"),
        (["train-voc-aspp", "--steps", "0"], "must be a whole number"),
        (["train-voc-aspp", "--val", "/nonexistent"], "is not a folder"),
    ],
)
def test_train_voc_aspp_usage_errors_are_one_line(argv, text, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert text in err and len(err.strip().splitlines()) == 1


@needs_weights
@pytest.mark.parametrize("atrous", ["centre", "zero"])
def test_warm_start_reproduces_the_tflite_head_exactly(voc_base, atrous):
    """The five-branch head starts as the two-branch one, whatever its atrous branches start as."""
    teacher, _ = voc_base
    t16 = rewire(teacher, family="tflite_mnv2", output_stride=16, trained_stride=8)
    student = on_backbone(copy.deepcopy(t16.stages), 21)
    T.warm_start(student, t16, atrous=atrous)
    student.eval()
    x = torch.randn(2, 3, 97, 129)
    with torch.no_grad():
        torch.testing.assert_close(student(x), t16(x), atol=1e-4, rtol=1e-4)
    w = student.aspp.project[0].weight
    blocks = {k: w[:, i * 256 : (i + 1) * 256] for i, k in enumerate(student.aspp.names)}
    if atrous == "zero":
        for name in ("rate 6", "rate 12", "rate 18"):
            assert blocks[name].abs().sum() == 0
    else:  # the 1×1 branch and the three atrous branches share the teacher's columns
        for name in ("rate 6", "rate 12", "rate 18"):
            torch.testing.assert_close(blocks[name], blocks["1×1"])
            kernel = student.aspp.branches[student.aspp.names.index(name)][0].weight
            assert kernel[:, :, 1, 1].abs().sum() > 0
            assert kernel.abs().sum() == kernel[:, :, 1, 1].abs().sum()  # centre tap only
    with pytest.raises(ValueError, match="atrous"):
        T.warm_start(student, t16, atrous="middle")


def test_frozen_batch_norm_keeps_its_statistics_in_training():
    model = skeleton(ARCH, 21)
    T._train_mode(model)
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert bns and not any(m.training for m in bns)
    assert model.aspp.project[3].training  # dropout still on
    before = [m.running_mean.clone() for m in bns]
    model.head(model.aspp(torch.randn(2, 160, 7, 7)))
    assert all(torch.equal(b, m.running_mean) for b, m in zip(before, bns, strict=True))
