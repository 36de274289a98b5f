"""Every link opens a working page: each page, every bound parameter, hostile values.

The parameters come from the code, not from a list kept here. Each one is
declared by a call of a ``ui.links`` function (``links.slider(col, ..., key="dc_k")``,
``links.text_param("rf_layers", ...)``) in pages/ or ui/; :func:`declared` finds
them with ``ast``, and a static test makes sure no widget is bound to the link
any other way (no ``bind=``, no ``st.query_params`` outside ui/links.py). A page
that gains a parameter is fuzzed with no change here.

Each run asserts: no exception, the page's own title, a link notice when a value
was dropped, a clean link afterwards (what stays in it passes its own check), and
no Markdown link or image made of a value from the link. Parameters behind a tab,
toggle or choice are reached by exploring those choices (others stay hostile),
and the test fails if any declared parameter was never read with a hostile value.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from conftest import ROOT, TFLITE, _pin_navigation_mode

from deeplab_viz.links import Choice, Flag
from deeplab_viz.models import REGISTRY
from ui.links import NOTES_KEY, SPECS_KEY

LINKS_PY = ROOT / "ui" / "links.py"
SIDEBAR = ROOT / "ui" / "sidebar.py"
HOME = "pages/home.py"
DECLARING = {
    "slider",
    "number_input",
    "selectbox",
    "radio",
    "segmented_control",
    "pills",
    "multiselect",
    "select_slider",
    "toggle",
    "text_input",
    "tabs",
    "text_param",
}
PAYLOAD = (
    "[x](https://evil.example/login) ![](http://127.0.0.1:9/track.png) "
    "<img src=http://127.0.0.1:9/t.png>"
)
MADE = ("](https://evil", "![](http", "<img src=http", "https://evil.example", "http://127.0.0.1")
HOSTILE = {
    "empty": "",
    "negative": "-1",
    "nan": "nan",
    "inf": "inf",
    "huge": "9" * 5000,
    "long": "x" * 10_000,  # 10 kB
    "unknown": "no such option",
    "path": "../../../../etc/passwd",
    "markdown": PAYLOAD,
}
MAX_OPTIONS = 6  # options tried per choice when exploring what it reveals


# --------------------------------------------------------------------------- the code


@dataclass(frozen=True)
class Declared:
    """One link parameter as the code declares it."""

    key: str | None  # None: not a literal string (the static test refuses that)
    file: Path
    line: int
    needs_cuda: bool  # declared under an ``if`` on CUDA


def _python_files() -> list[Path]:
    return [ROOT / "app.py", *sorted((ROOT / "pages").glob("*.py")), *sorted(ROOT.glob("ui/*.py"))]


def _parents(tree: ast.AST) -> dict[ast.AST, ast.AST]:
    return {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}


def declared(path: Path) -> list[Declared]:
    """The link parameters ``path`` declares through ``links.<function>(...)``."""
    tree = ast.parse(path.read_text())
    parents = _parents(tree)
    out = []
    for node in ast.walk(tree):
        func = node.func if isinstance(node, ast.Call) else None
        if not (
            isinstance(func, ast.Attribute)
            and isinstance(func.value, ast.Name)
            and func.value.id == "links"
            and func.attr in DECLARING
        ):
            continue
        if func.attr == "text_param":
            arg = node.args[0] if node.args else None
        else:
            arg = next((k.value for k in node.keywords if k.arg == "key"), None)
        key = arg.value if isinstance(arg, ast.Constant) and isinstance(arg.value, str) else None
        up, cuda = node, False
        while up in parents:
            up = parents[up]
            if isinstance(up, ast.If) and "cuda" in ast.unparse(up.test):
                cuda = True
        out.append(Declared(key, path, node.lineno, cuda))
    return out


def page_title(page: Path) -> str:
    """The text of the page's ``st.title(...)``."""
    for node in ast.walk(ast.parse(page.read_text())):
        if (
            isinstance(node, ast.Call)
            and ast.unparse(node.func) == "st.title"
            and isinstance(node.args[0], ast.Constant)
        ):
            return node.args[0].value
    raise AssertionError(f"{page} has no st.title")


PAGES = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "pages").glob("*.py"))
SIDEBAR_KEYS = {d.key for d in declared(SIDEBAR)}


