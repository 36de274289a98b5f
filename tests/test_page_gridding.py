"""AppTest of the "Gridding" page inside the whole app, on the real model."""

from __future__ import annotations

import json

import pytest
from conftest import open_page

pytestmark = pytest.mark.slow

PAGE = "pages/gridding.py"


def _open(app, **params):
    return open_page(app, PAGE, **params)


def _metrics(at) -> dict[str, str]:
    return {m.label: m.value for m in at.main.metric}


def _figures(at) -> dict[str, dict]:
    return {
        c.proto.id.rsplit("-", 1)[-1]: json.loads(c.proto.spec) for c in at.main.get("plotly_chart")
    }


def _text(at) -> str:
    parts = [m.value for m in at.main.markdown] + [c.value for c in at.main.caption]
    parts += [x.value for x in (*at.main.info, *at.main.warning, *at.main.success)]
    return " ".join(parts)


def test_default_stack_2_2_2_reads_49_of_169_cells(app):
    at = _open(app)
    m = _metrics(at)
    assert m["Cells read"] == "49 / 169"
    assert m["Coverage of the receptive field"] == "29.0%"
    assert m["Receptive field"] == "13 × 13"
    fig = _figures(at)["gr_cov_fig"]
    assert "49 of 169 cells" in fig["layout"]["title"]["text"]
    assert "120 holes" in _text(at)
    assert "Wang et al. 2018" in _text(at)


def test_presets_change_the_numbers_and_the_map(app):
    at = _open(app)
    at.segmented_control(key="gr_preset").set_value("1, 2, 5 · HDC").run()
    assert not at.exception
    assert _metrics(at)["Cells read"] == "289 / 289"
    assert "no holes" in _text(at)
    at.segmented_control(key="gr_preset").set_value("2, 4, 8").run()
    assert _metrics(at)["Cells read"] == "225 / 841"
    assert "225 of 841" in _figures(at)["gr_cov_fig"]["layout"]["title"]["text"]


def test_your_own_rates_and_bad_text(app):
    at = _open(app)
    at.segmented_control(key="gr_preset").set_value("your own").run()
    assert _metrics(at)["Cells read"] == "441 / 625"  # the default 1, 2, 9

    at.text_input(key="gr_rates").input("1, 2, x").run()
    assert not at.exception
    errors = [e.value for e in at.main.error]
    assert len(errors) == 1 and "“x”" in errors[0] and "\n" not in errors[0]
    assert not _metrics(at)

    for bad in ("", "0, 1", "1,2,3,4,5,6,7,8,9", "100", "1;;2;;" + "9" * 40):
        at.text_input(key="gr_rates").input(bad).run()
        assert not at.exception
        assert len(at.main.error) == 1, bad

    at.text_input(key="gr_rates").input("[2, 4, 8]").run()
    assert not at.exception and not at.main.error
    assert _metrics(at)["Cells read"] == "225 / 841"


def test_query_params_reproduce_the_view(app):
    at = _open(app, gr_preset="your own", gr_rates="3, 3", gr_view="Coverage")
    assert at.text_input(key="gr_rates").value == "3, 3"
    assert _metrics(at)["Cells read"] == "25 / 169"  # steps of 3 only: 5 × 5 cells


def test_hdc_rule_table_and_fix(app):
    at = _open(app, gr_view="HDC rule")
    table = at.main.dataframe[0].value
    assert list(table["Mᵢ"]) == [2, 2, 2]
    assert "✗ fail" in table["check"][0] and "✓ pass" in table["check"][1]
    assert "r₁ = 1" in _text(at)  # the note on [2, 2, 2]
    warnings = " ".join(w.value for w in at.main.warning)
    assert "fails the HDC rule" in warnings
    assert not at.main.error  # failing the rule is a finding, not an error
    figs = _figures(at)
    assert "29.0%" in figs["gr_hdc_orig"]["layout"]["title"]["text"]
    assert "100.0%" in figs["gr_hdc_fix"]["layout"]["title"]["text"]
    assert any("Suggested fix: [1," in h.value for h in at.main.subheader)

    at.segmented_control(key="gr_preset").set_value("your own").run()
    at.text_input(key="gr_rates").input("1, 2, 9").run()
    table = at.main.dataframe[0].value
    assert list(table["Mᵢ"]) == [3, 5, 9]
    assert "M₂ = 5 > 3" in table["check"][1]

    at.segmented_control(key="gr_preset").set_value("1, 2, 5 · HDC").run()
    assert "passes the HDC rule" in " ".join(s.value for s in at.main.success)
    assert "gr_hdc_fix" not in _figures(at)


