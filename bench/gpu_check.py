#!/usr/bin/env python
"""The CUDA path, proven on a GPU: one prepared check, JSON out.

    python bench/gpu_check.py [--quick | --cpu-dry-run] [--out PATH] [--budget-s S]

On a CUDA machine, for every model in the registry (trained weights where they ship or
are found, seeded random weights for the torchvision ones), every output stride and
float32 / float16 / bfloat16:

* agreement: the probe's class map against the CPU float32 probe of the same input
  (float32 must agree on >= 99.9 % of the pixels; half precisions are reported), every
  intermediate finite, no hook (or mode, or gradient) left on the shared model;
* latency of one probe (CUDA events, after warm-up, median of repeats) at 513 and
  1025 px with cudnn.benchmark off and on, and the peak CUDA memory of one probe;
* rate sweep: one 3×3 conv on a (1, 2048, 65, 65) map (ResNet layer4 at OS 8, 513 px)
  at every rate 1…36: time and memory per rate;
* ERF, Grad-CAM per branch and branch ablation on CUDA against their CPU results,
  within the tolerances in ``TOLERANCES``; CRF and multi-scale where a module provides
  them (reported "not present" otherwise);
* threads: 20 threads probing one shared CUDA model at once, identical to serial;
* pages: every page through streamlit's AppTest with the sidebar's device on cuda,
  no exception (skipped when streamlit is not importable).

Each section runs in its own try/except: a failure is recorded with its one-line error
and the rest still runs. The JSON is rewritten after every section, so a run cut short
still leaves what it measured. Exit code: 0 when every check passed, 1 when a check
failed or a section raised. Without CUDA: "skip: no CUDA device", a JSON with
``"skipped": true`` and exit 0. ``--cpu-dry-run`` runs the same code paths on the CPU
with tiny inputs (float32, fewer models and strides) to prove the logic without a GPU.
See bench/README.md ("GPU check") for the device command.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import importlib
import importlib.metadata
import importlib.util
import json
import os
import pkgutil
import platform
import statistics
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("DEEPLAB_VIZ_WEIGHTS_DIR", str(ROOT.parent / "shared" / "weights"))
os.environ.setdefault("DEEPLAB_VIZ_OFFLINE", "1")  # a GPU machine has no network: never wait

import numpy as np  # noqa: E402
import torch  # noqa: E402

SCHEMA = "atrous-lab/gpu_check/1"
DEFAULT_OUT = ROOT / "bench" / "results" / "gpu_check.json"
DRY_RUN_OUT = ROOT / "bench" / "results" / "gpu_check-cpu-dry-run.json"
SAMPLES = ROOT / "deeplab_viz" / "assets" / "samples"
IMAGE_FILES = ("astronaut.png", "chelsea.png", "coffee.png", "camera.png")
THREADS = 20
TOLERANCES = {
    "float32_min_agreement": 0.999,  # class map vs CPU float32, share of pixels
    "ablation_float32_min_agreement": 0.999,  # ablated class map vs the CPU's
    "erf_float32_max_tv": 0.02,  # total-variation distance of the normalised ERF maps
    "gradcam_float32_max_rel": 0.05,  # max |Δ| / max |CPU map|, per branch
    "multi_scale_float32_min_agreement": 0.999,  # merged class map vs the CPU's
    "crf_float32_min_agreement": 0.999,  # CRF labels from the device's softmax vs the CPU's
}
OPTIONAL_FEATURES = {  # name → (keywords in a deeplab_viz module's name, in a function's name)
    "crf": (("crf",), ("crf",)),
    "multi_scale": (("multiscale", "multi_scale"), ("multiscale", "multi_scale")),
}
PACKAGES = ("streamlit", "plotly", "captum", "tflite", "scipy", "pandas", "numpy", "torchvision")
HOOK_ATTRS = (
    "_forward_hooks",
    "_forward_pre_hooks",
    "_backward_hooks",
    "_backward_pre_hooks",
    "_state_dict_hooks",
    "_state_dict_pre_hooks",
    "_load_state_dict_pre_hooks",
    "_load_state_dict_post_hooks",
)
GLOBAL_HOOKS = (
    "_global_forward_hooks",
    "_global_forward_pre_hooks",
    "_global_backward_hooks",
    "_global_backward_pre_hooks",
)


# ----------------------------------------------------------------------------- the plan


@dataclasses.dataclass(frozen=True)
class Plan:
    """What one run does. ``device`` is "cuda", or "cpu" for the dry run."""

    mode: str  # "full" | "quick" | "cpu-dry-run"
    device: str
    models: tuple[str, ...]
    strides: tuple[int, ...]
    dtypes: tuple[str, ...]
    probe_size: int  # longest side for the agreement probes, pixels
    latency_models: tuple[str, ...]
    latency_strides: tuple[int, ...]
    latency_dtypes: tuple[str, ...]
    latency_sizes: tuple[int, ...]
    cudnn_flags: tuple[bool | None, ...]  # None: leave cudnn.benchmark as it is (CPU)
    warmup: int
    repeats: int
    latency_budget_s: float
    rates: tuple[int, ...]
    rate_input: tuple[int, int, int, int]  # (N, C_in, h, w)
    rate_out_channels: int
    rate_dtypes: tuple[str, ...]
    rate_warmup: int
    rate_repeats: int
    detail_models: tuple[str, ...]  # ERF, Grad-CAM, ablation
    detail_size: int
    ms_scales: tuple[float, ...]  # multi-scale inference (with flips)
    thread_specs: tuple[tuple[str, int | None, str], ...]  # (model, OS or native, dtype)
    threads: int
    pages: tuple[str, ...] | None  # file names in pages/; None: every page
    page_size: int
    page_dtypes: tuple[str, ...]  # extra precisions tried on the home page
    page_timeout_s: float
    budget_s: float  # after this, sections not yet run are skipped


def make_plan(mode: str, registry: dict[str, Any], default_model: str) -> Plan:
    """The run for ``mode``, over the models the registry holds right now."""
    every = tuple(registry)
    half = ("float32", "float16", "bfloat16")
    first = tuple(m for m in (default_model, "deeplabv3_resnet50") if m in registry)
    if mode == "cpu-dry-run":
        small = first or every[:1]
        return Plan(
            mode=mode,
            device="cpu",
            models=small,
            strides=(8, 16),
            dtypes=("float32",),
            probe_size=65,
            latency_models=small[:1],
            latency_strides=(8,),
            latency_dtypes=("float32",),
            latency_sizes=(65, 97),
            cudnn_flags=(None,),
            warmup=1,
            repeats=2,
            latency_budget_s=30.0,
            rates=(1, 2, 4),
            rate_input=(1, 16, 17, 17),
            rate_out_channels=16,
            rate_dtypes=("float32",),
            rate_warmup=1,
            rate_repeats=2,
            detail_models=small[:1],
            detail_size=65,
            ms_scales=(1.0, 1.5),
            thread_specs=((small[0], None, "float32"),),
            threads=THREADS,
            pages=("home.py", "aspp_explorer.py"),
            page_size=257,
            page_dtypes=(),
            page_timeout_s=120.0,
            budget_s=300.0,
        )
    quick = mode == "quick"
    threads = [(default_model, None, "float32")] if default_model in registry else []
    if "deeplabv3_resnet50" in registry:
        threads.append(("deeplabv3_resnet50", 16, "float16"))
    return Plan(
        mode=mode,
        device="cuda",
        models=every,
        strides=(8, 16, 32),
        dtypes=half,
        probe_size=513,
        latency_models=every,
        latency_strides=(16,) if quick else (8, 16, 32),
        latency_dtypes=half[:2] if quick else half,
        latency_sizes=(513, 1025),
        cudnn_flags=(False, True),
        warmup=1 if quick else 2,
        repeats=3 if quick else 5,
        latency_budget_s=60.0 if quick else 170.0,
        rates=(1, 2, 4, 6, 12, 18, 24, 36) if quick else tuple(range(1, 37)),
        rate_input=(1, 2048, 65, 65),
        rate_out_channels=256,
        rate_dtypes=half[:2] if quick else half,
        rate_warmup=2 if quick else 3,
        rate_repeats=5 if quick else 10,
        detail_models=first[:1] if quick else first,
        detail_size=321 if quick else 513,
        ms_scales=(0.5, 1.0, 1.5),
        thread_specs=tuple(threads),
        threads=THREADS,
        pages=("home.py", "aspp_explorer.py", "output_stride.py", "receptive_fields.py")
        if quick
        else None,
        page_size=513,
        page_dtypes=("float16",) if quick else ("float16", "bfloat16"),
        page_timeout_s=180.0,
        budget_s=270.0 if quick else 440.0,
    )


# ------------------------------------------------------------------------------ helpers


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}"[:500]


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def _time_ms(fn: Callable[[], object], device: str, warmup: int, repeats: int) -> list[float]:
    """Milliseconds per call: CUDA events on CUDA, the wall clock on a CPU."""
    for _ in range(warmup):
        fn()
    _sync(device)
    runs = []
    for _ in range(repeats):
        if device == "cuda":
            start = torch.cuda.Event(enable_timing=True)
            end = torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            end.synchronize()
            runs.append(float(start.elapsed_time(end)))
        else:
            t0 = time.perf_counter()
            fn()
            runs.append((time.perf_counter() - t0) * 1000)
    return runs


def _stats(runs: list[float]) -> dict[str, Any]:
    return {"median_ms": round(statistics.median(runs), 3), "runs_ms": [round(r, 3) for r in runs]}


def _peak_memory(fn: Callable[[], object], device: str) -> dict[str, int] | None:
    """Peak CUDA memory of one call (None on a CPU): absolute, and above what was held."""
    if device != "cuda":
        return None
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    before = torch.cuda.memory_allocated()
    fn()
    torch.cuda.synchronize()
    peak = torch.cuda.max_memory_allocated()
    return {"peak_bytes": int(peak), "above_before_bytes": int(peak - before)}


def _free(device: str) -> None:
    if device == "cuda":
        torch.cuda.empty_cache()


@contextlib.contextmanager
def _cudnn_benchmark(flag: bool | None) -> Iterator[None]:
    if flag is None:
        yield
        return
    old = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = flag
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark = old


@contextlib.contextmanager
def _tf32(enabled: bool) -> Iterator[None]:
    old = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = enabled
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = old


@contextlib.contextmanager
def _guard(ctx: Context, section: str, what: str) -> Iterator[None]:
    """One model's failure is a failed check with its one-line error; the loop goes on."""
    try:
        yield
    except Exception as exc:
        traceback.print_exc()
        ctx.report.check(section, f"{what} ran", False, error=_one_line(exc))


