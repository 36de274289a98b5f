"""AppTest of the ASPP explorer on the offline model and on a random-weights torchvision model."""

from __future__ import annotations

import pytest
from conftest import chart_texts, open_page

from ui.aspp_view import TABS  # the page's own tab labels, kept in one place

pytestmark = pytest.mark.slow

PAGE = "pages/aspp_explorer.py"
RESNET = "deeplabv3_resnet50:random"


def _open(app, **params):
    return open_page(app, PAGE, **params)


def _visit(at, tab: int):
    """Open tab ``tab`` (1-5; bound to the link, switched through session state as a click does)."""
    at.session_state["aspp_tab"] = TABS[tab - 1]
    at.run()
    assert not at.exception, at.exception
    return at


def _table(at):
    """The per-branch table as {branch: row}."""
    frames = [d.value for d in at.main.dataframe if "signed share" in d.value.columns]
    assert len(frames) == 1
    return {row["branch"]: row for row in frames[0].to_dict("records")}


def _pct(text: str) -> float:
    return float(text.replace("%", "").strip()) / 100


def _text(at) -> str:
    parts = [e.value for e in (*at.main.info, *at.main.markdown, *at.main.caption)]
    return " ".join(parts)


_charts = chart_texts  # every chart's words (tests/conftest.py)


def _changed(at) -> str:
    return next(m.value for m in at.main.metric if m.label == "Pixels that changed class")


def test_the_page_opens_on_the_five_branch_real_photo_model(app):
    """Unless the user picked a model, the ASPP explorer runs voc-mobilenetv2-aspp at OS 16."""
    from deeplab_viz.models.registry import REAL_PHOTO_MODEL, REGISTRY

    if REAL_PHOTO_MODEL not in REGISTRY:
        pytest.skip(f"{REAL_PHOTO_MODEL} is not in deeplab_viz/assets/models")
    at = _open(app, sb_size="257")
    assert at.sidebar.selectbox(key="sb_model").value == REAL_PHOTO_MODEL
    assert at.sidebar.segmented_control(key="sb_os").value == 16
    _visit(at, 3)
    assert list(_table(at)) == ["1×1", "rate 6", "rate 12", "rate 18", "image pooling", "bias"]
    _visit(at, 4)
    assert "What each branch is worth on real labels" in [h.value for h in at.main.subheader]
    # the model is now in the link, so it carries on to the other pages
    at.switch_page("pages/home.py").run()
    assert at.sidebar.selectbox(key="sb_model").value == REAL_PHOTO_MODEL
    # a model the user picks wins everywhere, the ASPP explorer included
    at.sidebar.selectbox(key="sb_model").set_value("deeplabv3_mobilenet_v3_large:random").run()
    at.switch_page(PAGE).run()
    assert not at.exception
    assert at.sidebar.selectbox(key="sb_model").value == "deeplabv3_mobilenet_v3_large:random"


def test_offline_model_has_two_branches_and_says_so(app):
    at = _open(app, sb_model="voc-mobilenetv2")
    info = " ".join(i.value for i in at.main.info)
    assert "voc-mobilenetv2 · OS 8" in info
    assert "only **2 ASPP branches**" in info and "no atrous branches" in info
    assert "rates 2 and 4" in info  # the atrous convolutions sit in the backbone
    charts = _charts(at)  # tab 1: the footprints
    _visit(at, 3)
    table = _table(at)
    assert list(table) == ["image pooling", "1×1", "bias"]
    total = sum(_pct(r["signed share"]) for r in table.values())
    assert total == pytest.approx(1.0, abs=2e-3)  # shares + bias, rounded to 0.1 %
    assert sum(_pct(table[n]["magnitude share"]) for n in ("image pooling", "1×1")) == (
        pytest.approx(1.0, abs=2e-3)
    )
    assert at.button_group(key="aspp_off").options == ["image pooling", "1×1"]
    charts += _charts(_visit(at, 5))
    assert "Taps of every branch" in charts and "Grad-CAM of" in charts
    assert "image pooling: the whole image" in charts
    assert at.selectbox(key="aspp_class").value == "cat"  # the largest non-background class
    assert _changed(_visit(at, 4)) == "0.0%"


