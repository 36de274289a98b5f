"""``python -m deeplab_viz gridding`` and the rate parser it shares with the Gridding page."""

from __future__ import annotations

import json

import pytest

from deeplab_viz.cli import main
from deeplab_viz.gridding import coverage_map
from deeplab_viz.rates import MAX_LAYERS, MAX_RATE, RatesError, format_rates, parse_rates
from deeplab_viz.receptive_field import hdc_check


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["gridding", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def _json(capsys, *argv: str) -> dict:
    code, out, err = _run(capsys, *argv)
    assert code == 0, err
    assert err == ""
    assert len(out.strip().splitlines()) == 1
    return json.loads(out)


# --------------------------------------------------------------------------- JSON answers


@pytest.mark.parametrize(
    ("rates", "covered", "cells", "passes"),
    [
        ("2,2,2", 49, 169, False),
        ("2,4,8", 225, 841, False),
        ("1,2,5", 289, 289, True),
        ("1,2,4", 225, 225, True),
    ],
)
def test_coverage_and_hdc_of_the_classic_stacks(capsys, rates, covered, cells, passes):
    rep = _json(capsys, "--rates", rates)
    assert rep["covered"] == covered
    assert rep["rf_cells"] == cells
    assert rep["coverage"] == pytest.approx(covered / cells, abs=1e-6)
    assert rep["hdc_pass"] is passes
    assert rep["rates"] == [int(r) for r in rates.split(",")]
    assert rep["kernel"] == 3
    assert ("suggested_fix" in rep) is (not passes)


def test_m_list_matches_the_paper_for_1_2_9(capsys):
    rep = _json(capsys, "--rates", "1,2,9")
    assert rep["hdc_pass"] is False
    assert rep["m"] == [3, 5, 9]
    assert rep["m"][1] == 5  # M_2 = 5 > K = 3
    assert rep["m2"] == 5


def test_2_2_2_fails_because_the_first_rate_is_not_1(capsys):
    rep = _json(capsys, "--rates", "2,2,2")
    assert rep["m"] == [2, 2, 2]
    assert rep["m2"] == 2  # the bare M_2 <= K would pass
    assert rep["hdc_pass"] is False
    assert rep["full_coverage"] is False


def test_suggested_fix_passes_and_has_no_holes(capsys):
    rep = _json(capsys, "--rates", "2,4,8")
    fix = rep["suggested_fix"]
    assert fix["rates"][0] == 1
    assert hdc_check(fix["rates"]).passes
    cov = coverage_map(fix["rates"])
    assert fix["covered"] == fix["rf_cells"] == cov.rf_cells
    assert fix["coverage"] == 1.0
    assert fix["strategy"]


def test_other_kernel_sizes(capsys):
    rep = _json(capsys, "--rates", "1,2", "--kernel", "5")
    cov = coverage_map((1, 2), 5)
    assert rep["kernel"] == 5
    assert rep["rf_side"] == 1 + 4 * 3
    assert (rep["covered"], rep["rf_cells"]) == (cov.covered, cov.rf_cells)


def test_spaces_and_brackets_are_accepted(capsys):
    rep = _json(capsys, "--rates", "[1, 2, 5]")
    assert rep["rates"] == [1, 2, 5]


# --------------------------------------------------------------------------- usage errors


@pytest.mark.parametrize(
    "argv",
    [
        ["--rates", "2,x"],
        ["--rates", "1.5,2"],
        ["--rates", "0,1"],
        ["--rates=-1,2"],
        ["--rates", ""],
        ["--rates", " , "],
        ["--rates", ",".join(["1"] * (MAX_LAYERS + 1))],
        ["--rates", f"1,{MAX_RATE + 1}"],
        ["--rates", "2", "--kernel", "0"],
        ["--rates", "2", "--kernel", "-3"],
        ["--rates", "2", "--kernel", "1"],
        ["--rates", "2", "--kernel", "abc"],
        ["--rates", "2", "--kernel", "99"],
        [],  # --rates is required
    ],
)
def test_bad_arguments_exit_2_with_one_line(capsys, argv):
    code, out, err = _run(capsys, *argv)
    assert code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert "gridding" in lines[0]


def test_gridding_is_listed_in_the_help(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    assert "gridding" in capsys.readouterr().out


# --------------------------------------------------------------------------- parse_rates


@pytest.mark.parametrize(
    ("text", "rates"),
    [
        ("1, 2, 5", (1, 2, 5)),
        ("2,2,2", (2, 2, 2)),
        ("  4 8 ", (4, 8)),
        ("(1;2;3)", (1, 2, 3)),
        ("+3", (3,)),
        ("64", (64,)),
    ],
)
def test_parse_rates_accepts(text, rates):
    assert parse_rates(text) == rates
    assert parse_rates(format_rates(rates)) == rates


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("", "at least one rate"),
        ("[]", "at least one rate"),
        ("1, two", "“two” is not a whole number"),
        ("1e3", "not a whole number"),
        ("0", "at least 1"),
        ("-4, 2", "-4"),
        ("1,1,1,1,1,1,1,1,1", "At most 8 layers"),
        ("65", "up to 64"),
        ("x" * 200, "…"),  # long junk is shortened, not echoed whole
        ("9" * 40, "…"),
        ("-" + "9" * 40, "…"),
    ],
)
def test_parse_rates_refuses_with_one_sentence(text, needle):
    with pytest.raises(RatesError) as exc:
        parse_rates(text)
    msg = str(exc.value)
    assert needle in msg
    assert "\n" not in msg and len(msg) < 120


def test_parse_rates_limits_are_parameters():
    assert parse_rates("100", max_rate=128) == (100,)
    with pytest.raises(RatesError):
        parse_rates("1,2,3", max_layers=2)
    with pytest.raises(RatesError):
        parse_rates(None)  # type: ignore[arg-type]
