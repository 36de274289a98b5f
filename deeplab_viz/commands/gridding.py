"""``python -m deeplab_viz gridding --rates 2,2,2 [--kernel 3]``: coverage and the HDC rule.

Prints one JSON object: the exact coverage of the receptive field of a stride-1
stack of ``kernel x kernel`` convs at these rates (``covered`` of ``rf_cells``
cells), the HDC check of Wang et al. 2018 (``hdc_pass``, the ``m`` list of the
paper's M_i) and, for a failing stack, a ``suggested_fix`` that passes.
"""

from __future__ import annotations

import argparse
import json

from ..gridding import coverage_map
from ..rates import MAX_LAYERS, MAX_RATE, RatesError, parse_rates
from ..receptive_field.hdc import hdc_check, suggest_hdc_fix
from . import UsageError

MAX_KERNEL = 9


def _kernel(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
    if value < 2:
        raise argparse.ArgumentTypeError(
            f"must be at least 2 (a 1×1 kernel reads one cell and has no holes), got {value}"
        )
    if value > MAX_KERNEL:
        raise argparse.ArgumentTypeError(f"must be at most {MAX_KERNEL}, got {value}")
    return value


def gridding_report(rates: tuple[int, ...], kernel: int = 3) -> dict:
    """The JSON-ready answer for one rate list (the page shows the same numbers)."""
    cov = coverage_map(rates, kernel)
    hdc = hdc_check(rates, kernel)
    report = {
        "rates": list(cov.rates),
        "kernel": cov.kernel,
        "rf_side": cov.side,
        "covered": cov.covered,
        "rf_cells": cov.rf_cells,
        "coverage": round(cov.coverage, 6),
        "hdc_pass": hdc.passes,
        "m": list(hdc.m),
        "m2": hdc.m2,
        "full_coverage": hdc.full_coverage,
    }
    if not hdc.passes:
        fix = suggest_hdc_fix(rates, kernel)
        fixed = coverage_map(fix.suggested, kernel)
        report["suggested_fix"] = {
            "rates": list(fix.suggested),
            "covered": fixed.covered,
            "rf_cells": fixed.rf_cells,
            "coverage": round(fixed.coverage, 6),
            "strategy": fix.strategy,
        }
    return report


def cmd_gridding(args: argparse.Namespace) -> int:
    try:
        rates = parse_rates(args.rates)
    except RatesError as exc:
        raise UsageError(f"{args.prog}: argument --rates: {exc}") from None
    print(json.dumps(gridding_report(rates, args.kernel)))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "gridding",
        help="coverage of a dilated conv stack's receptive field, and the HDC rule",
        description=(
            "Exact share of the receptive field that a stride-1 stack of dilated "
            "convolutions reads, and the Hybrid Dilated Convolution rule (Wang et al. 2018)."
        ),
    )
    p.add_argument(
        "--rates",
        required=True,
        metavar="R1,R2,...",
        help=f"comma-separated rates, e.g. 2,2,2 or 1,2,5 (at most {MAX_LAYERS}, each 1..{MAX_RATE})",
    )
    p.add_argument(
        "--kernel",
        type=_kernel,
        default=3,
        help=f"kernel size of every layer, 2..{MAX_KERNEL} (default 3)",
    )
    p.set_defaults(func=cmd_gridding, prog=p.prog)
