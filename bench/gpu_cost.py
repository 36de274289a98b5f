#!/usr/bin/env python
"""What DeepLab costs on this machine: the measurements of the "GPU and cost" page, as JSON.

    python bench/gpu_cost.py [--quick | --tiny] [--device auto|cpu|cuda] [--out PATH]

* latency (median, 90th percentile), peak memory and FLOPs per model × output stride ×
  precision × input size (float16/bfloat16 on CUDA only; torchvision models with random
  weights: weights do not change the cost of a forward);
* memory and time of one 3×3 convolution against its atrous rate (with cudnn.benchmark
  off and on, on CUDA);
* cudnn.benchmark off vs on for whole models (CUDA only);
* the machine (CPU model, torch version, device name) and ratios measured in this one run
  (OS 8 / OS 16 latency and FLOPs, float16 / float32 latency, …).

``--quick`` is a subset that finishes in well under two minutes on a 2-core CPU;
``--tiny`` is a seconds-long smoke run for tests. See bench/README.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from deeplab_viz import cost  # noqa: E402
from deeplab_viz.models import REGISTRY, ModelSpec, build_model, load_base  # noqa: E402
from deeplab_viz.models.registry import resolve_device  # noqa: E402
from deeplab_viz.weights import WeightsUnavailable  # noqa: E402

SCHEMA = "atrous-lab/gpu_cost/1"


@dataclasses.dataclass(frozen=True)
class Plan:
    mode: str
    models: tuple[str, ...]
    strides: tuple[int, ...]
    dtypes: tuple[str, ...]
    sizes: tuple[int, ...]
    warmup: int
    repeats: int
    rates: tuple[int, ...]
    rate_channels: int
    rate_feature: int
    cudnn_configs: tuple[tuple[str, int, str, int], ...]  # (model, OS, dtype, size)


def make_plan(mode: str, device: str) -> Plan:
    cuda = device == "cuda"
    low = ("float16", "bfloat16") if cuda else ()
    if mode == "tiny":
        return Plan(
            mode=mode,
            models=("voc-mobilenetv2", "deeplabv3_resnet50"),
            strides=(8, 16, 32),
            dtypes=("float32", *low[:1]),
            sizes=(65,),
            warmup=0,
            repeats=1,
            rates=(1, 2, 4),
            rate_channels=8,
            rate_feature=9,
            cudnn_configs=(("voc-mobilenetv2", 8, "float32", 65),) if cuda else (),
        )
    if mode == "quick":
        return Plan(
            mode=mode,
            models=("voc-mobilenetv2", "deeplabv3_resnet50"),
            strides=(8, 16, 32),
            dtypes=("float32", *low[:1]),
            sizes=(513,) if cuda else (257,),
            warmup=3 if cuda else 1,
            repeats=10 if cuda else 2,
            rates=(1, 6, 12, 24, 36),
            rate_channels=256 if cuda else 128,
            rate_feature=65,
            cudnn_configs=(("deeplabv3_resnet50", 8, "float32", 513),) if cuda else (),
        )
    return Plan(
        mode="full",
        models=cost.benchmark_models(),
        strides=(8, 16, 32),
        dtypes=("float32", *low),
        sizes=(257, 385, 513),
        warmup=5 if cuda else 1,
        repeats=20 if cuda else 3,
        rates=(1, 2, 4, 6, 12, 18, 24, 36),
        rate_channels=256,
        rate_feature=65,
        cudnn_configs=tuple(
            (name, 8, dt, 513)
            for name in ("deeplabv3_resnet50", "deeplabv3_mobilenet_v3_large")
            for dt in ("float32", "float16")
        )
        if cuda
        else (),
    )


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _pretrained(name: str) -> bool:
    return REGISTRY[name].kind == "tflite"  # the offline model only comes trained


def run(plan: Plan, device: str) -> dict:
    started = time.perf_counter()
    points: list[cost.CostPoint] = []
    skipped: list[dict[str, str]] = []
    total = len(plan.models) * len(plan.dtypes) * len(plan.strides) * len(plan.sizes)
    done = 0
    bases = {}
    for name in plan.models:
        try:
            bases[name] = load_base(name, pretrained=_pretrained(name))
        except WeightsUnavailable as exc:
            skipped.append({"model": name, "reason": exc.message})
            done += len(plan.dtypes) * len(plan.strides) * len(plan.sizes)
            _log(f"skip {name}: {exc.message}")
            continue
        for dt in plan.dtypes:
            for os_ in plan.strides:
                spec = ModelSpec(name, os_, pretrained=_pretrained(name), device=device, dtype=dt)
                model = build_model(spec, base=bases[name])
                for size in plan.sizes:
                    done += 1
                    p = cost.measure_config(
                        spec, size, model=model, warmup=plan.warmup, repeats=plan.repeats
                    )
                    points.append(p)
                    _log(
                        f"[{done}/{total}] {p.label} · {dt} · {size} px: "
                        f"{p.latency.median_ms:.1f} ms, {p.flops / 1e9:.2f} GFLOPs, "
                        f"{p.memory.bytes / 2**20:.1f} MB ({p.memory.method})"
                    )
                del model
    rate_runs = []
    for flag in (False, True) if device == "cuda" else (None,):
        sweep = cost.memory_vs_rate(
            plan.rates,
            channels=plan.rate_channels,
            feature_hw=(plan.rate_feature, plan.rate_feature),
            device=device,
            cudnn_benchmark_on=flag,
            warmup=max(1, plan.warmup),
            repeats=max(2, plan.repeats),
        )
        rate_runs.extend(sweep)
        _log(f"memory vs rate (cudnn.benchmark={flag}): " + cost.rate_verdict(sweep))
    cudnn: dict[str, object] = {"available": device == "cuda", "results": []}
    if device != "cuda":
        cudnn["reason"] = (
            "CUDA not available on this machine"
            if not torch.cuda.is_available()
            else ("measured on the CPU (--device cpu)")
        )
    for name, os_, dt, size in plan.cudnn_configs:
        if name not in bases:
            continue
        spec = ModelSpec(name, os_, pretrained=_pretrained(name), device=device, dtype=dt)
        model = build_model(spec, base=bases[name])
        pair = cost.cudnn_compare(
            model, (size, size), warmup=max(2, plan.warmup), repeats=plan.repeats
        )
        cudnn["results"].append(
            {
                "model": name,
                "label": model.spec.label,
                "output_stride": os_,
                "dtype": dt,
                "size": size,
                "off": dataclasses.asdict(pair[False]),
                "on": dataclasses.asdict(pair[True]),
                "on_over_off": round(pair[True].median_ms / pair[False].median_ms, 3),
            }
        )
        _log(
            f"cudnn.benchmark {name} OS {os_} {dt} {size}px: off {pair[False].median_ms:.1f} ms, "
            f"on {pair[True].median_ms:.1f} ms"
        )
        del model
    verdicts = {}
    for flag in sorted({p.cudnn_benchmark for p in rate_runs}, key=str):
        key = "default" if flag is None else f"cudnn_benchmark_{'on' if flag else 'off'}"
        verdicts[key] = cost.rate_verdict([p for p in rate_runs if p.cudnn_benchmark == flag])
    machine = cost.machine_info(device)
    import torchvision

    machine.update(
        python=platform.python_version(),
        torchvision=torchvision.__version__,
        platform=platform.platform(),
    )
    return {
        "schema": SCHEMA,
        "mode": plan.mode,
        "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine,
        "conventions": {
            "flops": cost.FLOP_CONVENTION,
            "latency": "wall-clock per forward, batch 1, torch.inference_mode, CUDA "
            "synchronised; median and 90th percentile of the timed runs after warm-up",
            "memory": cost.METHOD_NOTES,
            "weights": "voc-mobilenetv2 trained; torchvision models random (cost is the same)",
        },
        "settings": dataclasses.asdict(plan),
        "latency": [dataclasses.asdict(p) for p in points],
        "skipped": skipped,
        "memory_vs_rate": [dataclasses.asdict(p) for p in rate_runs],
        "memory_vs_rate_verdict": verdicts,
        "cudnn_benchmark": cudnn,
        "ratios": cost.ratios(points),
        "elapsed_s": round(time.perf_counter() - started, 2),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="a subset: 2 models, one size")
    mode.add_argument("--tiny", action="store_true", help="a smoke run on 65 px inputs (tests)")
    ap.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    ap.add_argument(
        "--out", type=Path, help="JSON file (default bench/results/gpu_cost-<device>.json)"
    )
    ap.add_argument(
        "--threads",
        type=int,
        help="torch CPU threads (default: torch's choice; 1 for --quick/--tiny on a busy CPU)",
    )
    args = ap.parse_args(argv)
    try:
        device = resolve_device(args.device)
    except ValueError as exc:
        ap.error(str(exc))
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    busy = device == "cpu" and load > (os.cpu_count() or 1)
    if args.threads:
        torch.set_num_threads(args.threads)
    elif busy and (args.quick or args.tiny):
        # Threads that wait for each other on an oversubscribed CPU make timings swing
        # several-fold; one thread is slower in principle but steadier in practice.
        torch.set_num_threads(1)
    if busy:
        _log(
            f"warning: this machine is busy (load {load:.1f} on {os.cpu_count()} cores): CPU "
            f"timings will be noisy; measuring with {torch.get_num_threads()} torch thread(s)"
        )
    plan = make_plan("tiny" if args.tiny else "quick" if args.quick else "full", device)
    out = args.out or ROOT / "bench" / "results" / f"gpu_cost-{device}.json"
    _log(
        f"{plan.mode} run on {device}: {len(plan.models)} models × {len(plan.strides)} strides "
        f"× {len(plan.dtypes)} precisions × {len(plan.sizes)} sizes"
    )
    result = run(plan, device)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    for key, r in result["ratios"].items():
        print(f"{key}: " + ", ".join(f"{k} = {v:.2f}" for k, v in r.items()))
    print(f"wrote {out} in {result['elapsed_s']:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
