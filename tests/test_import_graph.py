"""The library's import graph: no cycle, and no streamlit anywhere in ``deeplab_viz``.

Static: every ``import`` / ``from … import`` statement of every module under
``deeplab_viz/`` is read with ``ast``, those inside functions too, relative imports
resolved against the importing module's package. Imports inside ``if TYPE_CHECKING:``
never run, so they make no cycle (that is what they are for); the streamlit check
reads them too.

What an import executes, and so which edges it adds:

* ``import a.b.c`` / ``from a.b.c import name``: the module ``a.b.c`` and the
  packages above it (their ``__init__``), except the packages above the importer
  itself: Python has already started those before the importer runs.
* ``from a.b import c`` where ``a.b.c`` is a module: the module ``a.b.c``; ``a.b``
  too unless it is a package above the importer. So a package ``__init__`` may
  re-export its own submodules (``from .flops import count_flops``), and a submodule
  may import a sibling (``from .latency import …``, ``from . import latency``).
* ``from a.b import name`` where ``name`` is not a module: ``a.b`` itself, *even*
  when it is the importer's own package. A submodule that reads names from its own
  package's ``__init__`` gets a partly initialised module: that is reported as the
  cycle it is.

Imports by string (``importlib.import_module``, as ``cli`` finds its subcommands)
are not seen.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from conftest import ROOT

PACKAGE = "deeplab_viz"
SRC = ROOT / PACKAGE


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {
        _module_name(p): p
        for p in sorted(SRC.rglob("*.py"))
        if "__pycache__" not in p.parts and ".venv" not in p.parts
    }


MODULES = _modules()


def _parents(name: str) -> list[str]:
    """``a.b.c`` → ``["a", "a.b"]``."""
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def _own_package(module: str) -> str:
    """The package a module's relative imports start from."""
    is_package = MODULES[module].name == "__init__.py"
    return module if is_package else module.rpartition(".")[0]


def _resolve(module: str, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = _own_package(module).split(".")
    if node.level > 1:
        base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _statements(tree: ast.AST, *, typing_only: bool = False):
    """Every import statement of ``tree``, at any depth; those only run by a type checker
    (inside ``if TYPE_CHECKING:``) are left out unless ``typing_only``."""
    skip: set[int] = set()
    if not typing_only:
        for node in ast.walk(tree):
            if isinstance(node, ast.If) and _is_type_checking(node.test):
                skip.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)) and id(node) not in skip:
            yield node


def _imports(module: str, source: str | None = None, *, typing_only: bool = False):
    """(modules of ours that importing ``module`` executes, every imported top-level name)."""
    path = MODULES[module]
    tree = ast.parse(path.read_text(encoding="utf-8") if source is None else source, str(path))
    above = {*_parents(module), module}  # already running when ``module``'s imports run
    edges: set[str] = set()
    tops: set[str] = set()

    def executes(target: str) -> None:
        # the packages above ``target`` run first, except those already running
        edges.update(p for p in _parents(target) if p not in above and p in MODULES)
        if target in MODULES:
            edges.add(target)

    for node in _statements(tree, typing_only=typing_only):
        if isinstance(node, ast.Import):
            for alias in node.names:
                tops.add(alias.name.split(".")[0])
                executes(alias.name)
        else:
            target = _resolve(module, node)
            tops.add(target.split(".")[0])
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                if sub in MODULES:  # from package import submodule
                    executes(sub)
                else:  # a name defined by ``target``: it must be run to the end
                    executes(target)
    return edges, tops


GRAPH = {m: _imports(m)[0] for m in MODULES}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected component with a cycle in it (Tarjan), as one cycle each."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def visit(v: str) -> None:  # the graph is ~100 modules deep at most
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.add(w)
                if w == v:
                    break
            if len(comp) > 1 or v in graph[v]:
                components.append(comp)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return [_one_cycle(graph, comp) for comp in components]


