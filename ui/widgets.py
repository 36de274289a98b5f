"""Small widget helpers shared by the pages."""

from __future__ import annotations

from typing import TypeVar

import streamlit as st

T = TypeVar("T")


def initial(key: str, value: T) -> T | None:
    """The default for a keyed widget: ``value`` the first time, then None, so a value a
    button callback (or the query string) put under ``key`` is not fought over."""
    return None if key in st.session_state else value
