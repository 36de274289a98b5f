"""The one place where the app reads its link: every query parameter passes here.

Every widget whose value travels in the link is made by a function of this
module (``links.slider(col, "Rate r", 1, 36, 2, key="dc_rate")`` instead of
``col.slider(..., bind="query-params")``). Before Streamlit makes the widget and
seeds it from the URL, the link's value for its key is checked against the
widget's own range and options (specs in :mod:`deeplab_viz.links`): a good value
is left alone, a number outside the range is clamped, and anything else (empty,
``nan``, ``inf``, 5,000 digits, 10 kB, an unknown name, a path) is removed from
the link, so the widget opens at its default. :func:`notice_area` then shows one
short notice on the page naming what was dropped; the notice belongs to that run
only. Parameters that no widget is bound to go through :func:`text_param`.

Streamlit seeds a bound widget from the query string it received with the run
(``QueryParams._initial_query_params``), not from ``st.query_params``, so a
correction is written to both; :func:`_url` is the only code that touches them.

The browser writes a widget's value into the link only while the widget stays
where it was: a section with bound widgets that moves between runs (content
above it came or went) loses their binding in Streamlit's frontend. Content that
appears only for some models or images therefore gets a fixed slot (``st.empty()``,
``st.container()``) or the blocks around it a key; tests/test_links_layout.py
checks every page.

The keys declared in a run are kept in ``st.session_state["_links_specs"]`` (the
registry of bound parameters, with each one's spec), which the fuzz test reads.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import streamlit as st
from streamlit.runtime.scriptrunner_utils.script_run_context import get_script_run_ctx

from deeplab_viz.links import (
    Choice,
    Choices,
    Fix,
    Flag,
    Number,
    NumberPair,
    Raw,
    Spec,
    Text,
    code,
    notice,
    plain,
)

__all__ = [
    "code",
    "drop_param",
    "guard",
    "multiselect",
    "notice_area",
    "number_input",
    "pills",
    "plain",
    "radio",
    "segmented_control",
    "select_slider",
    "selectbox",
    "set_param",
    "slider",
    "tabs",
    "text_input",
    "text_param",
    "toggle",
]

BIND = "query-params"
SPECS_KEY = "_links_specs"
NOTES_KEY = "_links_notes"

Where = Any  # ``st`` itself or a container (column, sidebar, tab)


# --------------------------------------------------------------------------- the URL


@contextmanager
def _url() -> Iterator[Any]:
    """Streamlit's QueryParams of this session, or None outside a script run."""
    ctx = get_script_run_ctx()
    if ctx is None:
        yield None
        return
    with ctx.session_state.query_params() as qp:
        yield qp


def _link_value(key: str) -> Raw | None:
    """What the link holds for ``key``: the value Streamlit would seed the widget with."""
    with _url() as qp:
        if qp is None:
            return None
        value = qp.get_initial_value(key) if hasattr(qp, "get_initial_value") else None
        if value is None and qp.has_param(key):
            value = qp.get_all(key)
        return value


def in_link(key: str) -> bool:
    """Whether the link names ``key`` (whatever its value)."""
    return _link_value(key) is not None


def _rewrite(key: str, fix: Fix, *, multi: bool) -> None:
    """Put ``fix`` into the link, both where the widget is seeded from and in the URL."""
    with _url() as qp:
        if qp is None:
            return
        seeds = getattr(qp, "_initial_query_params", None)
        if fix.value is None:
            qp.remove_param(key)
            if isinstance(seeds, dict):
                seeds.pop(key, None)
            return
        values = [fix.value] if isinstance(fix.value, str) else list(fix.value)
        if multi:
            qp.set_corrected_value(key, values, "string_array_value")
        else:
            qp.set_corrected_value(key, values[0], "string_value")
        if isinstance(seeds, dict):
            seeds[key] = values


# --------------------------------------------------------------------------- the guard


def _declare(key: str, spec: Spec) -> None:
    """Record ``key`` as a bound parameter of this run (the registry the fuzz test reads)."""
    st.session_state.setdefault(SPECS_KEY, {})[key] = spec


