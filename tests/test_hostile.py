"""Hostile input through the CLI: each file handled or answered in one sentence."""

from __future__ import annotations

import json

import pytest
from conftest import TFLITE
from hostile import hostile_files

from deeplab_viz.cli import main

pytestmark = pytest.mark.skipif(not TFLITE.exists(), reason="offline model not found")


def test_cli_answers_every_hostile_file(tmp_path, capsys):
    files = hostile_files()
    paths = []
    for name, (data, _) in files.items():
        p = tmp_path / name
        p.write_bytes(data)
        paths.append(p)
    out = tmp_path / "out"
    code = main(["segment", *map(str, paths), "--out", str(out), "--size", "257"])
    captured = capsys.readouterr()
    assert code == 1  # some were refused, the rest went on
    assert "Traceback" not in captured.err and "Traceback" not in captured.out
    records = [json.loads(line) for line in captured.out.splitlines()]
    assert [r["path"] for r in records] == [str(p) for p in paths]
    for rec, (name, (_, expect)) in zip(records, files.items(), strict=True):
        if expect == "ok" or (expect == "either" and "error" not in rec):
            assert "classes" in rec, name
            assert (out / f"{name.rsplit('.', 1)[0]}.png").exists()
        else:
            assert set(rec) == {"path", "error"}, name
            assert name in rec["error"] and "\n" not in rec["error"]
    by_name = {r["path"].rsplit("/", 1)[-1]: r for r in records}
    assert by_name["panorama_10000x200.jpg"]["image_size"] == [1024, 20]
    assert by_name["exif_rotated.jpg"]["image_size"] == [240, 320]  # upright
