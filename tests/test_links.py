"""The link checks (deeplab_viz.links): each widget kind against hostile link values."""

from __future__ import annotations

import re

import pytest

from deeplab_viz.links import (
    Choice,
    Choices,
    Fix,
    Flag,
    Number,
    NumberPair,
    Text,
    code,
    notice,
    parse_number,
    plain,
)
from deeplab_viz.rates import parse_rates

# What a link cut short, padded, mistyped or crafted can hold.
HOSTILE = [
    "",
    " ",
    "nan",
    "NaN",
    "inf",
    "-inf",
    "1e309",
    "9" * 5000,
    "x" * 10_000,
    "../../etc/passwd",
    "/dev/zero",
    "C:\\Windows\\win.ini",
    "no such option",
    "0x10",
    "1_000",
    "٣",  # an Arabic-Indic digit: int() would take it
    "3\x00",
    "[x](https://evil.example/login)",
]


@pytest.mark.parametrize("raw", HOSTILE)
def test_hostile_values_are_dropped_for_every_kind(raw: str) -> None:
    for spec in (
        Number(1, 7),
        Number(0.0, 0.3, 0.05, integer=False),
        NumberPair(Number(4, 120)),
        Choice(("centre", "top edge", "corner")),
        Choices(("1", "2", "4")),
        Flag(),
    ):
        fix = spec.check(raw)
        assert fix is not None and fix.dropped, (spec, raw[:20])


def test_a_number_is_parsed_only_when_short_and_finite() -> None:
    assert parse_number("42", integer=True) == 42
    assert parse_number(" +5.0 ", integer=True) == 5
    assert parse_number("3.5", integer=True) is None  # a whole number is asked for
    assert parse_number("0.15", integer=False) == pytest.approx(0.15)
    assert parse_number("1e3", integer=False) == 1000.0
    for bad in ("9" * 25, "1e309", "inf", "nan", "٣", "1_000", "0x10", "", "1e1000"):
        assert parse_number(bad, integer=False) is None, bad
        assert parse_number(bad, integer=True) is None, bad


def test_numbers_are_clamped_into_range_and_onto_the_step_grid() -> None:
    spec = Number(1, 7)
    assert spec.check("3") is None
    assert spec.check("99") == Fix("7")
    assert spec.check("-1") == Fix("1")
    assert spec.check("+3") == Fix("3", quiet=True)  # the same number: no notice
    grid = Number(16, 256, 8)
    assert grid.check("20") == Fix("24")  # onto the step grid
    assert grid.check("999999") == Fix("256")
    noise = Number(0.0, 0.3, 0.05, integer=False)
    assert noise.check("0.15") is None and noise.check("0.150") is None
    assert noise.check("7") == Fix("0.3")
    assert noise.check("0.13") == Fix("0.15")


def test_a_range_needs_two_numbers_and_comes_back_low_first() -> None:
    spec = NumberPair(Number(4, 120))
    assert spec.check(["8", "120"]) is None
    assert spec.check(["200", "8"]) == Fix(("8", "120"))
    assert spec.check("8").dropped and spec.check(["8", "x"]).dropped
    assert spec.check(["1", "2", "3"]).dropped


def test_choices_match_the_labels_exactly() -> None:
    spec = Choice(("2, 2, 2", "your own"))
    assert spec.check("your own") is None
    assert spec.check("Your own").dropped and spec.check(["2, 2, 2", "your own"]).dropped
    multi = Choices(("1", "2", "4"))
    assert multi.check(["1", "4"]) is None
    assert multi.check(["4", "x", "4", "1"]) == Fix(("4", "1"))  # unknown and repeats removed
    assert multi.check(["x", "y"]).dropped and multi.check([""]).dropped


def test_flags_are_true_or_false() -> None:
    assert Flag().check("false") is None and Flag().check("TRUE") is None
    assert Flag().check("1").dropped and Flag().check("yes").dropped


def test_text_is_checked_by_the_pages_own_reader_with_its_reason() -> None:
    spec = Text(200, parse=parse_rates)
    assert spec.check("1, 2, 5") is None
    fix = spec.check("1, 2, 100")
    assert fix.dropped and fix.reason == "Rates up to 64, please (100 is too large)."
    assert spec.check("1, " * 100).dropped  # over max_chars
    assert spec.check("1,\n2").dropped  # control characters
    assert Text(10).check("anything") is None


# --------------------------------------------------------------------------- showing text

PAYLOAD = (
    "[x](https://evil.example/login) ![](http://127.0.0.1:9/track.png) "
    "<img src=http://127.0.0.1:9/t.png> www.evil.example a@evil.example $x$ `x`"
)


def _unescaped(md: str) -> str:
    """``md`` without its code spans and backslash-escaped characters."""
    md = re.sub(r"(`+)(.*?)\1", " ", md)
    return re.sub(r"\\.", "\x00", md)


def test_plain_escapes_every_link_image_tag_and_autolink() -> None:
    out = _unescaped(plain(PAYLOAD))
    for made in ("](", "<img", "://", "www.", "@evil", "$x$", "`"):
        assert made not in out, made
    assert plain("mine.png · 96×64 px (resized)") == "mine.png · 96×64 px (resized)"
    assert plain("a\nb", limit=None) == "a b"
    assert plain("x" * 100, limit=10) == "x" * 9 + "…"


def test_code_spans_hold_anything() -> None:
    assert code("a`b") == "``a`b``"
    assert code("`") == "`` ` ``"
    assert code("x" * 100, limit=5) == "`xxxx…`"
    assert "evil" not in _unescaped(code(PAYLOAD, limit=500))


def test_one_notice_names_the_widgets_and_escapes_them() -> None:
    assert notice([], []) is None
    assert notice([("Stride s", None)], []) == (
        "The link's value for “Stride s” was not valid; showing the default."
    )
    text = notice([("A", None), ("[B](http://e)", "At most 100 layers, please.")], ["C"])
    assert "The link's values for “A”, “\\[B\\](http\\://e)” were not valid" in text
    assert "“C” was adjusted" in text and text.endswith("At most 100 layers, please.")
