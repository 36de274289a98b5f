"""Classroom load: 20 browser sessions at once on one server.

Each session uploads its own image and opens the ASPP explorer. All must finish
with no exception element, each must show exactly what a serial, single-process
run of the library computes for its image, the server's memory must stay bounded
(the peak is reported), and the shared models must be left as loaded (checked on
the About page: no hooks, eval mode, no gradients, same weights).
"""

from __future__ import annotations

import io
import json
import threading
import time

import numpy as np
import pytest
from browser_support import SCREENSHOTS, Server, chromium_available, exceptions, wait_idle
from conftest import TFLITE
from PIL import Image

from deeplab_viz.images import load_image
from deeplab_viz.inference import DEFAULT_SIZE
from deeplab_viz.models import ModelSpec, build_model
from deeplab_viz.paths import SAMPLES_DIR
from deeplab_viz.probe import run_probe

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not chromium_available(), reason="Debian chromium is not installed"),
    pytest.mark.skipif(not TFLITE.exists(), reason="offline model not found"),
]

SESSIONS = 20
MEMORY_LIMIT = 6 * 2**30  # bytes of server RSS; a leak per session would blow through it


def _images() -> list[tuple[str, bytes]]:
    """20 different photos: crops and flips of the bundled samples."""
    out = []
    names = ["chelsea.png", "astronaut.png", "camera.png", "coffee.png", "rocket.jpg"]
    for i in range(SESSIONS):
        src = np.asarray(Image.open(SAMPLES_DIR / names[i % 5]).convert("RGB"))
        h, w = src.shape[:2]
        k = i // 5
        crop = src[k * h // 16 : h - k * h // 20, k * w // 20 : w - k * w // 16]
        if k % 2:
            crop = crop[:, ::-1]
        buf = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(crop)).save(buf, format="PNG")
        out.append((f"class_{i:02d}.png", buf.getvalue()))
    return out


def _legend(page) -> list[str]:
    chips = page.locator('[data-testid="stMainBlockContainer"] span[style*="border-radius"]')
    return sorted(chips.all_inner_texts())


def _expected_legend(model, data: bytes) -> list[str]:
    probe = run_probe(model, load_image(data).rgb, size=DEFAULT_SIZE)
    return sorted(f"{name} · {frac:.1%}" for name, frac in probe.fractions().items())


def _health(page) -> dict[str, dict[str, str]]:
    """The About page's table of shared models: model label -> column -> value."""
    table = page.locator('[data-testid="stTable"] table')
    header = [c.strip() for c in table.locator("thead th").all_inner_texts()]
    rows = {}
    for tr in table.locator("tbody tr").all():
        cells = [c.strip() for c in tr.locator("th, td").all_inner_texts()]
        rows[cells[0]] = dict(zip(header[1:], cells[1:], strict=False))
    return rows


class _MemoryWatch(threading.Thread):
    def __init__(self, server: Server) -> None:
        super().__init__(daemon=True)
        self.server, self.peak, self.running = server, 0, True

    def run(self) -> None:
        while self.running:
            self.peak = max(self.peak, self.server.rss_bytes())
            time.sleep(0.2)


def test_twenty_sessions_at_once(tmp_path):
    from browser_support import CHROMIUM, CHROMIUM_ARGS
    from playwright.sync_api import sync_playwright

    images = _images()
    from deeplab_viz.models.registry import REAL_PHOTO_MODEL

    # the sessions open the ASPP explorer, which opens on the five-branch model and keeps it
    reference_model = build_model(ModelSpec(name=REAL_PHOTO_MODEL))
    expected = [_expected_legend(reference_model, data) for _, data in images]

    srv = Server(env={"DEEPLAB_VIZ_OFFLINE": "1"})
    watch = _MemoryWatch(srv)
    try:
        srv.wait_healthy()
        watch.start()
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                # One server-side session warms the model and records its fingerprint.
                first = browser.new_context(viewport={"width": 1200, "height": 900}).new_page()
                first.goto(f"{srv.url}/about")
                wait_idle(first)
                before = _health(first)

                pages = []
                for _ in range(SESSIONS):
                    ctx = browser.new_context(viewport={"width": 1200, "height": 900})
                    page = ctx.new_page()
                    page.goto(f"{srv.url}/aspp_explorer")
                    pages.append(page)
                for page in pages:
                    wait_idle(page)
                t0 = time.perf_counter()
                for page, (name, data) in zip(pages, images, strict=True):  # all at once
                    page.locator('[data-testid="stSidebar"] input[type="file"]').set_input_files(
                        files=[{"name": name, "mimeType": "image/png", "buffer": data}]
                    )
                for page, (name, _) in zip(pages, images, strict=True):
                    page.wait_for_timeout(200)
                    wait_idle(page)
                    assert exceptions(page) == [], srv.log_text()
                    assert name in page.locator('[data-testid="stSidebar"]').inner_text()
                all_done_s = time.perf_counter() - t0
                SCREENSHOTS.mkdir(parents=True, exist_ok=True)
                pages[0].screenshot(path=str(SCREENSHOTS / "classroom_aspp.png"), full_page=True)

                # The same sessions, on the home page: the legend each one was served.
                got = []
                for page in pages:
                    page.locator('[data-testid="stSidebarNav"] a', has_text="Home").click()
                    page.wait_for_timeout(200)
                    wait_idle(page)
                    got.append(_legend(page))
                assert got == expected  # identical to a serial run of the library

                first.reload()
                wait_idle(first)
                after = _health(first)
                assert before and after
                for label, row in after.items():
                    assert row["clean"] == "yes" and row["hooks"] == "0", (label, row)
                for label, row in before.items():  # the model every session shared
                    assert after[label]["weights sha256"] == row["weights sha256"]
            finally:
                browser.close()
    finally:
        watch.running = False
        srv.stop()
    report = {
        "sessions": SESSIONS,
        "all_uploads_done_s": round(all_done_s, 1),
        "server_peak_rss_mb": round(watch.peak / 2**20, 1),
    }
    (SCREENSHOTS.parent / "classroom.json").write_text(json.dumps(report, indent=2))
    print(report)
    assert 0 < watch.peak < MEMORY_LIMIT
