"""``python -m deeplab_viz rf``: JSON tables, one-line errors, exit codes."""

from __future__ import annotations

import json

import pytest

from deeplab_viz.cli import main


def _run(capsys, *argv: str) -> tuple[int, list[dict], str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, [json.loads(line) for line in out.splitlines() if line.strip()], err


def test_layers(capsys) -> None:
    code, rows, err = _run(capsys, "rf", "--layers", "3,1,1; 3,2,1; 3,1,2 ;2,2,1,0")
    assert code == 0 and err == ""
    assert [(r["name"], r["size"], r["jump"], r["start"]) for r in rows] == [
        ("L1", 3, 1, 0.0),
        ("L2", 5, 2, 0.0),
        ("L3", 13, 2, 0.0),
        ("L4", 15, 4, 1.0),
    ]
    assert rows[2] == {
        "name": "L3",
        "kernel": 3,
        "stride": 1,
        "dilation": 2,
        "padding": 2,
        "size": 13,
        "jump": 2,
        "start": 0.0,
    }


def test_model_random_weights(capsys) -> None:
    code, rows, _ = _run(
        capsys, "rf", "--model", "deeplabv3_resnet50", "--output-stride", "16", "--random-weights"
    )
    assert code == 0
    assert [r["part"] for r in rows] == ["stage"] * 5 + ["aspp"] * 5 + ["logits"]
    by_name = {(r["part"], r["name"]): r for r in rows}
    assert by_name["stage", "layer4"]["size"] == 427 and by_name["stage", "layer4"]["jump"] == 16
    assert [by_name["aspp", n]["size"] for n in ("1×1", "rate 6", "rate 12", "rate 18")] == [
        427,
        619,
        811,
        1003,
    ]
    assert by_name["aspp", "image pooling"]["size"] == "global"
    assert by_name["logits", "logits"]["size"] == "global"
    assert all("architecture only" in r["model"] for r in rows)
    assert all({"size", "jump", "start"} <= set(r) for r in rows)


@pytest.mark.slow
def test_model_offline_weights_with_input_size(capsys) -> None:
    from conftest import TFLITE

    if not TFLITE.exists():
        pytest.skip(f"{TFLITE} not found")
    code, rows, _ = _run(
        capsys,
        "rf",
        "--model",
        "voc-mobilenetv2",
        "--output-stride",
        "32",
        "--input-size",
        "257",
        "257",
    )
    assert code == 0
    stage5 = next(r for r in rows if r["name"] == "stage5")
    assert (stage5["size"], stage5["jump"], stage5["output_stride"]) == (491, 32, 32)
    assert stage5["clipped"] and stage5["inside_fraction"] == pytest.approx(
        257**2 / 491**2, abs=1e-4
    )
    assert rows[-1]["part"] == "logits" and rows[-1]["size"] == "global"


@pytest.mark.parametrize(
    "argv,match",
    [
        ([], "exactly one of --layers or --model"),
        (["--layers", "3", "--model", "voc-mobilenetv2"], "exactly one"),
        (["--layers", "3,0"], "layer 1"),
        (["--layers", "3,x"], "integers"),
        (["--layers", ""], "no layers"),
        (
            ["--layers", "3", "--output-stride", "8"],
            "--output-stride can only be used with --model",
        ),
        (["--layers", "3", "--random-weights"], "--random-weights"),
        (["--model", "nope"], "invalid choice"),
        (["--model", "voc-mobilenetv2", "--random-weights"], "trained weights"),
        (["--model", "voc-mobilenetv2", "--output-stride", "4"], "invalid choice"),
        (["--model", "voc-mobilenetv2", "--input-size", "0", "3"], "--input-size"),
    ],
)
def test_usage_errors_are_one_line_exit_2(capsys, argv, match) -> None:
    code, rows, err = _run(capsys, "rf", *argv)
    assert code == 2 and rows == []
    assert match in err and err.count("\n") == 1


def test_missing_trained_weights_exit_1(capsys, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("DEEPLAB_VIZ_WEIGHTS_DIR", str(tmp_path))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "hub"))
    code, rows, err = _run(capsys, "rf", "--model", "deeplabv3_resnet101")
    assert code == 1 and rows == []
    assert err.startswith("model unavailable:") and err.count("\n") == 1
