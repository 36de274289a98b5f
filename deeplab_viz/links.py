"""Values that arrive in a link, checked against the widget they are meant for.

A shared link (``?dc_k=5&sb_os=16``) is text anyone can edit: cut short by a mail
client (``?sb_os=``), padded with 5,000 digits, ``inf``, a path or a Markdown
link. Each kind of widget declares what it accepts with a spec here (its own range
and options), and :meth:`check` says what to do with the raw text from the link:
nothing (``None``: it is fine), or a :class:`Fix` holding the corrected value
(clamped into range, unknown choices removed) or ``None`` to drop it, so that the
widget shows its default. No arithmetic happens on a value before it passed its
length and syntax checks.

This module has no Streamlit in it; ``ui/links.py`` applies the verdicts to the
running app. It also holds the two ways a value from a link (or an upload's file
name) may be shown on a page: quoted as code (:func:`code`) or with every Markdown
character escaped (:func:`plain`), never as Markdown or HTML.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

__all__ = [
    "MAX_LINK_CHARS",
    "Choice",
    "Choices",
    "Fix",
    "Flag",
    "Number",
    "NumberPair",
    "Spec",
    "Text",
    "code",
    "notice",
    "plain",
]

Raw = str | Sequence[str]
"""What a link holds for one key: one string, or several (``?k=a&k=b``)."""

MAX_LINK_CHARS = 4000
"""No value longer than this is even looked at (a text box allows far less)."""
MAX_NUMBER_CHARS = 24
"""Longest number accepted in a link, sign, point and exponent included."""
MAX_MAGNITUDE = 1e15
"""Numbers beyond ±this are not numbers a widget here could mean."""

_INT = re.compile(r"[+-]?[0-9]+(?:\.0*)?")
_FLOAT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]{1,3})?")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# What Markdown needs to make a link, an image, HTML, code, emphasis, LaTeX or a
# table, and the ":" of "://", "@" and the dot of "www." that make bare autolinks.
_MD_SPECIAL = re.compile(r"[\\`*_\[\]<>$~|@]|:(?=//)|(?<=[wW]{3})\.")


@dataclass(frozen=True)
class Fix:
    """A link value that cannot be used as it is.

    ``value`` is what the link should hold instead: a corrected string (or tuple
    of strings for a multi-choice widget), or ``None`` to drop the value so the
    widget shows its default. ``quiet`` marks a change of spelling only (``+5`` to
    ``5``), which needs no notice; ``reason`` is the page's own one-sentence
    refusal, when it has one (a layer list over its limit says which limit).
    """

    value: str | tuple[str, ...] | None
    quiet: bool = False
    reason: str | None = None

    @property
    def dropped(self) -> bool:
        return self.value is None


DROP = Fix(None)


def _one(raw: Raw) -> str | None:
    """The single string of a single-valued key; None for several values or too long."""
    if not isinstance(raw, str):
        items = list(raw)
        if len(items) != 1:
            return None
        raw = items[0]
    if not isinstance(raw, str) or len(raw) > MAX_LINK_CHARS:
        return None
    return raw


def _many(raw: Raw) -> list[str] | None:
    """The strings of a multi-valued key; None when any is too long."""
    items = [raw] if isinstance(raw, str) else list(raw)
    if any(not isinstance(s, str) or len(s) > MAX_LINK_CHARS for s in items):
        return None
    if sum(len(s) for s in items) > MAX_LINK_CHARS:
        return None
    return items


def parse_number(text: str, *, integer: bool) -> int | float | None:
    """A short, finite decimal number, or None.

    Integers may carry a ``.0`` (``"5.0"``); floats may carry an exponent of at
    most three digits. The length is checked before anything is converted, so
    5,000 digits, ``inf``, ``nan`` and ``1e309`` all give None.
    """
    text = text.strip()
    if not text or len(text) > MAX_NUMBER_CHARS:
        return None
    if integer:
        if not _INT.fullmatch(text):
            return None
        value: int | float = int(text.split(".")[0])
    else:
        if not _FLOAT.fullmatch(text):
            return None
        value = float(text)
    if not math.isfinite(value) or abs(value) > MAX_MAGNITUDE:
        return None
    return value


def _format_number(value: int | float, integer: bool) -> str:
    if integer:
        return str(int(value))
    return repr(float(value))


@dataclass(frozen=True)
class Number:
    """A slider or number input: a whole (or real) number from ``lo`` to ``hi``.

    A number outside the range is clamped to its nearest end and one off the
    ``step`` grid moves to the nearest step; anything that is not a short, finite
    number is dropped.
    """

    lo: float | None
    hi: float | None
    step: float | None = None
    integer: bool = True

    def snap(self, value: int | float) -> int | float:
        """``value`` on the step grid (counted from ``lo``) and inside the range."""
        if self.step and self.lo is not None:
            value = self.lo + math.floor((value - self.lo) / self.step + 0.5) * self.step
            if not self.integer:
                value = round(value, 12)
        if self.lo is not None:
            value = max(value, self.lo)
        if self.hi is not None:
            value = min(value, self.hi)
        return int(value) if self.integer else float(value)

    def check(self, raw: Raw) -> Fix | None:
        text = _one(raw)
        value = None if text is None else parse_number(text, integer=self.integer)
        if value is None:
            return DROP
        snapped = self.snap(value)
        if snapped != value:
            return Fix(_format_number(snapped, self.integer))
        if self.integer and text != str(value):  # "+5", " 5", "5.0": the same number
            return Fix(str(value), quiet=True)
        return None


@dataclass(frozen=True)
class NumberPair:
    """A range slider: two numbers, each checked like :class:`Number`, low first."""

    number: Number

    def check(self, raw: Raw) -> Fix | None:
        items = _many(raw)
        if items is None or len(items) != 2:
            return DROP
        values = [parse_number(s, integer=self.number.integer) for s in items]
        if any(v is None for v in values):
            return DROP
        snapped = sorted(self.number.snap(v) for v in values)  # type: ignore[arg-type]
        fixed = tuple(_format_number(v, self.number.integer) for v in snapped)
        if list(fixed) == items:
            return None
        return Fix(fixed, quiet=snapped == values)  # quiet: only the spelling changed


@dataclass(frozen=True)
class Choice:
    """One of ``options``, as the widget shows it (its formatted label)."""

    options: tuple[str, ...]

    def check(self, raw: Raw) -> Fix | None:
        text = _one(raw)
        return None if text is not None and text in self.options else DROP


@dataclass(frozen=True)
class Choices:
    """Any of ``options``; unknown and repeated names are removed, keeping the rest.

    An empty value is dropped like any other kind's: a link cut short means the
    default, not "nothing selected".
    """

    options: tuple[str, ...]

    def check(self, raw: Raw) -> Fix | None:
        items = _many(raw)
        if items is None or not any(items):
            return DROP
        kept: list[str] = []
        for item in items:
            if item in self.options and item not in kept:
                kept.append(item)
        if not kept:
            return DROP
        return None if kept == items else Fix(tuple(kept))


@dataclass(frozen=True)
class Flag:
    """A toggle or checkbox: ``true`` or ``false`` (any case)."""

    def check(self, raw: Raw) -> Fix | None:
        text = _one(raw)
        return None if text is not None and text.lower() in ("true", "false") else DROP


@dataclass(frozen=True)
class Text:
    """A text box: one line of at most ``max_chars`` that ``parse`` accepts.

    ``parse`` is the page's own reader for that box (e.g. the rate parser); a
    ``ValueError`` from it drops the value, so a link never opens with text the
    page refuses.
    """

    max_chars: int
    parse: Callable[[str], object] | None = None

    def check(self, raw: Raw) -> Fix | None:
        text = _one(raw)
        if text is None or not text.strip() or len(text) > self.max_chars:
            return DROP
        if _CONTROL.search(text):
            return DROP
        if self.parse is not None:
            try:
                self.parse(text)
            except ValueError as exc:
                return Fix(None, reason=str(exc).splitlines()[0] if str(exc) else None)
        return None


Spec = Number | NumberPair | Choice | Choices | Flag | Text


# --------------------------------------------------------------------------- showing text


def plain(text: str, *, limit: int | None = None) -> str:
    """``text`` for a Markdown element, shown as typed and never as Markdown or HTML.

    The characters Markdown needs for links, images, HTML tags, code, emphasis,
    LaTeX ``$`` and tables are backslash-escaped, as are the ``:`` of ``://``, ``@``
    and the dot of ``www.`` (bare autolinks), so the text shows as typed and never
    as a link or an image; line breaks become spaces. ``limit`` shortens long
    text with "…".
    """
    text = _CONTROL.sub(" ", str(text))
    if limit is not None and len(text) > limit:
        text = text[: max(limit - 1, 0)] + "…"
    return _MD_SPECIAL.sub(lambda m: "\\" + m.group(0), text)


def code(text: str, *, limit: int = 60) -> str:
    """``text`` as a Markdown inline code span (shown literally), at most ``limit`` chars.

    The fence is one backtick longer than the longest run of backticks inside, so
    no content can close it early.
    """
    text = _CONTROL.sub(" ", str(text))
    if len(text) > limit:
        text = text[: max(limit - 1, 0)] + "…"
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or not text.strip() else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _names(labels: Sequence[str]) -> str:
    return ", ".join(f"“{plain(label, limit=60)}”" for label in labels)


def notice(dropped: Sequence[tuple[str, str | None]], corrected: Sequence[str]) -> str | None:
    """One short notice for the values of a link that were not used as they were.

    ``dropped`` holds (widget label, reason or None) for values replaced by the
    default, ``corrected`` the labels of values moved into range. The result is
    Markdown-safe (labels and reasons are escaped), or None when both are empty.
    """
    parts = []
    reasons = "".join(f" {plain(r, limit=160)}" for _, r in dropped if r)
    labels = [label for label, _ in dropped]
    if len(labels) == 1:
        parts.append(f"The link's value for {_names(labels)} was not valid; showing the default.")
    elif labels:
        parts.append(
            f"The link's values for {_names(labels)} were not valid; showing the defaults."
        )
    if len(corrected) == 1:
        parts.append(f"The link's value for {_names(corrected)} was adjusted to what it allows.")
    elif corrected:
        parts.append(f"The link's values for {_names(corrected)} were adjusted to what they allow.")
    return (" ".join(parts) + reasons) if parts else None
