"""An honest first run: the fallback is a real-photo model and says so in one sentence,
``fetch`` prepares a machine (against a loopback server), ShapesWorld scenes are an image
source, and a ShapesWorld model on a photo is pointed at them."""

from __future__ import annotations

import dataclasses
import hashlib
import http.server
import json
import threading
from pathlib import Path

import numpy as np
import pytest
from conftest import needs_weights
from real_photo_support import use_real_photo_model

from deeplab_viz import first_run as FR
from deeplab_viz import weights as W
from deeplab_viz.cli import main
from deeplab_viz.models import ModelSpec, build_model, load_base
from deeplab_viz.models import registry as R
from deeplab_viz.paths import SAMPLES_DIR

SAMPLES = SAMPLES_DIR
MESSAGE = (
    "could not download deeplabv3_resnet50_coco-cd0a2569.pth (<urlopen error [Errno -3] "
    "Temporary failure in name resolution>); download https://download.pytorch.org/models/"
    "deeplabv3_resnet50_coco-cd0a2569.pth and put it into /home/me/.cache/atrous-lab"
)


@pytest.fixture
def offline(tmp_path, monkeypatch):
    """No weights folder content, an empty cache, an empty torch hub, no downloads."""
    monkeypatch.setenv(W.ENV_WEIGHTS_DIR, str(tmp_path / "weights"))
    monkeypatch.setenv(W.ENV_CACHE, str(tmp_path / "cache"))
    monkeypatch.setenv(W.ENV_OFFLINE, "1")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return tmp_path


@pytest.fixture
def real_photo(voc_base, monkeypatch, tmp_path_factory):
    use_real_photo_model(monkeypatch, tmp_path_factory.getbasetemp() / "real_photo", voc_base)
    return R.REAL_PHOTO_MODEL


# ------------------------------------------------------------------------- the sentence


@pytest.mark.parametrize("reason", W.REASONS)
def test_the_sentence_is_short_and_names_the_fix(reason):
    fb = FR.fallback(R.REGISTRY["deeplabv3_resnet50"], R.REAL_PHOTO_MODEL, MESSAGE, reason)
    s = fb.sentence
    assert s.count(".") == 1 and s.endswith(".") and "\n" not in s and len(s) < 200
    assert "http" not in s and "Errno" not in s and "/home" not in s
    assert "deeplabv3_resnet50" in s and f"{R.REAL_PHOTO_MODEL} runs instead" in s
    assert "`python -m deeplab_viz fetch deeplabv3_resnet50`" in s
    assert str(fb) == s
    # the details keep what the sentence leaves out
    assert "https://download.pytorch.org" in fb.details and "Errno" in fb.details
    assert "deeplabv3_resnet50:random" in fb.details


def test_the_sentence_says_why():
    entry = R.REGISTRY["deeplabv3_resnet50"]
    why = {r: FR.fallback(entry, "x", MESSAGE, r).sentence for r in W.REASONS}
    assert "not on this computer" in why["missing"]
    assert "could not be downloaded" in why["download"]
    assert "damaged" in why["damaged"]


def test_shipped_models_are_fixed_by_their_training_command():
    assert FR.fix_command(R.REGISTRY["shapes-deeplabv3"]) == "python -m deeplab_viz train-shapes"
    assert FR.fix_command(R.REGISTRY[R.TFLITE_MODEL]) == "python -m deeplab_viz fetch " + (
        R.TFLITE_MODEL
    )


# ------------------------------------------------------------------------- the fallback


@needs_weights
def test_a_photo_falls_back_to_the_real_photo_model(real_photo, offline):
    """No torchvision weights, no TFLite file, no network: the shipped real-photo model."""
    for asked in ("deeplabv3_resnet50", R.TFLITE_MODEL):
        model, fb = R.load_with_fallback(ModelSpec(name=asked, output_stride=16))
        assert model.spec.name == real_photo and model.spec.output_stride == 16
        assert not R.is_shapes_model(model.spec.name)
        assert fb.requested == asked and fb.running == real_photo and fb.reason == "missing"
        assert fb.command == f"python -m deeplab_viz fetch {asked}"