def _hooks(module: torch.nn.Module) -> int:
    return sum(len(getattr(m, n, None) or {}) for m in module.modules() for n in HOOK_ATTRS)


def _global_hooks() -> int:
    from torch.nn.modules import module as mod

    return sum(len(getattr(mod, n, None) or {}) for n in GLOBAL_HOOKS)


def _health(module: torch.nn.Module) -> dict[str, Any]:
    """Is a shared model as loaded: no hooks (own or global), eval mode, no gradients."""
    params = list(module.parameters())
    h = {
        "hooks": _hooks(module),
        "global_hooks": _global_hooks(),
        "training_modules": sum(1 for m in module.modules() if m.training),
        "params_requiring_grad": sum(1 for p in params if p.requires_grad),
        "params_with_grad": sum(1 for p in params if p.grad is not None),
    }
    h["clean"] = not any(h.values())
    return h


def _nonfinite(probe: Any) -> list[str]:
    """Names of the probe's intermediates that hold a NaN or an infinity."""
    arrays = {f"stage {k}": v for k, v in probe.stages.items()}
    arrays.update({f"branch {b.name}": b.output for b in probe.branches})
    arrays.update(projection=probe.projection, logits=probe.logits)
    return [k for k, a in arrays.items() if not np.isfinite(a).all()]


def _agreement(a: np.ndarray, b: np.ndarray) -> float:
    if a.shape != b.shape:
        raise ValueError(f"class maps differ in shape: {a.shape} vs {b.shape}")
    return float((a == b).mean()) if a.size else 1.0


def _margin_stats(ref_logits: np.ndarray, differ: np.ndarray) -> dict[str, float | None]:
    """CPU top-1 minus top-2 logit: overall median, and median where the maps differ."""
    top2 = np.partition(ref_logits, -2, axis=0)[-2:]  # (2, H, W)
    margin = top2[1] - top2[0]
    return {
        "ref_margin_median": round(float(np.median(margin)), 5),
        "ref_margin_median_where_different": round(float(np.median(margin[differ])), 5)
        if differ.any()
        else None,
    }


def _package_versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


