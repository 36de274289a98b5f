"""AppTest of the "Dilated convolution" page inside the whole app, on the real model."""

from __future__ import annotations

import json

import pytest
from conftest import open_page

pytestmark = pytest.mark.slow

PAGE = "pages/dilated_convolution.py"


def _open(app, **params):
    return open_page(app, PAGE, **params)


def _metrics(at) -> dict[str, str]:
    return {m.label: m.value for m in at.main.metric}


def _figure(at, key: str) -> dict:
    charts = [c for c in at.main.get("plotly_chart") if c.proto.id.endswith(f"-{key}")]
    assert len(charts) == 1, [c.proto.id for c in at.main.get("plotly_chart")]
    return json.loads(charts[0].proto.spec)


def _trace(fig: dict, prefix: str) -> dict:
    return next(t for t in fig["data"] if t.get("name", "").startswith(prefix))


def _text(at) -> str:
    return " ".join(m.value for m in at.main.markdown) + " ".join(c.value for c in at.main.caption)


def test_sampling_grid_numbers_and_figure(app):
    at = _open(app)
    m = _metrics(at)
    assert m["Effective size"] == "5 px"
    assert m["Parameters"] == "9"
    assert m["Output size"] == "15 × 15"
    assert m["Valid taps"] == "83%"
    fig = _figure(at, "dc_grid_fig")
    assert "reads 3×3 taps, 2 px apart" in fig["layout"]["title"]["text"]
    assert "(9 of 9)" in _trace(fig, "tap on the input")["name"]
    assert "Yu & Koltun 2016" in _text(at) and "DeepLab" in _text(at)

    at.slider(key="dc_rate").set_value(4).run()
    assert not at.exception
    m = _metrics(at)
    assert m["Effective size"] == "9 px"
    assert m["Parameters"] == "9"  # the rate adds no weights
    assert "4 px apart" in _figure(at, "dc_grid_fig")["layout"]["title"]["text"]

    at.segmented_control(key="dc_unit").set_value("corner").run()
    fig = _figure(at, "dc_grid_fig")
    assert fig["layout"]["title"]["text"].startswith("Output unit (0, 0)")
    assert "(4 of 9)" in _trace(fig, "tap on the input")["name"]
    assert _trace(fig, "tap in the padding")["name"] == "tap in the padding (5)"


def test_kernel_larger_than_the_padded_input_is_one_error(app):
    at = _open(app)
    at.toggle(key="dc_same").set_value(False).run()
    at.slider(key="dc_rate").set_value(20).run()
    assert not at.exception
    errors = [e.value for e in at.main.error]
    assert len(errors) == 1 and "no output" in errors[0] and "\n" not in errors[0]
    assert "Output size" not in _metrics(at)
    at.slider(key="dc_pad").set_value(20).run()
    assert not at.exception and not at.main.error
    assert _metrics(at)["Output size"] == "15 × 15"  # ⌊(15 + 40 − 40 − 1)/1⌋ + 1


def test_query_params_reproduce_the_view(app):
    at = _open(app, dc_k="5", dc_rate="3", dc_size="21", dc_stride="2")
    assert at.slider(key="dc_k").value == 5
    m = _metrics(at)
    assert m["Effective size"] == "13 px"  # 5 + 4·2
    assert m["Parameters"] == "25"
    assert m["Output size"] == "11 × 11"  # ⌊(21 + 12 − 12 − 1)/2⌋ + 1


def test_taps_on_the_image_follow_the_output_stride(app):
    at = _open(app, dc_view="On your image")
    m = _metrics(at)
    assert m["Tap spacing"] == "16 px"  # rate 2 × OS 8
    assert m["Taps on the feature map"] == "9 of 9"
    assert "voc-mobilenetv2 · OS 8" in _text(at)
    fig = _figure(at, "dc_img_fig")
    assert fig["data"][0]["type"] == "image"

    at.slider(key="dc_px").set_value(0).run()
    at.slider(key="dc_py").set_value(0).run()
    at.slider(key="dc_rate").set_value(12).run()
    assert not at.exception
    m = _metrics(at)
    assert m["Tap spacing"] == "96 px"
    assert m["Taps on the feature map"] == "4 of 9"  # the corner: most taps fall off
    assert "your pixel (x=0, y=0)" in _trace(_figure(at, "dc_img_fig"), "your pixel")["name"]

    at.sidebar.segmented_control(key="sb_os").set_value(16).run()
    assert not at.exception
    assert _metrics(at)["Tap spacing"] == "192 px"
    assert "OS 16" in _text(at)


def test_stacking_view_and_bad_rates(app):
    at = _open(app, dc_view="Stacking")
    fig = _figure(at, "dc_stack_fig")
    assert fig["layout"]["yaxis"]["ticktext"][-1] == "layer 4 · rate 8 · RF 16"
    assert "2 → 4 → 8 → 16" in _text(at)

    at.text_input(key="dc_stack").input("1, two, 4").run()
    assert not at.exception
    errors = [e.value for e in at.main.error]
    assert len(errors) == 1 and "two" in errors[0] and "\n" not in errors[0]
    assert not [c for c in at.main.get("plotly_chart") if c.proto.id.endswith("dc_stack_fig")]

    at.text_input(key="dc_stack").input("2, 2, 2").run()
    at.segmented_control(key="dc_stack_k").set_value("3 taps, centred").run()
    assert not at.exception and not at.main.error
    assert "5 → 9 → 13" in _text(at)  # 1 + 2·(2 + 2 + 2)


def test_space_to_batch_identity_is_verified_live(app):
    at = _open(app, dc_view="Space-to-batch", dc_s2b_rate="3")
    m = _metrics(at)
    assert m["Sub-images"] == "9"
    diff = m["max |difference|"]
    assert float(diff) < 1e-4
    assert "**equal**" in " ".join(s.value for s in at.main.success)
    sub = _figure(at, "dc_s2b_fig")
    assert sum(t["type"] == "image" for t in sub["data"]) == 9


def test_filters_at_several_rates(app):
    at = _open(app, dc_view="Filters")
    images = at.main.get("image")
    assert len(images) == 4
    at.pills(key="dc_filter_rates").set_value([1, 16]).run()
    assert not at.exception
    assert len(at.main.get("image")) == 2
    at.pills(key="dc_filter_rates").set_value([]).run()
    assert not at.exception and len(at.main.get("image")) == 0
    assert at.main.info


def test_cost_does_not_depend_on_the_rate(app):
    at = _open(app, dc_view="Cost")
    m = _metrics(at)
    assert m["Regular: parameters"] == f"{3 * 3 * 256 * 256:,}"
    assert m["Separable: parameters"] == f"{3 * 3 * 256 + 256 * 256:,}"
    assert m["Separable / regular"] == "0.115"  # 1/256 + 1/9
    flops = m["Regular: FLOPs"]
    at.slider(key="dc_rate").set_value(24).run()
    assert not at.exception
    assert _metrics(at)["Regular: FLOPs"] == flops
    at.number_input(key="dc_cout").set_value(64).run()
    assert _metrics(at)["Regular: FLOPs"] != flops
