"""Receptive fields: the arithmetic of a layer stack, the real model's RFs, and its ERF.

Three tabs, one idea each; only the open tab computes and draws (see
pages/deeplab_family.py). The settings of every tab stay in the link: each tab draws
its widgets on every run, in the same place, open or not, and only its figures and
tables when open. The picked pixel, which tabs 2 and 3 share, sits above the tabs.
Words: lessons/receptive_fields.md; drawing: ui/rf_view.py; gradients: ui/erf_cache.py.
"""

from __future__ import annotations

import streamlit as st

from deeplab_viz import erf as E
from deeplab_viz import erf_views as EV
from deeplab_viz import receptive_field as R
from deeplab_viz.inference import resized_hw
from deeplab_viz.links import Text
from ui import links, pick, rf_view
from ui.rf_view import say
from ui.sidebar import current_lesson

MAX_SAMPLES = 8
DEFAULT_PRESET = "MobileNetV2 (DeepLab, OS 8)"
PRESET_NAMES = list(R.PRESETS)
LINK_LAYERS = Text(R.MAX_TEXT_CHARS, parse=R.layers_from_text)  # ?rf_layers=3,1,1;3,2,1
# One idea per tab; the labels travel in the link (?rf_tab=…).
TABS = ["1 · Layer arithmetic", "2 · RFs in the model", "3 · Effective RF"]

lesson = current_lesson()
st.title("Receptive fields")
model = lesson.model
rgb = lesson.image.rgb
img_h, img_w = rgb.shape[:2]
input_hw = resized_hw((img_h, img_w), lesson.size)

pixel_row = st.container(key="rf_pixel")  # above the tabs: tabs 2 and 3 read the pixel
t_calc, t_model, t_erf = links.tabs(st, TABS, key="rf_tab", label="Part of the page")

with pixel_row:
    px_col, py_col = st.columns(2)
    pick.keep_inside(img_w, img_h, "rf_x", "rf_y")  # a new, smaller image: stay on it
    pixel = {"disabled": t_calc.open, "help": say("pixel_help")}
    pick_x = links.slider(
        px_col, "Picked pixel x (image pixels)", 0, img_w - 1, img_w // 2, key="rf_x", **pixel
    )
    pick_y = links.slider(
        py_col, "Picked pixel y (image pixels)", 0, img_h - 1, img_h // 2, key="rf_y", **pixel
    )
pixel_yx = (pick_y, pick_x)

# --------------------------------------------------------------------------- 1. calculator
with t_calc:
    intro = st.container()  # filled when open: the widgets below keep their place
    # the preset, and the top unit's numbers beside it (drawn when open)
    c_preset, c1, c2, c3 = st.columns([5, 2, 2, 2])
    preset = links.selectbox(
        c_preset,
        "Preset",
        PRESET_NAMES,
        index=PRESET_NAMES.index(DEFAULT_PRESET),
        key="rf_preset",
        on_change=rf_view.reset_table,
        help=say("preset_help"),
    )

    base = st.session_state.get("rf_base")
    if base is None or base[0] != preset:
        rows = R.layers_to_rows(R.PRESETS[preset])
        if base is None:  # the first run on this page: a custom stack may come with the link
            # Checked in full (depth, numbers, RF size) before it reaches the table; a bad
            # one is dropped from the link with the page's notice, so it cannot come back.
            text = links.text_param("rf_layers", "Layer list", LINK_LAYERS)
            if text is not None:
                rows = R.parse_rows(text)
        base = (preset, rows)
        st.session_state["rf_base"] = base

    # The table is drawn on every run, open tab or not, so its edits survive a visit to
    # another tab (an editor that is not drawn forgets them).
    left, right = st.columns(2, gap="medium")
    with left:
        edited = rf_view.layer_editor(base[1])
    try:
        layers = R.layers_from_rows(edited.to_dict("records"))
    except ValueError as exc:
        layers = None
        if t_calc.open:
            with right:
                st.error(links.plain(str(exc)), icon="✋")  # it may quote what was typed

    if layers is not None:
        text = R.format_layers(layers)
        if text == R.format_layers(R.PRESETS[preset]):
            links.drop_param("rf_layers")
        else:  # a custom stack travels in the link
            links.set_param("rf_layers", text)

    if t_calc.open:
        with intro:
            rf_view.calc_intro()
        if layers is not None:
            rf_view.calc_result(R.rf_table(layers), right, (c1, c2, c3))

