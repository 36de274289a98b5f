"""The library is an installable package: a wheel with its assets, dependencies and CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

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


def test_a_fresh_venv_gets_a_working_atrous_lab_command_and_app(wheel, tmp_path):
    """`pip install` into a fresh venv: the console script, `atrous-lab app --where`, the
    app's files in <venv>/share/atrous-lab, and the installed app renders its home page.

    The venv borrows this environment's third-party packages through a .pth file (no
    download), but not the repository: it runs from a folder outside it.
    """
    import sysconfig

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    py = venv / "bin" / "python"
    ours = sysconfig.get_path("purelib")
    theirs = subprocess.run(
        [py, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    (Path(theirs) / "borrowed.pth").write_text(ours + "\n")
    run = subprocess.run(
        [py, "-m", "pip", "install", "--no-deps", "-q", "--disable-pip-version-check", str(wheel)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    cli = venv / "bin" / "atrous-lab"
    where = subprocess.run(
        [cli, "app", "--where"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert where.returncode == 0, where.stderr
    app = Path(json.loads(where.stdout)["app"])
    assert app == venv / "share" / "atrous-lab" / "app.py", app
    for part in ("pages/home.py", "ui/prose.py", "lessons/home.md", ".streamlit/config.toml"):
        assert (app.parent / part).is_file(), part
    models = subprocess.run(
        [cli, "models"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert models.returncode == 0 and '"voc-mobilenetv2-aspp"' in models.stdout, models.stderr
    # the installed app itself, run by Streamlit's test harness in the fresh venv
    code = (
        "import sys, deeplab_viz\n"
        "from streamlit.testing.v1 import AppTest\n"
        f"assert not deeplab_viz.__file__.startswith({str(ROOT)!r}), deeplab_viz.__file__\n"
        f"sys.path.insert(0, {str(app.parent)!r})\n"
        f"at = AppTest.from_file({str(app)!r}, default_timeout=240).run()\n"
        "assert not at.exception, [e.value for e in at.exception]\n"
        "print('TITLE', at.title[0].value)\n"
    )
    out = subprocess.run(
        [py, "-c", code], cwd=app.parent, env=env, capture_output=True, text=True, timeout=600
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "TITLE Atrous Lab" in out.stdout
    # and `atrous-lab app` serves it (the shipped config applies: no browser is opened)
    from browser_support import Server

    server = Server(env=env, command=[str(cli), "app", "--"], cwd=tmp_path)
    try:
        server.wait_healthy(timeout_s=120)
    finally:
        server.stop()
    assert "Traceback" not in server.log_text()


def test_app_command_finds_the_checkout_and_says_so_when_the_app_is_missing(
    capsys, monkeypatch, tmp_path
):
    from deeplab_viz.cli import main
    from deeplab_viz.commands import app as A

    assert main(["app", "--where"]) == 0
    assert json.loads(capsys.readouterr().out) == {"ok": True, "app": str(ROOT / "app.py")}
    monkeypatch.setattr(A, "candidates", lambda: [tmp_path])
    assert main(["app", "--where"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("the app's files") and str(tmp_path) in err and "\n" not in err


def test_constraints_pin_every_requirement_within_its_bounds():
    """constraints.txt (what CI installs) pins each direct requirement, except the torch
    family left to the registry, to a version the requirement files and pyproject allow."""
    import tomllib
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"not an exact pin: {line}"
            pins[canonicalize_name(name)] = version.strip()
    reqs = []
    for f in ("requirements.txt", "requirements-dev.txt"):
        for line in (ROOT / f).read_text().splitlines():
            line = line.split("#", 1)[0].strip()
            if line and not line.startswith("-"):
                reqs.append(Requirement(line))
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs += [Requirement(r) for r in project["dependencies"]]
    unpinned = {"torch", "torchvision"}
    for req in reqs:
        name = canonicalize_name(req.name)
        if name in unpinned:
            assert name not in pins, f"{name} is left to the registry on purpose"
            continue
        assert name in pins, f"{name} has no pin in constraints.txt"
        assert req.specifier.contains(pins[name], prereleases=True), (req, pins[name])
    # the runtime requirements and pyproject's dependencies are one list
    runtime = {canonicalize_name(Requirement(r).name) for r in project["dependencies"]}
    listed = {
        canonicalize_name(Requirement(line.split("#", 1)[0].strip()).name)
        for line in (ROOT / "requirements.txt").read_text().splitlines()
        if line.split("#", 1)[0].strip() and not line.startswith("-")
    }
    assert runtime == listed


def test_dockerfile_copies_what_the_app_needs_and_starts_it_the_tested_way():
    """The Dockerfile is not built here (no Docker daemon); what it can be checked for is:
    every file it copies exists, the app's parts are all copied, and it starts the app
    with the command tests/test_packaging.py runs from a wheel."""
    text = (ROOT / "Dockerfile").read_text()
    copied = []
    for line in text.splitlines():
        if line.startswith("COPY "):
            copied += line.split()[1:-1]
    for src in copied:
        assert (ROOT / src).exists(), src
    for part in ("app.py", "pages", "ui", "lessons", ".streamlit", "deeplab_viz", "pyproject.toml"):
        assert part in copied, part
    assert '"atrous-lab", "app"' in text and "constraints.txt" in text
    assert "UNTESTED" in text  # says so until a machine with Docker builds it