@needs_weights
def test_cli_segment_falls_back_in_one_sentence(real_photo, offline, tmp_path, capsys):
    code = main(
        ["segment", str(SAMPLES / "chelsea.png"), "--out", str(tmp_path / "o")]
        + ["--model", "deeplabv3_resnet50", "--size", "257"]
    )
    assert code == 0
    captured = capsys.readouterr()
    (rec,) = [json.loads(line) for line in captured.out.splitlines()]
    assert rec["model"].startswith(f"{real_photo} · OS ") and rec["output_stride"] == 8
    first, details = captured.err.splitlines()[-2:]
    assert first.startswith("The trained weights of deeplabv3_resnet50 are not on this computer")
    assert "http" not in first and details.startswith("details: ")
    assert "Traceback" not in captured.err


# ------------------------------------------------------------------------- fetch


@pytest.fixture
def server(tmp_path):
    """A loopback HTTP server over tmp_path/www: (base URL, folder, list of paths served)."""
    www = tmp_path / "www"
    www.mkdir()
    served: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(www), **kwargs)

        def do_GET(self):
            served.append(self.path)
            super().do_GET()

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", www, served
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def remotes(server, tmp_path, monkeypatch):
    """Every downloadable model served by the loopback server, with its real file name.

    Returns {name: (payload, path in the cache)}. The TFLite file is checked against
    its full sha256, torchvision's against the prefix in the file name, as for real.
    """
    url, www, _ = server
    cache = tmp_path / "cache"
    monkeypatch.setenv(W.ENV_CACHE, str(cache))
    monkeypatch.setenv(W.ENV_WEIGHTS_DIR, str(tmp_path / "weights"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv(W.ENV_OFFLINE, raising=False)
    real = R.torchvision_remote
    files, tv = {}, {}
    for name, entry in R.REGISTRY.items():
        if entry.kind == "local":
            continue
        payload = f"{name} weights ".encode() * 5000
        digest = hashlib.sha256(payload).hexdigest()
        filename = (entry.remote or real(name)).filename
        (www / filename).write_bytes(payload)
        if entry.kind == "tflite":
            remote = W.RemoteFile(filename, f"{url}/{filename}", digest)
            monkeypatch.setitem(R.REGISTRY, name, dataclasses.replace(entry, remote=remote))
        else:
            tv[name] = W.RemoteFile(filename, f"{url}/{filename}", digest[:8])
        files[name] = (payload, cache / filename)
    monkeypatch.setattr(R, "torchvision_remote", lambda name: tv[name])
    return files


def _records(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def test_fetch_all_downloads_checks_and_reports(remotes, server, capsys):
    code = main(["fetch", "--all"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    recs = _records(captured.out)
    assert [r["name"] for r in recs] == list(R.REGISTRY)
    for r in recs:
        assert r["ok"] is True and Path(r["path"]).is_file()
        if R.REGISTRY[r["name"]].kind == "local":
            assert r["status"] == "ships with the app"
            assert Path(r["path"]).parent == R.LOCAL_DIR
        else:
            payload, where = remotes[r["name"]]
            assert r["status"] == "downloaded" and Path(r["path"]) == where
            assert where.read_bytes() == payload
    assert "100%" in captured.err  # tqdm's progress bar, on stderr
    assert not list(next(iter(remotes.values()))[1].parent.glob("*.part"))

    served = len(server[2])
    assert main(["fetch", *remotes]) == 0  # a second time: checked, not downloaded again
    again = _records(capsys.readouterr().out)
    assert [r["status"] for r in again] == ["already here"] * len(remotes)
    assert len(server[2]) == served


def test_fetch_refuses_a_damaged_download_and_replaces_a_damaged_copy(
    remotes, server, monkeypatch, capsys
):
    name = R.TFLITE_MODEL
    payload, where = remotes[name]
    where.parent.mkdir(parents=True)
    where.write_bytes(b"half a file")  # a damaged copy in the app's own cache
    assert main(["fetch", name]) == 0
    (rec,) = _records(capsys.readouterr().out)
    assert rec["status"] == "downloaded" and where.read_bytes() == payload

    entry = R.REGISTRY[name]
    bad = dataclasses.replace(entry.remote, sha256="0" * 64)
    monkeypatch.setitem(R.REGISTRY, name, dataclasses.replace(entry, remote=bad))
    where.unlink()
    assert main(["fetch", name, "deeplabv3_resnet50"]) == 1
    recs = _records(capsys.readouterr().out)
    assert recs[0] == {"name": name, "ok": False, "error": recs[0]["error"]}
    assert "damaged" in recs[0]["error"] and not where.exists()
    assert recs[1]["ok"] is True  # the others go on


def test_fetch_offline_fails_with_one_line(remotes, monkeypatch, capsys):
    monkeypatch.setenv(W.ENV_OFFLINE, "1")
    assert main(["fetch", "deeplabv3_resnet101"]) == 1
    (rec,) = _records(capsys.readouterr().out)
    assert rec["ok"] is False and "downloads are off" in rec["error"]


@pytest.mark.parametrize(
    "argv, words",
    [
        (["fetch", "no-such-model"], "unknown model 'no-such-model'"),
        (["fetch"], "--all"),
        (["fetch", "--all", "deeplabv3_resnet50"], "not both"),
    ],
)
def test_fetch_usage_errors(argv, words, capsys):
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and words in captured.err
    assert len(captured.err.strip().splitlines()) == 1


# ------------------------------------------------------------------------- scenes


def test_a_generated_scene_is_an_image_source():
    a, b = FR.scene_image(7), FR.scene_image(7)
    assert FR.is_scene(a) and a.key == b.key and a.size == (FR.SCENE_SIZE, FR.SCENE_SIZE)
    assert a.key != FR.scene_image(8).key and not a.rgb.flags.writeable
    assert a.name == "ShapesWorld scene 7"


def test_shapes_model_segments_the_generated_scene():
    """Objects at the training scale: the ShapesWorld model gets most pixels right."""
    from deeplab_viz.inference import segment
    from deeplab_viz.shapes_world import custom_scene

    model = build_model(ModelSpec(name="shapes-deeplabv3"), base=load_base("shapes-deeplabv3"))
    for seed in (1, 2):
        img = FR.scene_image(seed)
        truth = custom_scene(
            seed, size=FR.SCENE_SIZE, diameters=FR.SCENE_DIAMETERS, n_objects=FR.SCENE_OBJECTS
        )
        assert np.array_equal(img.rgb, truth.rgb)
        seg = segment(model, img.rgb, size=FR.SCENE_SIZE)
        assert (seg.class_map == truth.mask).mean() > 0.95


# ------------------------------------------------------------------------- the app


def _sidebar_captions(at) -> str:
    return " ".join(c.value for c in at.sidebar.caption)


@pytest.mark.slow
def test_app_says_which_model_runs_instead_in_the_main_area(app, real_photo):
    app.query_params["sb_model"] = "deeplabv3_resnet101"
    app.query_params["sb_size"] = "257"
    at = app.run()
    assert not at.exception
    (warning,) = [w.value for w in at.main.warning]
    assert warning.startswith("The trained weights of deeplabv3_resnet101 are not on")
    assert f"{real_photo} runs instead" in warning and "http" not in warning
    assert "`python -m deeplab_viz fetch deeplabv3_resnet101`" in warning
    (details,) = [e for e in at.main.expander if e.label == "Details"]
    assert "deeplabv3_resnet101_coco" in details.code[0].value  # the file to put in place
    captions = _sidebar_captions(at)
    assert f"{real_photo} · OS 8" in captions and "instead of deeplabv3_resnet101" in captions
    assert R.REGISTRY[real_photo].title in captions  # the title of what runs, not of the choice
    assert R.REGISTRY["deeplabv3_resnet101"].title not in captions
    assert not at.sidebar.warning
    legend = " ".join(m.value for m in at.main.markdown if "border-radius" in m.value)
    assert "ring" not in legend and "disc" not in legend


@pytest.mark.slow
def test_app_points_a_shapes_model_at_a_generated_scene(app):
    app.query_params["sb_model"] = "shapes-deeplabv3"
    at = app.run()
    assert not at.exception
    (info,) = [i.value for i in at.main.info]
    assert info == FR.shapes_on_photo("shapes-deeplabv3")
    assert FR.SCENE_SOURCE in info and not at.main.warning

    at.sidebar.selectbox(key="sb_sample").set_value(FR.SCENE_SOURCE).run()
    assert not at.exception
    assert not at.main.info and "ShapesWorld scene 7" in _sidebar_captions(at)
    legend = " ".join(m.value for m in at.main.markdown if "border-radius" in m.value)
    assert "background" in legend and any(s in legend for s in ("disc", "square", "ring"))
    at.sidebar.number_input(key="sb_scene").set_value(8).run()
    assert not at.exception and "ShapesWorld scene 8" in _sidebar_captions(at)
