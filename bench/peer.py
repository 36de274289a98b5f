"""The default model against the best runtime for it on this CPU: the TFLite interpreter.

    python bench/peer.py [--quick] [--repeats N] [--out bench/results/peer-cpu.json]

The same network, ``deeplabv3.tflite``, runs in the TFLite interpreter
(``ai-edge-litert``, XNNPACK; a bench dependency only, never needed by the app)
and in the app's PyTorch port, on the same normalised input:

- ``tflite``: ``set_tensor`` → ``invoke`` → ``get_tensor`` (its graph ends with the
  upsampling to 257×257, so its output is the port's plain forward);
- ``reference``: the port's forward on the reference module (NCHW, BN unfused);
- ``forward``: the forward the app runs (:attr:`LoadedModel.runner`, the fused
  channels-last copy of ``deeplab_viz/models/fast.py``);
- ``probe``: :func:`deeplab_viz.probe.probe_prepared` on the fast path: every
  intermediate kept as read-only numpy, logits on the image grid, class map;
- ``bfloat16``: the forward cast to bfloat16, channels-last (the app's inexact
  choice), with the share of pixels whose class matches float32's;
- ``forward_33`` (at 257 px only): the fast forward on a 33×33 input, which has
  1.6% of the arithmetic: what is left is per-call overhead (Python, dispatch,
  oneDNN primitive lookup), and ``forward-overhead/tflite`` is the per-round ratio
  the port would reach without it;
- ``compiled`` (full mode; ``--no-compile`` skips it): ``torch.compile`` of the
  reference module (inductor, default mode), with its first-call compile time and
  its class agreement with the reference: the lever the app does not offer.

Contenders run interleaved (round-robin, order rotating each round), so drift on a
busy machine hits all alike; per contender the median and the 25th/75th
percentiles, and per pair the median of the per-round ratios. At 257 px (the
interpreter's only input size: it refuses a resized input, the error is recorded)
and at the app's working size, on 1 and 2 threads.

Where the fast forward's time goes (``breakdown``): per kind of convolution
(depthwise, pointwise 1×1, dense and dilated 3×3) and between them, timed by
module hooks at 257 px.

The ResNet-50 probe at output stride 8 (and the default model's) is set against a
measured fp32 GEMM roofline on the same threads: two 2048² matrices multiplied by
``torch.mm`` (MKL) and by oneDNN (as a 1×1 convolution), the faster of the two.
Achieved GFLOP/s (FLOPs from ``torch.utils.flop_counter``, 2 per multiply-add)
over the roofline's. Random ResNet weights: weights do not change what a forward
costs.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from deeplab_viz import timing  # noqa: E402
from deeplab_viz.cost import count_flops, machine_info  # noqa: E402
from deeplab_viz.inference import DEFAULT_SIZE, prepare  # noqa: E402
from deeplab_viz.models import ModelSpec, build_model, load_base  # noqa: E402
from deeplab_viz.probe import probe_prepared  # noqa: E402

SCHEMA = "atrous-lab/peer/1"
GOLDEN = (
    ROOT.parent / "shared" / "testdata" / "tflite_segmenter" / "segmentation_input_rotation0.jpg"
)


def tflite_path() -> Path:
    return Path(os.environ.get("DEEPLAB_VIZ_WEIGHTS_DIR", ROOT.parent / "shared" / "weights")) / (
        "deeplabv3.tflite"
    )


def interpreter(threads: int, hw: tuple[int, int] | None = None):
    """The TFLite interpreter on ``threads`` threads; ``hw`` resizes its input (may fail)."""
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=str(tflite_path()), num_threads=threads)
    if hw is not None:
        d = it.get_input_details()[0]
        it.resize_tensor_input(d["index"], [1, hw[0], hw[1], 3], strict=False)
    it.allocate_tensors()
    return it


def tflite_runner(it) -> Callable[[np.ndarray], np.ndarray]:
    d_in, d_out = it.get_input_details()[0], it.get_output_details()[0]

    def run(x_nhwc: np.ndarray) -> np.ndarray:
        it.set_tensor(d_in["index"], x_nhwc)
        it.invoke()
        return it.get_tensor(d_out["index"])  # (1, H, W, 21)

    return run


def summary(runs: list[float]) -> dict[str, object]:
    a = np.asarray(runs)
    return {
        "median_ms": round(float(np.median(a)), 3),
        "p25_ms": round(float(np.percentile(a, 25)), 3),
        "p75_ms": round(float(np.percentile(a, 75)), 3),
        "runs": [round(float(r), 3) for r in runs],
    }


def interleaved(fns: dict[str, Callable[[], object]], repeats: int) -> dict[str, list[float]]:
    """Each function timed ``repeats`` times round-robin, order rotating, in ms, after two
    warm-up rounds (first-call allocations, oneDNN primitive caches):
    :func:`deeplab_viz.timing.interleaved`, the app's own."""
    spreads = timing.interleaved(fns, repeats=repeats, warmup=2)
    return {n: list(sp.runs_ms) for n, sp in spreads.items()}