def _ui_sections(page: Path) -> list[Path]:
    """The ui/ modules ``page`` imports a section from (``from ui.crf_view import …``),
    besides the sidebar, whose keys every page shares."""
    out = []
    for node in ast.walk(ast.parse(page.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("ui."):
            path = ROOT / "ui" / f"{node.module.split('.', 1)[1]}.py"
            if path.exists() and path not in (SIDEBAR, LINKS_PY):
                out.append(path)
    return out


def page_keys(page: str) -> set[str]:
    """The keys the page declares, itself or through the ui sections it draws."""
    files = [ROOT / page, *_ui_sections(ROOT / page)]
    return {d.key for f in files for d in declared(f) if d.key}


def test_every_link_parameter_is_declared_through_ui_links() -> None:
    """No widget is bound and no query parameter read except through ui/links.py."""
    problems = []
    for path in _python_files():
        if path == LINKS_PY:
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            where = f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', '?')}"
            if isinstance(node, ast.Call) and any(k.arg == "bind" for k in node.keywords):
                problems.append(f"{where}: bind= outside ui.links")
            if isinstance(node, ast.Attribute) and node.attr == "query_params":
                problems.append(f"{where}: st.query_params outside ui.links")
        problems += [
            f"{d.file}:{d.line}: key is not a literal" for d in declared(path) if not d.key
        ]
    assert not problems, "\n".join(problems)


def test_keys_are_unique_and_every_page_with_widgets_is_found() -> None:
    seen: dict[str, str] = {}
    for path in _python_files():
        for d in declared(path):
            assert d.key not in seen or seen[d.key] == str(path), (d.key, seen.get(d.key), path)
            seen[d.key] = str(path)
    # the scan finds them all: the sidebar's and dozens on the pages
    assert {"sb_sample", "sb_model", "sb_os", "sb_size"} <= SIDEBAR_KEYS
    assert {"dc_k", "gr_preset", "rf_layers", "fam_os"} <= set(seen) and len(seen) > 60


# --------------------------------------------------------------------------- the app


def _strings(value) -> Iterator[str]:
    """Every string in a protobuf element, except what a text box holds as typed."""
    if isinstance(value, str):
        yield value
    elif hasattr(value, "ListFields"):
        for field, item in value.ListFields():
            if field.name not in ("value", "default", "spec"):
                yield from _strings(item)
    elif not isinstance(value, (bytes, int, float, bool)):
        try:
            items = list(value)
        except TypeError:
            return
        for item in items:
            yield from _strings(item)


def _made_links(at) -> list[str]:
    """Text on the page where a value from the link would show as a link or an image."""
    found = []
    for block in (at.main, at.sidebar):
        for node in block:
            proto = getattr(node, "proto", None)
            if proto is None:
                continue
            for text in _strings(proto):
                bare = re.sub(r"\\.", "\x00", re.sub(r"(`+)(.*?)\1", " ", text))
                if any(m in bare for m in MADE):
                    found.append(text[:200])
    return found


def _notice(at) -> str:
    return " ".join(w.value for w in at.main.warning if w.value.startswith("The link's"))


@pytest.fixture
def make_app(monkeypatch):
    from streamlit.testing.v1 import AppTest

    if not TFLITE.exists():
        pytest.skip(f"{TFLITE} not found")
    _pin_navigation_mode(monkeypatch)
    return lambda: AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)


@dataclass
class Opened:
    """What one opening of a page read from its link."""

    at: object
    declared: dict  # key → spec, over the runs it took (home, then the page)
    notices: list[str]


def _check_run(at, where: str) -> dict:
    assert not at.exception, (where, [e.value for e in at.exception])
    assert not _made_links(at), (where, _made_links(at))
    specs = dict(at.session_state[SPECS_KEY])
    for key, spec in specs.items():  # what the link still holds is what the widget accepts
        if key in at.query_params:
            raw = at.query_params[key]
            fix = spec.check(raw)
            assert fix is None or fix.quiet, (where, key, str(raw)[:40])
    return specs


def open_with(make_app, page: str, params: dict[str, str]) -> Opened:
    """Open the app with ``params`` in the link (on Home), then go to ``page``."""
    at = make_app()
    for key, value in params.items():
        at.query_params[key] = value
    at.run()
    where = f"{page} with {sorted((k, v[:12]) for k, v in params.items())}"
    specs = _check_run(at, where + " (home)")
    notices = [_notice(at)]
    assert NOTES_KEY not in at.session_state or not at.session_state[NOTES_KEY]
    if page != HOME:
        at.switch_page(page).run()
        specs.update(_check_run(at, where))
        notices.append(_notice(at))
    assert at.title and at.title[0].value == page_title(ROOT / page), where
    assert len(list(at.main)) > 3, where  # more than a title: the page ran to its end
    static = page_keys(page) | SIDEBAR_KEYS | {d.key for d in declared(ROOT / HOME)}
    assert set(specs) <= static, set(specs) - static  # every read key was found in the code
    return Opened(at, specs, notices)


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES)
def test_every_hostile_value_in_every_parameter_opens_the_page(make_app, page: str) -> None:
    keys = page_keys(page) | SIDEBAR_KEYS
    for name, value in HOSTILE.items():
        opened = open_with(make_app, page, dict.fromkeys(keys, value))
        # the sidebar's values are dropped on the first run, the page's on its own
        assert "The link's value" in opened.notices[0], (name, opened.notices)
        if page != HOME and set(opened.declared) & page_keys(page):
            assert "The link's value" in opened.notices[-1], (page, name)


