"""AppTest of the Receptive fields page, through the whole app, on the real offline model."""

from __future__ import annotations

import pytest
from conftest import open_page

from deeplab_viz import receptive_field as R

pytestmark = pytest.mark.slow

PAGE = "pages/receptive_fields.py"


TABS = ["1 · Layer arithmetic", "2 · RFs in the model", "3 · Effective RF"]


def _open(app):
    return open_page(app, PAGE)


def _visit(at, tab: str):
    """Open ``tab`` (bound to the link; switched through session state, as a click does)."""
    at.session_state["rf_tab"] = tab
    at.run()
    assert not at.exception, at.exception
    return at


def _metrics(at) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for m in at.main.metric:
        out.setdefault(m.label, []).append(m.value)
    return out


def _table(at, column: str):
    """The (read-only) table that has ``column``; st.dataframe keys are not kept."""
    for df in at.main.dataframe:
        value = df.value
        if column in value.columns:
            return value
    raise KeyError(column)


def _edit(at, **state):
    at.session_state["rf_table"] = {
        "edited_rows": state.get("edited_rows", {}),
        "added_rows": state.get("added_rows", []),
        "deleted_rows": state.get("deleted_rows", []),
    }
    return at.run()


def test_one_tab_runs_at_a_time(app):
    at = _open(app)
    assert [h.value for h in at.main.header] == ["1 · The arithmetic of a stack of layers"]
    assert "RF of the top unit" in _metrics(at) and "50% of the gradient" not in _metrics(at)
    _visit(at, TABS[2])
    assert "RF of the top unit" not in _metrics(at) and "50% of the gradient" in _metrics(at)
    # every tab's widgets stay on the page (and in the link), open or not
    assert at.selectbox(key="rf_preset").value == "MobileNetV2 (DeepLab, OS 8)"
    assert len(at.data_editor(key="rf_table").value) == 18
    assert at.multiselect(key="rf_boxes").value
    # the picked pixel, above the tabs, is for tabs 2 and 3
    assert not at.slider(key="rf_x").disabled
    _visit(at, TABS[0])
    assert at.slider(key="rf_x").disabled and at.slider(key="rf_y").disabled


def test_the_open_tab_comes_with_the_link(app):
    app.query_params["rf_tab"] = TABS[2]
    app.query_params["rf_x"] = "100"
    app.query_params["rf_target"] = "stem"
    app.query_params["rf_compare"] = "false"
    at = _open(app)
    assert not at.main.error
    assert [h.value for h in at.main.header] == ["3 · The effective receptive field"]
    assert at.slider(key="rf_x").value == 100
    assert "map of stem; theoretical RF 7 px" in " ".join(c.value for c in at.main.caption)


def test_page_renders_preset_model_table_and_erf(app):
    at = _open(app)
    assert not at.main.error
    assert at.title[0].value == "Receptive fields"
    text = " ".join(m.value for m in at.main.markdown)
    charts = len(at.main.get("plotly_chart"))
    # 1. the default preset (the offline model's backbone) and its numbers
    assert at.selectbox(key="rf_preset").value == "MobileNetV2 (DeepLab, OS 8)"
    assert len(at.data_editor(key="rf_table").value) == 18
    metrics = _metrics(at)
    assert metrics["RF of the top unit"] == ["491 px"] and metrics["jump"] == ["8 px"]
    result = _table(at, "RF size")
    assert list(result["RF size"])[:4] == [3, 7, 11, 19] and list(result["RF size"])[-1] == 491
    # 2. the active model: stages, ASPP branches, logits
    _visit(at, TABS[1])
    charts += len(at.main.get("plotly_chart"))
    model_table = _table(at, "RF (px)")
    assert list(model_table["part"]) == [
        "stem",
        "stage2",
        "stage3",
        "stage4",
        "stage5",
        "ASPP image pooling",
        "ASPP 1×1",
        "logits",
    ]
    assert list(model_table["RF (px)"]) == [
        "7",
        "19",
        "59",
        "267",
        "491",
        "global",
        "491",
        "global",
    ]
    assert "Inside voc-mobilenetv2 · OS 8" in " ".join(h.value for h in at.main.header)
    # 3. the ERF: trained and random weights, 20/50/95 % squares with ratios
    _visit(at, TABS[2])
    text += " " + " ".join(m.value for m in at.main.markdown)
    charts += len(at.main.get("plotly_chart"))
    assert "Luo et al." in text and "Araujo et al." in text
    metrics = _metrics(at)
    assert metrics["50% of the gradient"][0].endswith(" px")
    assert len(metrics["50% of the gradient"]) == 2  # trained and random
    assert all(m.delta.endswith("× RF") for m in at.main.metric if "gradient" in m.label)
    captions = " ".join(c.value for c in at.main.caption)
    assert "theoretical RF global (491 px without image pooling)" in captions
    assert charts >= 5