def _machine(device: str) -> dict[str, Any]:
    from deeplab_viz.cost.machine import machine_info

    info = machine_info(device)
    info.update(
        python=platform.python_version(),
        platform=platform.platform(),
        packages=_package_versions(),
        cudnn_allow_tf32=torch.backends.cudnn.allow_tf32,
        matmul_allow_tf32=torch.backends.cuda.matmul.allow_tf32,
        float32_matmul_precision=torch.get_float32_matmul_precision(),
    )
    if device == "cuda":
        props = torch.cuda.get_device_properties(0)
        info.update(gpu_memory_bytes=int(props.total_memory), capability=[props.major, props.minor])
    return info


# ------------------------------------------------------------------------------ context


class Report:
    """The JSON being built, with the checks; saved after every section."""

    def __init__(self, out: Path, header: dict[str, Any]) -> None:
        self.out = out
        self.data: dict[str, Any] = {**header, "sections": {}, "checks": []}

    def check(self, section: str, name: str, passed: bool, **detail: Any) -> bool:
        self.data["checks"].append({"section": section, "name": name, "passed": bool(passed)})
        self.data["checks"][-1].update(detail)
        if not passed:
            _log(f"  FAILED {section}: {name} {detail}")
        return bool(passed)

    def failed(self) -> list[dict[str, Any]]:
        return [c for c in self.data["checks"] if not c["passed"]]

    def save(self) -> None:
        self.out.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.out.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data, indent=1, default=str) + "\n")
        tmp.replace(self.out)


@dataclasses.dataclass
class Context:
    plan: Plan
    report: Report
    images: list[np.ndarray]  # RGB uint8, the first is "the" input
    started: float
    bases: dict[str, Any] = dataclasses.field(default_factory=dict)  # name → (module, labels)
    probes: dict[tuple[str, str, str], tuple[Any, Any]] = dataclasses.field(
        default_factory=dict
    )  # (model, device, dtype) → (LoadedModel, Probe) at detail size, native OS

    @property
    def device(self) -> str:
        return self.plan.device

    def left_s(self) -> float:
        return self.plan.budget_s - (time.perf_counter() - self.started)


def _trained(name: str) -> bool:
    from deeplab_viz.models import REGISTRY

    return REGISTRY[name].kind != "torchvision"  # torchvision: seeded random weights


def _model(ctx: Context, name: str, os_: int | None, device: str, dtype: str) -> Any:
    from deeplab_viz.models import ModelSpec, build_model

    spec = ModelSpec(name, os_, pretrained=_trained(name), device=device, dtype=dtype)
    return build_model(spec, base=ctx.bases[name])


def _detail_probe(ctx: Context, name: str, device: str, dtype: str) -> tuple[Any, Any]:
    """(model, probe) at the detail size and native stride, cached for the detail sections."""
    from deeplab_viz.probe import run_probe

    key = (name, device, dtype)
    if key not in ctx.probes:
        model = _model(ctx, name, None, device, dtype)
        ctx.probes[key] = (model, run_probe(model, ctx.images[0], size=ctx.plan.detail_size))
    return ctx.probes[key]


def _detail_models(ctx: Context) -> list[str]:
    """The planned detail models that loaded; else the first model that did."""
    names = [m for m in ctx.plan.detail_models if m in ctx.bases]
    return names or list(ctx.bases)[:1]


# ----------------------------------------------------------------------------- sections


def section_models(ctx: Context) -> dict[str, Any]:
    """Load every planned model once (CPU, float32, as trained or seeded random)."""
    from deeplab_viz.models import REGISTRY, load_base
    from deeplab_viz.weights import WeightsUnavailable

    loaded, skipped = [], []
    for name in ctx.plan.models:
        t0 = time.perf_counter()
        try:
            ctx.bases[name] = load_base(name, pretrained=_trained(name))
        except WeightsUnavailable as exc:
            skipped.append({"model": name, "reason": exc.message})
            continue
        except Exception as exc:  # a broken model must not stop the others
            skipped.append({"model": name, "reason": _one_line(exc)})
            ctx.report.check("models", f"{name} loads", False, error=_one_line(exc))
            continue
        module = ctx.bases[name][0]
        loaded.append(
            {
                "model": name,
                "kind": REGISTRY[name].kind,
                "weights": "trained" if _trained(name) else "random (seeded)",
                "native_stride": REGISTRY[name].native_stride,
                "params": sum(p.numel() for p in module.parameters()),
                "load_s": round(time.perf_counter() - t0, 2),
            }
        )
        _log(f"  loaded {name} in {loaded[-1]['load_s']} s")
    for s in skipped:
        _log(f"  skipped {s['model']}: {s['reason']}")
    return {"loaded": loaded, "skipped": skipped, "registry": list(REGISTRY)}


def _agreement_row(ctx: Context, name: str, os_: int, dtype: str, ref: Any) -> dict[str, Any]:
    from deeplab_viz.probe import run_probe

    size = ctx.plan.probe_size
    model = _model(ctx, name, os_, ctx.device, dtype)
    probe = run_probe(model, ctx.images[0], size=size)
    differ = probe.class_map != ref.class_map
    agree = _agreement(probe.class_map, ref.class_map)
    row: dict[str, Any] = {
        "model": name,
        "weights": "trained" if _trained(name) else "random (seeded)",
        "output_stride": os_,
        "dtype": dtype,
        "size": size,
        "agreement": round(agree, 6),
        "max_abs_logit_diff": round(float(np.abs(probe.logits - ref.logits).max()), 6),
        "ref_max_abs_logit": round(float(np.abs(ref.logits).max()), 4),
        **_margin_stats(ref.logits, differ),
        "nonfinite": _nonfinite(probe),
        "health": _health(model.module),
        "base_health": _health(ctx.bases[name][0]),
        "probe_ms": probe.timings_ms.get("total"),
    }
    sec, where = "agreement", f"{name} OS {os_} {dtype}"
    if dtype == "float32":
        need = TOLERANCES["float32_min_agreement"]
        ok = ctx.report.check(sec, f"{where} agreement", agree >= need, value=agree, min=need)
        if not ok and ctx.device == "cuda":  # is it TF32? one more probe tells
            with _tf32(False):
                again = run_probe(model, ctx.images[0], size=size)
            row["agreement_tf32_off"] = round(_agreement(again.class_map, ref.class_map), 6)
    ctx.report.check(sec, f"{where} finite", not row["nonfinite"], nonfinite=row["nonfinite"])
    clean = row["health"]["clean"] and row["base_health"]["clean"]
    ctx.report.check(sec, f"{where} no hooks left", clean, health=row["health"])
    return row