def quartiles(r: np.ndarray) -> dict[str, float]:
    """Median and 25th/75th percentiles of per-round ratios."""
    return {
        "median": round(float(np.median(r)), 3),
        "p25": round(float(np.percentile(r, 25)), 3),
        "p75": round(float(np.percentile(r, 75)), 3),
    }


def paired_ratio(times: dict[str, list[float]], num: str, den: str) -> dict[str, float]:
    """Median and quartiles of the per-round ratio ``num / den``."""
    return quartiles(np.asarray(times[num]) / np.asarray(times[den]))


def golden_rgb(size: int) -> np.ndarray:
    from PIL import Image

    img = Image.open(GOLDEN).convert("RGB") if GOLDEN.exists() else Image.new("RGB", (257, 257))
    return np.asarray(img.resize((size, size), Image.BILINEAR))


OVERHEAD_SIZE = 33  # input side for the overhead contender: (33/257)² ≈ 1.6% of the work


def n_convolutions(module: torch.nn.Module) -> int:
    """Convolution calls in one forward (the fused copy keeps one module per call)."""
    return sum(isinstance(m, torch.nn.Conv2d) for m in module.modules())


def compiled_contender(ref, x: torch.Tensor) -> tuple[Callable[[], object], dict[str, object]]:
    """``torch.compile`` of the reference module on ``x``'s shape: the runner and its record.

    The first call compiles (seconds, recorded as ``compile_s``); agreement is the
    share of pixels whose class matches the reference forward's.
    """
    torch._dynamo.reset()
    compiled = torch.compile(ref.module)
    t0 = time.perf_counter()
    with torch.inference_mode():
        out = compiled(x)
        compile_s = time.perf_counter() - t0
        want = ref.module(x)
    record = {
        "compile_s": round(compile_s, 1),
        "agreement_with_reference": round(
            float((out.argmax(1) == want.argmax(1)).float().mean()), 5
        ),
        "max_abs_logit_diff": float((out - want).abs().max()),
    }
    return (lambda: compiled(x)), record


