"""Make sure every run goes through app.py and its st.navigation.

Streamlit decides per process whether a ``pages/`` folder next to the entry
script means its old automatic multipage mode. ``st.navigation`` switches that
off, but the very first request of a fresh server is served in the automatic
mode: either app.py wrapped in an automatic page list (a blank first page), or,
for a deep link such as ``/receptive_fields``, the page file run directly without
app.py (no sidebar, no page config). Both call :func:`ensure_app_entry` first,
which switches the mode off, as st.navigation would, and reruns once, so the
run starts again at app.py with the requested page.
"""

from __future__ import annotations

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager


def ensure_app_entry() -> None:
    if getattr(PagesManager, "uses_pages_directory", False):
        PagesManager.uses_pages_directory = False
        st.rerun()
