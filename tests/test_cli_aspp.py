"""``python -m deeplab_viz aspp``: branch maps as PNG, JSON numbers, one-line errors, exit codes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import needs_weights
from PIL import Image

from deeplab_viz.cli import main
from deeplab_viz.commands.aspp import branch_slug, safe_stem
from deeplab_viz.paths import SAMPLES_DIR

CHELSEA = SAMPLES_DIR / "chelsea.png"
KEYS = {"name", "rate", "energy", "share", "magnitude_share", "changed_fraction_when_off"}


def _run(capsys, *argv: str) -> tuple[int, dict | None, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    lines = [line for line in out.splitlines() if line.strip()]
    assert len(lines) <= 1
    return code, json.loads(lines[0]) if lines else None, err


def _check_report(report: dict, image_size: tuple[int, int]) -> None:
    rows = report["branches"]
    assert all(KEYS <= set(r) for r in rows)
    total = sum(r["share"] for r in rows) + report["bias_share"]
    assert total == pytest.approx(1.0, abs=1e-5)
    assert sum(r["magnitude_share"] for r in rows) == pytest.approx(1.0, abs=1e-5)
    assert all(0.0 <= r["changed_fraction_when_off"] <= 1.0 and r["energy"] >= 0 for r in rows)
    assert len(report["outputs"]) == len(rows)
    for path in report["outputs"]:
        with Image.open(path) as im:
            assert im.size == image_size and im.mode == "RGB"


def test_names_are_safe():
    assert safe_stem("photos/my cat (1).JPG") == "my_cat_1"
    assert safe_stem("../../etc/passwd") == "passwd"
    assert safe_stem("日本.png") == "image"
    assert [branch_slug(k, r) for k, r in [("1x1", None), ("atrous", 12), ("pooling", None)]] == [
        "1x1",
        "rate12",
        "pooling",
    ]


def test_random_weights_resnet_has_five_branches(capsys, tmp_path):
    code, report, err = _run(
        capsys,
        "aspp",
        CHELSEA,
        "--model",
        "deeplabv3_resnet50",
        "--random-weights",
        "--output-stride",
        "16",
        "--size",
        "129",
        "--device",
        "cpu",
        "--out",
        tmp_path / "maps",
    )
    assert code == 0, err
    assert "architecture only" in report["model"] and report["output_stride"] == 16
    rows = report["branches"]
    assert [r["name"] for r in rows] == ["1×1", "rate 6", "rate 12", "rate 18", "image pooling"]
    assert [r["rate"] for r in rows] == [None, 6, 12, 18, None]
    assert [Path(p).name for p in report["outputs"]] == [
        "chelsea_branch0_1x1.png",
        "chelsea_branch1_rate6.png",
        "chelsea_branch2_rate12.png",
        "chelsea_branch3_rate18.png",
        "chelsea_branch4_pooling.png",
    ]
    assert report["bias_share"] == pytest.approx(0.0, abs=1e-9)  # fresh batch norm: no bias
    _check_report(report, (451, 300))


@needs_weights
@pytest.mark.slow
def test_offline_model_has_two_branches(capsys, tmp_path):
    image = tmp_path / "my cat (1).png"
    shutil.copy(CHELSEA, image)
    code, report, err = _run(capsys, "aspp", image, "--size", "257", "--out", tmp_path / "o")
    assert code == 0, err
    assert report["model"] == "voc-mobilenetv2 · OS 8" and report["output_stride"] == 8
    assert [r["name"] for r in report["branches"]] == ["image pooling", "1×1"]
    assert [Path(p).name for p in report["outputs"]] == [
        "my_cat_1_branch0_pooling.png",
        "my_cat_1_branch1_1x1.png",
    ]
    _check_report(report, (451, 300))
    by_name = {r["name"]: r for r in report["branches"]}
    # without the 1×1 branch the cat is lost: the pooling vector alone says "background"
    assert by_name["1×1"]["changed_fraction_when_off"] > 0.5
    assert by_name["image pooling"]["share"] > by_name["1×1"]["share"]


def test_bad_image_is_one_line_and_exit_1(capsys, tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not a png")
    code, report, err = _run(capsys, "aspp", bad, "--out", tmp_path / "o")
    assert code == 1 and report is None
    assert err.count("\n") == 1 and "broken.png" in err
    code, _, err = _run(capsys, "aspp", tmp_path / "missing.png", "--out", tmp_path / "o")
    assert code == 1 and err.count("\n") == 1
    assert not (tmp_path / "o").exists()  # nothing written for a failed image


@pytest.mark.parametrize(
    "argv",
    [
        ["aspp", str(CHELSEA)],  # --out missing
        ["aspp", str(CHELSEA), "--out", "o", "--output-stride", "12"],
        ["aspp", str(CHELSEA), "--out", "o", "--size", "10"],
        ["aspp", str(CHELSEA), "--out", "o", "--model", "unet"],
        ["aspp", str(CHELSEA), "--out", "o", "--aspp-rates", "double"],
        ["aspp", str(CHELSEA), "--out", "o", "--random-weights"],  # offline model: trained only
        ["aspp", "--out", "o"],  # IMAGE missing
    ],
)
def test_usage_errors_exit_2(capsys, argv):
    code, report, err = _run(capsys, *argv)
    assert code == 2 and report is None
    assert err.count("\n") == 1


def test_out_must_be_a_folder(capsys, tmp_path):
    afile = tmp_path / "file.txt"
    afile.write_text("x")
    code, _, err = _run(capsys, "aspp", CHELSEA, "--out", afile)
    assert code == 2 and "not a folder" in err
