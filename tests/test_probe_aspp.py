"""Probe and ASPP tools: exact, hook-free, thread-safe on one shared model."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from deeplab_viz import aspp as A
from deeplab_viz.images import load_image
from deeplab_viz.inference import segment
from deeplab_viz.models import ModelSpec, build_model, load_base
from deeplab_viz.paths import SAMPLES_DIR
from deeplab_viz.probe import run_probe

SIZE = 193  # small inputs keep model tests fast


@pytest.fixture(scope="module")
def image():
    return load_image(SAMPLES_DIR / "astronaut.png").rgb


@pytest.fixture(scope="module")
def voc(voc_base):
    return build_model(ModelSpec(name="voc-mobilenetv2"), base=voc_base)


@pytest.fixture(scope="module")
def resnet():
    spec = ModelSpec(name="deeplabv3_resnet50", pretrained=False, output_stride=16)
    return build_model(spec, base=load_base(spec.name, pretrained=False))


def _hooks(module: torch.nn.Module) -> int:
    return sum(
        len(m._forward_hooks)
        + len(m._forward_pre_hooks)
        + len(m._backward_hooks)
        + len(getattr(m, "_backward_pre_hooks", {}))
        for m in module.modules()
    )


@pytest.mark.parametrize("which", ["voc", "resnet"])
def test_probe_equals_the_plain_forward(which, request, image):
    model = request.getfixturevalue(which)
    p = run_probe(model, image, size=SIZE)
    seg = segment(model, image, size=SIZE)
    assert np.array_equal(p.class_map, seg.class_map)
    assert p.class_map.shape == image.shape[:2] and p.logits.shape[1:] == image.shape[:2]
    # every array is read-only: a page cannot change what another session sees
    arrays = [
        p.class_map,
        p.logits,
        p.projection,
        *p.stages.values(),
        *(b.output for b in p.branches),
    ]
    assert all(not a.flags.writeable for a in arrays)
    assert tuple(b.name for b in p.branches) == model.module.aspp.names
    assert p.aspp_input.shape[-2:] == p.projection.shape[-2:] == p.branches[0].output.shape[-2:]
    assert p.timings_ms["total"] > 0 and "ASPP branches" in p.timings_ms


def test_resnet_has_five_branches_and_offline_model_two(voc, resnet, image):
    assert [b.kind for b in run_probe(resnet, image, size=SIZE).branches] == [
        "1x1", "atrous", "atrous", "atrous", "pooling",
    ]  # fmt: skip
    assert [b.rate for b in run_probe(resnet, image, size=SIZE).branches][1:4] == [6, 12, 18]
    assert [b.kind for b in run_probe(voc, image, size=SIZE).branches] == ["pooling", "1x1"]


def test_concurrent_probes_of_one_model_equal_serial_ones(voc, resnet, image):
    images = [image, image[::-1].copy(), image[:, ::-1].copy(), image[100:400, 50:450].copy()]
    jobs = [(m, im) for m in (voc, resnet) for im in images]
    serial = [run_probe(m, im, size=SIZE) for m, im in jobs]
    results: list = [None] * (len(jobs) * 3)
    errors: list = []

    def work(i: int) -> None:
        try:
            m, im = jobs[i % len(jobs)]
            results[i] = run_probe(m, im, size=SIZE)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(results))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for i, got in enumerate(results):
        want = serial[i % len(jobs)]
        assert np.array_equal(got.class_map, want.class_map)
        assert np.array_equal(got.logits, want.logits)
        assert all(np.array_equal(got.stages[k], want.stages[k]) for k in want.stages)
    assert _hooks(voc.module) == 0 and _hooks(resnet.module) == 0


@pytest.mark.parametrize("which", ["voc", "resnet"])
def test_projection_split_is_exact(which, request, image):
    model = request.getfixturevalue(which)
    p = run_probe(model, image, size=SIZE)
    split = A.projection_split(model, p)
    assert split.max_error < 1e-3 * max(1.0, float(np.abs(p.projection).max()))
    assert sum(split.share.values()) + split.bias_share == pytest.approx(1.0, abs=1e-9)
    assert sum(split.magnitude_share.values()) == pytest.approx(1.0)
    assert set(split.maps) == {b.name for b in p.branches}
    assert all(m.shape == p.projection.shape[1:] for m in split.maps.values())


def test_projection_split_against_torch_by_hand(resnet, image):
    """Recompute the projection from two half-concatenations: linearity, checked in torch."""
    p = run_probe(resnet, image, size=SIZE)
    conv, bn = resnet.module.aspp.project[0], resnet.module.aspp.project[1]
    outs = [torch.from_numpy(np.array(b.output))[None] for b in p.branches]
    full = bn(conv(torch.cat(outs, 1)))
    only_first = [o if i == 0 else torch.zeros_like(o) for i, o in enumerate(outs)]
    none = [torch.zeros_like(o) for o in outs]
    with torch.no_grad():
        first_term = bn(conv(torch.cat(only_first, 1))) - bn(conv(torch.cat(none, 1)))
        z = full
    split = A.projection_split(resnet, p)
    share0 = float((first_term.double() * z.double()).sum() / (z.double() ** 2).sum())
    assert split.share["1×1"] == pytest.approx(share0, rel=1e-4)


def test_ablation(voc, resnet, image):
    for model in (voc, resnet):
        p = run_probe(model, image, size=SIZE)
        none = A.ablate(model, p, [])
        assert none.changed_fraction == 0.0 and np.array_equal(none.class_map, p.class_map)
        every = A.ablate(model, p, range(len(p.branches)))
        assert every.off == tuple(b.name for b in p.branches)
        # all branches off: the projection is its bias everywhere → one class for all pixels
        assert len(np.unique(every.class_map)) == 1
        one = A.ablate(model, p, [p.branches[0].name])
        assert one.changed.mean() == pytest.approx(one.changed_fraction)
        before = sum(b for b, _ in one.class_change.values())
        after = sum(a for _, a in one.class_change.values())
        assert before == pytest.approx(1.0) and after == pytest.approx(1.0)
    with pytest.raises(ValueError, match="no branch"):
        A.ablate(voc, p, ["rate 99"])


def test_footprints_are_rate_times_stride_apart(resnet, image):
    p = run_probe(resnet, image, size=513)
    fps = {f.name: f for f in A.footprints(p, (256, 256))}
    scale = p.image_hw[0] / p.model_input_hw[0]
    for name, rate in [("rate 6", 6), ("rate 12", 12), ("rate 18", 18)]:
        f = fps[name]
        assert f.spacing_px == pytest.approx(rate * 16 * scale)
        gaps = np.diff(np.unique(np.round(f.centres_yx[:, 0], 6)))
        assert np.allclose(gaps, rate * 16 * scale)
    assert fps["rate 18"].valid.sum() < 9  # at OS 16 rate 18 reaches past a 513 px image
    assert fps["1×1"].centres_yx.shape == (1, 2)


def test_gradcam_uses_a_private_copy(voc, resnet, image):
    for model in (voc, resnet):
        p = run_probe(model, image, size=SIZE)
        before = {k: v.clone() for k, v in model.module.state_dict().items()}
        maps = A.branch_gradcam(model, p, "person")
        assert set(maps) == {b.name for b in p.branches}
        assert all(m.shape == p.aspp_input.shape[-2:] and (m >= 0).all() for m in maps.values())
        assert _hooks(model.module) == 0
        after = model.module.state_dict()
        assert all(torch.equal(before[k], after[k]) for k in before)
        assert not any(
            prm.requires_grad or prm.grad is not None for prm in model.module.parameters()
        )
    with pytest.raises(ValueError, match="unknown class"):
        A.branch_gradcam(voc, p, "unicorn")


def test_branch_maps():
    rng = np.random.default_rng(0)
    out = rng.random((8, 5, 7)).astype(np.float32)
    out[3] += 10  # the most active channel
    assert A.branch_map(out, "mean").shape == (5, 7)
    top = A.branch_map(out, "topk", k=2)
    assert top.shape == (2, 5, 7) and np.array_equal(top[0], out[3])
    rgb = A.branch_map(out, "pca")
    assert rgb.shape == (5, 7, 3) and rgb.min() >= 0 and rgb.max() <= 1
    assert A.branch_energy(np.full((2, 2, 2), 3.0)) == pytest.approx(3.0)
    with pytest.raises(ValueError):
        A.branch_map(out, "median")