def _note(label: str, fix: Fix) -> None:
    if not fix.quiet:
        st.session_state.setdefault(NOTES_KEY, []).append((label, fix.dropped, fix.reason))


def guard(key: str, label: str, spec: Spec) -> None:
    """Check the link's value for ``key`` against ``spec`` before its widget is made.

    A value ``spec`` refuses is removed from the link (the widget shows its
    default) or replaced by its correction, and noted for the page's notice.
    """
    _declare(key, spec)
    raw = _link_value(key)
    if raw is None:
        return
    fix = spec.check(raw)
    if fix is None:
        return
    _rewrite(key, fix, multi=isinstance(spec, (Choices, NumberPair)))
    _note(label, fix)


def _labels(options: Sequence[Any], format_func: Callable[[Any], Any] | None) -> tuple[str, ...]:
    """The options as the widget shows them, which is what a bound widget puts in the link."""
    fmt = format_func or str
    return tuple(str(fmt(o)) for o in options)


def _number(lo: Any, hi: Any, value: Any, step: Any) -> Number:
    integer = all(isinstance(v, int) for v in (lo, hi, step) if v is not None) and not isinstance(
        value, float
    )
    return Number(lo, hi, step, integer=integer)


# --------------------------------------------------------------------------- widgets


def slider(
    where: Where,
    label: str,
    min_value: Any,
    max_value: Any,
    value: Any = None,
    step: Any = None,
    *,
    key: str,
    **kwargs: Any,
) -> Any:
    """``where.slider`` bound to the link; a pair ``value`` makes a range slider."""
    first = value[0] if isinstance(value, (tuple, list)) else value
    number = _number(min_value, max_value, first, step)
    spec: Spec = NumberPair(number) if isinstance(value, (tuple, list)) else number
    guard(key, label, spec)
    return where.slider(label, min_value, max_value, value, step, key=key, bind=BIND, **kwargs)


def number_input(
    where: Where,
    label: str,
    min_value: Any,
    max_value: Any,
    value: Any,
    step: Any = None,
    *,
    key: str,
    **kwargs: Any,
) -> Any:
    """``where.number_input`` bound to the link."""
    guard(key, label, _number(min_value, max_value, value, step))
    return where.number_input(
        label, min_value, max_value, value, step, key=key, bind=BIND, **kwargs
    )


def _choice(
    widget: Callable[..., Any],
    label: str,
    options: Sequence[Any],
    key: str,
    index: int,
    format_func: Callable[[Any], Any] | None,
    kwargs: dict[str, Any],
) -> Any:
    """A one-of-many widget (selectbox, radio) guarded and bound to the link."""
    guard(key, label, Choice(_labels(options, format_func)))
    fmt = {} if format_func is None else {"format_func": format_func}
    return widget(label, options, index=index, key=key, bind=BIND, **fmt, **kwargs)


def selectbox(
    where: Where,
    label: str,
    options: Sequence[Any],
    *,
    key: str,
    index: int = 0,
    format_func: Callable[[Any], Any] | None = None,
    **kwargs: Any,
) -> Any:
    """``where.selectbox`` bound to the link."""
    return _choice(where.selectbox, label, options, key, index, format_func, kwargs)


def radio(
    where: Where,
    label: str,
    options: Sequence[Any],
    *,
    key: str,
    index: int = 0,
    format_func: Callable[[Any], Any] | None = None,
    **kwargs: Any,
) -> Any:
    """``where.radio`` bound to the link."""
    return _choice(where.radio, label, options, key, index, format_func, kwargs)


def segmented_control(
    where: Where, label: str, options: Sequence[Any], *, key: str, default: Any, **kwargs: Any
) -> Any:
    """``where.segmented_control`` with one required choice, bound to the link.

    Never returns None: a link can empty the widget, and the pages index with it.
    """
    guard(key, label, Choice(_labels(options, None)))
    value = where.segmented_control(
        label, options, default=default, required=True, key=key, bind=BIND, **kwargs
    )
    return default if value is None else value


