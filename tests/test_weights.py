"""Model files: lookup order, sha256-checked downloads from a loopback server, offline messages."""

from __future__ import annotations

import hashlib
import http.server
import threading
from pathlib import Path

import pytest
import torch

from deeplab_viz import weights as W
from deeplab_viz.models import ModelSpec, load_with_fallback
from deeplab_viz.models.registry import load_base, torchvision_remote

PAYLOAD = b"pretend model weights " * 1000


@pytest.fixture
def server(tmp_path):
    """A loopback HTTP server serving tmp_path/www; yields its base URL."""
    www = tmp_path / "www"
    www.mkdir()
    (www / "model.bin").write_bytes(PAYLOAD)

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(www), **kwargs)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def dirs(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    wdir = tmp_path / "weights"
    wdir.mkdir()
    monkeypatch.setenv(W.ENV_CACHE, str(cache))
    monkeypatch.setenv(W.ENV_WEIGHTS_DIR, str(wdir))
    monkeypatch.delenv(W.ENV_OFFLINE, raising=False)
    return cache, wdir


def _remote(url: str, sha: str | None = None) -> W.RemoteFile:
    return W.RemoteFile("model.bin", f"{url}/model.bin", sha or hashlib.sha256(PAYLOAD).hexdigest())


def test_download_is_checked_and_reports_progress(server, dirs):
    cache, _ = dirs
    seen = []
    path = W.fetch(_remote(server), progress=lambda done, total: seen.append((done, total)))
    assert path == cache / "model.bin" and path.read_bytes() == PAYLOAD
    assert seen[-1] == (len(PAYLOAD), len(PAYLOAD))
    assert [p.name for p in cache.iterdir()] == ["model.bin"]  # no .part left behind


def test_a_damaged_download_is_deleted_never_used(server, dirs):
    cache, _ = dirs
    with pytest.raises(W.WeightsUnavailable, match="damaged") as err:
        W.fetch(_remote(server, sha="0" * 64))
    assert "\n" not in err.value.message
    assert not (cache / "model.bin").exists()
    assert list(cache.iterdir()) == []


def test_unreachable_url_says_where_to_put_the_file(server, dirs):
    cache, wdir = dirs
    with pytest.raises(W.WeightsUnavailable) as err:
        W.fetch(W.RemoteFile("model.bin", f"{server}/missing.bin", "ab" * 32))
    msg = err.value.message
    assert "could not download model.bin" in msg and str(cache) in msg and W.ENV_WEIGHTS_DIR in msg
    assert not (cache / "model.bin").exists()


def test_weights_dir_comes_before_the_cache_and_is_verified(server, dirs):
    cache, wdir = dirs
    (wdir / "model.bin").write_bytes(PAYLOAD)
    assert W.fetch(_remote(server)) == wdir / "model.bin"
    (wdir / "model.bin").write_bytes(b"tampered")
    with pytest.raises(W.WeightsUnavailable, match="sha256"):
        W.fetch(_remote(server))
    assert (wdir / "model.bin").read_bytes() == b"tampered"  # a user's file is never deleted


def test_offline_mode_refuses_to_download(server, dirs, monkeypatch):
    monkeypatch.setenv(W.ENV_OFFLINE, "1")
    with pytest.raises(W.WeightsUnavailable, match="downloads are off"):
        W.fetch(_remote(server))


def test_torchvision_remote_uses_the_hash_prefix_in_the_file_name():
    r = torchvision_remote("deeplabv3_resnet50")
    assert r.filename.startswith("deeplabv3_resnet50") and r.filename.endswith(".pth")
    assert r.filename.endswith(f"-{r.sha256}.pth") and len(r.sha256) >= 8
    assert r.matches(r.sha256 + "0" * 56) and not r.matches("f" * 64)


def test_a_user_checkpoint_is_loaded_safely(dirs, monkeypatch):
    """A file with the right name and hash prefix but unsafe or broken content is refused."""
    _, wdir = dirs
    remote = torchvision_remote("deeplabv3_mobilenet_v3_large")

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    path = wdir / remote.filename
    torch.save({"x": Evil()}, path)
    digest = W.sha256_file(path)
    # Pretend the hash matched so the loader reaches torch.load(weights_only=True).
    remote_ok = W.RemoteFile(remote.filename, remote.url, digest[:8])
    monkeypatch.setattr("deeplab_viz.models.registry.torchvision_remote", lambda name: remote_ok)
    with pytest.raises(W.WeightsUnavailable, match="not a readable PyTorch checkpoint"):
        load_base("deeplabv3_mobilenet_v3_large", pretrained=True)


def test_missing_torchvision_weights_fall_back_to_the_offline_model(monkeypatch):
    monkeypatch.setenv(W.ENV_OFFLINE, "1")
    from conftest import TFLITE

    if not TFLITE.exists():
        pytest.skip("offline model not found")
    from deeplab_viz.models.registry import FALLBACKS, REGISTRY

    model, notice = load_with_fallback(ModelSpec(name="deeplabv3_resnet50", output_stride=16))
    assert model.spec.name == next(n for n in FALLBACKS if n in REGISTRY)
    assert model.spec.output_stride == 16
    assert "deeplabv3_resnet50" in notice.sentence and "architecture only" in notice.details
    assert "\n" not in notice.sentence


def test_cache_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(W.ENV_CACHE, str(tmp_path / "c"))
    assert W.cache_dir() == tmp_path / "c"
    monkeypatch.delenv(W.ENV_CACHE)
    assert W.cache_dir().name == "atrous-lab"
    assert isinstance(W.cache_dir(), Path)