def test_artifact_on_the_image(app):
    at = _open(app, gr_view="On your image")
    images = at.main.get("image")
    assert len(images) == 5  # your stack, HDC fix; then the three zooms
    assert "gr_img_fig" in _figures(at)  # the input: a picture to click
    assert "around x=" in _text(at)
    at.slider(key="gr_zx").set_value(0).run()
    at.slider(key="gr_zy").set_value(0).run()
    assert not at.exception and "around x=0, y=0" in _text(at)
    at.segmented_control(key="gr_preset").set_value("1, 2, 4 · multi-grid").run()
    assert not at.exception
    assert len(at.main.get("image")) == 3  # nothing to fix
    at.slider(key="gr_noise").set_value(0.0).run()
    assert not at.exception


def test_gridded_erf_of_the_model(app):
    at = _open(app, gr_view="In the model")
    m = _metrics(at)
    assert m["Zero-gradient cells"] == "73%"  # 1 − 15²/29² for rates 2, 4, 4, 4
    assert m["Reach"] == "± 14 cells"
    assert m["Spatial conv rates in the stage"] == "2, 4, 4, 4"
    assert at.selectbox(key="gr_stage").value == "stage5"
    figs = _figures(at)
    assert figs["gr_erf_fig"]["data"][0]["type"] == "heatmap"
    assert "voc-mobilenetv2 · OS 8" in _text(at)

    at.segmented_control(key="gr_input").set_value("random").run()
    assert not at.exception
    assert _metrics(at)["Zero-gradient cells"] == "73%"  # the wiring, not the image
    assert "random normal input, 2 samples" in _figures(at)["gr_erf_fig"]["layout"]["title"]["text"]

    at.sidebar.segmented_control(key="sb_os").set_value(16).run()
    assert not at.exception
    assert _metrics(at)["Spatial conv rates in the stage"] == "1, 2, 2, 2"

    at.sidebar.segmented_control(key="sb_os").set_value(32).run()
    assert not at.exception
    assert "no stage of voc-mobilenetv2 · OS 32 is dilated" in _text(at)
    assert not _metrics(at)


def test_architecture_only_model_is_named(app):
    at = _open(app, gr_view="In the model")
    at.sidebar.selectbox(key="sb_model").set_value("deeplabv3_resnet50:random").run()
    assert not at.exception
    assert "architecture only (random weights)" in _text(at)
    assert at.selectbox(key="gr_stage").value == "layer4"


def test_the_zoom_centre_follows_a_narrower_image(app):
    """A centre kept from a wide image moves inside a narrow one (not past the slider's end)."""
    import io

    import numpy as np
    from PIL import Image

    at = _open(app, gr_view="On your image")
    at.slider(key="gr_zx").set_value(at.slider(key="gr_zx").max).run()
    buf = io.BytesIO()
    Image.fromarray(np.full((640, 48, 3), 120, np.uint8)).save(buf, format="PNG")
    at.sidebar.file_uploader(key="sb_upload").upload("tall.png", buf.getvalue(), "image/png").run()
    assert not at.exception
    zx = at.slider(key="gr_zx")
    assert zx.max < 100 and zx.value == (zx.max + 1) // 2
    assert f"around x={zx.value}," in _text(at)
