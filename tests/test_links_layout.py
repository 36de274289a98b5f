"""A widget bound to the link keeps its place on the page whatever the model or image.

Streamlit's frontend (1.67) writes a bound widget's value into the URL only while
the widget's binding is registered, and registers it from the widget's React
component. React tells the children of a block apart by the block's id when it
has one (a keyed container or expander) and by their position otherwise;
widgets by their element id. If a section holding a bound widget moves to another
position between two runs because content above it came or went, the browser
mounts the widget anew there while the old copy, same element id, stays until
the run ends; the old copy's unmount then removes the binding the new copy made,
and the widget stops writing the link (issue 13: the ASPP explorer after a switch
from deeplabv3_resnet50:random to shapes-deeplabv3; tests/test_browser_links.py
shows it in Chromium).

So, for every page: the chain of blocks above each bound widget (key, or
position when unkeyed) is the same for every model and image the session goes
through. A widget may come and go (ASPP rates), and one whose element id changes
is a new widget (nothing of the old one to unbind); neither is a move.
"""

from __future__ import annotations

from collections import defaultdict

import pytest
from conftest import ROOT, open_page

from deeplab_viz.first_run import SCENE_SOURCE
from deeplab_viz.models.registry import DEFAULT_MODEL, REAL_PHOTO_MODEL, REGISTRY
from ui.links import SPECS_KEY

pytestmark = pytest.mark.slow

PAGES = sorted(p.stem for p in (ROOT / "pages").glob("*.py") if not p.stem.startswith("_"))
# The default, a five-branch ASPP, architecture only (a caption more), a ShapesWorld model
# (a notice on a photo): each changes what stands above the page's sections.
MODELS = [
    m
    for m in (REAL_PHOTO_MODEL, "deeplabv3_resnet50:random", "shapes-deeplabv3", DEFAULT_MODEL)
    if m.partition(":")[0] in REGISTRY
]
IMAGES = [None, SCENE_SOURCE]  # the default photo, then a generated scene (its seed appears)

Place = tuple[str, ...]


def bound_places(at) -> dict[str, tuple[Place, str]]:
    """Each bound widget of this run: (the blocks above it, its element id)."""
    bound = set(at.session_state[SPECS_KEY]) if SPECS_KEY in at.session_state else set()
    places: dict[str, tuple[Place, str]] = {}

    def walk(block, above: Place) -> None:
        for index, node in block.children.items():
            if hasattr(node, "children"):  # a block: React knows it by key, else by position
                walk(node, (*above, f"key={node.key}" if node.key else str(index)))
            elif getattr(node, "key", None) in bound:
                places[node.key] = (above, node.id)

    walk(at.main, ("main",))
    walk(at.sidebar, ("sidebar",))
    return places


@pytest.mark.parametrize("page", PAGES)
def test_bound_widgets_keep_their_place_when_the_model_or_image_changes(app, page):
    at = open_page(app, f"pages/{page}.py", sb_size="257")
    seen: dict[str, dict[str, set[Place]]] = defaultdict(lambda: defaultdict(set))
    where: dict[tuple[str, Place], str] = {}
    for image in IMAGES:
        if image is not None:
            at.sidebar.selectbox(key="sb_sample").set_value(image).run()
        for model in MODELS:
            at.sidebar.selectbox(key="sb_model").set_value(model).run()
            assert not at.exception, (page, image, model, at.exception)
            for key, (above, element_id) in bound_places(at).items():
                seen[key][element_id].add(above)
                where.setdefault((key, above), f"{model} on {image or 'the photo'}")
    moved = {
        key: {where[key, above]: above for above in places}
        for key, ids in seen.items()
        for places in ids.values()
        if len(places) > 1
    }
    assert not moved, f"bound widgets that change place on {page}: {moved}"
