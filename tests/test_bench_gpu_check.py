"""bench/gpu_check.py: the skip on a machine without CUDA, and a CPU dry run of every section.

The dry run takes the CUDA code paths on the CPU with tiny inputs, so its "device" result
is the CPU result itself: every agreement must be exactly 1.0. Timings are reported, never
asserted (this machine is shared and noisy)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

from conftest import ROOT, WEIGHTS_DIR

SCRIPT = ROOT / "bench" / "gpu_check.py"
SECTIONS = (
    "models",
    "agreement",
    "erf",
    "gradcam",
    "ablation",
    "crf",
    "multi_scale",
    "threads",
    "pages",
    "rate_sweep",
    "latency",
)


def _run(*args: str, cuda_visible: bool = True) -> subprocess.CompletedProcess:
    env = dict(os.environ, DEEPLAB_VIZ_WEIGHTS_DIR=str(WEIGHTS_DIR), DEEPLAB_VIZ_OFFLINE="1")
    if not cuda_visible:
        env["CUDA_VISIBLE_DEVICES"] = ""  # the skip path, even on a machine with a GPU
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=600
    )


def _bench_module():
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_without_cuda_it_skips_with_exit_0(tmp_path):
    out = tmp_path / "gpu_check.json"
    done = _run("--out", str(out), cuda_visible=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("skip: no CUDA device")
    data = json.loads(out.read_text())
    assert data["skipped"] is True and data["reason"] == "no CUDA device"
    assert data["schema"] == "atrous-lab/gpu_check/1"


def test_plans_cover_the_registry_and_the_issue():
    from deeplab_viz.models import REGISTRY
    from deeplab_viz.models.registry import DEFAULT_MODEL

    bench = _bench_module()
    full = bench.make_plan("full", REGISTRY, DEFAULT_MODEL)
    assert full.models == tuple(REGISTRY)  # a model added to the registry is checked too
    assert full.strides == (8, 16, 32) and full.dtypes == ("float32", "float16", "bfloat16")
    assert full.latency_sizes == (513, 1025) and full.cudnn_flags == (False, True)
    assert full.rates == tuple(range(1, 37)) and full.rate_input == (1, 2048, 65, 65)
    assert full.threads == 20 and full.pages is None and full.budget_s < 8 * 60
    quick = bench.make_plan("quick", REGISTRY, DEFAULT_MODEL)
    assert quick.models == full.models and quick.budget_s < full.budget_s
    dry = bench.make_plan("cpu-dry-run", REGISTRY, DEFAULT_MODEL)
    assert dry.device == "cpu" and dry.dtypes == ("float32",) and dry.probe_size == 65
    assert bench.TOLERANCES["float32_min_agreement"] == 0.999


def test_cpu_dry_run_writes_every_section_with_full_agreement(tmp_path):
    out = tmp_path / "dry.json"
    done = _run("--cpu-dry-run", "--out", str(out))
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    assert "result: PASS" in done.stdout and f"wrote {out}" in done.stdout
    data = json.loads(out.read_text())
    assert data["skipped"] is False and data["mode"] == "cpu-dry-run"
    assert data["passed"] is True and data["checks"]
    assert not [c for c in data["checks"] if not c["passed"]]
    assert data["machine"]["device"] == "cpu"
    sections = data["sections"]
    assert tuple(sections) == SECTIONS
    for name, sec in sections.items():
        assert sec["status"] in (
            "pass",
            "report",
            "not present",
            "present, not checked",
            "skipped",
        ), (
            name,
            sec,
        )
        assert "error" not in sec, (name, sec)

    assert sections["models"]["loaded"]
    rows = sections["agreement"]["rows"]
    assert rows and {r["output_stride"] for r in rows} == {8, 16}
    for r in rows:
        assert r["agreement"] == 1.0 and r["max_abs_logit_diff"] == 0.0
        assert r["nonfinite"] == [] and r["health"]["clean"] and r["base_health"]["clean"]
    assert all(r["tv_distance"] == 0.0 and r["finite"] for r in sections["erf"]["rows"])
    if sections["gradcam"]["status"] != "skipped":  # captum present
        for r in sections["gradcam"]["rows"]:
            assert all(b["rel_max_diff"] == 0.0 for b in r["branches"].values())
    assert all(r["agreement"] == 1.0 for r in sections["ablation"]["rows"])
    for name in ("crf", "multi_scale"):  # checked where deeplab_viz provides them
        sec = sections[name]
        assert sec["status"] in ("pass", "skipped", "not present", "present, not checked")
        if sec["status"] == "pass":
            assert sec["rows"] and all(r["agreement"] == 1.0 for r in sec["rows"])
    threads = sections["threads"]["rows"]
    assert threads and all(r["threads"] == 20 and r["class_maps_identical"] for r in threads)
    if sections["pages"]["status"] != "skipped":  # streamlit present
        for r in sections["pages"]["rows"]:
            assert r["exceptions"] == [] and r["runs_on_device"], r
    sweep = sections["rate_sweep"]["rows"]
    assert [p["rate"] for p in sweep] == [1, 2, 4]
    assert all(p["median_ms"] > 0 and 0 < p["valid_tap_share"] <= 1 for p in sweep)
    latency = sections["latency"]["rows"]
    assert {r["size"] for r in latency} == {65, 97}
    assert all(r["probe"]["median_ms"] > 0 and r["forward"]["median_ms"] > 0 for r in latency)
    assert data["summary"][-1] == "result: PASS"


def test_a_failing_section_is_recorded_and_the_next_still_runs(tmp_path):
    import time

    from deeplab_viz.models import REGISTRY
    from deeplab_viz.models.registry import DEFAULT_MODEL

    bench = _bench_module()
    plan = bench.make_plan("cpu-dry-run", REGISTRY, DEFAULT_MODEL)
    report = bench.Report(tmp_path / "r.json", {"schema": bench.SCHEMA})
    ctx = bench.Context(plan=plan, report=report, images=[], started=time.perf_counter())

    def boom(ctx):
        raise RuntimeError("no kernel image\nis available")

    def fine(ctx):
        ctx.report.check("fine", "one check", True)
        return {"rows": []}

    def one_model_breaks(ctx):
        for name in ("broken", "good"):
            with bench._guard(ctx, "guarded", name):
                if name == "broken":
                    raise ValueError("bad weights")
                ctx.report.check("guarded", f"{name} agrees", True)
        return {}

    bench.run_section(ctx, "boom", boom)
    bench.run_section(ctx, "guarded", one_model_breaks)
    bench.run_section(ctx, "fine", fine)
    saved = json.loads((tmp_path / "r.json").read_text())["sections"]
    assert saved["guarded"]["status"] == "fail"
    assert saved["guarded"]["checks"] == {"passed": 1, "failed": 1}
    assert saved["boom"]["status"] == "error"
    assert saved["boom"]["error"] == "RuntimeError: no kernel image is available"  # one line
    assert saved["fine"]["status"] == "pass" and saved["fine"]["checks"]["passed"] == 1
    assert [c["name"] for c in report.failed()] == ["section ran", "broken ran"]
    assert report.failed()[1]["error"] == "ValueError: bad weights"


def test_switches_are_restored():
    import torch

    bench = _bench_module()
    before = (torch.backends.cudnn.benchmark, torch.backends.cudnn.allow_tf32)
    with bench._cudnn_benchmark(not before[0]), bench._tf32(False):
        assert torch.backends.cudnn.benchmark is (not before[0])
        assert torch.backends.cudnn.allow_tf32 is False
    assert (torch.backends.cudnn.benchmark, torch.backends.cudnn.allow_tf32) == before
    runs = bench._time_ms(lambda: None, "cpu", warmup=1, repeats=3)
    assert len(runs) == 3 and all(r >= 0 for r in runs)
    assert bench._peak_memory(lambda: None, "cpu") is None
