"""bench/page_latency.py: its quick mode end to end, and the verdicts it draws from its numbers.

Timings are reported, never asserted (this machine is shared and noisy); what is asserted
is the JSON's shape, that every figure is a positive time, and that each budget verdict
follows from the figures next to it.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from types import SimpleNamespace

import pytest
from conftest import ROOT, TFLITE, WEIGHTS_DIR

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not TFLITE.exists(), reason="offline model not found"),
]

SCRIPT = ROOT / "bench" / "page_latency.py"
STATS = ("n", "median_s", "q1_s", "q3_s", "min_s", "max_s", "runs_s")


def _bench():
    spec = importlib.util.spec_from_file_location("bench_page_latency", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _check_stats(stats: dict, n: int) -> None:
    assert set(STATS) <= set(stats) and stats["n"] == n == len(stats["runs_s"])
    assert all(r > 0 for r in stats["runs_s"])
    assert 0 < stats["min_s"] <= stats["q1_s"] <= stats["median_s"] <= stats["q3_s"]
    assert stats["q3_s"] <= stats["max_s"]


def _check_verdict(page: dict, budgets: dict) -> None:
    """The page's verdict, recomputed from its own numbers."""
    v = page["budget"]
    assert v["open_median_s"] == page["open"]["median_s"]
    assert v["open_ok"] == (page["open"]["median_s"] <= budgets["page_open_s"])
    medians = [(w[d]["median_s"], w["key"], d) for w in page["widgets"] for d in ("change", "back")]
    worst = max(medians)
    assert (v["worst_widget"]["median_s"], v["worst_widget"]["widget"]) == worst[:2]
    failures = sum(len(w["failures"]) for w in page["widgets"])
    assert v["widgets_ok"] == (worst[0] <= budgets["widget_change_s"] and failures == 0)
    assert v["failures"] == len(page["failures"])
    assert v["within_budget"] == (v["open_ok"] and v["widgets_ok"] and v["failures"] == 0)


def test_verdicts_follow_the_numbers():
    bench = _bench()
    stats = bench.summarize([0.4, 0.1, 0.3, 0.2])
    assert (stats["median_s"], stats["min_s"], stats["max_s"]) == (0.25, 0.1, 0.4)
    assert stats["q1_s"] == pytest.approx(0.175) and stats["q3_s"] == pytest.approx(0.325)
    assert bench.summarize([]) is None

    def page(open_s, changes, failures=()):
        return {
            "open": bench.summarize([open_s]),
            "widgets": [
                {
                    "key": k,
                    "change": bench.summarize([c]),
                    "back": bench.summarize([0.01]),
                    "failures": [],
                }
                for k, c in changes.items()
            ],  # fmt: skip
            "failures": list(failures),
        }

    ok = bench.page_verdict(page(2.9, {"a": 0.2, "b": 0.9}))
    assert ok["within_budget"] and ok["worst_widget"]["widget"] == "b"
    slow_widget = bench.page_verdict(page(0.5, {"a": 0.2, "b": 1.2}))
    assert slow_widget["open_ok"] and not slow_widget["widgets_ok"]
    assert not slow_widget["within_budget"] and slow_widget["worst_widget"]["median_s"] == 1.2
    slow_open = bench.page_verdict(page(3.2, {"a": 0.2}))
    assert not slow_open["open_ok"] and slow_open["widgets_ok"] and not slow_open["within_budget"]
    failed = bench.page_verdict(page(0.5, {}, failures=[{"phase": "open"}]))
    assert failed["worst_widget"] is None and not failed["within_budget"]
    never_opened = bench.page_verdict({"open": None, "widgets": [], "failures": [{}]})
    assert not never_opened["open_ok"] and not never_opened["within_budget"]


