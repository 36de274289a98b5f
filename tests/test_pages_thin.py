"""Pages stay thin (issue 12): each reads widgets, calls the library or ui/, and renders.

No page is over 200 lines, none defines a cache (those live in ui/), and each page's
words are in lessons/<page>.md rather than in Python strings.
"""

from __future__ import annotations

import ast

import pytest
from conftest import ROOT

PAGES = sorted((ROOT / "pages").glob("*.py"))
MAX_LINES = 200


def test_there_are_pages():
    assert len(PAGES) >= 10


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.stem)
def test_page_is_short_defines_no_cache_and_has_its_lesson_file(page):
    lines = page.read_text().splitlines()
    assert len(lines) <= MAX_LINES, f"{page.name}: {len(lines)} lines"
    for node in ast.walk(ast.parse(page.read_text())):
        if isinstance(node, ast.FunctionDef):
            for dec in node.decorator_list:
                name = ast.unparse(dec)
                assert "cache_data" not in name and "cache_resource" not in name, (
                    f"{page.name}: cache {node.name} belongs in ui/"
                )
    assert (ROOT / "lessons" / f"{page.stem}.md").is_file(), f"no lessons/{page.stem}.md"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.stem)
def test_no_long_prose_left_in_the_page(page):
    """A string of more than 200 characters in a page is teaching prose that belongs in
    its lesson file (f-strings count their literal parts)."""
    long = []
    for node in ast.walk(ast.parse(page.read_text())):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if len(node.value) > 200 and not node.value.lstrip().startswith(("<", "{")):
                long.append(node.value[:60])
    # a module docstring is for the engineer, not the learner
    doc = ast.get_docstring(ast.parse(page.read_text())) or ""
    long = [s for s in long if not doc.startswith(s.strip()[:40])]
    assert not long, f"{page.name}: {long}"
