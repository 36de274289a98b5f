"""The README stays true: its test command is what CI runs, and the figures it cites exist."""

from __future__ import annotations

import re

from conftest import ROOT


def _readme() -> str:
    return (ROOT / "README.md").read_text()


def test_readme_test_command_is_what_ci_runs():
    ci = (ROOT / ".ci" / "run").read_text().strip().splitlines()
    ci_command = ci[-1].strip()
    blocks = re.findall(r"```bash\n(.*?)```", _readme(), flags=re.S)
    assert ci_command in [b.strip() for b in blocks]


def test_readme_start_command_starts_the_app():
    blocks = [b.strip() for b in re.findall(r"```bash\n(.*?)```", _readme(), flags=re.S)]
    assert any(b.endswith("streamlit run app.py") and "requirements.txt" in b for b in blocks)


def test_readme_images_exist():
    for path in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", _readme()):
        assert (ROOT / path).exists(), path