def section_agreement(ctx: Context) -> dict[str, Any]:
    """Every model × stride × precision against the CPU float32 probe of the same input."""
    from deeplab_viz.probe import run_probe

    rows = []
    for name in ctx.bases:
        for os_ in ctx.plan.strides:
            with _guard(ctx, "agreement", f"{name} OS {os_}"):
                ref_model = _model(ctx, name, os_, "cpu", "float32")
                ref = run_probe(ref_model, ctx.images[0], size=ctx.plan.probe_size)
                for dtype in ctx.plan.dtypes:
                    rows.append(_agreement_row(ctx, name, os_, dtype, ref))
                    r = rows[-1]
                    _log(f"  {name} OS {os_} {dtype}: agreement {r['agreement']:.5f}")
                del ref_model
        _free(ctx.device)
    by_dtype = {}
    for dtype in ctx.plan.dtypes:
        vals = [r["agreement"] for r in rows if r["dtype"] == dtype]
        if vals:
            worst = min((r for r in rows if r["dtype"] == dtype), key=lambda r: r["agreement"])
            by_dtype[dtype] = {
                "min": min(vals),
                "mean": round(sum(vals) / len(vals), 6),
                "worst": f"{worst['model']} OS {worst['output_stride']}",
            }
    return {
        "reference": "CPU float32 probe, same image and size",
        "by_dtype": by_dtype,
        "rows": rows,
    }


def _latency_point(
    ctx: Context, model: Any, prepared: Any, flag: bool | None, size: int
) -> dict[str, Any]:
    from deeplab_viz.probe import probe_prepared

    plan, dev = ctx.plan, ctx.device

    def probe() -> object:
        return probe_prepared(model, prepared)

    def forward() -> object:
        with torch.inference_mode():
            return model.module(prepared.tensor)

    with _cudnn_benchmark(flag):
        probe_runs = _time_ms(probe, dev, plan.warmup, plan.repeats)
        forward_runs = _time_ms(forward, dev, plan.warmup, plan.repeats)
        memory = _peak_memory(probe, dev)
    return {
        "model": model.spec.name,
        "output_stride": model.spec.output_stride,
        "dtype": model.spec.dtype,
        "size": size,
        "cudnn_benchmark": flag,
        "probe": _stats(probe_runs),
        "forward": _stats(forward_runs),
        "memory": memory,
    }


def _latency_order(ctx: Context) -> list[tuple[str, int, str]]:
    """(model, stride, precision), most wanted first: every model at float32 OS 16 before
    any model at a second stride or precision, so a cut-short run still covers them all."""
    plan = ctx.plan
    names = [m for m in plan.latency_models if m in ctx.bases]
    strides = sorted(plan.latency_strides, key=lambda s: (s != 16, s))
    combos = [(os_, dt) for dt in plan.latency_dtypes for os_ in strides]
    return [(name, os_, dt) for os_, dt in combos for name in names]


def section_latency(ctx: Context) -> dict[str, Any]:
    """One probe's latency and peak memory per model × stride × precision × size × cudnn."""
    from deeplab_viz.inference import prepare

    plan = ctx.plan
    budget = min(plan.latency_budget_s, max(0.0, ctx.left_s() - 10))
    t0 = time.perf_counter()
    rows, left_out = [], []
    for name, os_, dtype in _latency_order(ctx):
        with _guard(ctx, "latency", f"{name} OS {os_} {dtype}"):
            if time.perf_counter() - t0 > budget:
                left_out.append(f"{name} OS {os_} {dtype}")
                continue
            model = _model(ctx, name, os_, ctx.device, dtype)
            for size in plan.latency_sizes:
                prepared = prepare(ctx.images[0], model, size=size)
                for flag in plan.cudnn_flags:
                    rows.append(_latency_point(ctx, model, prepared, flag, size))
                    r = rows[-1]
                    _log(
                        f"  {name} OS {os_} {dtype} {size}px cudnn.benchmark={flag}: "
                        f"probe {r['probe']['median_ms']:.1f} ms, "
                        f"forward {r['forward']['median_ms']:.1f} ms"
                    )
                del prepared
            del model
            _free(ctx.device)
    timer = "CUDA events" if ctx.device == "cuda" else "wall clock"
    return {
        "conventions": f"probe_prepared (every intermediate to CPU float32) and the bare "
        f"module forward, batch 1, {timer}, median of {plan.repeats} after {plan.warmup} "
        "warm-up; memory: max_memory_allocated over one probe after reset_peak_memory_stats",
        "budget_s": round(budget, 1),
        "left_out_for_time": left_out,  # (model, stride, precision): every size and flag
        "rows": rows,
    }


def _rate_point(
    ctx: Context, x: torch.Tensor, weight: torch.Tensor, rate: int, flag: bool | None
) -> dict[str, Any]:
    from deeplab_viz.cost.taps import valid_tap_share

    plan = ctx.plan
    conv = torch.nn.Conv2d(x.shape[1], weight.shape[0], 3, padding=rate, dilation=rate, bias=False)
    conv = conv.to(device=x.device, dtype=x.dtype).eval()
    with torch.no_grad():
        conv.weight.copy_(weight)

    def run() -> torch.Tensor:
        with torch.inference_mode():
            return conv(x)

    with _cudnn_benchmark(flag):
        runs = _time_ms(run, ctx.device, plan.rate_warmup, plan.rate_repeats)
        memory = _peak_memory(run, ctx.device)
    return {
        "rate": rate,
        "dtype": str(x.dtype).removeprefix("torch."),
        "cudnn_benchmark": flag,
        **_stats(runs),
        "memory": memory,
        "valid_tap_share": round(valid_tap_share(rate, tuple(x.shape[-2:])), 4),
    }


def _rate_verdict(rows: list[dict[str, Any]]) -> dict[str, str]:
    out = {}
    for dtype, flag in sorted({(r["dtype"], r["cudnn_benchmark"]) for r in rows}, key=str):
        pts = sorted(
            (r for r in rows if r["dtype"] == dtype and r["cudnn_benchmark"] == flag),
            key=lambda r: r["rate"],
        )
        lo, hi = pts[0], pts[-1]
        text = (
            f"rate {hi['rate']} / rate {lo['rate']}: time ×{hi['median_ms'] / lo['median_ms']:.2f}"
        )
        if lo["memory"] and hi["memory"]:
            ratio = hi["memory"]["above_before_bytes"] / max(1, lo["memory"]["above_before_bytes"])
            text += f", memory ×{ratio:.2f}"
        out[f"{dtype} · cudnn.benchmark={flag}"] = text
    return out


