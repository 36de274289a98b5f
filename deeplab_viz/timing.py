"""Honest timings: repeated, interleaved runs summarised by their median and middle half.

A single wall-clock run on a shared CPU says little, and two single runs ranked
against each other say less. Everything the app shows as a time goes through
here: :func:`interleaved` times several things round-robin (so a change of load
hits them all alike), :class:`Spread` keeps every run, and :func:`compare` ranks
two things only when their middle halves (25th–75th percentile) do not overlap;
otherwise the difference is "not measurable here". Times are milliseconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["Comparison", "Spread", "compare", "interleaved", "spread"]


@dataclass(frozen=True)
class Spread:
    """Repeated timings of one thing, ms, in the order they ran."""

    runs_ms: tuple[float, ...]

    @property
    def median_ms(self) -> float:
        return float(np.median(self.runs_ms))

    @property
    def p25_ms(self) -> float:
        return float(np.percentile(self.runs_ms, 25))

    @property
    def p75_ms(self) -> float:
        return float(np.percentile(self.runs_ms, 75))

    def text(self, digits: int = 1) -> str:
        """ "12.3 ms (middle half 11.9–12.8, 7 runs)" """
        f = f"{{:.{digits}f}}"
        return (
            f"{f.format(self.median_ms)} ms (middle half {f.format(self.p25_ms)}–"
            f"{f.format(self.p75_ms)}, {len(self.runs_ms)} runs)"
        )


def spread(runs_ms: Sequence[float]) -> Spread:
    """A :class:`Spread` of at least one run."""
    if len(runs_ms) == 0:
        raise ValueError("a spread needs at least one run")
    return Spread(tuple(float(r) for r in runs_ms))


def interleaved(
    fns: Mapping[str, Callable[[], object]], *, repeats: int, warmup: int = 1
) -> dict[str, Spread]:
    """Time each function ``repeats`` times, round-robin, the order rotating every round.

    ``warmup`` untimed rounds first (first-call allocations, kernel caches).
    """
    if repeats < 1:
        raise ValueError("repeats must be at least 1")
    names = list(fns)
    for _ in range(warmup):
        for n in names:
            fns[n]()
    times: dict[str, list[float]] = {n: [] for n in names}
    for r in range(repeats):
        k = r % len(names)
        for n in names[k:] + names[:k]:
            t0 = time.perf_counter()
            fns[n]()
            times[n].append((time.perf_counter() - t0) * 1000)
    return {n: spread(t) for n, t in times.items()}


@dataclass(frozen=True)
class Comparison:
    """Two timed things: how many times slower ``a`` is than ``b``, and whether that shows."""

    a: str
    b: str
    ratio: float  # median(a) / median(b)
    measurable: bool  # the middle halves do not overlap

    def sentence(self) -> str:
        if not self.measurable:
            return (
                f"{self.a} and {self.b}: no measurable difference here "
                "(their middle halves overlap on this machine)"
            )
        if self.ratio >= 1:
            return f"{self.b} is {self.ratio:.1f}× faster than {self.a}"
        return f"{self.a} is {1 / self.ratio:.1f}× faster than {self.b}"


def compare(a_name: str, a: Spread, b_name: str, b: Spread) -> Comparison:
    """``a`` against ``b``: the ratio of medians, ranked only if the middle halves are apart."""
    apart = a.p75_ms < b.p25_ms or b.p75_ms < a.p25_ms
    return Comparison(a_name, b_name, a.median_ms / max(b.median_ms, 1e-12), apart)
