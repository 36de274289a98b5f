"""Start :func:`deeplab_viz.warmup.warm` once per server process, in the background."""

from __future__ import annotations

import threading

import streamlit as st

from deeplab_viz.warmup import warm


class Warmup:
    """The background warm-up: its thread and, once done, what each step took (ms)."""

    def __init__(self) -> None:
        self.timings: dict[str, float] | None = None
        self.error: str | None = None
        self.thread = threading.Thread(target=self._run, name="atrous-warmup", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.timings = warm()
        except Exception as exc:  # a warm-up must never take the app down
            self.error = f"{type(exc).__name__}: {exc}"


@st.cache_resource(max_entries=1, show_spinner=False)
def start() -> Warmup:
    """The one warm-up of this process (the first run of the first session starts it)."""
    return Warmup()