def section_rate_sweep(ctx: Context) -> dict[str, Any]:
    """One 3×3 conv at each atrous rate: same weights, FLOPs and output at every rate."""
    plan = ctx.plan
    gen = torch.Generator().manual_seed(0)
    x_cpu = torch.randn(plan.rate_input, generator=gen)
    c_in = plan.rate_input[1]
    w_cpu = torch.randn((plan.rate_out_channels, c_in, 3, 3), generator=gen) / (3 * c_in**0.5)
    rows = []
    for dtype in plan.rate_dtypes:
        tdtype = getattr(torch, dtype)
        x, w = x_cpu.to(ctx.device, tdtype), w_cpu.to(ctx.device, tdtype)
        for flag in plan.cudnn_flags:
            for rate in plan.rates:
                rows.append(_rate_point(ctx, x, w, rate, flag))
        _log(f"  {dtype}: " + "; ".join(_rate_verdict(rows).values()))
        del x, w
        _free(ctx.device)
    return {
        "input_shape": list(plan.rate_input),
        "out_channels": plan.rate_out_channels,
        "padding": "same (= rate)",
        "rows": rows,
        "verdict": _rate_verdict(rows),
    }


def _erf_row(ctx: Context, name: str, dtype: str, target: str, ref: Any) -> dict[str, Any]:
    from deeplab_viz.erf import image_erf

    rgb = ctx.images[0]
    centre = (rgb.shape[0] // 2, rgb.shape[1] // 2)
    model = _model(ctx, name, None, ctx.device, dtype)
    got = image_erf(model, rgb, size=ctx.plan.detail_size, target=target, pixel_yx=centre)
    finite = bool(np.isfinite(got.erf_input).all())
    tv = 0.5 * float(np.abs(got.erf_input - ref.erf_input).sum()) if finite else None
    return {
        "model": name,
        "dtype": dtype,
        "target": target,
        "tv_distance": None if tv is None else round(tv, 6),
        "finite": finite,
        "gradient_total": got.total,
        "ref_gradient_total": ref.total,
        "mass_sides": {str(k): v for k, v in got.mass_sides.items()},
        "ref_mass_sides": {str(k): v for k, v in ref.mass_sides.items()},
        "health": _health(model.module),
        "ms": round(got.ms, 2),
    }


def section_erf(ctx: Context) -> dict[str, Any]:
    """The ERF (input gradient of one unit) on the device against the CPU's."""
    from deeplab_viz.erf import image_erf

    rows = []
    rgb = ctx.images[0]
    centre = (rgb.shape[0] // 2, rgb.shape[1] // 2)
    for name in _detail_models(ctx):
        with _guard(ctx, "erf", name):
            last = list(ctx.bases[name][0].stages)[-1]
            ref_model = _model(ctx, name, None, "cpu", "float32")
            for target in ("logits", f"stage:{last}"):
                ref = image_erf(
                    ref_model, rgb, size=ctx.plan.detail_size, target=target, pixel_yx=centre
                )
                for dtype in ctx.plan.dtypes:
                    row = _erf_row(ctx, name, dtype, target, ref)
                    rows.append(row)
                    where = f"{name} {target} {dtype}"
                    ctx.report.check("erf", f"{where} finite", row["finite"])
                    ctx.report.check("erf", f"{where} no hooks left", row["health"]["clean"])
                    if dtype == "float32":
                        limit = TOLERANCES["erf_float32_max_tv"]
                        ok = row["tv_distance"] is not None and row["tv_distance"] <= limit
                        ctx.report.check(
                            "erf", f"{where} matches CPU", ok, value=row["tv_distance"]
                        )
                    _log(f"  {where}: TV distance {row['tv_distance']}")
            _free(ctx.device)
    return {"tolerance": {"float32_max_tv": TOLERANCES["erf_float32_max_tv"]}, "rows": rows}


def _main_class(probe: Any) -> str:
    """The most common class other than the first (background); the first if alone."""
    counts = np.bincount(probe.class_map.ravel(), minlength=len(probe.class_names))
    order = [int(i) for i in np.argsort(-counts, kind="stable") if counts[i] > 0]
    rest = [i for i in order if i != 0]
    return probe.class_names[rest[0] if rest else order[0]]


def section_gradcam(ctx: Context) -> dict[str, Any]:
    """Grad-CAM of every ASPP branch from the device's probe against the CPU's."""
    if importlib.util.find_spec("captum") is None:
        return {"status": "skipped", "reason": "captum is not importable here"}
    from deeplab_viz.aspp import branch_gradcam

    rows = []
    for name in _detail_models(ctx):
        with _guard(ctx, "gradcam", name):
            ref_model, ref = _detail_probe(ctx, name, "cpu", "float32")
            cls = _main_class(ref)
            ref_maps = branch_gradcam(ref_model, ref, cls)
            for dtype in ctx.plan.dtypes:
                model, probe = _detail_probe(ctx, name, ctx.device, dtype)
                maps = branch_gradcam(model, probe, cls)
                branches = {}
                for b, ref_map in ref_maps.items():
                    scale = float(np.abs(ref_map).max())
                    diff = float(np.abs(maps[b] - ref_map).max())
                    branches[b] = {
                        "rel_max_diff": round(diff / scale, 6) if scale > 0 else round(diff, 6),
                        "finite": bool(np.isfinite(maps[b]).all()),
                    }
                row = {"model": name, "dtype": dtype, "class": cls, "branches": branches}
                row["health"] = _health(model.module)
                rows.append(row)
                where = f"{name} {dtype}"
                finite = all(v["finite"] for v in branches.values())
                ctx.report.check("gradcam", f"{where} finite", finite)
                ctx.report.check("gradcam", f"{where} no hooks left", row["health"]["clean"])
                if dtype == "float32":
                    worst = max(v["rel_max_diff"] for v in branches.values())
                    ok = worst <= TOLERANCES["gradcam_float32_max_rel"]
                    ctx.report.check("gradcam", f"{where} matches CPU", ok, value=worst)
                _log(
                    f"  {where} ({cls}): "
                    + ", ".join(f"{b} {v['rel_max_diff']}" for b, v in branches.items())
                )
    tol = {"float32_max_rel": TOLERANCES["gradcam_float32_max_rel"]}
    return {"tolerance": tol, "rows": rows}


def section_ablation(ctx: Context) -> dict[str, Any]:
    """Each ASPP branch switched off on the device against the same on the CPU."""
    from deeplab_viz.aspp import ablate

    rows = []
    need = TOLERANCES["ablation_float32_min_agreement"]
    for name in _detail_models(ctx):
        with _guard(ctx, "ablation", name):
            ref_model, ref = _detail_probe(ctx, name, "cpu", "float32")
            for dtype in ctx.plan.dtypes:
                model, probe = _detail_probe(ctx, name, ctx.device, dtype)
                for branch in (b.name for b in ref.branches):
                    want = ablate(ref_model, ref, [branch])
                    got = ablate(model, probe, [branch])
                    agree = _agreement(got.class_map, want.class_map)
                    rows.append(
                        {
                            "model": name,
                            "dtype": dtype,
                            "off": branch,
                            "agreement": round(agree, 6),
                            "changed_fraction": round(got.changed_fraction, 6),
                            "ref_changed_fraction": round(want.changed_fraction, 6),
                        }
                    )
                    if dtype == "float32":
                        where = f"{name} {dtype} without {branch}"
                        ctx.report.check("ablation", where, agree >= need, value=agree, min=need)
                health = _health(model.module)
                ctx.report.check("ablation", f"{name} {dtype} no hooks left", health["clean"])
    return {"tolerance": {"float32_min_agreement": need}, "rows": rows}


def _find_feature(keywords: tuple[tuple[str, ...], tuple[str, ...]]) -> list[str]:
    """Where deeplab_viz provides a feature: modules named for it, functions named for it."""
    import deeplab_viz
    import deeplab_viz.inference

    by_module, by_function = keywords
    found = [
        f"deeplab_viz.{m.name}"
        for m in pkgutil.iter_modules(deeplab_viz.__path__)
        if any(k in m.name.lower() for k in by_module)
    ]
    for module_name in ("deeplab_viz.inference", "deeplab_viz.probe", *found):
        with contextlib.suppress(Exception):
            module = importlib.import_module(module_name)
            found += [
                f"{module_name}.{attr}"
                for attr in dir(module)
                if not attr.startswith("_")
                and callable(getattr(module, attr))
                and any(k in attr.lower() for k in by_function)
            ]
    return sorted(set(found))


def _optional(module_name: str, attr: str) -> Callable[..., Any] | None:
    """``module.attr`` when deeplab_viz provides it (CRF and multi-scale came late)."""
    if importlib.util.find_spec(module_name) is None:
        return None
    return getattr(importlib.import_module(module_name), attr, None)


def _not_present(feature: str) -> dict[str, Any]:
    where = _find_feature(OPTIONAL_FEATURES[feature])
    if not where:
        return {"status": "not present"}
    return {
        "status": "present, not checked",
        "where": where,
        "note": "its entry point moved: teach bench/gpu_check.py the new name",
    }


def _softmax(logits: np.ndarray) -> np.ndarray:
    """(K, H, W) logits → float32 probabilities over K."""
    return torch.softmax(torch.from_numpy(np.array(logits, dtype=np.float32)), 0).numpy()


def section_multi_scale(ctx: Context) -> dict[str, Any]:
    """Multi-scale + flip inference on the device against the same on the CPU."""
    fn = _optional("deeplab_viz.multiscale", "multiscale")
    if fn is None:
        return _not_present("multi_scale")
    rows, rgb, size = [], ctx.images[0], ctx.plan.detail_size
    need = TOLERANCES["multi_scale_float32_min_agreement"]
    kw = {"size": size, "scales": ctx.plan.ms_scales, "flip": True, "keep_logits": False}
    for name in _detail_models(ctx):
        with _guard(ctx, "multi_scale", name):
            ref = fn(_model(ctx, name, None, "cpu", "float32"), rgb, **kw)
            for dtype in ctx.plan.dtypes:
                model = _model(ctx, name, None, ctx.device, dtype)
                got = fn(model, rgb, **kw)
                agree = _agreement(got.class_map, ref.class_map)
                finite = bool(torch.isfinite(got.probs).all())
                health = _health(model.module)
                rows.append(
                    {
                        "model": name,
                        "dtype": dtype,
                        "views": len(got.views),
                        "agreement": round(agree, 6),
                    }
                )
                rows[-1].update(finite=finite, ms=round(got.ms, 2), health=health)
                where = f"{name} {dtype}"
                ctx.report.check("multi_scale", f"{where} finite", finite)
                ctx.report.check("multi_scale", f"{where} no hooks left", health["clean"])
                if dtype == "float32":
                    ok = agree >= need
                    ctx.report.check(
                        "multi_scale", f"{where} matches CPU", ok, value=agree, min=need
                    )
                _log(f"  {where}: {len(got.views)} views, agreement {agree:.5f}")
            _free(ctx.device)
    settings = {"scales": list(ctx.plan.ms_scales), "flip": True, "size": size}
    return {"tolerance": {"float32_min_agreement": need}, "settings": settings, "rows": rows}


def section_crf(ctx: Context) -> dict[str, Any]:
    """The dense CRF on the device probe's softmax against the same on the CPU probe's."""
    fn = _optional("deeplab_viz.crf", "dense_crf")
    if fn is None:
        return _not_present("crf")
    if importlib.util.find_spec("pydensecrf") is None:
        return {"status": "skipped", "reason": "pydensecrf (PyPI pydensecrf2) not importable here"}
    rows, rgb = [], ctx.images[0]
    need = TOLERANCES["crf_float32_min_agreement"]
    for name in _detail_models(ctx):
        with _guard(ctx, "crf", name):
            _, ref_probe = _detail_probe(ctx, name, "cpu", "float32")
            ref = fn(rgb, _softmax(ref_probe.logits))
            for dtype in ctx.plan.dtypes:
                _, probe = _detail_probe(ctx, name, ctx.device, dtype)
                probs = _softmax(probe.logits)
                finite = bool(np.isfinite(probs).all())
                got = fn(rgb, probs) if finite else None
                agree = _agreement(got.class_map, ref.class_map) if got is not None else 0.0
                rows.append({"model": name, "dtype": dtype, "agreement": round(agree, 6)})
                rows[-1].update(finite=finite, ms=round(got.ms, 2) if got is not None else None)
                where = f"{name} {dtype}"
                ctx.report.check("crf", f"{where} probabilities finite", finite)
                if dtype == "float32":
                    ok = agree >= need
                    ctx.report.check("crf", f"{where} matches CPU", ok, value=agree, min=need)
                _log(f"  {where}: CRF agreement {agree:.5f}")
    return {
        "note": "the CRF itself runs on the CPU (pydensecrf); the device changes its input",
        "tolerance": {"float32_min_agreement": need},
        "rows": rows,
    }


def _probe_jobs(model: Any, images: list[np.ndarray], size: int, n: int, threads: int) -> list:
    """n probes of images[i % len]; threads > 1: all started at once behind a barrier."""
    from deeplab_viz.probe import run_probe

    if threads == 1:
        return [run_probe(model, images[i % len(images)], size=size) for i in range(n)]
    barrier = threading.Barrier(threads)

    def job(i: int) -> Any:
        barrier.wait(timeout=120)
        return run_probe(model, images[i % len(images)], size=size)

    with ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(job, range(n)))


def section_threads(ctx: Context) -> dict[str, Any]:
    """THREADS threads probing one shared model at once, against the same probes in series."""
    rows = []
    n, size = ctx.plan.threads, ctx.plan.probe_size
    specs = [s for s in ctx.plan.thread_specs if s[0] in ctx.bases]
    if not specs and ctx.bases:
        specs = [(next(iter(ctx.bases)), None, "float32")]
    for name, os_, dtype in specs:
        with _guard(ctx, "threads", name):
            model = _model(ctx, name, os_, ctx.device, dtype)
            serial = _probe_jobs(model, ctx.images, size, n, 1)
            t0 = time.perf_counter()
            together = _probe_jobs(model, ctx.images, size, n, n)
            wall = time.perf_counter() - t0
            same_maps = all(
                np.array_equal(a.class_map, b.class_map)
                for a, b in zip(serial, together, strict=True)
            )
            diff = max(
                float(np.abs(a.logits - b.logits).max())
                for a, b in zip(serial, together, strict=True)
            )
            row = {
                "model": name,
                "output_stride": model.spec.output_stride,
                "dtype": dtype,
                "threads": n,
                "images": min(n, len(ctx.images)),
                "class_maps_identical": same_maps,
                "logits_identical": diff == 0.0,
                "max_abs_logit_diff": diff,
                "concurrent_wall_s": round(wall, 3),
                "health": _health(model.module),
            }
            rows.append(row)
            where = f"{name} OS {row['output_stride']} {dtype}"
            ctx.report.check("threads", f"{where} identical to serial", same_maps, max_diff=diff)
            ctx.report.check("threads", f"{where} no hooks left", row["health"]["clean"])
            _log(f"  {where}: {n} threads, maps identical={same_maps}, max logit diff {diff}")
            del model
            _free(ctx.device)
    return {"rows": rows}


@contextlib.contextmanager
def _pinned_navigation() -> Iterator[None]:
    """AppTest runs app.py like a server does (see tests/conftest.py _pin_navigation_mode)."""
    from streamlit.runtime.pages_manager import PagesManager
    from streamlit.testing.v1 import app_test as app_test_module

    class NavigationPagesManager(PagesManager):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            PagesManager.uses_pages_directory = False
            super().__init__(*args, **kwargs)

    old = app_test_module.PagesManager
    app_test_module.PagesManager = NavigationPagesManager
    try:
        yield
    finally:
        app_test_module.PagesManager = old


def _open_page(ctx: Context, page: str, dtype: str | None) -> dict[str, Any]:
    from streamlit.testing.v1 import AppTest

    t0 = time.perf_counter()
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=ctx.plan.page_timeout_s)
    at.query_params["sb_size"] = str(ctx.plan.page_size)
    at.run()
    steps = [("start", list(at.exception))]
    if not at.exception:
        at.selectbox(key="sb_device").set_value(ctx.device).run()
        steps.append(("device", list(at.exception)))
    if not at.exception and dtype:
        at.selectbox(key="sb_dtype").set_value(dtype).run()
        steps.append(("precision", list(at.exception)))
    if not at.exception:
        at.switch_page(f"pages/{page}").run()
        steps.append(("page", list(at.exception)))
    errors = [
        f"{step}: {' '.join(str(e.message).split())[:300]}" for step, exs in steps for e in exs
    ]
    running = " ".join(c.value for c in at.sidebar.caption if "Running:" in str(c.value))
    chosen = [s.value for s in at.sidebar.selectbox if s.key in ("sb_device", "sb_dtype")]
    return {
        "page": page,
        "device": ctx.device,
        "dtype": dtype or "float32",
        "exceptions": errors,
        "errors_shown": [" ".join(str(e.value).split())[:200] for e in at.error],
        "title": at.title[0].value if len(at.title) else None,
        "running": running,
        "sidebar": chosen,
        "runs_on_device": f"on {ctx.device}" in running,
        "s": round(time.perf_counter() - t0, 2),
    }


