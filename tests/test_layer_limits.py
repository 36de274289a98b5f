"""Typed layer stacks are refused, with their limit named, before any arithmetic."""

from __future__ import annotations

import pytest

from deeplab_viz import receptive_field as R
from deeplab_viz.cli import main

# (layer list as typed into a link or --layers, words of the refusal)
TOO_BIG = [
    ("3,1,99999999999999999999", "at most 7 digits"),  # overflowed int64 in the table
    ("3," + "9" * 3990, "at most 7 digits"),  # a 3,990-digit stride
    ("3," + "9" * 5000, "at most 4,000"),  # too long to read at all
    (";".join(["3"] * 200), "At most 100 layers"),
    (";".join(["3,1000"] * 110), "At most 100 layers"),
    (";".join(["3,1000"] * 4), "would pass 1,000,000,000 px"),  # jump 10^12 at layer 4
    (";".join(["3,2"] * 40), "Row 29: the receptive field would pass 1,000,000,000 px"),  # 2^30 - 1
]


@pytest.mark.parametrize("text,words", TOO_BIG)
def test_a_link_layer_list_over_a_limit_says_which(text: str, words: str) -> None:
    with pytest.raises(ValueError, match=words) as info:
        R.layers_from_text(text)
    message = str(info.value)
    assert "\n" not in message and len(message) < 200  # one sentence, no 4,000 digits


@pytest.mark.parametrize("text,words", TOO_BIG)
def test_the_cli_refuses_the_same_lists(text: str, words: str, capsys) -> None:
    assert main(["rf", "--layers", text]) == 2
    err = capsys.readouterr().err.strip()
    assert words in err and "\n" not in err and len(err) < 250


def test_the_table_has_the_same_limits() -> None:
    rows = [{"kernel": 3, "stride": 1000}] * 4
    with pytest.raises(ValueError, match=r"^Row 4: the receptive field would pass 1,000,000,000"):
        R.layers_from_rows(rows)
    with pytest.raises(ValueError, match="At most 100 layers"):
        R.layers_from_rows([{"kernel": 3}] * 101)


def _numbers(layers) -> list[tuple]:
    return [(la.kernel, la.stride, la.dilation, la.padding) for la in layers]


def test_the_presets_and_the_largest_allowed_stack_pass() -> None:
    for layers in R.PRESETS.values():
        assert _numbers(R.layers_from_text(R.format_layers(layers))) == _numbers(layers)
    deep = R.layers_from_text(";".join(["1000,1,1000,1000"] * R.MAX_LAYERS))
    assert len(deep) == R.MAX_LAYERS and R.rf_table(deep)[-1].size <= R.MAX_SPAN