def test_resnet_architecture_has_five_branches(app):
    at = _open(app, sb_size="257")
    at.sidebar.selectbox(key="sb_model").set_value(RESNET).run()
    assert not at.exception
    info = " ".join(i.value for i in at.main.info)
    assert "architecture only (random weights)" in info and "**5 branches**" in info
    table = _table(_visit(at, 3))
    assert list(table) == ["1×1", "rate 12", "rate 24", "rate 36", "image pooling", "bias"]
    assert table["rate 12"]["taps apart"] == "96 px"  # rate × output stride 8
    assert at.button_group(key="aspp_off").options == list(table)[:-1]
    # a pixel in the corner: the big rates lose their taps to the padding
    _visit(at, 1)
    at.slider(key="aspp_x").set_value(0)
    at.slider(key="aspp_y").set_value(0).run()
    assert not at.exception
    text = _text(at)
    assert "**rate 36**" in text and "here this branch is a 1×1" in text
    assert "rate 36: 1 of 9 taps on the image" in _charts(at)
    # Grad-CAM through ResNet's ASPP waits for a click on a CPU
    _visit(at, 5)
    assert "Grad-CAM of" not in _charts(at)
    at.button(key="aspp_cam_go").click().run()
    assert not at.exception
    charts = _charts(at)
    assert "Grad-CAM of" in charts and "rate 24 · peak" in charts
    # a branch switched off that the next model does not have is dropped, not an error
    _visit(at, 4)
    at.button_group(key="aspp_off").set_value(["rate 24"]).run()
    assert _changed(at) != "0.0%"
    at.sidebar.selectbox(key="sb_model").set_value("voc-mobilenetv2").run()
    assert not at.exception
    assert at.button_group(key="aspp_off").value == []
    assert list(_table(_visit(at, 3))) == ["image pooling", "1×1", "bias"]


def test_switching_branches_off_changes_pixels(app):
    at = _open(app, sb_model="voc-mobilenetv2")  # two branches: both off leaves one class
    table = _table(_visit(at, 3))
    _visit(at, 4)
    at.button_group(key="aspp_off").set_value(["1×1"]).run()
    assert not at.exception
    changed = _changed(at)
    assert changed != "0.0%"
    # the same number as the table's "changed when off" for that branch alone
    assert _pct(changed) == pytest.approx(_pct(table["1×1"]["changed when off"]), abs=1e-3)
    rows = {
        r["class"]: r
        for d in at.main.dataframe
        if "before %" in d.value.columns
        for r in d.value.to_dict("records")
    }
    assert rows["cat"]["after %"] < rows["cat"]["before %"]
    captions = [c for img in at.main.image for c in img.captions]
    assert "Without 1×1" in captions and "Pixels whose class changed (magenta)" in captions
    # every branch off: one class for the whole image
    at.button_group(key="aspp_off").set_value(["image pooling", "1×1"]).run()
    assert "one class" in _text(at)


def test_view_changes_render(app):
    at = _visit(_open(app), 2)
    for mode in ("top-3 channels", "PCA", "channel mean"):
        at.radio(key="aspp_mode").set_value(mode).run()
        assert not at.exception
        assert "What each branch sees" in " ".join(h.value for h in at.main.header)
    _visit(at, 5)
    at.selectbox(key="aspp_class").set_value("background").run()
    assert not at.exception
    assert "Grad-CAM of “background”" in _charts(at)


def test_query_params_reproduce_the_view(app):
    at = _open(
        app,
        aspp_mode="PCA",
        aspp_x="40",
        aspp_y="30",
        aspp_off="image pooling",
        aspp_class="background",
    )
    assert at.radio(key="aspp_mode").value == "PCA"
    assert at.slider(key="aspp_x").value == 40 and at.slider(key="aspp_y").value == 30
    assert at.button_group(key="aspp_off").value == ["image pooling"]
    assert at.selectbox(key="aspp_class").value == "background"
    assert "Taps of every branch around (40, 30)" in _charts(at)
    assert _changed(_visit(at, 4)) != "0.0%"
    # the settings of the closed tabs stayed in the link
    assert at.slider(key="aspp_x").value == 40 and at.radio(key="aspp_mode").value == "PCA"
    assert (at.query_params["aspp_x"], at.query_params["aspp_mode"]) == ("40", "PCA")
    # and the open tab comes with it
    at = _open(app, aspp_tab=TABS[4], aspp_class="background")
    assert [h.value for h in at.main.header] == ["5 · Which branch speaks for a class"]
    assert "Grad-CAM of “background”" in _charts(at)