def section_pages(ctx: Context) -> dict[str, Any]:
    """Every page through AppTest with the sidebar's device set to the checked one."""
    missing = [m for m in ("streamlit", "plotly") if importlib.util.find_spec(m) is None]
    if missing:
        return {"status": "skipped", "reason": f"{', '.join(missing)} not importable here"}
    import streamlit as st

    files = sorted(p.name for p in (ROOT / "pages").glob("*.py"))
    pages = [p for p in files if ctx.plan.pages is None or p in ctx.plan.pages]
    runs = [(p, None) for p in pages] + [("home.py", d) for d in ctx.plan.page_dtypes]
    rows = []
    st.cache_resource.clear()
    st.cache_data.clear()
    with _pinned_navigation():
        for page, dtype in runs:
            if page not in files:
                continue
            if ctx.left_s() < 30:
                rows.append({"page": page, "dtype": dtype, "skipped": "out of time"})
                continue
            try:
                row = _open_page(ctx, page, dtype)
            except Exception as exc:  # AppTest itself failed: record it, go on
                row = {"page": page, "dtype": dtype or "float32", "s": None}
                row.update(exceptions=[f"AppTest: {_one_line(exc)}"], runs_on_device=False)
            rows.append(row)
            where = f"{page} on {ctx.device} {row['dtype']}"
            ctx.report.check(
                "pages", f"{where} no exception", not row["exceptions"], errors=row["exceptions"]
            )
            ctx.report.check("pages", f"{where} runs on {ctx.device}", row["runs_on_device"])
            _log(f"  {where}: {len(row['exceptions'])} exception(s), {row['s']} s")
    shared = _cached_model_health()
    for label, h in shared.items():
        ctx.report.check("pages", f"shared model {label} clean after the pages", h["clean"])
    return {"rows": rows, "shared_models": shared}


