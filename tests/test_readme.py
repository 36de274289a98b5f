"""The README stays true: its test command is what CI runs, and the figures it cites exist."""

from __future__ import annotations

import re

from conftest import ROOT

from deeplab_viz.paths import MODELS_DIR


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


def test_readme_shapesworld_table_is_the_shipped_metrics():
    import json

    table = json.loads((MODELS_DIR / "shapes_metrics.json").read_text())

    def row(model: str, os_: int) -> dict:
        return next(
            r
            for r in table["results"]
            if (r["model"], r["output_stride"], r["dropped"]) == (model, os_, None)
        )

    text = _readme()
    text = text[text.index("| output stride | v3 mIoU") :]  # the ShapesWorld table
    for os_ in (8, 16, 32):
        v3, plus = row("shapes-deeplabv3", os_), row("shapes-deeplabv3plus", os_)
        cells = [
            v3["miou"],
            v3["iou_by_size"]["small"],
            v3["boundary_f"],
            plus["miou"],
            plus["boundary_f"],
        ]
        line = next(ln for ln in text.splitlines() if re.match(rf"\s*\| {os_}\b", ln))
        got = [float(x) for x in re.findall(r"\d\.\d{3}", line)]
        assert got == [round(c, 3) for c in cells], (os_, line)
