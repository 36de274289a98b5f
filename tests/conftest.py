"""Shared test setup: real weights from ../shared, no downloads, AppTest helpers."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
WEIGHTS_DIR = Path(os.environ.get("DEEPLAB_VIZ_WEIGHTS_DIR", SHARED / "weights"))
TFLITE = WEIGHTS_DIR / "deeplabv3.tflite"
GOLDEN_DIR = SHARED / "testdata" / "tflite_segmenter"
VOC_DIR = SHARED / "eval" / "voc2012_val_subset"

# Tests never download: the offline model comes from ../shared/weights (CI sets
# the same), torchvision models are built with random weights.
os.environ.setdefault("DEEPLAB_VIZ_WEIGHTS_DIR", str(WEIGHTS_DIR))
os.environ["DEEPLAB_VIZ_OFFLINE"] = "1"

needs_weights = pytest.mark.skipif(
    not TFLITE.exists(), reason=f"{TFLITE} not found (set DEEPLAB_VIZ_WEIGHTS_DIR)"
)


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """torch's intra-op thread count set to ``n`` inside the block, restored after."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@pytest.fixture(autouse=True)
def _pinned_threads(request) -> Iterator[None]:
    """A test (or module: ``pytestmark``) marked ``torch_threads(n)`` runs with ``n``
    intra-op threads. Tiny convolutions on a busy 2-core box: thread start-up dominates,
    and one thread is faster and steadier. The one place the tests pin threads."""
    marker = request.node.get_closest_marker("torch_threads")
    if marker is None:
        yield
        return
    with torch_threads(int(marker.args[0])):
        yield


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    """Each test session gets its own empty app cache folder."""
    monkeypatch.setenv("DEEPLAB_VIZ_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


@pytest.fixture(scope="session")
def voc_base():
    """The offline model as trained, loaded once for the whole run."""
    from deeplab_viz.models import load_base

    if not TFLITE.exists():
        pytest.skip(f"{TFLITE} not found")
    return load_base("voc-mobilenetv2")


@pytest.fixture(scope="session")
def voc_reports(voc_base):
    """``evaluate_voc`` of the offline TFLite model on the whole VOC subset at 8, 16 and 32."""
    from deeplab_viz.evaluate import evaluate_voc
    from deeplab_viz.models import ModelSpec, build_model

    if not VOC_DIR.exists():
        pytest.skip(f"{VOC_DIR} not found")
    return {
        os_: evaluate_voc(
            VOC_DIR,
            build_model(ModelSpec(name="voc-mobilenetv2", output_stride=os_), base=voc_base),
        )
        for os_ in (8, 16, 32)
    }


def _pin_navigation_mode(monkeypatch) -> None:
    """Make AppTest run app.py like a running server does.

    Streamlit decides per process whether a ``pages/`` folder next to the script
    means its automatic (v1) multipage mode; the first ``st.navigation`` call
    turns that off for good. AppTest resets the flag before *every* run, so its
    reruns would execute page files directly, without app.py and its sidebar.
    This pins the flag to what a server has after its first run.
    """
    from streamlit.runtime.pages_manager import PagesManager
    from streamlit.testing.v1 import app_test as app_test_module

    class NavigationPagesManager(PagesManager):
        def __init__(self, *args, **kwargs):
            PagesManager.uses_pages_directory = False
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(app_test_module, "PagesManager", NavigationPagesManager)


@pytest.fixture
def app(monkeypatch):
    """A fresh AppTest of the whole app (entry point, sidebar, navigation)."""
    from streamlit.testing.v1 import AppTest

    if not TFLITE.exists():
        pytest.skip(f"{TFLITE} not found")
    _pin_navigation_mode(monkeypatch)
    return AppTest.from_file(str(ROOT / "app.py"), default_timeout=180)


def open_page(app, page: str, **params):
    """Run ``app`` with these query parameters in the link, then switch to ``page``."""
    for key, value in params.items():
        app.query_params[key] = value
    at = app.run()
    assert not at.exception, at.exception
    at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


# --------------------------------------------------------------------------- browser tests
# One `streamlit run app.py` and one Chromium per browser-test module. A module sets
# VIEWPORT = (width, height) to change the window (default 1600×1000, the brief's).


@pytest.fixture(scope="module")
def server():
    """``streamlit run app.py`` on a loopback port, offline, for the whole module."""
    from browser_support import Server

    srv = Server(env={"DEEPLAB_VIZ_OFFLINE": "1"})
    try:
        srv.wait_healthy()
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def ctx(request, server):
    """A headless Chromium context (fresh profile) at the module's ``VIEWPORT``."""
    from browser_support import browser

    with browser(viewport=getattr(request.module, "VIEWPORT", (1600, 1000))) as context:
        yield context


def chart_texts(at) -> str:
    """Every plotly chart on an AppTest page as text: titles, axis titles, annotations
    (panel titles) and trace names, joined by " | "."""
    import json

    texts = []
    for chart in at.main.get("plotly_chart"):
        spec = json.loads(chart.proto.spec)
        layout = spec.get("layout", {})
        texts.append(str(layout.get("title", {}).get("text", "")))
        for k, v in layout.items():
            if k.startswith("xaxis") and isinstance(v, dict):
                texts.append(str(v.get("title", {}).get("text", "")))
        texts += [str(a.get("text", "")) for a in layout.get("annotations", [])]
        texts += [str(t.get("name", "")) for t in spec.get("data", [])]
    return " | ".join(texts)