def _cached_model_health() -> dict[str, dict[str, Any]]:
    """Health of every model the pages loaded into the app's shared cache."""
    try:
        from ui import cache
    except Exception:
        return {}
    loaded = getattr(cache, "LOADED", {}) or {}
    return {
        spec.label + f" · {spec.device} · {spec.dtype}": _health(m.module)
        for spec, m in loaded.items()
    }


SECTIONS: tuple[tuple[str, Callable[[Context], dict[str, Any]]], ...] = (
    ("models", section_models),
    ("agreement", section_agreement),
    ("erf", section_erf),
    ("gradcam", section_gradcam),
    ("ablation", section_ablation),
    ("crf", section_crf),
    ("multi_scale", section_multi_scale),
    ("threads", section_threads),
    ("pages", section_pages),
    ("rate_sweep", section_rate_sweep),
    ("latency", section_latency),
)


# ---------------------------------------------------------------------------------- run


def run_section(ctx: Context, name: str, fn: Callable[[Context], dict[str, Any]]) -> None:
    """Run one section; its exception becomes its one-line error, and the run goes on."""
    _log(f"== {name} ({ctx.left_s():.0f} s of budget left)")
    checks_before = len(ctx.report.data["checks"])
    t0 = time.perf_counter()
    if ctx.left_s() <= 0:
        result: dict[str, Any] = {"status": "skipped", "reason": "out of time budget"}
    else:
        try:
            result = fn(ctx)
        except Exception as exc:
            traceback.print_exc()
            result = {"status": "error", "error": _one_line(exc)}
            ctx.report.check(name, "section ran", False, error=result["error"])
    new = ctx.report.data["checks"][checks_before:]
    if "status" not in result:  # pass / fail from its checks; "report" when it has none
        result["status"] = (
            "fail" if any(not c["passed"] for c in new) else "pass" if new else "report"
        )
    result["checks"] = {
        "passed": sum(c["passed"] for c in new),
        "failed": sum(not c["passed"] for c in new),
    }
    result["elapsed_s"] = round(time.perf_counter() - t0, 2)
    ctx.report.data["sections"][name] = result
    ctx.report.data["elapsed_s"] = round(time.perf_counter() - ctx.started, 2)
    ctx.report.save()


