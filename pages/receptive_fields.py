"""Receptive fields: the arithmetic of a layer stack, the real model's RFs, and its ERF.

Three tabs, one idea each; only the open tab computes and draws (see
pages/deeplab_family.py). The settings of every tab stay in the link: each tab draws
its widgets on every run, in the same place, open or not, and only its figures and
tables when open. The picked pixel, which tabs 2 and 3 share, sits above the tabs.
"""

from __future__ import annotations

import math

import pandas as pd
import streamlit as st

from deeplab_viz import erf as E
from deeplab_viz import receptive_field as R
from deeplab_viz.atrous import effective_kernel_size
from deeplab_viz.inference import resized_hw
from deeplab_viz.links import Text
from deeplab_viz.plots import receptive_field as P
from ui import links, pick
from ui.sidebar import current_lesson

MAX_SAMPLES = 8
DEFAULT_PRESET = "MobileNetV2 (DeepLab, OS 8)"
COLUMNS = ["layer", "kernel", "stride", "dilation", "padding"]
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
    pixel_help = "The pixel whose receptive fields tabs 2 and 3 show."
    pick_x = links.slider(
        px_col,
        "Picked pixel x (image pixels)",
        0,
        img_w - 1,
        img_w // 2,
        key="rf_x",
        disabled=t_calc.open,
        help=pixel_help,
    )
    pick_y = links.slider(
        py_col,
        "Picked pixel y (image pixels)",
        0,
        img_h - 1,
        img_h // 2,
        key="rf_y",
        disabled=t_calc.open,
        help=pixel_help,
    )


# --------------------------------------------------------------------------- 1. calculator
def _reset_table() -> None:
    """A new preset starts a fresh table (and drops a custom stack from the link)."""
    st.session_state.pop("rf_base", None)
    links.drop_param("rf_layers")


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
        on_change=_reset_table,
        help="Main path of each network (shortcuts never widen the RF). ASPP presets add one "
        "3×3 branch at the given rate on top of the backbone.",
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
        edited = st.data_editor(
            pd.DataFrame(base[1], columns=COLUMNS).astype(
                {c: "Int64" for c in ("kernel", "stride", "dilation", "padding")}
            ),
            key="rf_table",
            num_rows="dynamic",
            hide_index=True,
            width="stretch",
            height=385,
            column_config={
                "layer": st.column_config.TextColumn("layer", width=160),
                "kernel": st.column_config.NumberColumn(
                    "k", min_value=1, step=1, help="kernel", width=40
                ),
                "stride": st.column_config.NumberColumn(
                    "s", min_value=1, step=1, help="stride", width=40
                ),
                "dilation": st.column_config.NumberColumn(
                    "r", min_value=1, step=1, help="rate (dilation)", width=40
                ),
                "padding": st.column_config.NumberColumn(
                    "p",
                    min_value=0,
                    step=1,
                    help="padding per side; empty = same padding",
                    width=40,
                ),
            },
        )
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
            st.header("1 · The arithmetic of a stack of layers")
            st.markdown(
                "The **receptive field** (RF) of a unit in a feature map is the square of input "
                "pixels that can change its value. Every layer widens it by what its kernel spans, "
                "counted in steps of the current **jump** (the distance, in input pixels, between "
                "neighbouring units), and every stride multiplies that jump for all later layers. "
                "An atrous (dilated) kernel spans $k_\\text{eff} = k + (k-1)(r-1)$ pixels, so DeepLab "
                "can stop striding (denser feature maps) and still grow the RF as fast as before. "
                "But a pixel *inside* the RF is not necessarily an *important* pixel: the "
                "**effective** receptive field measures how much each pixel actually counts."
            )
            st.markdown(
                "Going up one layer with kernel $k$, stride $s$, rate $r$ and padding $p$ "
                "(Araujo et al., *Computing receptive fields of convolutional neural networks*, "
                "Distill 2019):"
            )
            st.latex(
                r"r_\text{out} = r_\text{in} + (k_\text{eff}-1)\,j_\text{in} \qquad "
                r"j_\text{out} = j_\text{in}\,s \qquad "
                r"\text{start}_\text{out} = \text{start}_\text{in} + "
                r"\left(\tfrac{k_\text{eff}-1}{2} - p\right) j_\text{in}"
            )
            st.caption(
                "size $r$ and jump $j$ in input pixels, starting from one pixel ($r=1$, $j=1$, "
                "start 0); *start* is the centre of unit 0's RF. Edit the table, add or delete "
                "rows: padding *None* (empty) means “same” padding, $(k_\\text{eff}-1)/2$."
            )
        if layers is not None:
            table = R.rf_table(layers)
            last = table[-1]
            with right:
                st.dataframe(
                    pd.DataFrame(
                        [
                            {
                                "layer": r.name,
                                "k_eff": effective_kernel_size(r.kernel, r.dilation),
                                "RF size": r.size,
                                "jump": r.jump,
                                "start": r.start,
                            }
                            for r in table
                        ]
                    ),
                    hide_index=True,
                    width="stretch",
                    height=385,
                    key="rf_result",
                )
            c1.metric(
                "RF of the top unit", f"{last.size} px", help="side of its RF square, input pixels"
            )
            c2.metric("jump", f"{last.jump} px", help="distance between neighbouring top units")
            c3.metric("start", f"{last.start:g} px", help="centre of unit 0's RF (input pixels)")
            st.plotly_chart(
                P.layer_growth_figure(table, title="How the receptive field grows, layer by layer"),
                width="stretch",
                key="rf_growth",
            )

