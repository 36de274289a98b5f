"""Pick a pixel by clicking the picture (issue 13), in Chromium.

A click on a pickable picture selects the nearest invisible click target
(``plots.common.click_targets``); the page's ``on_select`` callback moves its pixel
sliders there, and the sliders write the link. ``AppTest`` cannot click a plotly
chart, so this runs against ``streamlit run app.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qs, quote, urlparse

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


@dataclass(frozen=True)
class Pick:
    """A page with a pickable picture: where to open it, where to click, what must follow."""

    url: str  # path and query: the sliders start at (x0, y0)
    chart: str  # the chart's key
    xy_keys: tuple[str, str]  # the slider keys the click writes
    x0: int
    click: tuple[float, float]  # fractions of the plot area
    near: Callable[[int, int], bool]  # the values the click must give


PICKS = {
    # Output stride's boundary zoom: sliders in % of the image's sides
    "output_stride": Pick(
        "output_stride?os_zoom_x=50&os_zoom_y=50",
        "os_where_fig",
        ("os_zoom_x", "os_zoom_y"),
        50,
        (0.2, 0.8),
        lambda x, y: abs(x - 20) <= 4 and abs(y - 80) <= 4,
    ),
    # Dilated convolution on your image: the kernel's centre, image pixels
    "dilated_convolution": Pick(
        "dilated_convolution?dc_view=On+your+image&dc_px=10&dc_py=10",
        "dc_img_fig",
        ("dc_px", "dc_py"),
        10,
        (0.5, 0.5),
        lambda x, y: x > 10 and y > 10,  # moved towards the middle
    ),
    # Receptive fields, tab 2: the picked pixel, image pixels
    "receptive_fields": Pick(
        "receptive_fields?rf_tab=" + quote("2 · RFs in the model") + "&rf_x=10&rf_y=10",
        "rf_boxes_fig",
        ("rf_x", "rf_y"),
        10,
        (0.5, 0.5),
        lambda x, y: x > 10 and y > 10,  # moved inwards (the view reaches past the image)
    ),
    # ASPP explorer, tab 1: the picked pixel, image pixels
    "aspp_explorer": Pick(
        "aspp_explorer?aspp_x=10&aspp_y=10",
        "aspp_footprint_fig",
        ("aspp_x", "aspp_y"),
        10,
        (0.5, 0.5),
        lambda x, y: x > 10 and y > 10,
    ),
    # Gridding on your image: the zoom's centre, image pixels
    "gridding": Pick(
        "gridding?gr_view=On+your+image&gr_zx=200&gr_zy=150",
        "gr_img_fig",
        ("gr_zx", "gr_zy"),
        200,
        (0.05, 0.1),
        lambda x, y: x < 60 and y < 60,  # near the top-left corner
    ),
}


@pytest.mark.parametrize("name", PICKS)
def test_a_click_on_the_picture_moves_the_picked_pixel(ctx, server, name):
    pick = PICKS[name]
    page = ctx.new_page()
    try:
        page.goto(f"{server.url}/{pick.url}")
        wait_idle(page)
        page.locator(f".st-key-{pick.chart}").wait_for(timeout=60_000)
        _click(page, pick.chart, *pick.click)
        x = _wait_param(page, pick.xy_keys[0], pick.x0)
        y = _param(page, pick.xy_keys[1])
        assert y is not None and pick.near(x, y), (x, y)
        assert exceptions(page) == []
    finally:
        page.close()
