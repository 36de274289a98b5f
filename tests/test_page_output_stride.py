"""AppTest of the Output stride page, through the whole app, on the real offline model."""

from __future__ import annotations

import re

import pytest
from conftest import open_page

pytestmark = pytest.mark.slow

PAGE = "pages/output_stride.py"


def _open(app, **params):
    # the smallest working size keeps three forwards short
    return open_page(app, PAGE, **{"sb_size": "257", **params})


def _metrics(at) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for m in at.main.metric:
        out.setdefault(m.label, []).append(m.value)
    return out


def _stride_table(at):
    """The per-stride cost table (the page also shows the VOC table of the test-time extras)."""
    return next(d.value for d in at.main.dataframe if "ASPP input (W×H)" in d.value.columns)


def _captions(at) -> str:
    return " ".join(c for img in at.main.get("image") for c in img.captions)


def _text(at) -> str:
    parts = [m.value for m in at.main.markdown] + [c.value for c in at.main.caption]
    return " ".join(parts)


def test_three_strides_with_feature_sizes_and_agreement(app):
    at = _open(app)
    assert at.title[0].value == "Output stride"
    text = _text(at)
    for s in (8, 16, 32):
        assert f"### OS {s}" in text
        assert f"voc-mobilenetv2 · OS {s}" in _captions(at)
    metrics = _metrics(at)
    sizes = [
        tuple(map(int, re.fullmatch(r"(\d+)×(\d+)", v).groups())) for v in metrics["ASPP input"]
    ]
    assert len(sizes) == 3
    assert sizes[0][0] * sizes[0][1] > sizes[1][0] * sizes[1][1] > sizes[2][0] * sizes[2][1]
    agree = metrics["Same as OS 8"]
    assert agree[0] == "100.0%" and all(re.fullmatch(r"\d+\.\d%", v) for v in agree)
    table = _stride_table(at)
    assert list(table["OS"]) == [8, 16, 32]
    assert list(table["ASPP input (W×H)"]) == [f"{w}×{h}" for w, h in sizes]
    assert sizes[0][0] > sizes[0][1]  # W×H: the sample cat is a landscape photo
    assert list(table["max dilation"]) == [4, 2, 1]
    assert table["same as OS 8"][0] == "100.0%"
    assert table["GFLOPs"][0] > table["GFLOPs"][1] > table["GFLOPs"][2] > 0
    assert "2 per multiply-add" in text
    assert "Output stride** (OS) = input size ÷ feature-map size" in text
    assert "no atrous branches" in " ".join(i.value for i in at.main.info)
    charts = at.main.get("plotly_chart")
    assert len(charts) == 3 and charts[0].key == "os_where_fig"  # the zoom's clickable "where"


def test_view_widgets_never_rerun_the_model(app, monkeypatch):
    at = _open(app)
    import ui.cache

    calls = []
    real = ui.cache.run_probe
    monkeypatch.setattr(ui.cache, "run_probe", lambda *a, **k: calls.append(1) or real(*a, **k))
    at.slider(key="os_swipe_x").set_value(20).run()
    at.segmented_control(key="os_swipe_a").set_value(16).run()
    at.slider(key="os_zoom_x").set_value(70).run()
    at.slider(key="os_zoom_size").set_value(32).run()
    at.segmented_control(key="os_show").set_value("class map").run()
    assert not at.exception
    at.button(key="os_zoom_find").click().run()
    assert not at.exception
    assert at.slider(key="os_zoom_x").value != 70 or at.slider(key="os_zoom_y").value != 50
    assert calls == []
    assert "% of the crop as OS 8" in _captions(at)


def test_query_params_reproduce_the_view(app):
    at = _open(
        app,
        os_swipe_x="30",
        os_swipe_a="16",
        os_swipe_b="8",
        os_zoom_x="20",
        os_zoom_size="96",
        os_show="class map",
    )
    assert at.slider(key="os_swipe_x").value == 30
    assert at.segmented_control(key="os_swipe_a").value == 16
    assert at.segmented_control(key="os_swipe_b").value == 8
    assert at.slider(key="os_zoom_x").value == 20
    assert at.slider(key="os_zoom_size").value == 96
    assert at.segmented_control(key="os_show").value == "class map"
    assert "OS 16 left of the line, OS 8 right of it" in _captions(at)


def test_measuring_fills_time_and_memory(app):
    at = _open(app)
    assert not any(c.startswith("peak") for c in _stride_table(at).columns)
    at.button(key="os_measure").click().run()
    assert not at.exception
    table = _stride_table(at)
    peaks = [c for c in table.columns if c.startswith("peak, ")]
    assert peaks and all((table[c] >= 0).all() for c in peaks)
    assert "RSS growth" in _text(at) or "max_memory_allocated" in _text(at)
    if "peak, torch allocations (MB)" in table.columns:  # CPU: the allocator's figure too
        assert (table["peak, torch allocations (MB)"] > 0).all()
    assert "times the peak at OS 32" in _text(at)
    # the strides are timed interleaved, and ranked only where the middle halves are apart
    text = _text(at)
    assert "the strides interleaved" in " ".join(c.value for c in at.main.caption)
    verdicts = text.split("**Time, measured here**", 1)[1]
    for a, b in (("OS 8", "OS 16"), ("OS 16", "OS 32"), ("OS 8", "OS 32")):
        assert (f"{a} and {b}: no measurable difference" in verdicts) or (
            f"faster than {a}" in verdicts or f"faster than {b}" in verdicts
        )


def test_random_torchvision_model_shows_its_rates(app):
    at = _open(app)
    at.sidebar.selectbox(key="sb_model").set_value("deeplabv3_mobilenet_v3_large:random").run()
    at.sidebar.radio(key="sb_rates").set_value("keep").run()
    assert not at.exception
    text = _text(at)
    assert "architecture only (random weights)" in _captions(at)
    assert "Rate 36 at OS 32" in text
    assert not at.main.info