def peer_block(
    threads: int, size: int, repeats: int, base, *, compile_: bool = False
) -> dict[str, object]:
    """One thread count × input size: all contenders interleaved."""
    torch.set_num_threads(threads)
    ref = build_model(ModelSpec(name="voc-mobilenetv2", device="cpu"), base=base, fast=False)
    fast = build_model(ModelSpec(name="voc-mobilenetv2", device="cpu"), base=base)
    prepared = prepare(golden_rgb(size), fast, size=size)  # (1, 3, S, S), S = OS·k + 1
    x = prepared.tensor
    x_fast = fast.runner_input(x)
    # bfloat16: inexact, offered in the app only as a visible choice
    low = build_model(ModelSpec(name="voc-mobilenetv2", device="cpu", dtype="bfloat16"), base=base)
    x_low = low.runner_input(x.to(torch.bfloat16))
    fns: dict[str, Callable[[], object]] = {
        "reference": lambda: ref.module(x),
        "forward": lambda: fast.runner(x_fast),
        "probe": lambda: probe_prepared(fast, prepared),
        "bfloat16": lambda: low.runner(x_low),
    }
    block: dict[str, object] = {"threads": threads, "size": size, "input_hw": list(x.shape[-2:])}
    if size == 257:
        tiny = fast.runner_input(x[..., :OVERHEAD_SIZE, :OVERHEAD_SIZE].contiguous())
        fns["forward_33"] = lambda: fast.runner(tiny)
        block["convolutions"] = n_convolutions(fast.runner)
    if compile_:
        fns["compiled"], block["compiled"] = compiled_contender(ref, x)
    with torch.inference_mode():
        same = fast.runner(x_fast).argmax(1) == low.runner(x_low).float().argmax(1)
    block["bfloat16_agreement_with_float32"] = round(float(same.float().mean()), 5)
    try:
        it = interpreter(threads, None if size == 257 else tuple(x.shape[-2:]))
        run = tflite_runner(it)
        x_nhwc = np.ascontiguousarray(x.permute(0, 2, 3, 1).numpy())
        with torch.inference_mode():
            ours = fast.runner(x_fast)[0].argmax(0).numpy()
        theirs = run(x_nhwc)[0].argmax(-1)
        block["agreement_with_tflite"] = round(float((ours == theirs).mean()), 5)
        fns["tflite"] = lambda: run(x_nhwc)
    except (ImportError, RuntimeError, ValueError) as exc:
        block["tflite_unavailable"] = f"{exc.__class__.__name__}: {str(exc).splitlines()[0]}"
    with torch.inference_mode():
        times = interleaved(fns, repeats)
    block["timings"] = {n: summary(t) for n, t in times.items()}
    ratios = {"forward/reference": paired_ratio(times, "forward", "reference")}
    ratios["probe/forward"] = paired_ratio(times, "probe", "forward")
    ratios["bfloat16/forward"] = paired_ratio(times, "bfloat16", "forward")
    if "compiled" in times:
        ratios["compiled/forward"] = paired_ratio(times, "compiled", "forward")
    if "forward_33" in times:
        overhead = float(np.median(times["forward_33"]))
        block["overhead_ms"] = round(overhead, 3)
        block["overhead_per_convolution_us"] = round(1000 * overhead / block["convolutions"], 1)
        block["overhead_share_of_forward"] = round(overhead / float(np.median(times["forward"])), 3)
    if "tflite" in times:
        for n in ("reference", "forward", "probe", "compiled"):
            if n in times:
                ratios[f"{n}/tflite"] = paired_ratio(times, n, "tflite")
        if "forward_33" in times:
            r = (np.asarray(times["forward"]) - np.asarray(times["forward_33"])) / np.asarray(
                times["tflite"]
            )
            ratios["forward-overhead/tflite"] = quartiles(r)
    block["ratios"] = ratios
    return block


GEMM_N = 2048  # the roofline's matrices: 2048 × 2048 fp32


