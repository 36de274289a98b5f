"""ASPP explorer: what each branch of the model's ASPP sees, adds, and is needed for.

Five tabs, one idea each; only the open tab computes and draws (see
pages/deeplab_family.py). The settings of every tab stay in the link: each tab draws
its widgets on every run, in the same place, open or not, and the rest when open.
The words are in lessons/aspp_explorer.md; what is drawn besides widgets, in
ui/aspp_view.py.
"""

from __future__ import annotations

import streamlit as st

from deeplab_viz import aspp as A
from deeplab_viz.plots import aspp as P
from ui import aspp_cache as C
from ui import aspp_view as V
from ui import cache, links, pick
from ui.sidebar import current_lesson

lesson = current_lesson()
model = lesson.model
st.title("ASPP explorer")
probe = cache.probe(lesson.spec, lesson.image.key, lesson.size, lesson.image)
key = (model.spec, lesson.image.key, lesson.size)
align = bool(model.module.align_corners)
branches = probe.branches
names = [b.name for b in branches]
kinds = {b.name: b.kind for b in branches}
colours = P.branch_colours(names, [b.kind for b in branches])
os_ = probe.output_stride

# --------------------------------------------------------------------------- which branches
has_atrous = any(b.kind == "atrous" for b in branches)
bb = [] if has_atrous else C.backbone_rates(model.module)
st.info(V.branches_info(lesson.label, branches, os_, bb), icon=":material/hub:")
random_note = st.empty()  # always there, so the sections below keep their place
if not model.spec.pretrained:
    random_note.caption(V.text("random_weights"))

t_fp, t_maps, t_share, t_off, t_cam = links.tabs(
    st, V.TABS, key="aspp_tab", label="Part of the page"
)


# --------------------------------------------------------------------------- footprints
@st.fragment
def footprint_section(lesson, probe, open_: bool) -> None:
    intro = st.container()  # filled when open: the widgets below keep their place
    img_h, img_w = probe.image_hw
    pick.keep_inside(img_w, img_h, "aspp_x", "aspp_y")  # a new, smaller image: stay on it
    c1, c2 = st.columns(2)
    x = links.slider(c1, "Picked pixel x (image pixels)", 0, img_w - 1, img_w // 2, key="aspp_x")
    y = links.slider(c2, "Picked pixel y (image pixels)", 0, img_h - 1, img_h // 2, key="aspp_y")
    if not open_:
        return
    with intro:
        st.header("1 · Where each branch looks")
        st.markdown(V.text("footprints_intro"))
    fps = A.footprints(probe, (y, x))
    c_fig, c_txt = st.columns([2, 1], gap="medium")
    with c_fig:
        pick.chart(
            st,
            P.footprint_figure(
                lesson.image.rgb,
                fps,
                pixel_yx=(y, x),
                kinds=kinds,
                colours=colours,
                title=f"Taps of every branch around ({x}, {y}) · click to move",
                width_hint=640,
                clickable=True,
            ),
            key="aspp_footprint_fig",
            x_key="aspp_x",
            y_key="aspp_y",
            width=img_w,
            height=img_h,
        )
    notes = V.footprint_notes(fps, kinds, os_)
    with c_txt:
        st.markdown(V.text("why_pooling"))
        if notes:
            st.markdown("\n".join(f"- {t}" for t in notes))
        else:
            st.markdown(V.text("no_atrous_branch"))
        st.caption(V.text("footprint_caption", stride=os_))


with t_fp:
    footprint_section(lesson, probe, t_fp.open)


# --------------------------------------------------------------------------- maps
@st.fragment
def maps_section(lesson, probe, open_: bool) -> None:
    intro = st.container()  # filled when open: the widget below keeps its place
    mode = V.MODES[
        links.radio(st, "Show each branch as", list(V.MODES), horizontal=True, key="aspp_mode")
    ]
    if not open_:
        return
    with intro:
        st.header("2 · What each branch sees")
    pictures = C.branch_pictures(*key, mode, align, probe)
    panels = V.map_panels(branches, pictures, colours)
    st.plotly_chart(
        P.panels_figure(
            panels,
            cols=2 if len(panels) <= 4 else 3,
            width_hint=950,
            colorbar=(P.MAP_SCALE, ["low", "", "high"]) if mode == "mean" else None,
        ),
        width="stretch",
        key="aspp_maps_fig",
    )
    st.caption(V.maps_caption(mode, branches))


with t_maps:
    maps_section(lesson, probe, t_maps.open)

# --------------------------------------------------------------------------- shares
with t_share:
    if t_share.open:
        V.shares_section(lesson.label, key, model, probe)


# --------------------------------------------------------------------------- ablation
@st.fragment
def ablation_section(lesson, probe, open_: bool) -> None:
    intro = st.container()  # filled when open: the widget below keeps its place
    off = links.pills(st, "Branches to switch off", names, key="aspp_off")
    off = tuple(n for n in names if n in (off or []))
    if not open_:
        return
    with intro:
        st.header("4 · Switch branches off")
        st.markdown(V.text("ablation_intro"))
    result = C.ablation(*key, off, model, probe)
    V.ablation_results(lesson.image.rgb, probe, result, off, len(names))


with t_off:
    ablation_section(lesson, probe, t_off.open)
    if t_off.open:
        V.measured_section(model.spec.name)


# --------------------------------------------------------------------------- Grad-CAM
@st.fragment
def gradcam_section(lesson, probe, open_: bool) -> None:
    intro = st.container()  # filled when open: the widget below keeps its place
    fractions = probe.fractions()
    classes = list(fractions)
    default = next((i for i, c in enumerate(classes) if c != "background"), 0)
    target = links.selectbox(
        st,
        "Class (those in the prediction, largest first)",
        classes,
        index=default,
        key="aspp_class",
        help=" · ".join(f"{c} {f:.1%}" for c, f in fractions.items()),
    )
    if not open_:
        return
    intro.header("5 · Which branch speaks for a class")
    heavy = model.entry.family == "resnet" and model.device.type == "cpu"
    params = (*key, target)
    done = st.session_state.setdefault("aspp_cam_done", set())
    if heavy and params not in done:
        if not V.gradcam_gate(model.spec.name):
            return
        done.add(params)
    maps = C.gradcam(*key, target, align, model, probe)
    panels = V.gradcam_panels(lesson.image.rgb, maps, names, colours)
    st.plotly_chart(
        P.panels_figure(
            panels,
            cols=2 if len(panels) <= 4 else 3,
            width_hint=950,
            title=f"Grad-CAM of “{target}” ({fractions[target]:.1%} of the image) per branch",
            colorbar=(P.HEAT_SCALE, ["0", "", "peak"]),
        ),
        width="stretch",
        key="aspp_cam_fig",
    )
    st.caption(V.text("gradcam_caption", target=target))


with t_cam:
    gradcam_section(lesson, probe, t_cam.open)
