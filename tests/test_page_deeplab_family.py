"""AppTest of the DeepLab family page: head diagrams, v3 vs v3+, separable conv, multi-grid."""

from __future__ import annotations

import pytest
from conftest import open_page

from tests import test_page_scale_lab as SLT

shapes_models = SLT.shapes_models  # the same fixtures: shipped or seeded random models
no_shapes = SLT.no_shapes
_charts, _text = SLT._charts, SLT._text

pytestmark = pytest.mark.slow

PAGE = "pages/deeplab_family.py"


def _open(app, **params):
    return open_page(app, PAGE, **params)


def _metrics(at) -> dict[str, str]:
    return {m.label: m.value for m in at.main.metric}


TABS = ["v1 · v2 and the dense CRF", "v3", "v3+", "Atrous separable conv", "Multi-grid"]


def _visit(at, tab: str):
    """Open ``tab`` (bound to the link; switched through session state, as a click does)."""
    at.session_state["fam_tab"] = tab
    at.run()
    assert not at.exception, at.exception
    return at


def test_one_tab_runs_at_a_time(app, shapes_models):
    at = _open(app)
    charts = _charts(at)
    assert "DeepLab v1 head" in charts and "DeepLab v2 ASPP" in charts
    assert "ShapesWorld DeepLabv3+: ASPP + decoder" not in charts  # another tab: not run
    assert not at.main.metric or "Separable / regular" not in _metrics(at)
    _visit(at, "Multi-grid")
    assert "DeepLab v1 head" not in _charts(at)
    assert "(1, 2, 4) × 2 = rates 2, 4, 8" in _metrics(at)


def test_every_version_is_drawn_and_the_numbers_shown(app, shapes_models):
    at = _open(app)
    charts, text, m, frames = "", "", {}, []
    for tab in TABS:
        _visit(at, tab)
        charts += _charts(at)
        text += " " + _text(at)
        m |= _metrics(at)
        frames += [d.value for d in at.main.dataframe]
    for title in (
        "DeepLab v1 head",
        "DeepLab v2 ASPP",
        "ShapesWorld DeepLabv3: ASPP + head",
        "ShapesWorld DeepLabv3+: ASPP + decoder",
        "DeepLabv3+",
        "v3+ · zoom",
        "low-level 1×1 → 48 ch",
        "atrous 3×3 conv (rate > 1)",
        "depthwise-separable conv",
        "post-processing (not learned)",
    ):
        assert title in charts, title
    assert "at rate 2" in text and "at rate 4" in text  # voc-mobilenetv2's depthwise rates
    assert m["(1, 1, 1) × 2 = rates 2, 2, 2"] == "49 of 169 cells"
    assert m["(1, 2, 4) × 2 = rates 2, 4, 8"] == "225 of 841 cells"
    assert "Held-out boundary F: v3 → v3+" in m
    strides = [f for f in frames if "boundary F v3+" in f.columns]
    assert strides and list(strides[0]["output stride"]) == [8, 16, 32]
    assert "Both models end their training at output stride" in text
    assert "the v3+ bargain" in text
    if not shapes_models:
        assert m["Held-out boundary F: v3 → v3+"] == "0.40 → 0.50"
    assert m["Separable / regular"] == "11.5%"  # 1/256 + 1/9
    # the multi-grid verdict reads its own numbers: more cells, a smaller share
    assert "reads 225 cells of a 29×29 field, **4.6×** the 49 cells" in text
    assert "but a smaller share of its own field: 26.8% against 29.0%" in text


