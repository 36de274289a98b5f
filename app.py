"""Atrous Lab: run with ``streamlit run app.py``.

The entry point draws the one sidebar (image, model, output stride, device) on
every run, hands the resulting lesson to the page, and lets ``st.navigation``
pick the page.
"""

from pathlib import Path

import streamlit as st

from deeplab_viz.models.registry import REAL_PHOTO_MODEL
from deeplab_viz.threads import use_app_threads
from ui import links, warmup
from ui.bootstrap import ensure_app_entry
from ui.sidebar import open_on, sidebar

ensure_app_entry()  # the first request of a fresh server: see ui/bootstrap.py

ROOT = Path(__file__).resolve().parent

st.set_page_config(page_title="Atrous Lab", page_icon="🔬", layout="wide")
# torch's thread count is per thread, and every run is a new script thread: set it each run
use_app_threads()  # one core left free, so a shared CPU does not stall (deeplab_viz/threads.py)
warmup.start()  # imports and the first FLOP trace, off every page's first click

# (file, title, icon); a page is listed once its file exists, so sections grow with the app.
SECTIONS = {
    "Start": [
        ("home.py", "Home", ":material/home:"),
        ("about.py", "About and health", ":material/info:"),
    ],
    "The idea": [
        ("dilated_convolution.py", "Dilated convolution", ":material/blur_on:"),
        ("receptive_fields.py", "Receptive fields", ":material/center_focus_strong:"),
        ("gridding.py", "Gridding", ":material/grid_on:"),
    ],
    "Inside DeepLab": [
        ("aspp_explorer.py", "ASPP explorer", ":material/hub:"),
        ("output_stride.py", "Output stride", ":material/zoom_in:"),
        ("gpu_and_cost.py", "GPU and cost", ":material/speed:"),
    ],
    "Experiments": [
        ("scale_lab.py", "Scale lab", ":material/straighten:"),
        ("deeplab_family.py", "DeepLab family", ":material/account_tree:"),
    ],
}

pages = {
    section: [
        st.Page(f"pages/{file}", title=title, icon=icon, default=(file == "home.py"))
        for file, title, icon in items
        if (ROOT / "pages" / file).exists()
    ]
    for section, items in SECTIONS.items()
}
# Pages whose lesson needs another model than the default open on it (until one is picked).
OPENS_ON = {"aspp_explorer": REAL_PHOTO_MODEL}  # five ASPP branches, trained on real photos
nav = st.navigation({k: v for k, v in pages.items() if v})
open_on(OPENS_ON.get(nav.url_path))
with links.notice_area():  # one notice on top for the link's values that were dropped
    st.session_state["_lesson"] = sidebar()
    try:
        nav.run()
    finally:  # the lesson belongs to this run only; a page run on its own draws its own
        st.session_state.pop("_lesson", None)
