"""The pages' words live in lessons/*.md: the loader, and every section in use."""

from __future__ import annotations

import re

import pytest
from conftest import ROOT

from ui import prose

LESSONS = sorted((ROOT / "lessons").glob("*.md"))


def test_parse_splits_named_sections_and_drops_the_editors_note():
    md = "note for editors\n<!-- section: a -->\nfirst $x_{i}$\n\n<!--section: b_2-->\nsecond\n"
    assert prose.parse(md) == {"a": "first $x_{i}$", "b_2": "second"}
    with pytest.raises(ValueError, match="twice"):
        prose.parse("<!-- section: a -->\n1\n<!-- section: a -->\n2\n")


def test_fill_replaces_fields_keeps_latex_braces_and_names_a_missing_value():
    assert prose.fill("{{n}} px, $k_{eff}$ {{ unit }}", {"n": 3, "unit": "μm"}) == (
        "3 px, $k_{eff}$ μm"
    )
    with pytest.raises(KeyError, match="rate"):
        prose.fill("rate {{rate}}", {})


def test_a_missing_file_or_section_fails_loudly():
    with pytest.raises(KeyError, match="no lesson text"):
        prose.sections("no_such_page")
    with pytest.raises(KeyError, match="no section 'nope'"):
        prose.text("home", "nope")


def test_there_are_lesson_files():
    assert len(LESSONS) >= 1


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_every_section_belongs_to_a_page_that_asks_for_it(path):
    """A lesson file is named after its page, and the page (or its ui/ helpers) names
    every section, so no words sit in a file that nothing shows."""
    page = ROOT / "pages" / f"{path.stem}.py"
    assert page.exists(), f"{path.name} has no page {page.name}"
    found = prose.sections(path.stem)
    assert found, f"{path.name} has no sections"
    sources = page.read_text() + "".join(p.read_text() for p in (ROOT / "ui").glob("*.py"))
    for name in found:
        assert re.search(rf"[\"']{name}[\"']", sources), f"{path.name}: {name!r} is never shown"
