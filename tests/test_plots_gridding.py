"""Figure builders of the Gridding page, and the gradient ERF of a real dilated stage."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import pytest
import torch
from conftest import needs_weights

from deeplab_viz.gridding import coverage_map
from deeplab_viz.plots.gridding import (
    ERF_SCALE,
    HOLE_COLOR,
    coverage_figure,
    crop_centre,
    erf_figure,
    erf_profile_figure,
)


def _heat(fig: go.Figure) -> go.Heatmap:
    return next(t for t in fig.data if isinstance(t, go.Heatmap))


# --------------------------------------------------------------------------- coverage


@pytest.mark.parametrize(
    ("rates", "covered", "cells"),
    [((2, 2, 2), 49, 169), ((2, 4, 8), 225, 841), ((1, 2, 5), 289, 289)],
)
def test_coverage_figure_holes_are_blank(rates, covered, cells):
    cov = coverage_map(rates)
    fig = coverage_figure(cov)
    z = np.asarray(_heat(fig).z, dtype=float)
    assert z.size == cells
    assert int(np.isfinite(z).sum()) == covered  # reached cells carry their path count
    assert int(np.isnan(z).sum()) == cells - covered  # holes are gaps, shown white
    assert np.nansum(z) == cov.counts.sum()
    assert f"{covered} of {cells} cells" in fig.layout.title.text
    assert fig.layout.plot_bgcolor == HOLE_COLOR
    names = [t.name for t in fig.data]
    assert "hole: no path reaches it" in names
    # cells are numbered from the output unit at the centre
    heat = _heat(fig)
    assert heat.x[0] == -(cov.side // 2) and heat.x[-1] == cov.side // 2
    assert fig.layout.yaxis.autorange == "reversed"


def test_coverage_figure_of_a_huge_field_shows_the_centre():
    cov = coverage_map((64,) * 8)  # 1025 x 1025 cells
    fig = coverage_figure(cov, max_side=129)
    z = np.asarray(_heat(fig).z, dtype=float)
    assert z.shape == (129, 129)
    assert "central 129×129 of 1025×1025" in fig.layout.title.text
    assert len(fig.layout.shapes) == 0  # no outline: the field goes on beyond the view


def test_coverage_figure_custom_title():
    fig = coverage_figure(coverage_map((1, 2, 3)), title="fixed [1, 2, 3]: 100.0%")
    assert fig.layout.title.text == "fixed [1, 2, 3]: 100.0%"
    assert len(fig.layout.shapes) == 1


def test_crop_centre_clips_at_the_border():
    a = np.arange(100).reshape(10, 10)
    crop, y0, x0 = crop_centre(a, (1, 8), 3)
    assert (y0, x0) == (0, 5) and crop.shape == (5, 5)
    assert crop[1, 3] == a[1, 8]


# --------------------------------------------------------------------------- ERF


def _lattice_erf(n: int = 21) -> np.ndarray:
    rng = np.random.default_rng(0)
    erf = rng.random((n, n)) + 0.1
    erf[1::2, :] = 0  # odd rows: holes
    erf[:, 1::2] = 0
    return erf / erf.sum()


def test_erf_figure_log_scale_and_holes():
    erf = _lattice_erf()
    fig = erf_figure(erf, (10, 10), reach=None)
    z = np.asarray(_heat(fig).z, dtype=float)
    assert z.shape == erf.shape
    assert int(np.isnan(z).sum()) == int((erf == 0).sum())
    pos = erf > 0
    assert np.allclose(z[pos], np.log10(erf[pos]))
    heat = _heat(fig)
    assert heat.colorscale[0][1] != "#000004"  # see ERF_SCALE
    assert len(heat.colorscale) == len(ERF_SCALE)
    assert heat.zmax == pytest.approx(np.log10(erf.max()))


def test_erf_figure_crops_to_the_reach():
    erf = _lattice_erf(41)
    fig = erf_figure(erf, (20, 20), reach=4, log=False, title="t")
    z = np.asarray(_heat(fig).z, dtype=float)
    assert z.shape == (13, 13)  # reach 4 + 2 cells on each side
    assert list(_heat(fig).x[[0, -1]]) == [-6, 6]
    assert fig.layout.title.text == "t"
    with pytest.raises(ValueError):
        erf_figure(np.zeros(5), (0, 0))


def test_erf_profile_marks_exact_zeros():
    erf = _lattice_erf()
    fig = erf_profile_figure(erf, (10, 10), reach=8)
    bars, zeros = fig.data
    assert isinstance(bars, go.Bar)
    assert len(bars.x) + len(zeros.x) == 21  # reach 8 + 2 each side, clipped to 21 columns
    assert all(x % 2 == 0 for x in bars.x)  # the centre row: non-zero every other cell
    assert all(x % 2 == 1 for x in zeros.x)
    assert fig.layout.yaxis.type == "log"


# --------------------------------------------------------------------------- a real stage


def _snapshot(module: torch.nn.Module):
    return (
        module.training,
        [p.requires_grad for p in module.parameters()],
        [p.detach().clone() for p in module.parameters()],
        sum(len(m._forward_hooks) + len(m._backward_hooks) for m in module.modules()),
    )


@pytest.mark.slow
@needs_weights
def test_stage_erf_of_the_offline_model_shows_gridding(voc_base):
    from deeplab_viz.models import ModelSpec, build_model
    from deeplab_viz.stage_erf import dilated_stages, previous_stage, stage_erf, stage_input

    model = build_model(ModelSpec(name="voc-mobilenetv2", output_stride=8), base=voc_base)
    stages = dilated_stages(model.module)
    assert [s.name for s in stages] == ["stage4", "stage5"]
    assert stages[-1].dilations == (2, 4, 4, 4)
    assert previous_stage(model.module, "stage5") == "stage4"
    assert previous_stage(model.module, "stem") is None

    rgb = np.random.default_rng(0).integers(0, 256, (120, 160, 3), dtype=np.uint8)
    before = _snapshot(model.module)
    x = stage_input(model, rgb, "stage5", size=321)  # 31 x 41 cells: room for ±14
    res = stage_erf(model, "stage5", x)
    after = _snapshot(model.module)
    assert before[0] == after[0] and before[1] == after[1] and before[3] == after[3] == 0
    assert all(torch.equal(a, b) for a, b in zip(before[2], after[2], strict=True))

    assert res.reach == 2 + 4 + 4 + 4  # the sum of the rates
    assert res.erf.sum() == pytest.approx(1.0)
    cy, cx = res.centre_yx
    # every cell at an odd offset from the unit is a hole (all rates are even)
    assert res.erf[cy, cx + 1] == 0 and res.erf[cy + 1, cx] == 0
    assert res.erf[cy, cx + 2] > 0
    # a plain chain 2, 4, 4, 4 reads 15² of its 29² cells
    assert res.hole_share == pytest.approx(1 - 225 / 841, abs=1e-9)

    rnd = stage_erf(model, "stage5", x, random_input=True, n_samples=2)
    assert rnd.random_input and rnd.n_samples == 2
    assert rnd.hole_share == pytest.approx(res.hole_share)  # the wiring, not the image
    with pytest.raises(ValueError):
        stage_erf(model, "stage9", x)
    with pytest.raises(ValueError):
        stage_erf(model, "stage5", x, n_samples=0)


@pytest.mark.slow
@needs_weights
def test_no_dilated_stage_at_output_stride_32(voc_base):
    from deeplab_viz.models import ModelSpec, build_model
    from deeplab_viz.stage_erf import dilated_stages, stage_infos

    model = build_model(ModelSpec(name="voc-mobilenetv2", output_stride=32), base=voc_base)
    assert dilated_stages(model.module) == []
    assert len(stage_infos(model.module)) == 5
    at16 = build_model(ModelSpec(name="voc-mobilenetv2", output_stride=16), base=voc_base)
    assert [s.dilations for s in dilated_stages(at16.module)] == [(1, 2, 2, 2)]