def test_choosing_a_preset_updates_the_result(app):
    at = _open(app)
    at.selectbox(key="rf_preset").set_value("ResNet-50 @ OS 32").run()
    assert not at.exception
    metrics = _metrics(at)
    assert metrics["RF of the top unit"] == ["427 px"] and metrics["jump"] == ["32 px"]
    assert len(at.data_editor(key="rf_table").value) == 50
    at.selectbox(key="rf_preset").set_value("ResNet-50 @ OS 16 + ASPP rate 18 branch").run()
    metrics = _metrics(at)
    assert metrics["RF of the top unit"] == ["1003 px"] and metrics["jump"] == ["16 px"]
    assert "rf_layers" not in at.query_params  # a preset needs no layer list in the link


def test_editing_the_table_updates_the_result_and_the_link(app):
    at = _open(app)
    at.selectbox(key="rf_preset").set_value("VGG block (3×conv3 + pool)").run()
    assert _metrics(at)["RF of the top unit"] == ["8 px"]
    # conv2 at rate 2, and a 3×3 stride-2 layer added at the end
    _edit(
        at,
        edited_rows={1: {"dilation": 2}},
        added_rows=[{"layer": "extra", "kernel": 3, "stride": 2}],
    )
    assert not at.exception and not at.main.error
    expected = R.rf_table(R.parse_layers("3;3,1,2;3;2,2;3,2"))[-1]
    metrics = _metrics(at)
    assert metrics["RF of the top unit"] == [f"{expected.size} px"] == ["14 px"]
    assert metrics["jump"] == ["4 px"]
    assert at.query_params["rf_layers"] == "3,1,1;3,1,2;3,1,1;2,2,1;3,2,1"


def test_a_bad_row_gives_one_sentence(app):
    at = _open(app)
    _edit(at, edited_rows={2: {"kernel": 0}})
    assert not at.exception
    errors = [e.value for e in at.main.error]
    assert errors == ["Row 3: kernel must be a whole number from 1 to 1000 (got 0)."]
    assert "RF of the top unit" not in _metrics(at)
    # the rest of the page still works
    _visit(at, TABS[1])
    assert not at.exception and _table(at, "RF (px)") is not None
    _visit(at, TABS[0])
    assert errors == [e.value for e in at.main.error]  # the edit is still in the table
    _edit(at, edited_rows={2: {"kernel": None, "stride": 2}})
    assert [e.value for e in at.main.error] == ["Row 3: the kernel size is missing."]
    _edit(at)  # edits undone: back to the preset
    assert not at.main.error and _metrics(at)["RF of the top unit"] == ["491 px"]


def _link_notice(at) -> str:
    return " ".join(w.value for w in at.main.warning if w.value.startswith("The link's"))


