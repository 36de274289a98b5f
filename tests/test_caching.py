"""The model runs once per image × model; a view change never runs it; caches are bounded.

Issue requirement: "A widget that only changes a view never re-runs the model (a test
counts forwards); a new image or model choice runs exactly one probe; caches have
size limits."
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import streamlit as st
from conftest import ROOT

import ui.aspp_cache
import ui.cache

ASPP = "pages/aspp_explorer.py"
HOME = "pages/home.py"
CACHE_DECORATORS = {"cache_data", "cache_resource"}


def _decorated(path: Path) -> list[tuple[str, ast.Call | ast.expr]]:
    """(function name, decorator) for every st.cache_data / st.cache_resource use in a file."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for dec in node.decorator_list:
            target = dec.func if isinstance(dec, ast.Call) else dec
            if isinstance(target, ast.Attribute) and target.attr in CACHE_DECORATORS:
                out.append((node.name, dec))
    return out


def _max_entries(func) -> int | None:
    """``max_entries`` of a Streamlit cached function (from its info, else from its source)."""
    info = getattr(func, "_info", None)
    if info is not None and hasattr(info, "max_entries"):
        return info.max_entries
    import inspect

    source = Path(inspect.getsourcefile(func.__wrapped__ if hasattr(func, "__wrapped__") else func))
    for name, dec in _decorated(source):
        if name == func.__name__ and isinstance(dec, ast.Call):
            for kw in dec.keywords:
                if kw.arg == "max_entries":
                    return ast.literal_eval(kw.value)
    return None


@pytest.mark.parametrize(
    "func",
    [
        ui.cache.base_model,
        ui.cache.model_for,
        ui.cache.model_or_fallback,
        ui.cache.sample_image,
        ui.cache.upload_image,
        ui.cache.probe,
        ui.aspp_cache.split,
        ui.aspp_cache.changed_when_off,
        ui.aspp_cache.ablation,
        ui.aspp_cache.branch_pictures,
        ui.aspp_cache.gradcam,
    ],
    ids=lambda f: getattr(f, "__name__", None) or f._info.func.__name__,
)
def test_app_caches_have_size_limits(func):
    limit = _max_entries(func)
    assert limit is not None and 1 <= limit <= 64


def test_every_cache_in_the_app_is_bounded():
    files = [ROOT / "app.py", *sorted((ROOT / "ui").glob("*.py")), *(ROOT / "pages").glob("*.py")]
    unbounded = []
    for path in files:
        for name, dec in _decorated(path):
            kws = {kw.arg for kw in dec.keywords} if isinstance(dec, ast.Call) else set()
            if "max_entries" not in kws:
                unbounded.append(f"{path.relative_to(ROOT)}:{name}")
    assert not unbounded, f"caches without max_entries: {unbounded}"


@pytest.mark.slow
def test_view_changes_never_run_the_model(app, monkeypatch):
    st.cache_resource.clear()
    st.cache_data.clear()
    calls: list[tuple[str, tuple[int, ...]]] = []
    real = ui.cache.run_probe

    def counting(model, rgb, **kwargs):
        calls.append((model.spec.label, rgb.shape))
        return real(model, rgb, **kwargs)

    monkeypatch.setattr(ui.cache, "run_probe", counting)

    def step(at, expected: int, what: str):
        before = len(calls)
        at.run()
        assert not at.exception, f"{what}: {at.exception}"
        assert len(calls) - before == expected, f"{what}: {calls[before:]}"
        return at

    app.query_params["sb_size"] = "257"  # a small working size keeps this test quick
    at = app.switch_page(ASPP)
    step(at, 1, "first run of the ASPP page")
    assert at.main.title[0].value == "ASPP explorer"

    # view-only widgets of the ASPP page
    at.radio(key="aspp_mode").set_value("PCA")
    step(at, 0, "map mode")
    at.slider(key="aspp_x").set_value(10)
    step(at, 0, "pixel slider")
    at.button_group(key="aspp_off").set_value(["1×1"])
    step(at, 0, "ablation")
    at.selectbox(key="aspp_class").set_value("background")
    step(at, 0, "Grad-CAM class")

    # another page, its view widget, and back
    step(at.switch_page(HOME), 0, "home page")
    at.radio(key="home_view").set_value("class map")
    step(at, 0, "home overlay / class map")
    step(at.switch_page(ASPP), 0, "back to the ASPP page")
    assert at.button_group(key="aspp_off").value == ["1×1"]  # the view survived

    # a new image: one probe; the first image again: none
    at.sidebar.selectbox(key="sb_sample").set_value("astronaut.png")
    step(at, 1, "new sample image")
    at.sidebar.selectbox(key="sb_sample").set_value("chelsea.png")
    step(at, 0, "first image again (cached)")

    # another model: one probe; the first model again: none
    at.sidebar.selectbox(key="sb_model").set_value("deeplabv3_mobilenet_v3_large:random")
    step(at, 1, "another model")
    assert "architecture only" in calls[-1][0]
    first = calls[0][0].split(" · ")[0]  # the model the ASPP page opened on
    at.sidebar.selectbox(key="sb_model").set_value(first)
    step(at, 0, "first model again (cached)")
    assert len(calls) == 3


def test_models_the_cache_evicts_are_freed():
    """ui.cache.LOADED (the About page's list) must not keep evicted models alive."""
    import gc

    from deeplab_viz.models import ModelSpec
    from ui import cache

    st.cache_resource.clear()  # nothing else (probes, fallbacks) holds a model now
    gc.collect()
    specs = [
        ModelSpec(name="shapes-deeplabv3", output_stride=s, aspp_rates=r, pretrained=p)
        for s in (8, 16, 32)
        for r in ("scale", "keep")
        for p in (True, False)
    ]  # 12 specs; model_for keeps at most 8
    for spec in specs:
        cache.model_for(spec)
    gc.collect()
    assert 0 < len(cache.LOADED) <= 8
    assert specs[-1] in cache.LOADED  # the newest is still held
    st.cache_resource.clear()
    gc.collect()
    assert len(cache.LOADED) == 0