def _options(spec) -> list[str] | None:
    if isinstance(spec, Choice):
        return list(spec.options[:MAX_OPTIONS])
    if isinstance(spec, Flag):
        return ["true", "false"]
    return None


def _light_model_with_rates() -> str:
    """A torchvision model with trained ASPP rates (the sidebar then shows its rate policy)."""
    names = [n for n, e in REGISTRY.items() if e.kind == "torchvision" and e.trained_rates]
    return next((f"{n}:random" for n in names if "mobilenet" in n), f"{names[0]}:random")


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES)
def test_every_declared_parameter_is_read_with_a_hostile_value(make_app, page: str) -> None:
    """Explore the page's choices (tabs, toggles, presets) to reach every parameter.

    Each run keeps every other parameter hostile (a different class per key and
    run). The About page also explores the sidebar's choices, and one run on it
    picks a model with ASPP rates, so the sidebar's rate policy is reached too.
    """
    on_about = page == "pages/about.py"
    targets = page_keys(page) | (SIDEBAR_KEYS if on_about else set())
    gates_allowed = targets - {"sb_model"}  # each model is a load: reached by the hint below
    ordered = sorted(page_keys(page) | SIDEBAR_KEYS)
    values = list(HOSTILE.values())
    queue: list[dict[str, str]] = [{}]
    if on_about:
        queue.append({"sb_model": _light_model_with_rates()})
    explored: set[str] = set()
    reached: set[str] = set()
    for n, gates in enumerate(queue):
        params = {k: values[(i + n) % len(values)] for i, k in enumerate(ordered)} | gates
        opened = open_with(make_app, page, params)
        new = set(opened.declared) - set(gates)
        reached |= new
        for key in sorted(new & gates_allowed - explored):
            options = _options(opened.declared[key])
            if options:
                explored.add(key)
                queue += [gates | {key: option} for option in options]
    cuda_only = (
        set()
        if torch.cuda.is_available()
        else {d.key for d in declared(ROOT / page) if d.needs_cuda}
    )
    missing = targets - reached - cuda_only
    assert not missing, f"never read with a hostile value on {page}: {sorted(missing)}"


@pytest.mark.slow
def test_a_file_name_is_never_rendered_as_markdown(make_app) -> None:
    import io

    import numpy as np
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.full((64, 96, 3), 200, np.uint8)).save(buf, format="PNG")
    at = make_app()
    at.run()
    uploader = at.sidebar.file_uploader(key="sb_upload")
    uploader.upload(PAYLOAD + ".png", buf.getvalue(), "image/png").run()
    assert not at.exception and not _made_links(at)
    assert any("evil.example" in c.value for c in at.sidebar.caption)  # shown, escaped
    uploader = at.sidebar.file_uploader(key="sb_upload")
    uploader.upload(PAYLOAD + ".png", b"not a png", "image/png").run()
    assert not at.exception and not _made_links(at)
    assert len(at.sidebar.error) == 1 and "evil.example" in at.sidebar.error[0].value


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES)
def test_the_link_cut_short_in_the_issue_opens_every_page(make_app, page: str) -> None:
    """``?sb_os=&sb_rates=`` (a mail client cut the link) crashed every page."""
    opened = open_with(make_app, page, {"sb_os": "", "sb_rates": ""})
    assert (
        "The link's value for “Output stride” was not valid; showing the default."
        in (opened.notices[0])
    )
    running = opened.at.sidebar.selectbox(key="sb_model").value  # the ASPP page opens on its own
    default = REGISTRY[running.partition(":")[0]].native_stride
    assert opened.at.sidebar.segmented_control(key="sb_os").value == default
