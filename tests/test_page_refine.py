"""AppTest of the live test-time extras: the dense CRF on DeepLab family, multi-scale +
flip on Output stride, on the real offline model and the sample image."""

from __future__ import annotations

import re

import pytest
from conftest import open_page

pytestmark = pytest.mark.slow


def _captions(at) -> list[str]:
    return [c for img in at.main.get("image") for c in img.captions]


def _text(at) -> str:
    return " ".join([m.value for m in at.main.markdown] + [c.value for c in at.main.caption])


def _count(monkeypatch, module, name: str) -> list[str]:
    calls: list[str] = []
    real = getattr(module, name)
    monkeypatch.setattr(module, name, lambda *a, **k: calls.append(name) or real(*a, **k))
    return calls


def _relabelled(at) -> int:
    cap = next(c for c in _captions(at) if c.startswith("Relabelled by the CRF"))
    return int(re.search(r": ([\d,]+) px", cap).group(1).replace(",", ""))


def test_crf_runs_on_the_image_and_its_steps_are_a_view(app, monkeypatch):
    from ui import refine_cache

    at = open_page(app, "pages/deeplab_family.py", sb_size="257")
    caps = _captions(at)
    assert "The network alone (plain softmax)" in caps
    assert "Dense CRF after 10 step(s)" in caps
    assert {"Plain, zoomed", "CRF, zoomed", "Where the CRF changed most"} <= set(caps)
    after_10 = _relabelled(at)
    assert after_10 > 0  # the CRF moves real pixels on the cat's outline
    assert "The CRF took" in _text(at)
    calls = _count(monkeypatch, refine_cache, "dense_crf")
    at.slider(key="fam_crf_step").set_value(0).run()
    assert not at.exception
    assert "Dense CRF after 0 step(s)" in _captions(at)
    assert _relabelled(at) == 0  # step 0 is the network's own labelling
    at.slider(key="fam_crf_step").set_value(10).run()
    assert _relabelled(at) == after_10
    assert calls == []  # moving through the steps recomputes nothing
    at.slider(key="fam_crf_iters").set_value(3).run()  # a new setting runs the CRF again
    assert not at.exception
    assert calls == ["dense_crf"]
    assert at.slider(key="fam_crf_step").value == 3  # the step follows the shorter run
    assert "Dense CRF after 3 step(s)" in _captions(at)


def test_crf_settings_travel_in_the_link(app):
    at = open_page(
        app,
        "pages/deeplab_family.py",
        sb_size="257",
        fam_crf_iters="5",
        fam_crf_step="2",
        fam_crf_w1="0",
        fam_crf_gxy="1.5",
    )
    assert at.slider(key="fam_crf_iters").value == 5
    assert at.slider(key="fam_crf_step").value == 2
    assert at.number_input(key="fam_crf_w1").value == 0.0
    assert at.number_input(key="fam_crf_gxy").value == 1.5
    assert "Dense CRF after 2 step(s)" in _captions(at)


def test_crf_verdict_reads_the_measured_table(app):
    from deeplab_viz import refine

    table = refine.measured_table()
    if table is None:
        pytest.skip("deeplab_viz/assets/metrics/refine_voc.json is not in this copy")
    at = open_page(app, "pages/deeplab_family.py", sb_size="257")
    text = _text(at)
    rows = refine.measured_rows("voc-mobilenetv2", table)
    fine, coarse = min(rows), max(rows)
    g_fine = refine.gain(rows, fine, "crf", "miou_core7")
    g_coarse = refine.gain(rows, coarse, "crf", "miou_core7")
    assert f"{g_fine:+.1f} points at OS {fine}" in text
    if fine != coarse:
        more = "more" if g_coarse > g_fine else "less"
        assert f"It matters {more} at the coarse stride (OS {coarse}) than at OS {fine}" in text
    frames = [d.value for d in at.main.dataframe if "inference" in d.value.columns]
    assert frames and set(frames[0]["inference"]) == {"plain", "CRF"}


def test_multiscale_is_a_switch_with_small_multiples(app, monkeypatch):
    from ui import refine_cache

    at = open_page(app, "pages/output_stride.py", sb_size="257")
    assert not [c for c in _captions(at) if c.startswith("×0.5")]  # off: nothing ran
    assert "switch it on" in _text(at)
    at.toggle(key="os_ms").set_value(True).run()
    assert not at.exception
    caps = _captions(at)
    for s in ("0.5", "0.75", "1", "1.25", "1.5", "1.75"):
        assert any(c.startswith(f"×{s}: ") for c in caps), s
    assert "All 12 views averaged (OS 8)" in caps  # voc-mobilenetv2 opens at its OS 8
    assert any(c.startswith("Changed by multi-scale + flip:") for c in caps)
    calls = _count(monkeypatch, refine_cache, "multiscale")
    at.slider(key="os_swipe_x").set_value(30).run()  # another view on the page
    assert calls == []
    at.segmented_control(key="os_ms_os").set_value(32).run()
    assert not at.exception
    assert calls == ["multiscale"]
    assert "All 12 views averaged (OS 32)" in _captions(at)


def test_multiscale_link_reproduces_the_view(app):
    at = open_page(app, "pages/output_stride.py", sb_size="257", os_ms="true", os_ms_os="32")
    assert at.toggle(key="os_ms").value is True
    assert "All 12 views averaged (OS 32)" in _captions(at)
