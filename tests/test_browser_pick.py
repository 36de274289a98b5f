"""Pick a pixel by clicking the picture (issue 13), in Chromium.

A click on a pickable picture selects the nearest invisible click target
(``plots.common.click_targets``); the page's ``on_select`` callback moves its pixel
sliders there, and the sliders write the link. ``AppTest`` cannot click a plotly
chart, so this runs against ``streamlit run app.py``.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest
from browser_support import chromium_available, exceptions, wait_idle
from conftest import TFLITE

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not chromium_available(), reason="Debian chromium is not installed"),
    pytest.mark.skipif(not TFLITE.exists(), reason="offline model not found"),
]

URL_TIMEOUT_MS = 30_000  # a click writes the link within a rerun; this only bounds a failure


def _param(page, name: str) -> int | None:
    values = parse_qs(urlparse(page.url).query).get(name)
    return int(values[0]) if values else None


def _click(page, chart_key: str, fx: float, fy: float) -> None:
    """Click the chart ``chart_key`` at the fractions (fx, fy) of its plot area."""
    area = page.locator(f".st-key-{chart_key} .nsewdrag").first
    area.scroll_into_view_if_needed()
    box = area.bounding_box()
    assert box is not None, f"{chart_key} has no plot area"
    page.mouse.move(box["x"] + fx * box["width"], box["y"] + fy * box["height"])
    page.wait_for_timeout(200)  # plotly finds the nearest target on hover
    page.mouse.click(box["x"] + fx * box["width"], box["y"] + fy * box["height"])


def _wait_param(page, name: str, not_value: int | None) -> int:
    page.wait_for_function(
        f"""() => {{
            const v = new URLSearchParams(window.location.search).get({name!r});
            return v !== null && v !== {str(not_value)!r};
        }}""",
        timeout=URL_TIMEOUT_MS,
    )
    wait_idle(page)
    value = _param(page, name)
    assert value is not None
    return value


def test_a_click_on_the_where_picture_moves_the_boundary_zoom(ctx, server):
    page = ctx.new_page()
    try:
        page.goto(f"{server.url}/output_stride?os_zoom_x=50&os_zoom_y=50")
        wait_idle(page)
        page.locator(".st-key-os_where_fig").wait_for(timeout=60_000)
        _click(page, "os_where_fig", 0.2, 0.8)
        x = _wait_param(page, "os_zoom_x", 50)
        y = _param(page, "os_zoom_y")
        assert abs(x - 20) <= 4 and y is not None and abs(y - 80) <= 4, (x, y)
        assert exceptions(page) == []
    finally:
        page.close()


def test_a_click_on_the_image_moves_the_kernel(ctx, server):
    page = ctx.new_page()
    try:
        page.goto(f"{server.url}/dilated_convolution?dc_view=On+your+image&dc_px=10&dc_py=10")
        wait_idle(page)
        page.locator(".st-key-dc_img_fig").wait_for(timeout=60_000)
        _click(page, "dc_img_fig", 0.5, 0.5)
        x = _wait_param(page, "dc_px", 10)
        y = _param(page, "dc_py")
        assert x > 10 and y is not None and y > 10, (x, y)  # moved towards the middle
        assert exceptions(page) == []
    finally:
        page.close()


def test_a_click_on_the_input_moves_the_gridding_zoom(ctx, server):
    page = ctx.new_page()
    try:
        page.goto(f"{server.url}/gridding?gr_view=On+your+image&gr_zx=200&gr_zy=150")
        wait_idle(page)
        page.locator(".st-key-gr_img_fig").wait_for(timeout=60_000)
        _click(page, "gr_img_fig", 0.05, 0.1)
        x = _wait_param(page, "gr_zx", 200)
        y = _param(page, "gr_zy")
        assert x < 60 and y is not None and y < 60, (x, y)  # near the top-left corner
        assert exceptions(page) == []
    finally:
        page.close()
