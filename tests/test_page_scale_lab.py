"""AppTest of the scale lab: ShapesWorld scenes, IoU per size, RF vs object, reference table.

The page runs on the shipped ShapesWorld models when ``deeplab_viz/assets/models`` has them;
otherwise the ``shapes_models`` fixture registers seeded random-weight models and a
made-up metrics file for the test (the page's wiring is the same, the numbers are not).
"""

from __future__ import annotations

import json

import pytest
from conftest import chart_texts, open_page

pytestmark = pytest.mark.slow

PAGE = "pages/scale_lab.py"
NAMES = {
    "shapes-deeplabv3": ("v3", "shapes_deeplabv3"),
    "shapes-deeplabv3plus": ("v3plus", "shapes_deeplabv3plus"),
}


def _fake_metrics() -> dict:
    tiny = {8: 0.6, 16: 0.4, 32: 0.1}
    results = []
    for model in NAMES:
        for os_ in (8, 16, 32):
            for i, d in [(None, None), (0, "1×1"), (4, "image pooling")]:
                results.append(
                    {
                        "model": model,
                        "output_stride": os_,
                        "dropped": d,
                        "dropped_index": i,
                        "miou": 0.7,
                        "boundary_f": 0.5 if model.endswith("plus") else 0.4,
                        "iou_by_size": {
                            "tiny": tiny[os_],
                            "small": 0.7,
                            "medium": 0.8,
                            "large": 0.9,
                        },
                    }
                )
    return {"heldout_seeds": [1_000_000, 1_000_200], "scene_size": 160, "results": results}


def install_fake_shapes(folder, monkeypatch) -> None:
    """Seeded random-weight ShapesWorld models + a metrics file, registered for one test."""
    import torch

    from deeplab_viz import eval_shapes as ES
    from deeplab_viz.models import registry as R
    from deeplab_viz.models.shapes import build_shapes_model

    for name, (arch, stem) in NAMES.items():
        model = build_shapes_model(arch, seed=1)
        torch.save(model.state_dict(), folder / f"{stem}.pt")
        meta = {
            "title": f"{name} (random weights, test)",
            "class_names": ["background", "disc", "square", "triangle", "ring"],
            "architecture": {
                "arch": arch,
                "family": "shapes_resnet",
                "output_stride": 16,
                "aspp_rates": [2, 4, 6],
                "align_corners": False,
            },
            "input": {"size": 160, "mean": [127.5] * 3, "std": [64.0] * 3},
            "license": "test",
        }
        (folder / f"{stem}.json").write_text(json.dumps(meta))
    monkeypatch.setattr(R, "LOCAL_DIR", folder)
    for name, (_, stem) in NAMES.items():
        monkeypatch.setitem(R.REGISTRY, name, R._local_entry(name, stem))
    (folder / "shapes_metrics.json").write_text(json.dumps(_fake_metrics()))
    monkeypatch.setattr(ES, "METRICS_FILE", folder / "shapes_metrics.json")


@pytest.fixture
def shapes_models(tmp_path, monkeypatch):
    """The shipped models when present, else seeded random ones (see module doc)."""
    import streamlit as st

    from deeplab_viz import eval_shapes as ES
    from deeplab_viz.models import REGISTRY

    real = all(n in REGISTRY for n in NAMES) and ES.METRICS_FILE.exists()
    if not real:
        install_fake_shapes(tmp_path, monkeypatch)
        st.cache_resource.clear()
        st.cache_data.clear()
    yield real
    if not real:
        st.cache_resource.clear()
        st.cache_data.clear()


@pytest.fixture
def no_shapes(monkeypatch):
    from deeplab_viz.models import REGISTRY

    for name in NAMES:
        monkeypatch.delitem(REGISTRY, name, raising=False)


def _open(app, **params):
    return open_page(app, PAGE, **params)


def _frame(at, key_column: str, first: str | None = None):
    frames = [d.value for d in at.main.dataframe if key_column in d.value.columns]
    assert frames, f"no table with a {key_column!r} column"
    return frames[0] if first is None else next(f for f in frames if f.iloc[0, 0] == first)


def _text(at) -> str:
    return " ".join(e.value for e in (*at.main.info, *at.main.markdown, *at.main.caption))


_charts = chart_texts  # every chart's words (tests/conftest.py)


def test_page_shows_prediction_scores_rf_and_reference(app, shapes_models):
    at = _open(app)
    scene = _frame(at, "boundary F")
    configs = list(scene["configuration"])
    from deeplab_viz.models import REGISTRY

    trained = REGISTRY["shapes-deeplabv3"].native_stride  # branches are dropped there
    rates = [r for r in REGISTRY["shapes-deeplabv3"].trained_rates]
    assert [c for c in configs if "−" not in c] == ["OS 8", "OS 16", "OS 32"]
    assert f"OS {trained} − image pooling" in configs
    assert f"OS {trained} − rate {rates[-1]}" in configs
    assert len(configs) == 3 + 5
    charts = _charts(at)
    for title in ("ground truth", "prediction, OS 8", "prediction, OS 32", "disc", "ring"):
        assert title in charts
    assert "Receptive fields around" in charts and "ERF 95 %: " in charts
    rf = _frame(at, "reaches outline")
    assert list(rf["field"])[:3] == ["layer2", "layer3", "ASPP input (layer4)"]
    assert list(rf["side"])[:3] == ["39 px", "151 px", "375 px"]
    text = _text(at)
    assert "Its outline is" in text  # the default pixel is inside the largest object
    ref = _frame(at, "boundary F", first="OS 8")
    assert len(ref) >= 4
    assert "Held-out IoU at OS 8 → 16 → 32" in text and "**large (≥ 80 px)**: " in text
    if shapes_models:  # the shipped table: 1×1 for small objects, an atrous rate for large
        assert "Small objects lose the most without **1×1**" in text
        assert "of the atrous branches, the most without **rate" in text
    if not shapes_models:
        assert "**tiny (< 12 px)**: **0.60** → **0.40** → **0.10**" in text
        assert "tiny **25%**" in text and "Large objects keep the most" in text


