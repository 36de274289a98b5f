"""DeepLabv3's multi-grid: unit rates × the block's rate for the last block's three
3×3 convolutions, what they cover, and a small stack to measure its ERF."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

MULTI_GRIDS: dict[str, tuple[int, int, int]] = {
    "(1, 1, 1)": (1, 1, 1),
    "(1, 2, 1)": (1, 2, 1),
    "(2, 2, 2)": (2, 2, 2),
    "(1, 2, 4)": (1, 2, 4),
}


def multigrid_rates(unit_rates: Sequence[int], block_rate: int) -> tuple[int, ...]:
    """The rates of the last block's three 3×3 convs: unit rate × the block's rate
    (DeepLabv3: Multi_Grid = (1, 2, 4) at block rate 2 gives 2, 4, 8)."""
    if block_rate < 1 or any(int(r) < 1 for r in unit_rates):
        raise ValueError("rates must be positive integers")
    return tuple(int(r) * int(block_rate) for r in unit_rates)


def multigrid_verdict(base, chosen, unit: str, block_rate: int) -> str:
    """One sentence comparing two :class:`~deeplab_viz.gridding.Coverage`: (1, 1, 1) and
    ``unit`` at ``block_rate``, read off their numbers (cells read, share of the field).

    More cells read does not mean a larger share: at block rate 2 every rate shares
    the factor 2, so both read at most a quarter of their field.
    """
    if chosen.rates == base.rates:
        return (
            f"{unit} × {block_rate} is the plain stack: {base.covered} of {base.rf_cells} "
            f"cells ({base.coverage:.1%})."
        )
    more = chosen.covered / base.covered
    if abs(chosen.coverage - base.coverage) < 5e-4:
        share = "and the same"
    else:
        share = "and a larger" if chosen.coverage > base.coverage else "but a smaller"
    reach = (
        f"the same {base.covered} cells as"
        if chosen.covered == base.covered
        else f"**{more:.1f}×** the {base.covered} cells of"
    )
    return (
        f"**{unit} × {block_rate}** reads {chosen.covered} cells of a {chosen.side}×"
        f"{chosen.side} field, {reach} (1, 1, 1) × {block_rate} ({base.side}×{base.side}), "
        f"{share} share of its own field: {chosen.coverage:.1%} against {base.coverage:.1%}."
        + (
            f" The block's rate {block_rate} is a factor of every rate, so at most one cell in "
            f"{block_rate**2} can be read whatever the unit rates: multi-grid buys reach, "
            "not density."
            if block_rate > 1
            else ""
        )
    )


def multigrid_stack(rates: Sequence[int], channels: int = 4, *, seed: int = 0) -> nn.Module:
    """A small stride-1 stack of 3×3 convs + ReLU at ``rates`` (seeded random weights,
    positive so no path cancels), for a gradient ERF next to the exact coverage."""
    layers: list[nn.Module] = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        cin = 1
        for r in rates:
            conv = nn.Conv2d(cin, channels, 3, padding=int(r), dilation=int(r), bias=False)
            with torch.no_grad():
                conv.weight.uniform_(0.5, 1.5)
            layers += [conv, nn.ReLU()]
            cin = channels
    return nn.Sequential(*layers).eval()


def multigrid_erf(rates: Sequence[int], *, n_samples: int = 4, seed: int = 0):
    """ERF (:func:`deeplab_viz.erf.erf_map`) of the centre unit of :func:`multigrid_stack`,
    on an input just big enough for its receptive field."""
    from ..erf import erf_map

    side = 1 + 2 * sum(int(r) for r in rates)
    n = side + 8
    stack = multigrid_stack(rates, seed=seed)
    x = torch.zeros(1, 1, n, n)
    return erf_map(stack, x, out_yx=(n // 2, n // 2), n_samples=n_samples, seed=seed)
