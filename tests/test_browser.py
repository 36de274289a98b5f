"""The app as a person uses it: headless Chromium against ``streamlit run app.py``.

Every page loads without an exception element (and is screenshotted), an upload
through the file widget works, hostile uploads get one sentence and the next
upload still works, a slider updates its figure, and a shared link reproduces a view.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
import tomllib
from browser_support import (
    ROOT,
    Server,
    chromium_available,
    exceptions,
    screenshot,
    wait_idle,
)
from conftest import TFLITE
from hostile import hostile_files
from PIL import Image

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not chromium_available(), reason="Debian chromium is not installed"),
    pytest.mark.skipif(not TFLITE.exists(), reason="offline model not found"),
]

PAGES = sorted(p.stem for p in (ROOT / "pages").glob("*.py") if not p.stem.startswith("_"))


VIEWPORT = (1400, 1000)  # the window these tests were written for


def _url(server, page: str, query: str = "") -> str:
    path = "" if page == "home" else page
    return f"{server.url}/{path}{('?' + query) if query else ''}"


def _sidebar_text(page) -> str:
    return page.locator('[data-testid="stSidebar"]').inner_text()


def _upload(page, name: str, data: bytes, mime: str = "image/png") -> None:
    page.locator('[data-testid="stSidebar"] input[type="file"]').set_input_files(
        files=[{"name": name, "mimeType": mime, "buffer": data}]
    )
    page.wait_for_timeout(500)
    wait_idle(page)


def _png(w: int, h: int) -> bytes:
    yy, xx = np.mgrid[0:h, 0:w]
    rgb = np.stack([xx * 255 // w, yy * 255 // h, np.full_like(xx, 128)], -1).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG")
    return buf.getvalue()


@pytest.mark.parametrize("page_name", PAGES)
def test_every_page_loads_without_an_exception(ctx, server, page_name):
    page = ctx.new_page()
    try:
        page.goto(_url(server, page_name))
        wait_idle(page)
        assert exceptions(page) == [], server.log_text()
        assert "Traceback" not in page.locator("body").inner_text()
        screenshot(page, page_name)
    finally:
        page.close()


def test_upload_through_the_file_widget_and_hostile_files(ctx, server):
    page = ctx.new_page()
    try:
        page.goto(_url(server, "home"))
        wait_idle(page)
        _upload(page, "gradient.png", _png(200, 120))
        assert "gradient.png · 200×120 px" in _sidebar_text(page)
        assert exceptions(page) == []
        for name, (data, expect) in hostile_files().items():
            if len(data) == 0:
                continue  # browsers do not send empty files through the widget
            _upload(page, name, data, "application/octet-stream")
            assert exceptions(page) == [], name
            text = _sidebar_text(page)
            assert "Traceback" not in page.locator("body").inner_text(), name
            if expect == "refused":
                alerts = page.locator('[data-testid="stSidebar"] [data-testid="stAlert"]')
                assert alerts.count() >= 1, name
                assert name in alerts.first.inner_text(), name
                assert "previous image" in text, name  # nothing the user had is lost
            elif expect == "ok":
                assert name in text, name
        # the next good upload still works
        _upload(page, "after.png", _png(64, 48))
        assert "after.png · 64×48 px" in _sidebar_text(page)
        screenshot(page, "upload")
    finally:
        page.close()


def test_a_shared_link_reproduces_the_view(ctx, server):
    page = ctx.new_page()
    try:
        page.goto(_url(server, "home", "sb_sample=camera.png&sb_os=16"))
        wait_idle(page)
        text = _sidebar_text(page)
        assert "camera.png" in text and "OS 16" in text
        assert exceptions(page) == []
        # and a change is written back into the link
        page.locator('[data-testid="stSidebar"]').get_by_role(
            "radio", name="32", exact=True
        ).click()
        page.wait_for_timeout(500)
        wait_idle(page)
        assert "sb_os=32" in page.url and "OS 32" in _sidebar_text(page)
    finally:
        page.close()


def test_a_slider_change_updates_its_figure(ctx, server):
    target = next((p for p in ("dilated_convolution", "gridding") if p in PAGES), None)
    if target is None:
        pytest.skip("no page with a slider yet")
    page = ctx.new_page()
    try:
        page.goto(_url(server, target))
        wait_idle(page)
        main = page.locator('[data-testid="stMainBlockContainer"]')
        slider = main.get_by_role("slider").first
        before, url = main.screenshot(), page.url
        slider.focus()
        page.keyboard.press("ArrowRight")
        page.keyboard.press("ArrowRight")
        page.wait_for_timeout(500)
        wait_idle(page)
        assert page.url != url  # the new value is in the link (bound to a query parameter)
        assert main.screenshot() != before
        assert exceptions(page) == []
    finally:
        page.close()


def test_upload_size_is_capped_in_the_config():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert 1 <= config["server"]["maxUploadSize"] <= 50
    assert config["client"]["showErrorDetails"] in ("none", False)


def test_a_deep_link_is_the_first_request_of_a_fresh_server(ctx):
    """Streamlit's automatic pages mode must not serve the first request (ui/bootstrap.py).

    A server of its own (fresh process), visited with the module's browser: one
    Playwright instance per test module.
    """
    deep = next((p for p in PAGES if p != "home"), None)
    if deep is None:
        pytest.skip("no page besides home yet")
    srv = Server(env={"DEEPLAB_VIZ_OFFLINE": "1"})
    page = None
    try:
        srv.wait_healthy()
        page = ctx.new_page()
        page.goto(_url(srv, deep, "sb_sample=camera.png"))
        wait_idle(page)
        sidebar = _sidebar_text(page)
        assert "Your lesson" in sidebar and "camera.png" in sidebar
        assert "The idea" in sidebar  # app.py's navigation sections, not the automatic list
        assert exceptions(page) == []
        assert page.url.split("?")[0].rstrip("/").endswith(deep)
    finally:
        if page is not None:
            page.close()
        srv.stop()


# A Markdown link, a Markdown image and an HTML tag aimed at addresses no page uses.
HOSTILE_LINK_VALUE = (
    "[Session expired](https://evil.example/login) ![](http://127.0.0.1:9/track.png) "
    "<img src=http://127.0.0.1:9/t.png>"
)


def _page_link_keys(page_name: str) -> list[str]:
    """The page's own link parameters, read from its code (grows with the page)."""
    from test_links_fuzz import page_keys

    return sorted(page_keys(f"pages/{page_name}.py"))


