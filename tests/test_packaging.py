"""The library is an installable package: a wheel with its assets, dependencies and CLI."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile

import pytest
from conftest import ROOT


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    run = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation",
         "-w", str(out), "-q"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    (whl,) = out.glob("deeplab_viz-*.whl")
    return whl


def test_wheel_holds_the_library_its_assets_and_metadata(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "deeplab_viz/paths.py" in names and "deeplab_viz/cli.py" in names
    for sub in ("cost/flops.py", "receptive_field/formulas.py", "family/graph.py"):  # subpackages
        assert f"deeplab_viz/{sub}" in names, sub
    for f in (
        "deeplab_viz/assets/models/voc_mobilenetv2_aspp.pt",
        "deeplab_viz/assets/models/shapes_deeplabv3.pt",
        "deeplab_viz/assets/models/shapes_metrics.json",
        "deeplab_viz/assets/samples/chelsea.png",
    ):
        assert f in names, f
    assert not any(n.startswith(("tests/", "pages/", "ui/", "bench/")) for n in names)
    meta_name = next(n for n in names if n.endswith(".dist-info/METADATA"))
    meta = zipfile.ZipFile(wheel).read(meta_name).decode()
    requires = [line.split(":", 1)[1].strip() for line in meta.splitlines()
                if line.startswith("Requires-Dist:")]  # fmt: skip
    for dep in ("torch", "streamlit", "pandas", "pydensecrf2", "scipy", "captum"):
        assert any(r.startswith(dep) for r in requires), dep
    assert not any(r.startswith("matplotlib") for r in requires)  # never imported
    eps = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert "atrous-lab = deeplab_viz.cli:main" in zipfile.ZipFile(wheel).read(eps).decode()


def test_installed_wheel_finds_its_models_away_from_the_repository(wheel, tmp_path):
    target = tmp_path / "site"
    run = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--target", str(target), str(wheel),
         "-q"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    code = (
        "import json, deeplab_viz, deeplab_viz.paths as P\n"
        "from deeplab_viz.models import REGISTRY\n"
        "from deeplab_viz.cli import main\n"
        f"assert P.MODELS_DIR.is_relative_to({str(target)!r}), P.MODELS_DIR\n"
        "assert (P.MODELS_DIR / 'voc_mobilenetv2_aspp.pt').exists()\n"
        "assert 'voc-mobilenetv2-aspp' in REGISTRY and 'shapes-deeplabv3' in REGISTRY\n"
        "raise SystemExit(main(['models']))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(target)}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    rows = [line for line in out.stdout.splitlines() if line.startswith("{")]
    assert any('"voc-mobilenetv2-aspp"' in r and '"trained_weights_available": true' in r
               for r in rows)  # fmt: skip