def test_changes_pick_another_valid_value():
    bench = _bench()
    proto = SimpleNamespace(disabled=False)

    def slider(value, lo=0, hi=100, step=1):
        return SimpleNamespace(type="slider", proto=proto, min=lo, max=hi, step=step, value=value)

    assert bench.plan_change(slider(10))[0]["to"] == 35  # a quarter of the range up
    assert bench.plan_change(slider(90))[0]["to"] == 65  # down, at the top
    assert bench.plan_change(slider(64, 16, 256, 8))[0]["to"] == 128
    assert bench.plan_change(slider((8, 120), 6, 200))[0]["to"] == [8, 72]
    number = SimpleNamespace(
        type="number_input", proto=proto, min=0.0, max=5.0, step=0.5, value=5.0
    )
    assert bench.plan_change(number)[0]["to"] == 4.5
    box = SimpleNamespace(type="selectbox", proto=proto, options=["a", "b", "c"], index=2)
    assert bench.plan_change(box)[0] == {"kind": "string", "to": "a", "from": "c"}
    toggle = SimpleNamespace(type="toggle", proto=proto, value=True)
    assert bench.plan_change(toggle)[0]["to"] is False
    off = SimpleNamespace(type="toggle", proto=SimpleNamespace(disabled=True), value=True)
    assert bench.plan_change(off) == (None, "disabled")


def test_quick_run_writes_consistent_json(tmp_path):
    out = tmp_path / "page_latency.json"
    env = dict(os.environ, DEEPLAB_VIZ_WEIGHTS_DIR=str(WEIGHTS_DIR), DEEPLAB_VIZ_OFFLINE="1")
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--contended", "--out", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"wrote {out}" in done.stdout and "within budget?" in done.stdout
    data = json.loads(out.read_text())

    assert data["schema"] == "atrous-lab/page_latency/1" and data["mode"] == "quick"
    assert data["complete"] is True and data["elapsed_s"] > 0
    settings = data["settings"]
    assert settings["pages"] == ["home", "dilated_convolution@Sampling grid"]  # a tab: a page
    assert settings["repeats"] == 1 and settings["max_widgets_per_page"] == 1
    assert settings["conditions"] == ["quiet", "contended"]
    assert settings["defaults"]["model"] and settings["defaults"]["image"]
    assert data["budgets"] == {"widget_change_s": 1.0, "page_open_s": 3.0}
    for what in ("st.cache_resource", "st.cache_data", "open", "change"):
        assert data["warm_and_cold"][what]

    from deeplab_viz.threads import app_threads

    assert data["threads"]["app_threads"] == [app_threads()]  # what app.py set, in its runs
    assert data["machine"]["cpu_count"] >= 1 and data["machine"]["torch"]
    assert data["warmup"]["process"]["first_app_run_s"] > 0
    competitor = data["competitor"]
    assert "one thread" in competitor["description"] and competitor["code"]
    assert competitor["blocks"] and all(b["cpu_s"] > 0 for b in competitor["blocks"])

    assert data["failures"] == [], data["failures"]
    for page in settings["pages"]:
        measured = data["discovered"][page]["measured"]
        assert len(measured) == 1 and measured[0]["key"]
    for cond in settings["conditions"]:
        c = data["conditions"][cond]
        assert list(c["pages"]) == settings["pages"]
        for name, page in c["pages"].items():
            assert page["file"] == f"pages/{name}.py"
            _check_stats(page["open"], 1)
            _check_stats(page["open_cached"], 1)
            (widget,) = page["widgets"]
            assert widget["to"] != widget["from"]
            _check_stats(widget["change"], 1)
            _check_stats(widget["back"], 1)
            assert widget["applied"] == widget["restored"] == 1  # the change took, and undid
            _check_verdict(page, data["budgets"])
        assert c["all_within_budget"] == all(
            p["budget"]["within_budget"] for p in c["pages"].values()
        )
        assert c["over_budget"] == [
            n for n, p in c["pages"].items() if not p["budget"]["within_budget"]
        ]


def test_tabbed_pages_are_measured_tab_by_tab():
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "page_latency", ROOT / "bench" / "page_latency.py"
    )
    pl = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(pl)
    key, labels = pl.page_tabs("receptive_fields")
    assert key == "rf_tab" and labels[-1] == "3 · Effective RF"
    assert pl.page_tabs("home") is None
    # labels a page imports from its ui module are followed there
    from ui.aspp_view import TABS

    assert pl.page_tabs("aspp_explorer") == ("aspp_tab", list(TABS))
    tabbed = {"receptive_fields", "aspp_explorer", "deeplab_family", "gridding"}
    assert all(pl.page_tabs(stem) for stem in tabbed)
    pages = pl.app_pages()
    assert "receptive_fields@3 · Effective RF" in pages and "receptive_fields" not in pages
    assert "home" in pages and pl.split_variant("aspp_explorer@2 · Branch maps") == (
        "aspp_explorer",
        "2 · Branch maps",
    )