def pills(
    where: Where,
    label: str,
    options: Sequence[Any],
    *,
    key: str,
    default: Sequence[Any] | None = None,
    **kwargs: Any,
) -> list[Any]:
    """``where.pills`` with several choices, bound to the link."""
    guard(key, label, Choices(_labels(options, None)))
    return where.pills(
        label, options, selection_mode="multi", default=default, key=key, bind=BIND, **kwargs
    )


def multiselect(
    where: Where,
    label: str,
    options: Sequence[Any],
    *,
    key: str,
    default: Sequence[Any] | None = None,
    format_func: Callable[[Any], Any] | None = None,
    **kwargs: Any,
) -> list[Any]:
    """``where.multiselect`` bound to the link."""
    guard(key, label, Choices(_labels(options, format_func)))
    fmt = {} if format_func is None else {"format_func": format_func}
    return where.multiselect(label, options, default=default, key=key, bind=BIND, **fmt, **kwargs)


def select_slider(
    where: Where, label: str, options: Sequence[Any], value: Any, *, key: str, **kwargs: Any
) -> Any:
    """``where.select_slider`` (one value) bound to the link."""
    guard(key, label, Choice(_labels(options, None)))
    return where.select_slider(label, options, value=value, key=key, bind=BIND, **kwargs)


def toggle(where: Where, label: str, *, key: str, value: bool = False, **kwargs: Any) -> bool:
    """``where.toggle`` bound to the link."""
    guard(key, label, Flag())
    return where.toggle(label, value=value, key=key, bind=BIND, **kwargs)


def text_input(
    where: Where,
    label: str,
    value: str,
    *,
    key: str,
    max_chars: int,
    parse: Callable[[str], object] | None = None,
    **kwargs: Any,
) -> str:
    """``where.text_input`` bound to the link; ``parse`` is the page's reader for the text.

    A link whose text ``parse`` refuses opens with the default text and the
    notice (with ``parse``'s reason); what the user types is the page's to check.
    """
    guard(key, label, Text(max_chars, parse))
    return where.text_input(label, value, max_chars=max_chars, key=key, bind=BIND, **kwargs)


def tabs(where: Where, labels: Sequence[str], *, key: str, label: str = "View") -> Sequence[Any]:
    """``where.tabs`` whose open tab is kept in the link (``label`` names it in the notice)."""
    guard(key, label, Choice(tuple(labels)))
    return where.tabs(list(labels), key=key, bind=BIND)


# --------------------------------------------------------------------------- plain parameters


def text_param(key: str, label: str, spec: Text) -> str | None:
    """The link's value for ``key``, a parameter no widget is bound to, or None.

    A value ``spec`` refuses is removed from the link and noted, like a widget's.
    """
    _declare(key, spec)
    values = st.query_params.get_all(key)
    if not values:
        return None
    fix = spec.check(values)
    if fix is None:
        return values[0]
    del st.query_params[key]
    _note(label, fix)
    return None


def set_param(key: str, value: str) -> None:
    """Write ``value`` for ``key``, a parameter no widget is bound to, into the link."""
    if st.query_params.get(key) != value:
        st.query_params[key] = value


def drop_param(key: str) -> None:
    """Remove ``key``, a parameter no widget is bound to, from the link."""
    if key in st.query_params:
        del st.query_params[key]


# --------------------------------------------------------------------------- the notice


def take_notice() -> str | None:
    """The notice for the values dropped or corrected so far (then forgotten)."""
    notes = st.session_state.pop(NOTES_KEY, [])
    dropped = [(label, reason) for label, was_dropped, reason in notes if was_dropped]
    corrected = [label for label, was_dropped, _ in notes if not was_dropped]
    return notice(dropped, corrected)


@contextmanager
def notice_area() -> Iterator[None]:
    """Run the page under one placeholder that shows this run's link notice, if any.

    Opens a fresh registry of bound parameters and an empty list of notes, so
    nothing noted in one run is shown in the next.
    """
    slot = st.empty()
    st.session_state[SPECS_KEY] = {}
    st.session_state[NOTES_KEY] = []
    try:
        yield
    finally:
        text = take_notice()
        if text:
            slot.warning(text, icon="🔗")