@pytest.mark.parametrize("page_name", PAGES)
def test_a_link_cut_short_or_poisoned_opens_every_page(ctx, server, page_name):
    """``?sb_os=&sb_rates=`` plus a Markdown/HTML payload in every page parameter, in Chromium.

    The page renders with the one-line notice, shows no exception, makes no ``<a>``
    or ``<img>`` out of the payload and sends no request to its addresses.
    """
    from urllib.parse import urlencode, urlparse

    params = {"sb_os": "", "sb_rates": ""}
    params.update({key: HOSTILE_LINK_VALUE for key in _page_link_keys(page_name)})
    page = ctx.new_page()
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    try:
        page.goto(_url(server, page_name, urlencode(params)))
        wait_idle(page)
        body = page.locator("body").inner_text()
        assert exceptions(page) == [], server.log_text()
        assert "Traceback" not in body
        assert "not valid; showing the default" in body  # one value or several
        assert page.locator('[data-testid="stMainBlockContainer"] h1').count() == 1
        assert page.locator('a[href*="evil.example"]').count() == 0
        assert page.locator('img[src*="127.0.0.1:9"]').count() == 0
        hosts = {(urlparse(u).hostname, urlparse(u).port) for u in requested}
        assert ("evil.example", None) not in hosts and ("127.0.0.1", 9) not in hosts
    finally:
        page.close()
