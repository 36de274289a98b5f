"""Bound widgets keep writing the link after the model changes (issue 13), in Chromium.

Streamlit's frontend writes a bound widget's value into the URL only while the
widget's binding is registered. A widget whose section moves to another place
on the page between two runs (content above it came or went) is mounted anew
there while its old copy, with the same element id, stays until the run ends;
the old copy's unmount then removes the new copy's binding, and the widget stops
writing the link. ``AppTest`` does not see the URL the frontend writes, so this
runs against ``streamlit run app.py``.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlparse

import pytest
from browser_support import chromium_available, exceptions, wait_idle
from conftest import TFLITE

from deeplab_viz.first_run import SCENE_SOURCE

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not chromium_available(), reason="Debian chromium is not installed"),
    pytest.mark.skipif(not TFLITE.exists(), reason="offline model not found"),
]

URL_TIMEOUT_MS = 20_000  # a bound widget writes the link at once; this only bounds a failure


def _params(page) -> dict[str, list[str]]:
    return parse_qs(urlparse(page.url).query)


def _hub(page):
    """The ASPP explorer's summary, which names the model that runs."""
    alerts = page.locator('[data-testid="stMainBlockContainer"] [data-testid="stAlert"]')
    return alerts.filter(has_text=re.compile(r" has (the full DeepLabv3 ASPP|only )"))


def _pick_model(page, option: str) -> None:
    """Choose ``option`` in the sidebar's model picker and wait for the page to run on it."""
    from playwright.sync_api import expect

    box = page.locator('[data-testid="stSidebar"]').get_by_role("combobox", name="Model")
    box.click()
    box.fill(option)
    page.get_by_role("option", name=option, exact=True).click()
    expect(_hub(page)).to_contain_text(option.partition(":")[0], timeout=180_000)
    wait_idle(page)


def _slider_x(page):
    return page.locator('[data-testid="stMainBlockContainer"]').get_by_role(
        "slider", name="Picked pixel x (image pixels)"
    )


def _open_tab(page, label: str, heading: str) -> None:
    """Open one of the ASPP explorer's tabs and wait until it has drawn its ``heading``."""
    from playwright.sync_api import expect

    main = page.locator('[data-testid="stMainBlockContainer"]')
    tab = main.get_by_role("tab", name=label, exact=True)
    tab.click()
    expect(tab).to_have_attribute("aria-selected", "true")
    expect(main.get_by_role("heading", name=heading)).to_be_visible(timeout=180_000)
    wait_idle(page)


FOOTPRINTS = ("1 · Footprints", "1 · Where each branch looks")
SWITCH_OFF = ("4 · Switch off", "4 · Switch branches off")


def _branch(page, name: str):
    group = page.locator('[data-testid="stMainBlockContainer"] [data-testid="stButtonGroup"]')
    return group.filter(has_text="Branches to switch off").get_by_role(
        "button", name=name, exact=True
    )


@pytest.mark.parametrize(
    "image",
    [
        pytest.param(SCENE_SOURCE, id="scene"),  # the sections move up by one: the case seen
        pytest.param(None, id="photo"),  # a notice comes above the page as another goes
    ],
)
def test_the_aspp_explorer_keeps_writing_its_link_after_model_changes(ctx, server, image):
    """resnet50:random, then shapes-deeplabv3: the pixel and the ablation still reach the URL."""
    from urllib.parse import urlencode

    from playwright.sync_api import expect

    query = urlencode({"sb_sample": image}) if image else ""
    page = ctx.new_page()
    try:
        page.goto(f"{server.url}/aspp_explorer{'?' + query if query else ''}")
        wait_idle(page)
        _pick_model(page, "deeplabv3_resnet50:random")
        _pick_model(page, "shapes-deeplabv3")
        assert _params(page)["sb_model"] == ["shapes-deeplabv3"]

        slider = _slider_x(page)
        start = int(slider.input_value())
        slider.focus()
        page.keyboard.press("ArrowRight")
        page.keyboard.press("ArrowRight")
        x = start + 2
        expect(slider).to_have_value(str(x))
        wait_idle(page)
        expect(page).to_have_url(re.compile(rf"[?&]aspp_x={x}(&|$)"), timeout=URL_TIMEOUT_MS)

        _open_tab(page, *SWITCH_OFF)  # the pixel's tab closes: its value stays in the link
        _branch(page, "rate 4").click()
        expect(_branch(page, "rate 4")).to_have_attribute("aria-pressed", "true")
        wait_idle(page)
        expect(page).to_have_url(re.compile(r"[?&]aspp_off=rate\+4(&|$)"), timeout=URL_TIMEOUT_MS)

        params = _params(page)
        assert params["aspp_x"] == [str(x)] and params["aspp_off"] == ["rate 4"]
        assert params["sb_model"] == ["shapes-deeplabv3"]
        assert exceptions(page) == [], server.log_text()

        # the link made of it reproduces the view
        page.reload()
        wait_idle(page)
        expect(_hub(page)).to_contain_text("shapes-deeplabv3")
        expect(_branch(page, "rate 4")).to_have_attribute("aria-pressed", "true")
        _open_tab(page, *FOOTPRINTS)
        expect(_slider_x(page)).to_have_value(str(x))
        params = _params(page)
        assert params["aspp_x"] == [str(x)] and params["aspp_off"] == ["rate 4"]
        # after the tab switches the slider still writes the link
        _slider_x(page).focus()
        page.keyboard.press("ArrowRight")
        expect(_slider_x(page)).to_have_value(str(x + 1))
        wait_idle(page)
        expect(page).to_have_url(re.compile(rf"[?&]aspp_x={x + 1}(&|$)"), timeout=URL_TIMEOUT_MS)
        assert _params(page)["aspp_off"] == ["rate 4"]
        assert exceptions(page) == [], server.log_text()
    finally:
        page.close()


def test_a_link_made_with_an_upload_says_so_when_opened(ctx, server):
    """The upload cannot travel; the link says it was there, and the new tab says so."""
    import io

    import numpy as np
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.full((48, 64, 3), 90, np.uint8)).save(buf, format="PNG")
    page = ctx.new_page()
    try:
        page.goto(f"{server.url}/")
        wait_idle(page)
        page.locator('[data-testid="stSidebar"] input[type="file"]').set_input_files(
            files=[{"name": "mine.png", "mimeType": "image/png", "buffer": buf.getvalue()}]
        )
        page.wait_for_function(
            "() => new URLSearchParams(location.search).get('sb_sample') === 'your own image'",
            timeout=URL_TIMEOUT_MS,
        )
        wait_idle(page)
        assert "mine.png" in page.locator('[data-testid="stSidebar"]').inner_text()
        link = page.url
    finally:
        page.close()
    other = ctx.new_page()  # the link, opened by someone without the file
    try:
        other.goto(link)
        wait_idle(other)
        main = other.locator('[data-testid="stMainBlockContainer"]').inner_text()
        assert "cannot carry" in main and "Upload an image in the sidebar" in main
        assert exceptions(other) == []
    finally:
        other.close()
