"""The pages' teaching words, read from Markdown files a teacher can edit or translate.

Each page has one file, ``lessons/<page>.md``. A line ``<!-- section: name -->`` starts
a named section, which runs to the next such line; text before the first marker is a
note for editors and is never shown. Inside a section, ``{{name}}`` is a value the page
fills in (a model name, a measured number); everything else, LaTeX braces included, is
shown as written. A page asks for a section by name::

    prose.show("home", "intro")                     # st.markdown of the section
    st.caption(prose.text("home", "footer", ms=12))  # the words, for any element

A missing file, section or value raises ``KeyError`` naming it, so a typo fails the
page's test rather than showing an empty box. A page's view module binds its page once:
``say = functools.partial(prose.text, "gridding")``.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

import streamlit as st

LESSONS_DIR = Path(__file__).resolve().parent.parent / "lessons"

_MARKER = re.compile(r"^<!--\s*section:\s*([a-z0-9_]+)\s*-->\s*$", re.MULTILINE)
_FIELD = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


def parse(markdown: str) -> dict[str, str]:
    """Section name → its text (stripped), in file order. Duplicate names are an error."""
    parts = _MARKER.split(markdown)
    out: dict[str, str] = {}
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        if name in out:
            raise ValueError(f"section {name!r} appears twice")
        out[name] = body.strip()
    return out


@functools.cache
def sections(page: str) -> dict[str, str]:
    """Every section of ``lessons/<page>.md`` (read once per process)."""
    path = LESSONS_DIR / f"{page}.md"
    if not path.is_file():
        raise KeyError(f"no lesson text {path.name} in {LESSONS_DIR}")
    return parse(path.read_text(encoding="utf-8"))


def fill(template: str, values: dict[str, object]) -> str:
    """``template`` with every ``{{name}}`` replaced by ``str(values[name])``."""

    def one(m: re.Match[str]) -> str:
        name = m.group(1)
        if name not in values:
            raise KeyError(f"the text needs a value for {{{{{name}}}}}")
        return str(values[name])

    return _FIELD.sub(one, template)


def text(page: str, name: str, **values: object) -> str:
    """Section ``name`` of ``page``'s lesson file, its fields filled from ``values``."""
    found = sections(page)
    if name not in found:
        raise KeyError(f"lessons/{page}.md has no section {name!r}")
    return fill(found[name], values)


def show(page: str, name: str, **values: object) -> None:
    """``st.markdown`` of one section."""
    st.markdown(text(page, name, **values))
