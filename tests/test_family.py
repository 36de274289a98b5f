"""The DeepLab family library: head diagrams from module trees, v3+ steps, costs, multi-grid."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from deeplab_viz import family as FA
from deeplab_viz.atrous import separable_vs_regular
from deeplab_viz.gridding import coverage_map
from deeplab_viz.models.shapes import build_shapes_model


def _rates(g: FA.Graph) -> list[int]:
    return [int(n.label.split("rate ")[1].split(",")[0]) for n in g.nodes if n.kind == "atrous"]


def _paths_are_modules(g: FA.Graph, module: nn.Module) -> None:
    names = dict(module.named_modules())
    for n in g.nodes:
        if n.path:
            assert n.path in names, n.path


def test_v1_head_diagram():
    head = FA.v1_head(width=1 / 16)
    g = FA.head_graph(head)
    _paths_are_modules(g, head)
    assert _rates(g) == [2, 2, 2, 4]  # conv5_1..3 at rate 2, fc6 at rate 4
    pools = [n for n in g.nodes if n.kind == "pool"]
    assert [n.path for n in pools] == ["pool4", "pool5"] and all(
        "stride 1" in n.label for n in pools
    )
    assert [n.label for n in g.nodes if n.kind == "post"] == ["dense CRF"]
    assert g.branches == 0  # one chain: no ASPP yet
    # a chain: every node but the last has exactly one successor
    assert all(len(g.successors(n.id)) == 1 for n in g.nodes[:-1])


def test_v2_head_has_four_summed_branches():
    head = FA.v2_head(in_channels=64, num_classes=21)
    g = FA.head_graph(head)
    _paths_are_modules(g, head)
    assert g.branches == 4 and _rates(g) == [6, 12, 18, 24]
    merge = next(n for n in g.nodes if n.kind == "merge")
    assert merge.label == "sum"
    assert sorted(a for a, b in g.edges if b == merge.id) == [
        g.by_path(f"branches.{i}").id for i in range(4)
    ]
    assert [n.path for n in g.nodes if n.kind == "atrous"] == [f"branches.{i}" for i in range(4)]
    assert any(n.kind == "post" for n in g.nodes)


@pytest.mark.parametrize("arch", ["v3", "v3plus"])
def test_shapes_heads_have_five_branches_with_pooling(arch):
    model = build_shapes_model(arch).eval()
    head = FA.model_head(model)
    assert head.aspp is model.aspp and head.head is model.head  # shared, not copied
    g = FA.head_graph(head)
    _paths_are_modules(g, head)
    assert g.branches == 5
    assert _rates(g) == [2, 4, 6]
    for i in range(5):  # one drawn chain per ASPP branch, named after the module
        assert any(n.path.startswith(f"aspp.branches.{i}") for n in g.nodes)
    assert any(n.label == "global average pool" for n in g.nodes)
    cat = next(n for n in g.nodes if n.label == "concatenate")
    assert len([a for a, b in g.edges if b == cat.id]) == 5


def test_v3plus_decoder_is_drawn_with_its_48_channel_reduction():
    model = build_shapes_model("v3plus").eval()
    g = FA.head_graph(FA.model_head(model))
    reduce = g.by_path("head.reduce.0")
    assert reduce.kind == "1x1" and "32→48 ch" in reduce.detail
    inputs = [n for n in g.nodes if n.kind == "input"]
    assert [n.label for n in inputs] == ["backbone features", "low-level features"]
    assert g.successors(inputs[1].id) == [reduce.id]
    seps = [n for n in g.nodes if n.kind == "depthwise"]
    assert [n.path for n in seps] == ["head.fuse.0", "head.fuse.1"]
    fuse_in = next(n for n in g.nodes if n.kind == "merge" and g.successors(n.id) == [seps[0].id])
    assert len([a for a, b in g.edges if b == fuse_in.id]) == 2  # ASPP ×4 and low-level
    ups = [n.label for n in g.nodes if n.kind == "resize" and n.label.startswith("bilinear")]
    assert ups == ["bilinear ×4", "bilinear ×4"]


def test_torchvision_head_rates():
    g = FA.head_graph(FA.torchvision_v3_head(in_channels=32))
    assert g.branches == 5 and _rates(g) == [12, 24, 36]


def test_layout_puts_branches_side_by_side():
    g = FA.head_graph(FA.v2_head(in_channels=16))
    branch_nodes = [n for n in g.nodes if n.kind == "atrous"]
    assert len({n.col for n in branch_nodes}) == 1
    assert len({n.row for n in branch_nodes}) == 4


def test_plus_steps_match_the_forward():
    torch.manual_seed(0)
    model = build_shapes_model("v3plus").eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.randn(1, 3, 64, 64)
    steps = FA.plus_steps(model, x)
    with torch.inference_mode():
        ref = model(x)
    assert np.allclose(steps.logits, ref[0].numpy(), atol=1e-5)
    assert steps.aspp.shape == (64, 4, 4)  # OS 16
    assert steps.aspp_up.shape[1:] == steps.low.shape[1:] == (16, 16)  # stride 4
    assert steps.low.shape[0] == 48
    assert steps.logits_low.shape == (5, 16, 16) and steps.class_map.shape == (64, 64)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())


def test_separable_latency_counts():
    t = FA.separable_latency(16, 2, 9, repeats=2, warmup=0)
    cmp = separable_vs_regular(3, 16, 16, 9, 9)
    assert t.params == {"regular": cmp.regular.params, "separable": cmp.separable.params}
    assert t.params == {"regular": 9 * 16 * 16, "separable": 9 * 16 + 16 * 16}
    assert t.flops == {"regular": cmp.regular.flops, "separable": cmp.separable.flops}
    assert all(v > 0 for v in t.median_ms.values()) and len(t.runs_ms["regular"]) == 2


def test_depthwise_rates():
    reg, sep = FA.atrous_pair(8, 4)
    assert FA.depthwise_rates(sep) == {4: 1} and FA.depthwise_rates(reg) == {}


def test_dilated_sites_count_the_wiring_by_rate():
    wiring = [(2, 1), (1, 2), (1, 4), (1, 2), (1, 1)]
    assert FA.dilated_sites(wiring) == {2: 2, 4: 1}
    assert list(FA.dilated_sites([(1, 4), (1, 2)])) == [2, 4]  # sorted by rate
    assert FA.dilated_sites([(2, 1), (1, 1)]) == {}


BY_STRIDE = [
    {
        "output_stride": 8,
        "miou_v3": 0.8,
        "miou_plus": 0.81,
        "boundary_f_v3": 0.61,
        "boundary_f_plus": 0.62,
    },
    {
        "output_stride": 16,
        "miou_v3": 0.7512,
        "miou_plus": 0.8,
        "boundary_f_v3": 0.5,
        "boundary_f_plus": 0.6,
    },
    {
        "output_stride": 32,
        "miou_v3": 0.5,
        "miou_plus": 0.7,
        "boundary_f_v3": 0.304,
        "boundary_f_plus": 0.55,
    },
]


def test_stride_rows_show_three_decimals():
    rows = FA.stride_rows(BY_STRIDE)
    assert [r["output stride"] for r in rows] == [8, 16, 32]
    assert rows[1] == {
        "output stride": 16,
        "mIoU v3": "0.751",
        "mIoU v3+": "0.800",
        "boundary F v3": "0.500",
        "boundary F v3+": "0.600",
    }


def test_decoder_gain_reads_the_trained_stride_and_the_coarser_ones():
    gain = FA.decoder_gain(BY_STRIDE, 16)
    assert gain.trained == {"trained": 16, "up": 4, "bf_v3": "0.50", "bf_plus": "0.60"}
    assert gain.coarse == {"v3_scores": "0.30 at 32", "plus_scores": "0.55"}
    gain = FA.decoder_gain(BY_STRIDE, 8)
    assert gain.trained["up"] == 2
    assert gain.coarse == {"v3_scores": "0.50 at 16, 0.30 at 32", "plus_scores": "0.60, 0.55"}
    everything = {
        "v3_scores": "0.61 at 8, 0.50 at 16, 0.30 at 32",
        "plus_scores": "0.62, 0.60, 0.55",
    }
    assert FA.decoder_gain(BY_STRIDE, 4) == FA.DecoderGain(trained=None, coarse=everything)
    assert FA.decoder_gain(BY_STRIDE[:2], 16).coarse is None
    assert FA.decoder_gain([], 16) == FA.DecoderGain(None, None)


def test_multigrid_coverage_numbers():
    assert FA.multigrid_rates((1, 2, 4), 2) == (2, 4, 8)
    mg = coverage_map(FA.multigrid_rates((1, 2, 4), 2))
    assert (mg.covered, mg.rf_cells) == (225, 841)  # 616 holes: the stride-2 lattice
    flat = coverage_map(FA.multigrid_rates((1, 1, 1), 2))
    assert (flat.covered, flat.rf_cells) == (49, 169)
    unit = coverage_map((1, 2, 4))
    assert unit.full and unit.rf_cells == 225  # within the lattice: no hole at all
    assert coverage_map(FA.multigrid_rates((2, 2, 2), 2)).covered == 49  # (4,4,4): sparser


def test_multigrid_erf_lives_on_the_coverage():
    rates = FA.multigrid_rates((1, 2, 4), 2)
    res = FA.multigrid_erf(rates, n_samples=2)
    cov = coverage_map(rates)
    cy, cx = res.out_yx
    half = cov.side // 2
    crop = res.erf[cy - half : cy + half + 1, cx - half : cx + half + 1]
    assert res.erf.sum() == pytest.approx(1.0)
    assert crop.sum() == pytest.approx(1.0)  # nothing outside the receptive field
    assert np.all(crop[cov.counts == 0] == 0)  # holes get exactly zero gradient
    assert np.mean(crop[cov.counts > 0] > 0) > 0.9


def test_diagrams_need_no_weights():
    with torch.device("meta"):  # the page builds the big architecture-only heads like this
        head = FA.v1_head()
    g = FA.head_graph(head)
    assert next(head.parameters()).device.type == "meta"
    assert "512→512 ch" in g.by_path("conv5_1").detail
    assert "512→1024 ch" in g.by_path("fc6").detail
