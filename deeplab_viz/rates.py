"""Rate lists typed by people: ``"1, 2, 5"`` -> ``(1, 2, 5)``, with one-sentence errors.

The gridding page's text box and the ``gridding`` CLI share this parser, so both
accept and refuse exactly the same things. Limits keep the exact coverage map
small: a stack of ``n`` 3x3 layers at rates up to ``R`` has a receptive field of
side ``1 + 2 n R`` cells, at most 1025 with the defaults.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

__all__ = ["MAX_LAYERS", "MAX_RATE", "RatesError", "format_rates", "parse_rates"]

MAX_LAYERS = 8
MAX_RATE = 64


class RatesError(ValueError):
    """A rate list that cannot be used; ``str(err)`` is one sentence for the user."""


def parse_rates(
    text: str, *, max_layers: int = MAX_LAYERS, max_rate: int = MAX_RATE
) -> tuple[int, ...]:
    """Parse comma- (or space-) separated positive integers, e.g. ``"1, 2, 5"``.

    Surrounding brackets are allowed (``"[2, 4, 8]"``). Raises :class:`RatesError`
    with one sentence for empty text, anything that is not a whole number, a rate
    below 1 or above ``max_rate``, and more than ``max_layers`` rates.
    """
    if not isinstance(text, str):
        raise RatesError("Type the rates as text, e.g. 1, 2, 5.")
    body = text.strip().removeprefix("[").removesuffix("]").removeprefix("(").removesuffix(")")
    tokens = [t for t in re.split(r"[,\s;]+", body.strip()) if t]
    if not tokens:
        raise RatesError("Type at least one rate, e.g. 1, 2, 5.")
    rates = []
    for tok in tokens:
        if not re.fullmatch(r"[+-]?\d+", tok):
            shown = tok if len(tok) <= 12 else tok[:12] + "…"
            raise RatesError(
                f"“{shown}” is not a whole number: type rates like 1, 2, 5 (commas between)."
            )
        rates.append(int(tok))
    bad = [r for r in rates if r < 1]
    if bad:
        shown = str(bad[0]) if len(str(bad[0])) <= 12 else str(bad[0])[:12] + "…"
        raise RatesError(f"Rates must be whole numbers of at least 1, and {shown} is not.")
    if len(rates) > max_layers:
        raise RatesError(f"At most {max_layers} layers, please ({len(rates)} rates were given).")
    big = [r for r in rates if r > max_rate]
    if big:
        shown = str(big[0]) if len(str(big[0])) <= 12 else str(big[0])[:12] + "…"
        raise RatesError(f"Rates up to {max_rate}, please ({shown} is too large).")
    return tuple(rates)


def format_rates(rates: Sequence[int]) -> str:
    """``(1, 2, 5)`` -> ``"1, 2, 5"`` (what :func:`parse_rates` reads back)."""
    return ", ".join(str(int(r)) for r in rates)