@pytest.mark.parametrize(
    "layers,words",
    [
        ("3,1,1;3,x", "has a field that is not an integer"),
        ("3,1,99999999999999999999", "at most 7 digits"),  # int64 overflow in the table
        ("3," + "9" * 3990, "at most 7 digits"),
        (";".join(["3"] * 200), "At most 100 layers"),
        (";".join(["3,1000"] * 110), "At most 100 layers"),
        (";".join(["3,1000"] * 4), "would pass 1,000,000,000 px"),
    ],
)
def test_bad_layers_in_the_link_open_the_preset_with_one_notice(app, layers, words):
    app.query_params["rf_layers"] = layers
    at = _open(app)
    assert not at.main.error
    notice = _link_notice(at)
    assert notice.startswith(
        "The link's value for “Layer list” was not valid; showing the default."
    )
    assert words in notice and "\n" not in notice
    assert _metrics(at)["RF of the top unit"] == ["491 px"]  # the preset instead
    assert "rf_layers" not in at.query_params  # dropped from the link: it cannot come back


def test_an_error_does_not_stick_to_later_runs(app):
    """A bad link, then Home and back, then another stride: no error and no notice again."""
    app.query_params["rf_layers"] = "3,1,99999999999999999999"
    at = _open(app)
    assert "was not valid" in _link_notice(at)
    at.switch_page("pages/home.py").run()
    assert not at.exception
    at.switch_page(PAGE).run()
    assert not at.exception and not at.main.error and not _link_notice(at)
    assert _metrics(at)["RF of the top unit"] == ["491 px"]
    at.sidebar.segmented_control(key="sb_os").set_value(16).run()
    assert not at.exception and not at.main.error and not _link_notice(at)
    # a bad edit shows its error while it is in the table, and not after
    _edit(at, edited_rows={0: {"stride": 1000}, 1: {"stride": 1000}, 2: {"stride": 1000}})
    errors = [e.value for e in at.main.error]
    assert len(errors) == 1 and "would pass 1,000,000,000 px" in errors[0]
    at.switch_page("pages/home.py").run()
    at.switch_page(PAGE).run()
    assert not at.exception and not at.main.error
    assert _metrics(at)["RF of the top unit"] == ["491 px"]


def test_a_markdown_link_in_the_layer_list_is_not_rendered(app):
    app.query_params["rf_layers"] = "[Session expired - sign in again](https://evil.example/login)"
    at = _open(app)
    notice = _link_notice(at)
    assert "was not valid" in notice
    assert "](https://" not in notice and "\\[Session expired" in notice  # escaped


def test_query_params_reproduce_the_view(app):
    app.query_params["rf_preset"] = "ResNet-50 @ OS 8"
    app.query_params["rf_layers"] = "7,2;3,2;3,1,2"
    app.query_params["rf_x"] = "100"
    app.query_params["rf_y"] = "50"
    app.query_params["rf_boxes"] = ["stage3", "stage5"]
    app.query_params["rf_target"] = "stage3"
    app.query_params["rf_inputs"] = "random inputs (averaged)"
    app.query_params["rf_n"] = "2"
    app.query_params["rf_scale"] = "log"
    app.query_params["rf_compare"] = "false"
    at = _open(app)
    assert not at.main.error
    assert at.selectbox(key="rf_preset").value == "ResNet-50 @ OS 8"
    assert _metrics(at)["RF of the top unit"] == [f"{7 + 2 * 2 + 2 * 2 * 4} px"]  # 19
    assert (at.slider(key="rf_x").value, at.slider(key="rf_y").value) == (100, 50)
    assert at.multiselect(key="rf_boxes").value == ["stage:stage3", "stage:stage5"]
    assert at.selectbox(key="rf_target").value == "stage:stage3"
    assert at.radio(key="rf_inputs").value == "noise" and at.slider(key="rf_n").value == 2
    assert at.radio(key="rf_scale").value == "log"
    assert at.toggle(key="rf_compare").value is False
    _visit(at, TABS[2])
    # tab 1's and tab 2's settings stay in the link while tab 3 is open
    assert at.query_params["rf_preset"] == "ResNet-50 @ OS 8"
    assert at.query_params["rf_layers"] == "7,2,1;3,2,1;3,1,2"
    assert at.query_params["rf_boxes"] == ["stage3", "stage5"]
    # averaging over random inputs is over the 1 s budget: it waits for a click
    assert "50% of the gradient" not in _metrics(at)
    assert any("random inputs takes 2 gradients" in i.value for i in at.main.info)
    at.button(key="rf_erf_go").click().run()
    assert not at.exception
    metrics = _metrics(at)
    assert len(metrics["50% of the gradient"]) == 1  # trained only
    captions = " ".join(c.value for c in at.main.caption)
    assert "map of stage3; theoretical RF 59 px, jump 8 px" in captions
    assert "Averaged over random inputs" in captions


