"""CLI outputs that cannot be written: one JSON line per input, exit 1, nothing half-written."""

from __future__ import annotations

import errno
import json
import os
import shutil
from pathlib import Path

import pytest
from conftest import needs_weights
from PIL import Image

from deeplab_viz import outputs
from deeplab_viz.cli import main
from deeplab_viz.paths import SAMPLES_DIR

SAMPLES = SAMPLES_DIR
pytestmark = needs_weights


def _run(capsys, *argv: str) -> tuple[int, list[dict], str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    lines = [json.loads(line) for line in captured.out.splitlines() if line.strip()]
    return code, lines, captured.err


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def _full_disk_on_call(monkeypatch, failing_call: int) -> None:
    """Make the ``failing_call``-th PNG written run out of space half-way through it."""
    real_save = Image.Image.save
    calls = [0]

    def save(self, fp, *args, **kwargs):
        calls[0] += 1
        if calls[0] == failing_call:
            fp.write(b"\x89PNG half a file")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_save(self, fp, *args, **kwargs)

    monkeypatch.setattr(Image.Image, "save", save)


def test_an_out_folder_under_a_file_fails_each_input_in_one_line(tmp_path, capsys):
    blocker = tmp_path / "notes.txt"
    blocker.write_text("a file, not a folder")
    images = [str(SAMPLES / "chelsea.png"), str(SAMPLES / "camera.png")]
    code, lines, err = _run(capsys, "segment", *images, "--out", str(blocker / "out"))
    assert code == 1
    assert [set(line) for line in lines] == [{"path", "error"}] * 2
    assert [line["path"] for line in lines] == images
    assert lines[0]["error"].startswith(f"cannot create the output folder {blocker / 'out'}: ")
    assert "Traceback" not in err and "\n" not in lines[0]["error"]


def test_an_unwritable_folder_fails_each_input_and_leaves_nothing(tmp_path, capsys, monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))

    monkeypatch.setattr(outputs.tempfile, "mkstemp", refuse)  # root ignores chmod
    out = tmp_path / "out"
    code, lines, err = _run(
        capsys, "segment", str(SAMPLES / "chelsea.png"), "--out", str(out), "--size", "257"
    )
    assert code == 1 and "Traceback" not in err
    assert lines == [
        {
            "path": str(SAMPLES / "chelsea.png"),
            "error": f"cannot write {out / 'chelsea.png'}: Permission denied.",
        }
    ]
    assert _files(out) == []


def test_a_full_disk_fails_that_input_only_and_leaves_no_part(tmp_path, capsys, monkeypatch):
    _full_disk_on_call(monkeypatch, 2)  # chelsea's overlay, after its mask was written
    out = tmp_path / "out"
    images = [str(SAMPLES / "chelsea.png"), str(SAMPLES / "camera.png")]
    code, lines, err = _run(capsys, "segment", *images, "--out", str(out), "--size", "257")
    assert code == 1 and "Traceback" not in err
    assert lines[0] == {
        "path": images[0],
        "error": f"cannot write {out / 'chelsea_overlay.png'}: No space left on device.",
    }
    assert lines[1]["path"] == images[1] and "error" not in lines[1]  # the next one goes on
    assert _files(out) == ["camera.png", "camera_overlay.png"]  # no mask alone, no .part


def test_an_input_whose_output_name_cannot_be_formed(tmp_path, capsys):
    dots = tmp_path / "..jpg"
    shutil.copy(SAMPLES / "chelsea.png", dots)
    out = tmp_path / "out"
    images = [str(dots), str(SAMPLES / "camera.png")]
    code, lines, err = _run(capsys, "segment", *images, "--out", str(out), "--size", "257")
    assert code == 1 and "Traceback" not in err
    assert lines[0] == {
        "path": str(dots),
        "error": "cannot form an output file name from '..jpg'; rename the file.",
    }
    assert lines[1]["outputs"] == [str(out / "camera.png"), str(out / "camera_overlay.png")]
    assert _files(out) == ["camera.png", "camera_overlay.png"]


def test_written_outputs_are_whole_pngs_with_no_temporary_left(tmp_path, capsys):
    out = tmp_path / "out"
    code, lines, _ = _run(
        capsys, "segment", str(SAMPLES / "camera.png"), "--out", str(out), "--size", "257"
    )
    assert code == 0 and _files(out) == ["camera.png", "camera_overlay.png"]
    for name in _files(out):
        with Image.open(out / name) as img:
            img.load()  # the whole file decodes
            assert img.format == "PNG"


def test_aspp_out_folder_under_a_file_is_one_json_line(tmp_path, capsys):
    blocker = tmp_path / "notes.txt"
    blocker.write_text("x")
    image = str(SAMPLES / "chelsea.png")
    code, lines, err = _run(capsys, "aspp", image, "--out", str(blocker / "maps"))
    assert code == 1 and "Traceback" not in err
    assert len(lines) == 1 and set(lines[0]) == {"path", "error"} and lines[0]["path"] == image
    assert "cannot create the output folder" in lines[0]["error"]


def test_aspp_on_a_full_disk_leaves_no_map(tmp_path, capsys, monkeypatch):
    _full_disk_on_call(monkeypatch, 2)  # the second branch map
    out = tmp_path / "maps"
    image = str(SAMPLES / "chelsea.png")
    code, lines, err = _run(capsys, "aspp", image, "--out", str(out), "--size", "257")
    assert code == 1 and "Traceback" not in err
    assert len(lines) == 1 and lines[0]["path"] == image
    assert lines[0]["error"].endswith(": No space left on device.")
    assert _files(out) == []  # neither the first map nor a temporary


@pytest.mark.parametrize("name", ["..jpg", "...png", ". .jpg"])
def test_output_stem_refuses_names_of_dots(name):
    with pytest.raises(outputs.OutputError, match="cannot form an output file name"):
        outputs.output_stem(name)


def test_output_stem_keeps_ordinary_names_and_refuses_overlong_ones():
    assert outputs.output_stem("dir/photo.final.jpg") == "photo.final"
    assert outputs.output_stem(".hidden.png") == ".hidden"
    with pytest.raises(outputs.OutputError, match="more than 200 bytes"):
        outputs.output_stem("é" * 150 + ".png")