def test_widgets_update_without_errors(app, shapes_models):
    at = _visit(_open(app), "v3+")
    before = _metrics(at)["Boundary F, v3 (this scene)"]
    at.number_input(key="fam_seed").set_value(12).run()
    assert not at.exception
    assert "Crop x" in _text(at)
    at.button(key="fam_zjump").click().run()
    assert not at.exception
    assert isinstance(before, str)
    assert "(1/16)" in _charts(at)
    at.segmented_control(key="fam_os").set_value(32).run()  # both models rewired to OS 32
    assert not at.exception
    charts = _charts(at)
    assert "(1/32)" in charts and "after ×8" in charts
    assert "at output stride 32." in _text(at)
    _visit(at, "Multi-grid")
    at.segmented_control(key="fam_mg").set_value("(1, 2, 1)")
    at.segmented_control(key="fam_mg_block").set_value(4).run()
    m = _metrics(at)
    assert m["(1, 1, 1) × 4 = rates 4, 4, 4"] == "49 of 625 cells"
    assert "(1, 2, 1) × 4 = rates 4, 8, 4" in m
    _visit(at, "v3")
    at.radio(key="fam_v3_src").set_value("torchvision ResNet-101 (architecture)").run()
    assert "torchvision DeepLabV3 head" in _charts(at)
    # the latency waits for a click; small sizes keep it short
    _visit(at, "Atrous separable conv")
    at.select_slider(key="fam_sep_ch").set_value(64)
    at.select_slider(key="fam_sep_hw").set_value(17).run()
    assert "64→64 channels" not in _charts(at)
    at.button(key="fam_sep_go").click().run()
    assert not at.exception
    assert "64→64 channels, rate 2, 17×17 map" in _charts(at)
    text = _text(at)
    assert "Measured here, interleaved: regular" in text and "middle half" in text
    # ranked only when the middle halves are apart; otherwise said to be unmeasurable
    assert "faster than" in text or "no measurable difference" in text


def test_query_params_reproduce_the_view(app, shapes_models):
    at = _open(
        app,
        fam_tab="v3+",
        fam_seed="21",
        fam_zx="30",
        fam_zy="70",
        fam_zside="24",
        fam_os="8",
    )
    assert at.segmented_control(key="fam_os").value == 8
    assert at.number_input(key="fam_seed").value == 21
    assert (at.slider(key="fam_zx").value, at.slider(key="fam_zy").value) == (30, 70)
    assert at.select_slider(key="fam_zside").value == 24
    assert "Crop x 36–59, y 100–123" in _text(at)
    at = _open(app, fam_tab="Multi-grid", fam_mg="(2, 2, 2)", fam_mg_block="1")
    assert at.segmented_control(key="fam_mg").value == "(2, 2, 2)"
    assert at.segmented_control(key="fam_mg_block").value == 1
    assert _metrics(at)["(2, 2, 2) × 1 = rates 2, 2, 2"] == "49 of 169 cells"
    at = _open(app, fam_tab="v3", fam_v3_src="torchvision ResNet-101 (architecture)")
    assert "torchvision DeepLabV3 head" in _charts(at)
    at = _open(app, fam_tab="Atrous separable conv", fam_sep_rate="6")
    assert at.select_slider(key="fam_sep_rate").value == 6


def test_missing_weights_say_so(app, no_shapes):
    at = _visit(_open(app), "v3+")
    info = " ".join(i.value for i in at.main.info)
    assert "ShapesWorld models are not installed" in info
    _visit(at, "v3")
    assert "torchvision DeepLabV3 head" in _charts(at)
    _visit(at, "Multi-grid")
    assert "225 of 841 cells" in _metrics(at).values()


def test_view_changes_never_run_the_models(app, shapes_models, monkeypatch):
    from deeplab_viz import family as FA
    from deeplab_viz import scale_lab as SL

    at = _visit(_open(app), "v3+")
    calls = []
    for mod, name in ((FA, "plus_steps"), (SL, "predict")):
        real = getattr(mod, name)
        monkeypatch.setattr(
            mod, name, lambda *a, _r=real, _n=name, **k: calls.append(_n) or _r(*a, **k)
        )
    at.slider(key="fam_zx").set_value(20).run()
    at.select_slider(key="fam_zside").set_value(64).run()
    _visit(at, "Multi-grid")
    at.segmented_control(key="fam_mg").set_value("(1, 1, 1)").run()
    _visit(at, "v3+")
    assert not at.exception
    assert calls == []
    at.number_input(key="fam_seed").set_value(5).run()  # a new scene: both models run once
    assert sorted(calls) == ["plus_steps", "predict"]


def test_a_broken_stride_in_the_link_falls_back_to_16(app, shapes_models):
    at = _open(app, fam_tab="v3+", fam_os="7")
    assert not at.exception
    assert at.segmented_control(key="fam_os").value == 16
    assert "at output stride 16." in _text(at)