# --------------------------------------------------------------------------- 2. real model
rows = R.model_rf_table(model.module, image_hw=input_hw)
placed = R.place_on_image(rows, pixel_yx, input_hw=input_hw, image_hw=(img_h, img_w))
titles = {p.row.key: p.row.title for p in placed}

with t_model:
    intro = st.container()  # filled when open: the widgets below keep their place
    chosen = links.multiselect(
        st,
        "Draw on the image",
        R.drawable(placed),
        default=R.default_boxes(placed),
        format_func=titles.get,
        key="rf_boxes",
    )
    if t_model.open:
        with intro:
            rf_view.model_intro(lesson.label, model.spec.output_stride, input_hw)
        rf_view.model_view(rgb, rows, placed, chosen, pixel_yx, input_hw, model.entry.family)


# --------------------------------------------------------------------------- 3. ERF
@st.fragment
def erf_section(lesson, pixel_yx, input_hw, open_: bool) -> None:
    """The ERF tab: its widgets on every run (they keep the link), the rest when open."""
    model = lesson.model
    intro = st.container()  # filled when open: the widgets below keep their place
    targets = E.erf_targets(model.module)
    keys = list(targets)
    c1, c2, c3 = st.columns([2, 2, 1])
    target = links.selectbox(
        c1,
        "Unit of",
        keys,
        index=keys.index("logits"),
        format_func=targets.get,
        key="rf_target",
        help=say("target_help"),
    )
    inputs = links.radio(
        c2,
        "Gradient at",
        ["image", "noise"],
        format_func={"image": "your image", "noise": "random inputs (averaged)"}.get,
        horizontal=True,
        key="rf_inputs",
        help=say("inputs_help"),
    )
    n = 1
    if inputs == "noise":
        n = links.slider(c2, "Number of random inputs (n_samples)", 1, MAX_SAMPLES, 4, key="rf_n")
    scale = links.radio(
        c3, "Colour scale", ["linear", "log"], key="rf_scale", help=say("scale_help")
    )
    trained = model.spec.pretrained
    compare = trained and links.toggle(
        st, "Compare with the same network with random weights", value=True, key="rf_compare"
    )
    if not open_:
        return
    with intro:
        rf_view.erf_intro(lesson.label)
    runs = EV.erf_runs(trained, compare)
    if not trained:
        st.info(say("erf_untrained"), icon="🎲")
    try:
        unit = E.erf_unit(
            model, lesson.image.rgb.shape[:2], size=lesson.size, target=target, pixel_yx=pixel_yx
        )
    except ValueError as exc:
        rf_view.erf_failed(exc)
        return
    params = (model.spec, lesson.image.key, lesson.size, target, unit, inputs, n)
    deep_resnet = EV.slow_on_cpu(model.entry.family, model.device.type, target)
    # over the 1 s a widget change may take (bench/page_latency.py): only on a click
    heavy = deep_resnet or inputs == "noise"
    done = st.session_state.setdefault("rf_erf_done", set())
    if heavy and params not in done:
        rf_view.slow_notice(deep_resnet, model.spec.name, targets[target], n, n * len(runs))
        if not st.button("Compute the ERF", key="rf_erf_go", type="primary"):
            return
        done.add(params)

    results = rf_view.compute_erfs(params, runs, model, lesson.image, progress=heavy)
    if results is None:  # the error is on the page
        return
    averaged = n > 1 or inputs == "noise"
    log = scale == "log"
    rf_view.erf_view(results, lesson.image.rgb, log=log, target=targets[target], averaged=averaged)


with t_erf:
    erf_section(lesson, pixel_yx, input_hw, t_erf.open)
