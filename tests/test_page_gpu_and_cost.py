"""AppTest of the GPU and cost page: nothing runs until asked; tiny settings when it does."""

from __future__ import annotations

import pytest
import torch
from conftest import open_page

pytestmark = pytest.mark.slow

PAGE = "pages/gpu_and_cost.py"
CUDA = torch.cuda.is_available()


def _open(app, **params):
    return open_page(app, PAGE, **{"sb_size": "257", **params})


def _text(at) -> str:
    return " ".join([m.value for m in at.main.markdown] + [c.value for c in at.main.caption])


def test_page_loads_without_measuring(app, monkeypatch):
    from deeplab_viz import cost

    def boom(*a, **k):
        raise AssertionError("measured without a button press")

    monkeypatch.setattr(cost, "measure_config", boom)
    monkeypatch.setattr(cost, "memory_vs_rate", boom)
    at = _open(app)
    assert at.title[0].value == "GPU and cost"
    assert not at.main.dataframe and not at.main.get("plotly_chart")
    assert "Nothing measured yet" in _text(at)
    assert "measure it before you repeat it" in _text(at)
    infos = " ".join(i.value for i in at.main.info)
    if not CUDA:
        assert "CUDA not available on this machine" in infos
        assert at.pills(key="cost_dtypes").value == ["float32"]


def test_run_button_with_tiny_settings_shows_a_table(app):
    at = _open(
        app,
        cost_models="voc-mobilenetv2",
        cost_strides=["16", "32"],
        cost_sizes="129",
        cost_repeats="1",
    )
    assert at.pills(key="cost_models").value == ["voc-mobilenetv2"]
    assert at.pills(key="cost_strides").value == [16, 32]
    at.button(key="cost_run").click().run()
    assert not at.exception
    table = at.main.dataframe[0].value
    assert list(table["output stride"]) == [16, 32]
    assert list(table["model"]) == ["voc-mobilenetv2 · OS 16", "voc-mobilenetv2 · OS 32"]
    assert (table["GFLOPs"] > 0).all() and (table["median (ms)"] > 0).all()
    assert "latency OS32/OS16" in _text(at)
    # a plain rerun shows the same results without measuring again
    at.slider(key="cost_repeats").set_value(2).run()
    assert not at.exception and len(at.main.dataframe[0].value) == 2


def test_memory_against_rate_with_tiny_settings(app):
    at = _open(app, cost_rates=["1", "6"], cost_channels="32", cost_feature="17")
    assert at.pills(key="cost_rates").value == [1, 6]
    at.button(key="cost_rate_run").click().run()
    assert not at.exception
    text = _text(at)
    assert "Measured here" in text and "rate 6" in text
    rates = at.main.dataframe[0].value
    assert list(rates["rate"]) == [1, 6]
    assert len(at.main.get("plotly_chart")) == 1
    # the memory note names each method once ("…; torch CPU allocations: …" was doubled)
    note = next(c.value for c in at.main.caption if c.value.startswith("Peak memory"))
    assert note.count("torch CPU allocations") <= 1 and note.count("RSS growth") <= 1
