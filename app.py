"""Atrous Lab: run with ``streamlit run app.py``.

The entry point draws the one sidebar (image, model, output stride, device) on
every run, hands the resulting lesson to the page, and lets ``st.navigation``
pick the page.
"""

from pathlib import Path

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager

from ui.sidebar import sidebar

ROOT = Path(__file__).resolve().parent

st.set_page_config(page_title="Atrous Lab", page_icon="🔬", layout="wide")

# (file, title, icon); a page is listed once its file exists, so sections grow with the app.
SECTIONS = {
    "Start": [("home.py", "Home", ":material/home:")],
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
}

pages = {
    section: [
        st.Page(f"pages/{file}", title=title, icon=icon, default=(file == "home.py"))
        for file, title, icon in items
        if (ROOT / "pages" / file).exists()
    ]
    for section, items in SECTIONS.items()
}
# Streamlit decides per process whether a `pages/` folder means the old automatic
# multipage mode; st.navigation switches it off, but only after the first run has
# already been wrapped in the automatic mode (a blank first page). Rerun once then.
first_run_in_pages_folder_mode = bool(getattr(PagesManager, "uses_pages_directory", False))
nav = st.navigation({k: v for k, v in pages.items() if v})
if first_run_in_pages_folder_mode:
    st.rerun()
st.session_state["_lesson"] = sidebar()
try:
    nav.run()
finally:  # the lesson belongs to this run only; a page run on its own draws its own
    st.session_state.pop("_lesson", None)