def _one_cycle(graph: dict[str, set[str]], comp: set[str]) -> list[str]:
    """A shortest cycle through the first module of ``comp`` (breadth-first)."""
    start = min(comp)
    came: dict[str, str] = {}
    frontier = [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(graph[v] & comp):
                if w == start:
                    path = [v]
                    while path[-1] != start:
                        path.append(came[path[-1]])
                    return [start, *reversed(path[:-1]), start]
                if w not in came:
                    came[w] = v
                    nxt.append(w)
        frontier = nxt
    return sorted(comp)  # not reached: a component with a cycle has one through start


def test_every_module_is_seen():
    assert len(MODULES) > 40
    for name in ("deeplab_viz", "deeplab_viz.cli", "deeplab_viz.models", "deeplab_viz.plots"):
        assert name in MODULES, name


def test_the_checker_resolves_and_finds_cycles():
    # relative imports of a module and of a package __init__
    assert "deeplab_viz.models" in GRAPH["deeplab_viz.probe"]
    assert "deeplab_viz.models.layers" in GRAPH["deeplab_viz.models"]
    # a package re-exporting its submodules is no cycle; a submodule reading its own
    # package's __init__ is
    toy = {"p": {"p.a"}, "p.a": {"p.b"}, "p.b": set()}
    assert _cycles(toy) == []
    toy["p.b"] = {"p"}  # e.g. ``from . import count_flops`` in p/b.py
    assert _cycles(toy) == [["p", "p.a", "p.b", "p"]]
    assert _cycles({"x": {"x"}}) == [["x", "x"]]


def test_the_checker_reads_every_kind_of_import():
    source = (
        "import deeplab_viz.models.layers\n"
        "from .atrous import conv_cost\n"
        "from .models import registry\n"
        "from . import paths\n"
        "def later():\n"
        "    from .erf import erf_map\n"
        "if TYPE_CHECKING:\n"
        "    from .refine import InferenceOptions\n"
    )
    edges, tops = _imports("deeplab_viz.probe", source)
    assert edges == {
        "deeplab_viz.models",
        "deeplab_viz.models.layers",
        "deeplab_viz.atrous",
        "deeplab_viz.models.registry",
        "deeplab_viz.paths",
        "deeplab_viz.erf",
    }
    assert tops == {"deeplab_viz"}
    typing_edges, _ = _imports("deeplab_viz.probe", source, typing_only=True)
    assert "deeplab_viz.refine" in typing_edges and "deeplab_viz.refine" not in edges
    # inside a package: ``from . import x`` starts at the package itself
    edges, _ = _imports("deeplab_viz.models", "from . import layers\nfrom ..paths import X\n")
    assert edges == {"deeplab_viz.models.layers", "deeplab_viz.paths"}


def test_the_import_graph_has_no_cycle():
    cycles = _cycles(GRAPH)
    shown = "\n".join(" → ".join(c) for c in cycles)
    assert not cycles, f"import cycles in {PACKAGE}:\n{shown}"


SPLIT = ("deeplab_viz.cost", "deeplab_viz.receptive_field", "deeplab_viz.family")


@pytest.mark.parametrize("package", SPLIT)
def test_split_packages_only_re_export(package):
    """Issue 12: these ``__init__`` modules define nothing; every name they list is there."""
    import importlib

    tree = ast.parse(MODULES[package].read_text(encoding="utf-8"))
    defined = [n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))]
    assert not defined, f"{package}/__init__.py defines {defined}: move them to a submodule"
    module = importlib.import_module(package)
    missing = [n for n in module.__all__ if not hasattr(module, n)]
    assert not missing, f"{package} lists names it lacks: {missing}"
    for name in module.__all__:
        home = getattr(getattr(module, name), "__module__", None)
        if home is not None and home.startswith(PACKAGE):
            assert home.startswith(f"{package}.") or home == "deeplab_viz.agreement", (name, home)


def test_no_module_imports_streamlit():
    offenders = sorted(
        m for m in MODULES if "streamlit" in _imports(m)[1] | _imports(m, typing_only=True)[1]
    )
    assert not offenders, f"these modules of {PACKAGE} import streamlit: {offenders}"