def test_widgets_update_the_view(app, shapes_models):
    at = _open(app)
    # only tiny objects: the other buckets have nothing to score
    at.slider(key="sl_sizes").set_value((6, 11)).run()
    assert not at.exception
    scene = _frame(at, "boundary F")
    assert all(v != "—" for v in scene["tiny (< 12 px)"])
    assert all(v == "—" for v in scene["large (≥ 80 px)"])
    # a picked pixel in the corner of an all-tiny scene is background
    at.slider(key="sl_px").set_value(0)
    at.slider(key="sl_py").set_value(0).run()
    assert "Receptive fields around (0, 0)" in _charts(at)
    at.button(key="sl_jump").click().run()
    assert "Receptive fields around (0, 0)" not in _charts(at)
    # the held-out batch waits for a click
    assert "24 held-out scenes: IoU per size, OS 8/16/32" not in _charts(at)
    at.button(key="sl_batch_go").click().run()
    assert not at.exception
    assert "24 held-out scenes: IoU per size, OS 8/16/32" in _charts(at)
    at.radio(key="sl_model").set_value("shapes-deeplabv3plus").run()
    assert not at.exception
    assert "shapes-deeplabv3plus: held-out IoU by size" in _charts(at)
    # a crowded request: objects that would hide another's outline are left out, and said so
    assert "were left out" not in _text(at)
    at.slider(key="sl_sizes").set_value((140, 200))
    at.slider(key="sl_count").set_value(8).run()
    assert not at.exception
    assert "of the 8 objects asked for were left out" in _text(at)


def test_depth_profile_waits_for_a_click_then_says_which_branch_deep_pixels_need(
    app, shapes_models
):
    at = _open(app)
    assert "large objects, by depth" not in _charts(at)
    at.button(key="sl_depth_go").click().run()
    assert not at.exception
    assert not [b for b in at.main.button if b.key == "sl_depth_go"]  # done: the button goes
    charts = _charts(at)
    assert "large objects, by depth" in charts and "distance to the object's outline" in charts
    assert "all branches" in charts and "− image pooling" in charts
    text = _text(at)
    assert "On the outline (1–3 px), switching off" in text and "Pixels per bin:" in text
    if shapes_models:  # the shipped v3: 1×1 on the outline, an atrous rate deep inside
        assert "switching off **1×1** costs the most" in text
        assert "px or more from the outline), **rate" in text


def test_query_params_reproduce_the_view(app, shapes_models):
    at = _open(
        app,
        sl_seed="11",
        sl_count="3",
        sl_px="20",
        sl_py="30",
        sl_model="shapes-deeplabv3plus",
        sl_sizes=["20", "60"],
        sl_shapes=["disc", "ring"],
    )
    assert at.number_input(key="sl_seed").value == 11
    assert at.slider(key="sl_count").value == 3
    assert at.slider(key="sl_sizes").value == (20, 60)
    assert at.button_group(key="sl_shapes").value == ["disc", "ring"]
    assert at.radio(key="sl_model").value == "shapes-deeplabv3plus"
    assert "Receptive fields around (20, 30)" in _charts(at)
    from_link = _frame(at, "boundary F")
    # the same settings made with the widgets give the same numbers
    at.radio(key="sl_model").set_value("shapes-deeplabv3")
    at.slider(key="sl_sizes").set_value((6, 200)).run()
    assert not _frame(at, "boundary F").equals(from_link)
    at.radio(key="sl_model").set_value("shapes-deeplabv3plus")
    at.slider(key="sl_sizes").set_value((20, 60)).run()
    assert _frame(at, "boundary F").equals(from_link)


def test_missing_weights_say_so(app, no_shapes):
    at = _open(app)
    info = " ".join(i.value for i in at.main.info)
    assert "ShapesWorld models are not installed" in info
    assert not at.main.dataframe


def test_view_changes_never_run_the_model(app, shapes_models, monkeypatch):
    from deeplab_viz import scale_lab as SL

    at = _open(app)
    calls = []
    real = SL.predict
    monkeypatch.setattr(SL, "predict", lambda *a, **k: calls.append(1) or real(*a, **k))
    at.slider(key="sl_px").set_value(10)
    at.slider(key="sl_py").set_value(10).run()
    assert not at.exception and calls == []
    at.number_input(key="sl_seed").set_value(8).run()  # a new scene: one pass per stride
    assert len(calls) == 3


def test_depth_profile_reuses_the_held_out_forward(app, shapes_models, monkeypatch):
    import streamlit as st

    from deeplab_viz import scale_lab as SL

    st.cache_data.clear()  # earlier tests may have scored the held-out scenes already
    at = _open(app)
    calls = []
    real = SL.predict
    monkeypatch.setattr(SL, "predict", lambda *a, **k: calls.append(1) or real(*a, **k))
    at.button(key="sl_batch_go").click().run()
    assert not at.exception and len(calls) == 3  # one pass per stride
    at.button(key="sl_depth_go").click().run()
    assert not at.exception and len(calls) == 3  # the same maps, sorted by depth
    assert "large objects, by depth" in _charts(at)
