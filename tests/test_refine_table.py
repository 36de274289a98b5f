"""The README's plain / multi-scale / CRF table: reproduced by the CLI on a part of the set,
and the README's rows read from the measured JSON."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
from conftest import ROOT, VOC_DIR, WEIGHTS_DIR

from deeplab_viz import refine

TABLE = refine.MEASURED
README = ROOT / "README.md"
SCALES = "0.5,0.75,1,1.25,1.5,1.75"
needs_table = pytest.mark.skipif(not TABLE.exists(), reason=f"{TABLE} missing")
needs_voc = pytest.mark.skipif(not VOC_DIR.exists(), reason=f"{VOC_DIR} missing")


def _row(table: dict, model: str, stride: int) -> dict:
    return next(r for r in table["rows"] if (r["model"], r["output_stride"]) == (model, stride))


@needs_table
def test_every_measured_row_covers_the_whole_set():
    table = json.loads(TABLE.read_text())
    assert table["scales"] == [0.5, 0.75, 1.0, 1.25, 1.5, 1.75] and table["flip"] is True
    assert table["crf"] == {
        "iterations": 10,
        "bilateral_weight": 4.0,
        "bilateral_xy_std": 121.0,
        "bilateral_rgb_std": 5.0,
        "gaussian_weight": 3.0,
        "gaussian_xy_std": 3.0,
    }
    assert table["rows"]
    for row in table["rows"]:
        assert row["model"] in ("voc-mobilenetv2", "voc-mobilenetv2-aspp")
        assert row["output_stride"] in (8, 16, 32)
        for v in ("plain", "ms_flip", "crf", "ms_flip_crf"):
            assert row["variants"][v]["n_images"] == 445, (row["model"], v)
            assert row["part"][v]["n_images"] == table["part_images"]


@needs_table
def test_readme_rows_are_the_measured_ones():
    table = json.loads(TABLE.read_text())
    text = README.read_text()
    for row in table["rows"]:
        v = row["variants"]
        cells = " | ".join(
            f"{v[k]['miou_core7']:.4f} / {v[k]['boundary_f']:.3f}"
            for k in ("plain", "ms_flip", "crf", "ms_flip_crf")
        )
        line = f"| {row['model']} | {row['output_stride']} | {cells} |"
        assert line in text, line


def _cli(*args: str) -> dict:
    env = {"DEEPLAB_VIZ_WEIGHTS_DIR": str(WEIGHTS_DIR), "PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [sys.executable, "-m", "deeplab_viz", "eval-voc", str(VOC_DIR), *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.slow
@needs_table
@needs_voc
@pytest.mark.parametrize(
    ("variant", "flags"),
    [
        ("plain", []),
        ("crf", ["--crf"]),
        ("ms_flip", ["--scales", SCALES, "--flip"]),
        ("ms_flip_crf", ["--scales", SCALES, "--flip", "--crf"]),
    ],
)
def test_cli_reproduces_the_table_on_a_part(variant, flags):
    """Each variant on the table's coarsest measured row (the quickest to rerun)."""
    table = json.loads(TABLE.read_text())
    row = max(table["rows"], key=lambda r: (r["output_stride"], r["model"] == "voc-mobilenetv2"))
    model, stride = row["model"], row["output_stride"]
    part = _row(table, model, stride)["part"][variant]
    n = table["part_images"]
    got = _cli("--model", model, "--output-stride", str(stride), "--limit", str(n), *flags)
    assert got["n_images"] == n
    for key in ("miou", "pixel_accuracy", "boundary_f"):
        assert got[key] == pytest.approx(part[key], abs=2e-3), key
    if flags:
        assert got["scales"] == ([1.0] if "--scales" not in flags else table["scales"])
        assert got["crf"] == (table["crf"] if "--crf" in flags else None)


@needs_table
def test_readme_claims_follow_the_numbers():
    """Each sentence in the README's "what each buys" list is checked against the table."""
    table = json.loads(TABLE.read_text())
    text = README.read_text()
    rows = refine.measured_rows("voc-mobilenetv2", table)
    fine = min(rows)
    if fine == 32:
        pytest.skip("only output stride 32 is measured so far")
    g_fine = refine.gain(rows, fine, "crf", "miou_core7")
    g32 = refine.gain(rows, 32, "crf", "miou_core7")
    said = re.search(rf"the CRF matters (more|less) at output stride 32 than at {fine}", text)
    assert said, "the README answers whether the CRF matters more at stride 32"
    assert said.group(1) == ("more" if g32 > g_fine else "less")