# --------------------------------------------------------------------------- 2. real model
rows = R.model_rf_table(model.module, image_hw=input_hw)
placed = R.place_on_image(rows, (pick_y, pick_x), input_hw=input_hw, image_hw=(img_h, img_w))
local_keys = [p.row.key for p in placed if p.row.size is not None]
titles = {p.row.key: p.row.title for p in placed}

with t_model:
    intro = st.container()  # filled when open: the widgets below keep their place
    widest_branch = max(
        (p.row for p in placed if p.row.part == "aspp" and p.row.size is not None),
        key=lambda r: r.size,
        default=None,
    )
    chosen = links.multiselect(
        st,
        "Draw on the image",
        local_keys,
        default=[p.row.key for p in placed if p.row.part == "stage"]
        + ([widest_branch.key] if widest_branch is not None else []),
        format_func=titles.get,
        key="rf_boxes",
    )
    if t_model.open:
        with intro:
            st.header(f"2 · Inside {lesson.label}")
            st.markdown(
                f"The same arithmetic, read from the model's own layers as wired at output stride "
                f"{model.spec.output_stride}. The model sees your image at "
                f"{input_hw[1]}×{input_hw[0]} px, so sizes are in those pixels. Each ASPP branch "
                "adds its own kernel on top of the backbone: a 3×3 at rate $r$ adds "
                "$2\\,r\\cdot$jump pixels, a 1×1 adds nothing, and image pooling averages the "
                "whole feature map, so its RF is the whole image (“global”)."
            )

        colours = dict(zip(local_keys, P.box_colours(len(local_keys)), strict=True))
        rects = []
        for p in placed:
            if p.row.key in chosen:
                top, bottom, left_e, right_e = p.edges
                clipped = "" if not p.box.is_clipped else f", {p.box.inside_fraction:.0%} on image"
                rects.append(
                    P.Rect(
                        f"{p.row.title} {p.row.size} px{clipped}",
                        top,
                        bottom,
                        left_e,
                        right_e,
                        colour=colours[p.row.key],
                    )
                )
        c_img, c_tab = st.columns([5, 4], gap="medium")
        with c_img:
            pick.chart(
                st,
                P.rf_boxes_figure(
                    rgb,
                    rects,
                    centre_yx=(pick_y, pick_x),
                    title="Theoretical RFs around the picked pixel · click to move it",
                    width_hint=560,
                    clickable=True,
                ),
                key="rf_boxes_fig",
                x_key="rf_x",
                y_key="rf_y",
                width=img_w,
                height=img_h,
            )
        with c_tab:
            st.dataframe(
                pd.DataFrame(
                    [
                        {
                            "part": p.row.title,
                            "RF (px)": p.row.size_label,
                            "jump": p.row.jump,
                            "on image": "100%"
                            if p.row.size is None
                            else f"{p.box.inside_fraction:.0%}",
                        }
                        for p in placed
                    ]
                ),
                hide_index=True,
                width="stretch",
                key="rf_model_table",
                column_config={
                    "part": st.column_config.TextColumn(width=150),
                    "RF (px)": st.column_config.TextColumn(width=60),
                    "jump": st.column_config.NumberColumn(width=50),
                    "on image": st.column_config.TextColumn(width=70),
                },
            )
            st.caption(
                "*On image*: the share of the RF square (around the picked pixel) that lies on "
                "the image; the rest falls on padding."
            )
            st.caption(
                "Each square is the RF of the unit of that stage nearest the picked pixel (coarser "
                "stages sit on a coarser grid, so centres can differ by half a jump). The grey "
                "margin is outside the image: a square that runs into it is clipped, and the "
                "model sees padding there. Image pooling (global) is not drawn: it is the whole "
                "image."
            )
            notes = [
                "Trading a stride for dilation keeps every kernel's reach in pixels, so changing "
                "the output stride changes the jump, not the RF (MobileNetV3 also dilates the "
                "layer that gives up its stride, so its RF grows a little)."
            ]
            if model.entry.family == "mobilenet_v3":
                notes.append(
                    "MobileNetV3's squeeze-and-excitation blocks rescale channels by a global "
                    "average, so strictly every unit depends on the whole image; the table "
                    "follows the convolutions only."
                )
            if model.entry.family == "tflite_mnv2":
                notes.append(
                    "TF “SAME” padding is exact here: the model's input sides are OS·k+1 pixels, "
                    "so every strided layer sees an odd size and pads symmetrically."
                )
            st.caption(" ".join(notes))
        st.plotly_chart(
            P.model_rf_figure(rows, input_hw, title="RF side vs the image"),
            width="stretch",
            key="rf_model_fig",
        )


