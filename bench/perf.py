"""Atrous Lab performance, as ratios measured in one run (these machines are noisy).

    python bench/perf.py [--quick] [--device auto|cpu|cuda] [--out bench/results/perf-<device>.json]

Figures (targets for the 2-core CPU machine in brackets):

- probe / plain forward, same model and input                      [≤ 1.15]
- captum LayerActivation, one branch at a time / one probe          [≥ 4]
- ERF map (one unit's input gradient) / plain forward               [≤ 3]
- a view-only rerun of the ASPP page: seconds and model calls       [≤ 0.3 s, 0 calls]
- cold start: process start → first page rendered in Chromium       [reported]

Each ratio compares medians of alternating runs, so drift on a busy machine
hits both sides alike. Nothing here asserts: the script reports, JSON out.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from deeplab_viz.images import load_image  # noqa: E402
from deeplab_viz.inference import prepare  # noqa: E402
from deeplab_viz.models import ModelSpec, build_model, load_base  # noqa: E402
from deeplab_viz.probe import probe_prepared  # noqa: E402

SAMPLE = ROOT / "deeplab_viz" / "assets" / "samples" / "astronaut.png"


def _time(fn, *, repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        out.append(time.perf_counter() - t0)
    return out


def _alternate(a, b, *, repeats: int) -> tuple[float, float]:
    """Median seconds of a and of b, run alternately (a, b, a, b, ...)."""
    ta, tb = [], []
    a()
    b()  # warm-up
    for _ in range(repeats):
        ta += _time(a, repeats=1)
        tb += _time(b, repeats=1)
    return statistics.median(ta), statistics.median(tb)


def machine() -> dict:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info = {
        "cpu": cpu or platform.processor(),
        "cores": os.cpu_count(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "threads": torch.get_num_threads(),
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def bench_probe_vs_forward(model, prepared, *, repeats: int) -> dict:
    """The probe against two plain forwards of the same model on the same input.

    "module": ``model.module(x)`` alone. "segment": what segmenting an image costs
    without keeping anything: the forward, logits back onto the image grid, argmax
    (``inference.forward_logits`` + argmax). The probe does exactly that work and
    also keeps every intermediate.
    """
    from deeplab_viz.inference import forward_logits

    def module_forward():
        with torch.inference_mode():
            model.module(prepared.tensor)

    def segment_forward():
        logits, _ = forward_logits(model, prepared)
        logits[0].argmax(0)

    def probe():
        probe_prepared(model, prepared)

    t_mod, t_probe_a = _alternate(module_forward, probe, repeats=repeats)
    t_seg, t_probe_b = _alternate(segment_forward, probe, repeats=repeats)
    return {
        "model": model.spec.label,
        "module_forward_s": round(t_mod, 4),
        "segment_s": round(t_seg, 4),
        "probe_s": round((t_probe_a + t_probe_b) / 2, 4),
        "probe_over_module_forward": round(t_probe_a / t_mod, 3),
        "probe_over_segment": round(t_probe_b / t_seg, 3),
        "target": "<= 1.15",
    }


def bench_captum_vs_probe(model, prepared, *, repeats: int) -> dict:
    """Capturing each ASPP branch with captum's LayerActivation, one at a time."""
    from captum.attr import LayerActivation

    private = copy.deepcopy(model.module)  # captum hooks its layer: never the shared model
    branches = list(private.aspp.branches)

    def captum_one_by_one():
        with torch.no_grad():
            for b in branches:
                LayerActivation(private, b).attribute(prepared.tensor)

    def probe():
        probe_prepared(model, prepared)

    t_probe, t_captum = _alternate(probe, captum_one_by_one, repeats=repeats)
    return {
        "model": model.spec.label,
        "branches": len(branches),
        "probe_s": round(t_probe, 4),
        "captum_layeractivation_s": round(t_captum, 4),
        "captum_over_probe": round(t_captum / t_probe, 3),
        "target": ">= 4",
    }