def gemm_contenders() -> dict[str, Callable[[], object]]:
    """Two large fp32 GEMMs: ``torch.mm`` (MKL) and the same product as oneDNN's 1×1 conv.

    MKL picks slower code paths on some AMD CPUs, so the roofline is the faster of
    the two: oneDNN's is the library the fused convolutions run in.
    """
    n = GEMM_N
    a, b = torch.randn(n, n), torch.randn(n, n)
    x = a.view(1, n, 32, n // 32).contiguous(memory_format=torch.channels_last)  # n pixels, n ch
    w = torch._C._nn.mkldnn_reorder_conv2d_weight(
        b.view(n, n, 1, 1).to_mkldnn(), [0, 0], [1, 1], [1, 1], 1
    )
    bias = torch.zeros(n)

    def onednn() -> torch.Tensor:
        return torch.ops.mkldnn._convolution_pointwise(
            x, w, bias, [0, 0], [1, 1], [1, 1], 1, "none", [], ""
        )

    return {"matmul_mkl": lambda: torch.mm(a, b), "matmul_onednn": onednn}


def conv_kind(m: torch.nn.Conv2d) -> str:
    """A convolution's kind, as the time breakdown groups them."""
    if m.groups > 1 and m.groups == m.in_channels:
        return "depthwise"
    if tuple(m.kernel_size) == (1, 1):
        return "pointwise 1x1"
    return "dilated 3x3" if max(m.dilation) > 1 else "dense 3x3"


def breakdown_block(threads: int, repeats: int, base) -> dict[str, object]:
    """Where the fast forward's time goes at 257 px: per kind of convolution, and between them.

    Each convolution module is timed by a pre- and a post-forward hook (the hooks add
    a little time of their own; the shares are what to read). "between" is the rest
    of the forward: pooling, upsampling, concatenation, Python between the calls.
    Hooks are removed in ``finally``.
    """
    torch.set_num_threads(threads)
    fast = build_model(ModelSpec(name="voc-mobilenetv2", device="cpu"), base=base)
    x = fast.runner_input(prepare(golden_rgb(257), fast, size=257).tensor)
    convs = [m for m in fast.runner.modules() if isinstance(m, torch.nn.Conv2d)]
    spent = {id(m): 0.0 for m in convs}
    flops: dict[int, int] = {}  # 2 per multiply-add, from each output's shape
    started: dict[int, float] = {}
    handles = []
    try:
        for m in convs:
            handles.append(
                m.register_forward_pre_hook(
                    lambda mod, _: started.__setitem__(id(mod), time.perf_counter())
                )
            )
            handles.append(
                m.register_forward_hook(
                    lambda mod, _i, _o: spent.__setitem__(
                        id(mod), spent[id(mod)] + time.perf_counter() - started[id(mod)]
                    )
                )
            )
            handles.append(
                m.register_forward_hook(
                    lambda mod, _i, o: flops.__setitem__(
                        id(mod),
                        2
                        * o.numel()
                        * (mod.in_channels // mod.groups)
                        * math.prod(mod.kernel_size),
                    )
                )
            )
        with torch.inference_mode():
            for _ in range(3):
                fast.runner(x)
            spent.update({k: 0.0 for k in spent})
            t0 = time.perf_counter()
            for _ in range(repeats):
                fast.runner(x)
            total = (time.perf_counter() - t0) / repeats * 1000
    finally:
        for h in handles:
            h.remove()
    kinds: dict[str, dict[str, float]] = {}
    for m in convs:
        k = kinds.setdefault(conv_kind(m), {"count": 0, "ms": 0.0, "flops": 0})
        k["count"] += 1
        k["ms"] += spent[id(m)] / repeats * 1000
        k["flops"] += flops[id(m)]
    between = total - sum(k["ms"] for k in kinds.values())
    out = {
        name: {
            "count": k["count"],
            "ms": round(k["ms"], 3),
            "share": round(k["ms"] / total, 3),
            "gflops_per_s": round(k["flops"] / (k["ms"] / 1000) / 1e9, 1),
        }
        for name, k in sorted(kinds.items())
    }
    out["between"] = {"ms": round(between, 3), "share": round(between / total, 3)}
    return {"threads": threads, "size": 257, "forward_ms": round(total, 3), "kinds": out}


def roofline_block(threads: int, size: int, repeats: int, base) -> dict[str, object]:
    """The ResNet-50 probe at OS 8 and the default model's, as shares of the GEMM roofline.

    Probes and GEMMs are interleaved; GEMM GFLOP/s is the best run, a probe's is
    its median.
    """
    torch.set_num_threads(threads)
    models = {
        "resnet50_os8": build_model(
            ModelSpec(name="deeplabv3_resnet50", output_stride=8, pretrained=False, device="cpu")
        ),
        "mobilenetv2_os8": build_model(ModelSpec(name="voc-mobilenetv2", device="cpu"), base=base),
    }
    rgb = golden_rgb(size)
    prepared = {k: prepare(rgb, m, size=size) for k, m in models.items()}
    flops = {k: count_flops(m, tuple(prepared[k].tensor.shape[-2:])) for k, m in models.items()}
    fns: dict[str, Callable[[], object]] = gemm_contenders()
    for k, m in models.items():
        fns[k] = lambda m=m, p=prepared[k]: probe_prepared(m, p)
    with torch.inference_mode():
        times = interleaved(fns, repeats)
    gemm = {k: 2 * GEMM_N**3 / (min(times[k]) / 1000) / 1e9 for k in gemm_contenders()}
    roof = max(gemm.values())
    out: dict[str, object] = {
        "threads": threads,
        "size": size,
        "gemm_gflops": {k: round(v, 1) for k, v in gemm.items()},
        "roofline_gflops": round(roof, 1),
    }
    for k, m in models.items():
        achieved = flops[k] / (float(np.median(times[k])) / 1000) / 1e9
        out[k] = {
            "model": m.spec.label,
            "input_hw": list(prepared[k].tensor.shape[-2:]),
            "flops": int(flops[k]),
            "probe": summary(times[k]),
            "probe_gflops": round(achieved, 1),
            "share_of_roofline": round(achieved / roof, 3),
        }
    return out


def machine() -> dict[str, object]:
    """Where it was measured (:func:`deeplab_viz.cost.machine_info`), with the interpreter."""
    try:
        import ai_edge_litert

        litert = getattr(ai_edge_litert, "__version__", "installed")
    except ImportError:
        litert = None
    info = machine_info("cpu")
    return info | {"ai_edge_litert": litert, "onednn": torch.backends.mkldnn.is_available()}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="few repeats, 257 px only, no ResNet-50")
    p.add_argument("--repeats", type=int, default=None, help="timed rounds per block")
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--no-compile", action="store_true", help="skip the torch.compile contender")
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "peer-cpu.json")
    args = p.parse_args(argv)
    repeats = args.repeats or (5 if args.quick else 50)
    sizes = [257] if args.quick else [257, DEFAULT_SIZE]
    t0 = time.perf_counter()
    base = load_base("voc-mobilenetv2")
    compile_ = not (args.quick or args.no_compile)
    blocks = [
        peer_block(t, s, repeats, base, compile_=compile_) for t in args.threads for s in sizes
    ]
    roofline = (
        []
        if args.quick
        else [roofline_block(t, DEFAULT_SIZE, max(5, repeats // 5), base) for t in args.threads]
    )
    breakdown = [breakdown_block(t, repeats, base) for t in args.threads]
    result = {
        "schema": SCHEMA,
        "mode": "quick" if args.quick else "full",
        "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "elapsed_s": round(time.perf_counter() - t0, 1),
        "machine": machine(),
        "repeats": repeats,
        "blocks": blocks,
        "roofline": roofline,
        "breakdown": breakdown,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    for b in blocks:
        r = b["ratios"]
        line = ", ".join(f"{k} {v['median']}" for k, v in r.items())
        print(f"{b['threads']} thread(s), {b['size']} px: {line}")
    for b in breakdown:
        parts = ", ".join(
            f"{k} {v['share']:.0%}" + (f" ({v['gflops_per_s']} GFLOP/s)" if "count" in v else "")
            for k, v in b["kinds"].items()
        )
        print(f"{b['threads']} thread(s), 257 px, forward {b['forward_ms']} ms: {parts}")
    for r in roofline:
        for k in ("resnet50_os8", "mobilenetv2_os8"):
            print(
                f"{r['threads']} thread(s): {k} probe {r[k]['probe_gflops']} GFLOP/s, "
                f"GEMM roofline {r['roofline_gflops']} {r['gemm_gflops']}: "
                f"{r[k]['share_of_roofline']:.0%}"
            )
    print(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
