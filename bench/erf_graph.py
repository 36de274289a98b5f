"""The Effective RF tab's pixel step: a kept forward graph against a fresh forward + backward.

    python bench/erf_graph.py [--repeats 9] [--threads 1] [--out bench/results/erf_graph-cpu.json]

On the default model and the sample cat at 513 px (the app's defaults), the gradient
of one logits unit is timed two ways, interleaved (:func:`deeplab_viz.timing.interleaved`):
``fresh`` runs :func:`deeplab_viz.erf.image_erf` as before (forward + backward), ``kept``
passes the graph of :func:`deeplab_viz.erf.image_graph` (one backward). Each round asks
for a different unit, as a moving pixel does. Also: the time to build the graph, and the
process's resident memory before and after building it (psutil; coarse, as any RSS is).
Both ways are checked to give the same map. Nothing asserts: JSON out.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import psutil
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from deeplab_viz import erf as E  # noqa: E402
from deeplab_viz.images import load_image  # noqa: E402
from deeplab_viz.models import ModelSpec, build_model  # noqa: E402
from deeplab_viz.paths import SAMPLES_DIR  # noqa: E402
from deeplab_viz.timing import compare, interleaved  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repeats", type=int, default=9)
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads (the app: 1)")
    p.add_argument("--size", type=int, default=513)
    p.add_argument("--out", default=str(ROOT / "bench" / "results" / "erf_graph-cpu.json"))
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)

    model = build_model(ModelSpec())  # the app's default model, as loaded
    rgb = load_image(SAMPLES_DIR / "chelsea.png").rgb
    target = "logits"
    proc = psutil.Process()
    rss_before = proc.memory_info().rss
    t0 = time.perf_counter()
    graph = E.image_graph(model, rgb, size=args.size, target=target)
    build_ms = (time.perf_counter() - t0) * 1000
    rss_after = proc.memory_info().rss

    h, w = graph.output_hw
    units = iter([(h // 2, (w // 4 + i) % w) for i in range(10 * args.repeats + 10)])
    common = {"size": args.size, "target": target}

    def fresh() -> None:
        E.image_erf(model, rgb, unit_yx=next(units), **common)

    def kept() -> None:
        E.image_erf(model, rgb, unit_yx=next(units), graph=graph, **common)

    spreads = interleaved({"fresh": fresh, "kept": kept}, repeats=args.repeats, warmup=1)
    unit = (h // 2, w // 2)
    a = E.image_erf(model, rgb, unit_yx=unit, **common).erf_input
    b = E.image_erf(model, rgb, unit_yx=unit, graph=graph, **common).erf_input
    verdict = compare("kept", spreads["kept"], "fresh", spreads["fresh"])
    report = {
        "schema": "atrous-lab/erf_graph/1",
        "command": " ".join(["bench/erf_graph.py", *(argv or sys.argv[1:])]),
        "machine": {
            "cpu_count": psutil.cpu_count(),
            "torch": torch.__version__,
            "python": platform.python_version(),
            "threads": args.threads,
        },
        "model": model.spec.label,
        "size": args.size,
        "target": target,
        "feature_map_hw": [h, w],
        "fresh_ms": {"median": round(spreads["fresh"].median_ms, 1),
                     "runs": [round(v, 1) for v in spreads["fresh"].runs_ms]},
        "kept_ms": {"median": round(spreads["kept"].median_ms, 1),
                    "runs": [round(v, 1) for v in spreads["kept"].runs_ms]},
        "kept_over_fresh": round(spreads["kept"].median_ms / spreads["fresh"].median_ms, 3),
        "verdict": verdict.sentence(),
        "graph_build_ms": round(build_ms, 1),
        "graph_rss_growth_mb": round((rss_after - rss_before) / 1e6, 1),
        "max_abs_difference": float(np.abs(a - b).max()),
    }  # fmt: skip
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
