"""The CLI: segment, models, eval-voc — JSON out, one-line errors, exit codes 0/1/2."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import TFLITE, VOC_DIR
from PIL import Image

from deeplab_viz.cli import main
from deeplab_viz.palette import PALETTE
from deeplab_viz.paths import SAMPLES_DIR

SAMPLES = SAMPLES_DIR
needs_weights = pytest.mark.skipif(not TFLITE.exists(), reason="offline model not found")


def _lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@needs_weights
def test_segment_writes_class_pngs_and_overlays(tmp_path, capsys):
    out = tmp_path / "out"
    code = main(
        ["segment", str(SAMPLES / "chelsea.png"), "--out", str(out), "--output-stride", "16"]
    )
    assert code == 0
    (rec,) = _lines(capsys.readouterr().out)
    assert rec["model"] == "voc-mobilenetv2 · OS 16" and rec["output_stride"] == 16
    assert rec["image_size"] == [451, 300] and max(rec["size"]) == 513
    assert max(rec["classes"], key=rec["classes"].get) == "cat"
    assert abs(sum(rec["classes"].values()) - 1) < 1e-3 and rec["ms"] > 0
    mask = Image.open(out / "chelsea.png")
    assert mask.mode == "P" and mask.size == (451, 300)
    assert np.array_equal(np.asarray(mask.getpalette()[:63]), PALETTE[:21].ravel())
    values = np.unique(np.asarray(mask))
    assert set(values.tolist()) <= set(range(21)) and 8 in values  # 8 = cat
    assert Image.open(out / "chelsea_overlay.png").size == (451, 300)


@needs_weights
def test_a_bad_input_is_reported_and_the_rest_go_on(tmp_path, capsys):
    bad = tmp_path / "notes.jpg"
    bad.write_text("not an image")
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    out = tmp_path / "out"
    code = main(
        [
            "segment",
            str(bad),
            str(SAMPLES / "camera.png"),
            str(empty),
            "--out",
            str(out),
            "--size",
            "257",
        ]
    )
    assert code == 1
    recs = _lines(capsys.readouterr().out)
    assert [r["path"] for r in recs] == [str(bad), str(SAMPLES / "camera.png"), str(empty)]
    assert set(recs[0]) == {"path", "error"} and "notes.jpg" in recs[0]["error"]
    assert "person" in recs[1]["classes"] and max(recs[1]["size"]) == 257
    assert "error" in recs[2]
    assert sorted(p.name for p in out.iterdir()) == ["camera.png", "camera_overlay.png"]


@needs_weights
def test_same_stem_twice_does_not_overwrite(tmp_path, capsys):
    a = tmp_path / "a"
    b = tmp_path / "b"
    a.mkdir()
    b.mkdir()
    shutil.copy(SAMPLES / "chelsea.png", a / "x.png")
    shutil.copy(SAMPLES / "camera.png", b / "x.png")
    assert main(["segment", str(a / "x.png"), str(b / "x.png"), "--out", str(tmp_path / "o")]) == 0
    outs = [r["outputs"][0] for r in _lines(capsys.readouterr().out)]
    assert [p.rsplit("/", 1)[-1] for p in outs] == ["x.png", "x-2.png"]


@pytest.mark.parametrize(
    "argv",
    [
        ["segment", "x.png", "--out", "o", "--output-stride", "12"],
        ["segment", "x.png"],
        ["segment", "x.png", "--out", "o", "--model", "nope"],
        ["segment", "x.png", "--out", "o", "--size", "big"],
        ["segment", "x.png", "--out", "o", "--size", "10"],
        ["segment", "x.png", "--out", "o", "--dtype", "float16", "--device", "cpu"],
        ["segment", "x.png", "--out", "o", "--device", "tpu"],
        ["eval-voc", "/definitely/not/here"],
        ["eval-voc", ".", "--limit", "0"],
        ["bogus"],
        [],
    ],
)
def test_usage_errors_are_one_line_and_exit_2(argv, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err and "\n" not in err and "Traceback" not in err


def test_out_must_be_a_folder(tmp_path, capsys):
    f = tmp_path / "file"
    f.write_text("x")
    assert main(["segment", str(SAMPLES / "chelsea.png"), "--out", str(f)]) == 2
    assert "not a folder" in capsys.readouterr().err


def test_unavailable_trained_weights_fall_back_in_one_sentence(tmp_path, capsys):
    from deeplab_viz.models.registry import FALLBACKS, REGISTRY

    running = next(name for name in FALLBACKS if name in REGISTRY)
    code = main(
        [
            "segment",
            str(SAMPLES / "chelsea.png"),
            "--out",
            str(tmp_path),
            "--model",
            "deeplabv3_resnet50",
        ]
    )
    assert code == 0
    captured = capsys.readouterr()
    assert _lines(captured.out)[0]["model"].startswith(f"{running} · OS ")
    sentence, details = captured.err.strip().splitlines()
    assert "deeplabv3_resnet50" in sentence and f"{running} runs instead" in sentence
    assert "python -m deeplab_viz fetch deeplabv3_resnet50" in sentence
    assert "deeplabv3_resnet50_coco" in details and "DEEPLAB_VIZ_WEIGHTS_DIR" in details


def test_random_weights_run_and_say_so(tmp_path, capsys):
    code = main(
        [
            "segment",
            str(SAMPLES / "coffee.png"),
            "--out",
            str(tmp_path),
            "--model",
            "deeplabv3_mobilenet_v3_large",
            "--random-weights",
            "--size",
            "129",
        ]
    )
    assert code == 0
    (rec,) = _lines(capsys.readouterr().out)
    assert (
        rec["model"].endswith("architecture only (random weights)") and rec["output_stride"] == 16
    )


def test_models_lists_every_model_and_availability(capsys):
    assert main(["models", "--json"]) == 0
    rows = {r["name"]: r for r in _lines(capsys.readouterr().out)}
    assert set(rows) == {
        "voc-mobilenetv2",
        "voc-mobilenetv2-aspp",
        "deeplabv3_mobilenet_v3_large",
        "deeplabv3_resnet50",
        "deeplabv3_resnet101",
        "shapes-deeplabv3",
        "shapes-deeplabv3plus",
    }
    assert rows["shapes-deeplabv3"]["trained_weights_available"] is True
    assert rows["voc-mobilenetv2"]["trained_weights_available"] is TFLITE.exists()
    assert rows["deeplabv3_resnet50"]["trained_weights_available"] is False
    assert "download.pytorch.org" in rows["deeplabv3_resnet50"]["weights"]
    assert main(["models"]) == 0  # JSON lines by default, as every command prints
    assert {r["name"] for r in _lines(capsys.readouterr().out)} == set(rows)
    assert main(["models", "--table"]) == 0
    out = capsys.readouterr().out
    assert "voc-mobilenetv2" in out and not out.lstrip().startswith("{")


def _tiny_voc(root, ids, mask_fn):
    (root / "JPEGImages").mkdir(parents=True)
    (root / "SegmentationClass").mkdir()
    (root / "ImageSets" / "Segmentation").mkdir(parents=True)
    (root / "ImageSets" / "Segmentation" / "val.txt").write_text("\n".join(ids) + "\n")
    for i in ids:
        src = Image.open(SAMPLES / "chelsea.png").convert("RGB")
        src.save(root / "JPEGImages" / f"{i}.jpg")
        m = Image.fromarray(mask_fn(src.size[::-1]), mode="P")
        m.putpalette(PALETTE.ravel().tolist())
        m.save(root / "SegmentationClass" / f"{i}.png")


@needs_weights
def test_eval_voc_on_a_small_folder(tmp_path, capsys):
    def mask(hw):
        m = np.full(hw, 8, np.uint8)  # all cat
        m[:10] = 255  # void rows are ignored
        return m

    _tiny_voc(tmp_path / "voc", ["a", "b"], mask)
    assert main(["eval-voc", str(tmp_path / "voc"), "--limit", "1"]) == 0
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert report["n_images"] == 1 and report["model"] == "voc-mobilenetv2 · OS 8"
    assert 0.5 < report["pixel_accuracy"] <= 1 and set(report["iou"]) >= {"cat"}
    assert report["miou"] == report["iou"]["cat"]  # the only class present in the labels
    assert "1/1" in captured.err  # progress on stderr


@needs_weights
def test_eval_voc_reports_a_mask_that_does_not_fit(tmp_path, capsys):
    _tiny_voc(tmp_path / "voc", ["a"], lambda hw: np.zeros((hw[0] + 1, hw[1]), np.uint8))
    assert main(["eval-voc", str(tmp_path / "voc")]) == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "mask size" in err


@needs_weights
@pytest.mark.skipif(not VOC_DIR.exists(), reason="VOC subset not found")
def test_eval_voc_on_real_labels_quick(capsys):
    assert main(["eval-voc", str(VOC_DIR), "--limit", "4"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["n_images"] == 4 and report["pixel_accuracy"] > 0.9
    assert {"forward_mean", "forward_median", "total_per_image"} <= set(report["ms"])


def test_every_subcommand_is_a_module_in_commands():
    """cli.py only gathers: each subcommand is registered by its own module in commands/."""
    import ast
    import pkgutil

    from deeplab_viz import cli, commands

    tree = ast.parse(Path(cli.__file__).read_text())
    calls = {n.func.attr for n in ast.walk(tree) if isinstance(n, ast.Call)
             and isinstance(n.func, ast.Attribute)}  # fmt: skip
    assert "add_parser" not in calls
    assert not [
        n.name for n in tree.body if isinstance(n, ast.FunctionDef) and n.name.startswith("cmd_")
    ]
    names = [i.name for i in pkgutil.iter_modules(commands.__path__)]
    assert {"segment", "models", "eval_voc", "app"} <= set(names)
    subs = cli.build_parser()._subparsers._group_actions[0].choices  # noqa: SLF001
    assert list(subs)[:3] == ["segment", "models", "eval-voc"]
    assert {"app", "aspp", "fetch", "gridding", "rf"} <= set(subs)