def bench_erf_vs_forward(model, prepared, *, repeats: int) -> dict:
    from deeplab_viz.erf import erf_map

    x = prepared.tensor
    h, w = x.shape[-2:]

    def forward():
        with torch.inference_mode():
            model.module(x)

    def erf():
        erf_map(model.module, x, out_yx=(h // 2, w // 2))

    t_fwd, t_erf = _alternate(forward, erf, repeats=repeats)
    return {
        "model": model.spec.label,
        "forward_s": round(t_fwd, 4),
        "erf_s": round(t_erf, 4),
        "erf_over_forward": round(t_erf / t_fwd, 3),
        "target": "<= 3",
    }


def bench_view_rerun(*, repeats: int) -> dict:
    """A view-only widget change on the ASPP page: wall time and model calls (AppTest)."""
    import streamlit as st
    from conftest import _pin_navigation_mode  # the same AppTest setup the tests use
    from streamlit.testing.v1 import AppTest

    import ui.cache

    page = ROOT / "pages" / "aspp_explorer.py"
    if not page.exists():
        return {"skipped": "pages/aspp_explorer.py does not exist yet"}

    class _MP:  # a minimal monkeypatch for the pinning helper
        def setattr(self, target, name, value):
            setattr(target, name, value)

    _pin_navigation_mode(_MP())
    st.cache_resource.clear()
    st.cache_data.clear()
    calls = {"n": 0}
    real = ui.cache.run_probe

    def counting(*a, **k):
        calls["n"] += 1
        return real(*a, **k)

    ui.cache.run_probe = counting
    try:
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
        at.run()
        before = calls["n"]  # the home page's probe (the ASPP page opens on its own model)
        at.switch_page("pages/aspp_explorer.py").run()
        first_calls = calls["n"] - before
        radios = [r for r in at.main.radio if r.key and r.key.startswith("aspp_")]
        sliders = [s for s in at.main.slider if s.key and s.key.startswith("aspp_")]
        widget = radios[0] if radios else sliders[0]
        options = list(getattr(widget, "options", [])) or [widget.min, widget.max]
        times = []
        for i in range(repeats):
            value = options[(i + 1) % len(options)]
            if hasattr(widget, "options") and widget.options:
                widget = next(w for w in at.main.radio if w.key == widget.key)
            else:
                widget = next(w for w in at.main.slider if w.key == widget.key)
            widget.set_value(value)
            t0 = time.perf_counter()
            at.run()
            times.append(time.perf_counter() - t0)
        return {
            "widget": widget.key,
            "probe_calls_first_visit": first_calls,
            "probe_calls_on_view_changes": calls["n"] - before - first_calls,
            "rerun_s_median": round(statistics.median(times), 4),
            "exceptions": len(at.exception),
            "target": "<= 0.3 s and 0 model calls",
        }
    finally:
        ui.cache.run_probe = real


def bench_cold_start() -> dict:
    from browser_support import Server, browser, chromium_available, wait_idle

    if not chromium_available():
        return {"skipped": "chromium not installed"}
    t0 = time.perf_counter()
    srv = Server(env={"DEEPLAB_VIZ_OFFLINE": "1"})
    try:
        srv.wait_healthy()
        healthy = time.perf_counter() - t0
        with browser() as ctx:
            page = ctx.new_page()
            page.goto(srv.url)
            wait_idle(page)
            rendered = time.perf_counter() - t0
        return {
            "server_healthy_s": round(healthy, 2),
            "first_page_rendered_s": round(rendered, 2),
            "server_rss_mb": round(srv.rss_bytes() / 2**20, 1),
        }
    finally:
        srv.stop()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repeats, smaller input (CI)")
    ap.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    ap.add_argument("--out", default=None)
    ap.add_argument("--skip", default="", help="comma-separated parts to skip (e.g. cold_start)")
    args = ap.parse_args(argv)
    os.environ.setdefault("DEEPLAB_VIZ_WEIGHTS_DIR", str(ROOT.parent / "shared" / "weights"))
    os.environ.setdefault("DEEPLAB_VIZ_OFFLINE", "1")
    skip = set(filter(None, args.skip.split(",")))
    repeats = 3 if args.quick else 7
    size = 321 if args.quick else 513
    rgb = load_image(SAMPLE).rgb

    voc = build_model(ModelSpec(name="voc-mobilenetv2", device=args.device))
    resnet_spec = ModelSpec(
        name="deeplabv3_resnet50", pretrained=False, output_stride=16, device=args.device
    )
    resnet = build_model(resnet_spec, base=load_base(resnet_spec.name, pretrained=False))
    report = {"machine": machine(), "quick": args.quick, "size": size, "results": {}}
    results = report["results"]
    voc_in, resnet_in = prepare(rgb, voc, size=size), prepare(rgb, resnet, size=size)
    if "probe" not in skip:
        results["probe_vs_forward"] = [
            bench_probe_vs_forward(voc, voc_in, repeats=repeats),
            bench_probe_vs_forward(resnet, resnet_in, repeats=repeats),
        ]
    if "captum" not in skip:
        results["captum_vs_probe"] = bench_captum_vs_probe(resnet, resnet_in, repeats=repeats)
    if "erf" not in skip:
        results["erf_vs_forward"] = bench_erf_vs_forward(voc, voc_in, repeats=repeats)
    if "view_rerun" not in skip:
        results["view_only_rerun"] = bench_view_rerun(repeats=repeats)
    if "cold_start" not in skip:
        results["cold_start"] = bench_cold_start()
    device = voc.spec.device
    out = Path(args.out) if args.out else ROOT / "bench" / "results" / f"perf-{device}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