def _images(n: int) -> list[np.ndarray]:
    from deeplab_viz.images import load_image

    return [load_image(SAMPLES / f).rgb for f in IMAGE_FILES[:n] if (SAMPLES / f).exists()]


def _summary(data: dict[str, Any]) -> list[str]:
    """A few lines a person reads first."""
    s = data["sections"]
    m = data["machine"]
    lines = [
        f"gpu_check ({data['mode']}) on {m.get('device_name')} · torch {m.get('torch')} · "
        f"{data.get('elapsed_s', 0):.0f} s"
    ]
    for name, sec in s.items():
        head = f"{name}: {sec['status']}"
        if sec.get("error"):
            head += f" ({sec['error']})"
        elif sec.get("reason"):
            head += f" ({sec['reason']})"
        if name == "agreement" and sec.get("by_dtype"):
            head += " · " + ", ".join(
                f"{d} min {v['min']:.4f} ({v['worst']})" for d, v in sec["by_dtype"].items()
            )
        if name == "models":
            head += f" · {len(sec.get('loaded', []))} loaded, {len(sec.get('skipped', []))} skipped"
        if name == "rate_sweep" and sec.get("verdict"):
            head += " · " + "; ".join(f"{k}: {v}" for k, v in list(sec["verdict"].items())[:2])
        if name == "latency" and sec.get("rows"):
            head += f" · {len(sec['rows'])} points, {len(sec['left_out_for_time'])} configs left out for time"
        if name == "pages" and sec.get("rows"):
            ok = sum(1 for r in sec["rows"] if not r.get("exceptions") and "skipped" not in r)
            head += f" · {ok}/{len(sec['rows'])} page runs without exception"
        lines.append(head)
    failed = [c for c in data["checks"] if not c["passed"]]
    passed = len(data["checks"]) - len(failed)
    lines.append(f"checks: {passed} passed, {len(failed)} failed")
    lines += [f"  FAILED {c['section']}: {c['name']}" for c in failed[:20]]
    lines.append("result: " + ("PASS" if not failed else "FAIL"))
    return lines


def skip_report(out: Path, reason: str) -> dict[str, Any]:
    data = {
        "schema": SCHEMA,
        "skipped": True,
        "reason": reason,
        "created_utc": _now(),
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "python": platform.python_version(),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(data, indent=1) + "\n")
    return data


def run(plan: Plan, out: Path) -> Report:
    started = time.perf_counter()
    header = {
        "schema": SCHEMA,
        "skipped": False,
        "mode": plan.mode,
        "created_utc": _now(),
        "machine": _machine(plan.device),
        "tolerances": TOLERANCES,
        "settings": dataclasses.asdict(plan),
    }
    report = Report(out, header)
    report.save()
    images = _images(len(IMAGE_FILES))
    ctx = Context(plan=plan, report=report, images=images, started=started)
    torch.manual_seed(0)
    for name, fn in SECTIONS:
        run_section(ctx, name, fn)
    report.data["summary"] = _summary(report.data)
    report.data["passed"] = not report.failed()
    report.save()
    return report


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="fewer latency points, pages and rates")
    mode.add_argument(
        "--cpu-dry-run",
        action="store_true",
        help="the same code paths on the CPU with tiny inputs (float32, fewer models)",
    )
    ap.add_argument("--out", type=Path, help=f"JSON file (default {DEFAULT_OUT.relative_to(ROOT)})")
    ap.add_argument("--budget-s", type=float, help="stop starting sections after this many seconds")
    args = ap.parse_args(argv)
    out = args.out or (DRY_RUN_OUT if args.cpu_dry_run else DEFAULT_OUT)
    if not args.cpu_dry_run and not torch.cuda.is_available():
        skip_report(out, "no CUDA device")
        print(f"skip: no CUDA device (torch {torch.__version__} sees none); wrote {out}")
        return 0
    from deeplab_viz.models import REGISTRY
    from deeplab_viz.models.registry import DEFAULT_MODEL

    mode_name = "cpu-dry-run" if args.cpu_dry_run else "quick" if args.quick else "full"
    plan = make_plan(mode_name, REGISTRY, DEFAULT_MODEL)
    if args.budget_s:
        plan = dataclasses.replace(plan, budget_s=args.budget_s)
    _log(
        f"gpu_check {plan.mode} on {plan.device}: {len(plan.models)} models, budget {plan.budget_s:.0f} s"
    )
    report = run(plan, out)
    print("\n".join(report.data["summary"]))
    print(f"wrote {out}")
    return 0 if report.data["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