# --------------------------------------------------------------------------- 3. ERF
@st.cache_resource(max_entries=2, show_spinner="Making a random-weights copy…")
def _random_module(spec, _module):
    """The lesson's network with re-initialised weights (a copy; shared read-only)."""
    return E.random_like(_module, seed=0)


@st.cache_data(max_entries=48, show_spinner="Computing the gradients…")
def _erf(spec, image_key, size, target, unit_yx, inputs, n, random, _model, _image):
    """Keyed by the feature-map unit: every pixel that maps to it reuses the result."""
    module = _random_module(spec, _model.module) if random else None
    return E.image_erf(
        _model,
        _image.rgb,
        size=size,
        target=target,
        unit_yx=unit_yx,
        inputs=inputs,
        n_samples=n,
        seed=0,
        module=module,
    )


def _rects_for(res: E.ImageErf) -> list[P.Rect]:
    box = res.box
    label = (
        f"theoretical RF {res.row.size} px"
        if res.row.size is not None
        else f"local path {res.row.local_size} px (+ image pooling: global)"
    )
    if res.row.size is None:
        box = R.rf_box(res.row.local_size, res.centre_input_yx, res.valid_hw)
    out = [P.Rect(label, *res.to_image(box.y0, box.y1, box.x0, box.x1), colour="#ffcc00")]
    for f, dash in zip(E.MASS_FRACTIONS, ("dot", "dash", "longdash"), strict=True):
        side = res.mass_sides[f]
        if side > 0:
            out.append(
                P.Rect(
                    f"{f:.0%} of the gradient: {side} px",
                    *res.square_on_image(side),
                    colour="#00e5ff",
                    dash=dash,
                    width=2.5,
                )
            )
    return out


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
        help="The last stage is what the ASPP sees; logits are the class scores.",
    )
    inputs = links.radio(
        c2,
        "Gradient at",
        ["image", "noise"],
        format_func={"image": "your image", "noise": "random inputs (averaged)"}.get,
        horizontal=True,
        key="rf_inputs",
        help="Luo et al. average over random inputs; your image shows this one case.",
    )
    n = 1
    if inputs == "noise":
        n = links.slider(c2, "Number of random inputs (n_samples)", 1, MAX_SAMPLES, 4, key="rf_n")
    log = (
        links.radio(
            c3,
            "Colour scale",
            ["linear", "log"],
            key="rf_scale",
            help="Log shows the faint tail, down to 1/10 000 of the peak.",
        )
        == "log"
    )
    trained = model.spec.pretrained
    compare = trained and links.toggle(
        st, "Compare with the same network with random weights", value=True, key="rf_compare"
    )
    if not open_:
        return
    with intro:
        st.header("3 · The effective receptive field")
        st.markdown(
            "Luo et al. (*Understanding the effective receptive field in deep convolutional "
            "neural networks*, NIPS 2016) asked how much each input pixel actually moves one "
            "output unit: the gradient $|\\partial\\,\\text{unit} / \\partial\\,\\text{pixel}|$. "
            "It is roughly Gaussian, piled up at the centre and fading long before the edge "
            "of the theoretical RF; training widens it. Below: the gradient of one unit of "
            f"{lesson.label} with respect to the image it is fed (same resize and "
            "normalisation as segmentation), for the unit nearest the picked pixel."
        )
    runs = [("trained weights", False)] if trained else [("random weights (as loaded)", False)]
    if compare:
        runs.append(("random weights", True))
    if not trained:
        st.info(
            "This model runs with random weights (architecture only), so there is no "
            "trained ERF to compare with.",
            icon="🎲",
        )

    try:
        unit = E.erf_unit(
            model, lesson.image.rgb.shape[:2], size=lesson.size, target=target, pixel_yx=pixel_yx
        )
    except ValueError as exc:
        st.error(f"The gradient could not be computed: {exc}", icon="⚠️")
        return
    params = (model.spec, lesson.image.key, lesson.size, target, unit, inputs, n)
    shallow = target in ("stage:stem", "stage:layer1", "stage:layer2")
    deep_resnet = model.entry.family == "resnet" and model.device.type == "cpu" and not shallow
    # over the 1 s a widget change may take (bench/page_latency.py): only on a click
    heavy = deep_resnet or inputs == "noise"
    done = st.session_state.setdefault("rf_erf_done", set())
    if heavy and params not in done:
        st.info(
            (
                f"A gradient through {model.spec.name} up to {targets[target]} takes tens of "
                f"seconds on a CPU, and this view needs {n * len(runs)}. Results are kept once "
                "computed; the stem and layer1–2 are quick."
            )
            if deep_resnet
            else (
                f"Averaging over {n} random inputs takes {n * len(runs)} gradients: a few "
                "seconds on a CPU. Results are kept once computed, per unit."
            ),
            icon="⏳",
        )
        if not st.button("Compute the ERF", key="rf_erf_go", type="primary"):
            return
        done.add(params)

    results = []
    bar = st.progress(0.0, text="Computing the gradients…") if heavy else None
    for i, (label, random) in enumerate(runs):
        try:
            res = _erf(*params, random, model, lesson.image)
        except (ValueError, RuntimeError) as exc:
            st.error(f"The gradient could not be computed: {exc}", icon="⚠️")
            return
        results.append((label, res))
        if bar is not None:
            bar.progress((i + 1) / len(runs), text=f"Computed: {label}")
    if bar is not None:
        bar.empty()

    rgb = lesson.image.rgb
    single = len(results) == 1
    cols = st.columns([3, 2] if single else [1, 1], gap="medium")
    for i, (label, res) in enumerate(results):
        fig = P.erf_figure(
            rgb,
            res.erf_image,
            centre_yx=res.centre_image_yx,
            rects=_rects_for(res),
            log=log,
            title=f"ERF · {label}",
            width_hint=560 if single else 460,
        )
        cols[i].plotly_chart(fig, width="stretch", key=f"rf_erf_fig_{i}")
        trf = res.row.local_size
        # side by side, each result's three numbers share a row that wraps when narrow
        row = cols[1] if single else cols[i].container(horizontal=True, gap="medium")
        for f in E.MASS_FRACTIONS:
            side, ratio = res.mass_sides[f], res.ratios[f]
            row.metric(
                f"{f:.0%} of the gradient",
                f"{side} px" if side else "—",
                delta=None if math.isnan(ratio) else f"{ratio:.2f} × RF",
                delta_color="off",
                delta_arrow="off",
                help=f"side of the smallest centred square holding {f:.0%} of "
                f"|gradient|; RF = {trf} px" + (" (local path)" if res.row.is_global else ""),
                width="stretch" if single else "content",
            )
        note = E.erf_over_rf_note(res)
        if note:
            (cols[1] if single else cols[i]).caption(note)
    first = results[0][1]
    st.caption(
        f"Unit {first.unit_yx} (y, x) of the {first.output_hw[1]}×{first.output_hw[0]} map of "
        f"{targets[target]}; theoretical RF "
        + (
            f"{first.row.size} px"
            if first.row.size
            else f"global ({first.row.local_size} px without image pooling)"
        )
        + f", jump {first.row.jump} px. "
        "Sizes in model-input pixels"
        + (
            f" (the image is scaled ×{first.scale_yx[1]:.2f} for the model)"
            if abs(first.scale_yx[1] - 1) > 0.01
            else ""
        )
        + ". **Yellow**: the theoretical RF; **cyan** dotted / dashed / long-dashed: the "
        "squares holding 20 / 50 / 95 % of the gradient; colour: |gradient| (linear: up to "
        "its top 0.5 %; log: down to 1/10 000 of the maximum). "
        + (
            "Averaged over random inputs; drawn on your image for orientation. "
            if n > 1 or inputs == "noise"
            else ""
        )
        + f"{sum(r.ms for _, r in results) / 1000:.1f} s of gradients."
    )
    box = (
        first.box
        if first.row.size is not None
        else R.rf_box(first.row.local_size, first.centre_input_yx, first.valid_hw)
    )
    profiles = {label: res.erf_input.sum(axis=0) for label, res in results}
    st.plotly_chart(
        P.erf_profile_figure(
            profiles,
            centre=first.centre_input_yx[1],
            rf_bounds=(box.x0, box.x1),
            title="Across the unit: gradient per column vs the theoretical RF",
        ),
        width="stretch",
        key="rf_profile_fig",
    )
    if first.row.is_global:
        st.caption(
            "With image pooling every pixel gets a small, equal share of the gradient: "
            "that flat floor is why the 95 % square can reach past the local RF."
        )


with t_erf:
    erf_section(lesson, (pick_y, pick_x), input_hw, t_erf.open)