def test_architecture_only_model_and_the_heavy_model_button(app):
    at = _open(app)
    at.sidebar.selectbox(key="sb_model").set_value("deeplabv3_mobilenet_v3_large:random").run()
    assert not at.exception
    _visit(at, TABS[1])
    assert "architecture only (random weights)" in " ".join(h.value for h in at.main.header)
    assert "squeeze-and-excitation" in " ".join(c.value for c in at.main.caption)
    _visit(at, TABS[2])
    assert any("no trained ERF" in i.value for i in at.main.info)
    assert len(_metrics(at)["50% of the gradient"]) == 1
    at.sidebar.selectbox(key="sb_model").set_value("deeplabv3_resnet50:random").run()
    assert not at.exception
    _visit(at, TABS[1])
    model_table = _table(at, "RF (px)")
    assert list(model_table["RF (px)"])[4] == "427"
    assert "ASPP rate 36" in list(model_table["part"])
    # ResNet on a CPU: the ERF waits for a click (tens of seconds per backward pass)
    _visit(at, TABS[2])
    assert at.button(key="rf_erf_go") is not None
    assert "50% of the gradient" not in _metrics(at)


def test_picked_pixel_follows_a_smaller_image(app):
    app.query_params["rf_target"] = "stem"  # a cheap ERF: this test is about the sliders
    app.query_params["rf_compare"] = "false"
    at = _visit(_open(app), TABS[1])
    at.sidebar.selectbox(key="sb_sample").set_value("coffee.png").run()  # 600×400
    at.slider(key="rf_x").set_value(590).run()
    assert not at.exception
    at.sidebar.selectbox(key="sb_sample").set_value("chelsea.png").run()  # 451×300
    assert not at.exception
    assert at.slider(key="rf_x").value <= 450


def test_a_pixel_step_inside_one_unit_computes_no_gradient(app, monkeypatch):
    """The ERF cache is keyed by the feature-map unit, not the image pixel."""
    from deeplab_viz import erf as E

    calls = []
    real = E.image_erf

    def counting(*args, **kwargs):
        calls.append(kwargs.get("unit_yx"))
        return real(*args, **kwargs)

    monkeypatch.setattr(E, "image_erf", counting)
    import streamlit as st

    st.cache_data.clear()  # earlier tests in this process computed the default pixel's ERF
    at = _visit(_open(app), TABS[2])
    assert not at.exception
    first = len(calls)
    assert first >= 1  # trained (and random-weight) ERF of the default pixel
    x = at.slider(key="rf_x").value
    # logits of the default model: jump 8 model-input pixels ≈ 7.8 image pixels here;
    # find a neighbour in the same unit, then one in the next
    from deeplab_viz.models import ModelSpec, build_model

    model = build_model(ModelSpec(), fast=False)  # the page's default model
    image_hw = (at.slider(key="rf_y").max + 1, at.slider(key="rf_x").max + 1)
    y = at.slider(key="rf_y").value

    def unit(px):
        return E.erf_unit(model, image_hw, size=513, target="logits", pixel_yx=(y, px))

    same = next(px for px in (x + 1, x - 1) if unit(px) == unit(x))
    at.slider(key="rf_x").set_value(same).run()
    assert not at.exception and len(calls) == first
    other = next(px for px in range(x + 1, x + 20) if unit(px) != unit(x))
    at.slider(key="rf_x").set_value(other).run()
    assert not at.exception and len(calls) > first
