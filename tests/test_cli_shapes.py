"""CLI: ``eval-shapes`` JSON and ``train-shapes``; one-line usage errors with exit code 2."""

from __future__ import annotations

import json

import pytest

from deeplab_viz.cli import main


def test_eval_shapes_prints_one_json_object(capsys):
    assert main(["eval-shapes", "--output-stride", "32", "--n-images", "4"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["model"] == "shapes-deeplabv3" and rep["output_stride"] == 32
    assert rep["dropped"] is None and rep["n_images"] == 4
    assert rep["aspp_rates"] == [1, 2, 3]
    assert {"miou", "iou", "iou_by_size", "boundary_f", "ms"} <= set(rep)
    assert set(rep["iou_by_size"]) == {"tiny", "small", "medium", "large"}


@pytest.mark.parametrize(
    ("drop", "name"),
    [("pooling", "image pooling"), ("4", "image pooling"), ("1x1", "1×1"), ("rate 4", "rate 4")],
)
def test_eval_shapes_drops_a_branch_by_name_or_index(drop, name, capsys):
    argv = ["eval-shapes", "--model", "shapes-deeplabv3plus", "--n-images", "2"]
    assert main([*argv, "--drop-branch", drop]) == 0
    rep = json.loads(capsys.readouterr().out)
    from deeplab_viz.models import REGISTRY

    trained = REGISTRY["shapes-deeplabv3plus"].native_stride  # the default stride
    assert rep["model"] == "shapes-deeplabv3plus" and rep["output_stride"] == trained
    assert rep["dropped"] == name


@pytest.mark.parametrize(
    "argv",
    [
        ["eval-shapes", "--output-stride", "4"],
        ["eval-shapes", "--model", "voc-mobilenetv2"],
        ["eval-shapes", "--drop-branch", "rate 99", "--n-images", "1"],
        ["eval-shapes", "--drop-branch", "7", "--n-images", "1"],
        ["eval-shapes", "--n-images", "0"],
        ["train-shapes", "--arch", "v4"],
        ["train-shapes", "--minutes", "-1"],
        ["train-shapes", "--threads", "-2", "--steps", "1"],
        ["train-shapes", "--finetune-fraction", "1", "--steps", "1"],
        ["train-shapes", "--finetune-stride", "4", "--steps", "1"],
    ],
)
def test_usage_errors_are_one_line_and_exit_2(argv, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err and "\n" not in err and "Traceback" not in err


def test_train_shapes_refuses_a_file_as_out(tmp_path, capsys):
    f = tmp_path / "file"
    f.write_text("x")
    assert main(["train-shapes", "--steps", "1", "--out", str(f)]) == 2
    assert "not a folder" in capsys.readouterr().err


def test_train_shapes_smoke(tmp_path, capsys):
    argv = ["train-shapes", "--steps", "1", "--batch", "2", "--workers", "0", "--threads", "1"]
    assert main([*argv, "--out", str(tmp_path)]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["model"] == "shapes-deeplabv3" and rep["steps"] == 1
    meta = json.loads((tmp_path / "shapes_deeplabv3.json").read_text())
    assert meta["training"]["steps_done"] == 1 and (tmp_path / "shapes_deeplabv3.pt").is_file()


def test_train_shapes_in_one_phase(tmp_path, capsys):
    argv = ["train-shapes", "--steps", "2", "--batch", "2", "--workers", "0", "--threads", "1"]
    argv += ["--finetune-stride", "none", "--output-stride", "32", "--out", str(tmp_path)]
    assert main(argv) == 0
    meta = json.loads((tmp_path / "shapes_deeplabv3.json").read_text())
    assert [p["output_stride"] for p in meta["training"]["phases"]] == [32]
    assert meta["architecture"]["output_stride"] == 32
    assert meta["architecture"]["aspp_rates"] == [1, 2, 3]
