"""The default model's forward on a shared CPU: the app's thread count against torch's default.

    python bench/contention.py [--repeats 15] [--out bench/results/contention-cpu.json]

Quiet, then with a competing torch job (a matrix-product loop with torch's default
threads in another process), the app's ``segment()`` on the sample cat is timed
with :func:`deeplab_viz.threads.app_threads` threads and with torch's default,
alternating run by run. Reports median, 90th percentile and maximum (ms) and the
share of runs over one second. Nothing asserts: JSON out.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from deeplab_viz.images import load_image  # noqa: E402
from deeplab_viz.inference import segment  # noqa: E402
from deeplab_viz.models import ModelSpec, build_model, load_base  # noqa: E402
from deeplab_viz.threads import app_threads  # noqa: E402

COMPETITOR = "import torch\na = torch.randn(1024, 1024)\nwhile True:\n    a = (a @ a).tanh_()\n"


def _summary(ms: list[float]) -> dict:
    return {
        "median_ms": round(statistics.median(ms), 1),
        "p90_ms": round(float(np.percentile(ms, 90)), 1),
        "max_ms": round(max(ms), 1),
        "over_1s": round(sum(m > 1000 for m in ms) / len(ms), 3),
    }


def phase(model, rgb, threads: dict[str, int], repeats: int) -> dict:
    times: dict[str, list[float]] = {k: [] for k in threads}
    for _ in range(repeats):
        for name, n in threads.items():
            torch.set_num_threads(n)
            t = time.perf_counter()
            segment(model, rgb)
            times[name].append((time.perf_counter() - t) * 1000)
    return {name: _summary(v) | {"threads": threads[name]} for name, v in times.items()}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repeats", type=int, default=15)
    p.add_argument("--model", default="voc-mobilenetv2")
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "contention-cpu.json")
    args = p.parse_args(argv)
    default = torch.get_num_threads()
    threads = {"app": app_threads(), "torch default": default}
    model = build_model(ModelSpec(name=args.model), base=load_base(args.model))
    rgb = load_image(ROOT / "deeplab_viz" / "assets" / "samples" / "chelsea.png", max_side=1024).rgb
    for n in set(threads.values()):  # warm-up at each thread count
        torch.set_num_threads(n)
        segment(model, rgb)
    report = {
        "model": args.model,
        "cpu": platform.processor() or platform.machine(),
        "cores": default,
        "torch": torch.__version__,
        "quiet": phase(model, rgb, threads, args.repeats),
    }
    competitor = subprocess.Popen([sys.executable, "-c", COMPETITOR])
    try:
        time.sleep(2)  # let it start
        report["with a competing torch job"] = phase(model, rgb, threads, args.repeats)
    finally:
        competitor.kill()
        competitor.wait()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
