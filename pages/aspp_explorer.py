"""ASPP explorer: what each branch of the model's ASPP sees, adds, and is needed for.

Five tabs, one idea each; only the open tab computes and draws (see
pages/deeplab_family.py). The settings of every tab stay in the link: each tab draws
its widgets on every run, in the same place, open or not, and the rest when open.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from deeplab_viz import aspp as A
from deeplab_viz import voc_aspp_metrics as M
from deeplab_viz.models.registry import REAL_PHOTO_MODEL
from deeplab_viz.palette import overlay
from deeplab_viz.plots import aspp as P
from ui import aspp_cache as C
from ui import cache, links, pick
from ui.sidebar import current_lesson

# option shown (and kept in the link) → branch_map mode
MODES = {"channel mean": "mean", "top-3 channels": "topk", "PCA": "pca"}
MODE_NOTES = {
    "mean": "the average over the branch's channels at every position (yellow = high); "
    "each map has its own colour range",
    "topk": "the three channels with the largest mean activation, shown as red, green and "
    "blue, each scaled to its own range",
    "pca": "the first three principal components of the branch's feature vectors as red, "
    "green and blue: positions with similar features get similar colours",
}

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
atrous = [b for b in branches if b.kind == "atrous"]
scale = probe.image_hw[1] / probe.model_input_hw[1]  # image pixels per model-input pixel

# --------------------------------------------------------------------------- which branches
if atrous:
    rates = ", ".join(str(b.rate) for b in atrous)
    st.info(
        f"**{lesson.label}** has the full DeepLabv3 ASPP: **{len(branches)} branches**: "
        + ", ".join(
            {
                "1x1": "a 1×1 convolution",
                "atrous": f"a 3×3 atrous convolution at rate {b.rate}",
                "pooling": "image pooling",
            }[b.kind]
            for b in branches
        )
        + f". At output stride {os_}, rates {rates} put the taps "
        + ", ".join(f"{b.rate * os_}" for b in atrous)
        + " pixels apart on the network's input.",
        icon=":material/hub:",
    )
else:
    bb = C.backbone_rates(model.module)
    where = (
        f"inside the MobileNetV2 backbone (depthwise 3×3 convolutions at rate"
        f"{'s' if len(bb) > 1 else ''} {' and '.join(map(str, bb))} at output stride {os_})"
        if bb
        else "inside the MobileNetV2 backbone, but at output stride 32 it has no dilated "
        "convolutions left (choose 8 or 16 in the sidebar)"
    )
    st.info(
        f"**{lesson.label}** has only **{len(branches)} ASPP branches**: "
        + " and ".join(names)
        + ". It has **no atrous branches**: like the MobileNetV2 models of the TensorFlow "
        f"DeepLab model zoo it leaves them out to run fast. Its atrous convolutions sit {where}. "
        f"Choose **{REAL_PHOTO_MODEL}** in the sidebar: the same trained backbone with the "
        "full five-branch ASPP, trained on real photos.",
        icon=":material/hub:",
    )
random_note = st.empty()  # always there, so the sections below keep their place
if not model.spec.pretrained:
    random_note.caption(
        "Random weights (architecture only): the numbers show how this architecture mixes "
        "its branches, not what a trained network has learned."
    )

# One idea per tab; the labels travel in the link (?aspp_tab=…).
TABS = [
    "1 · Footprints",
    "2 · Branch maps",
    "3 · Projection shares",
    "4 · Switch off",
    "5 · Grad-CAM",
]
t_fp, t_maps, t_share, t_off, t_cam = links.tabs(st, TABS, key="aspp_tab", label="Part of the page")


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
        st.markdown(
            "**Atrous spatial pyramid pooling** (ASPP) came with DeepLabv2 (Chen et al., 2017): "
            "several 3×3 atrous convolutions look at the *same* feature map in parallel, each at "
            "its own rate, so every pixel is classified with context at several scales without "
            "shrinking the map. DeepLabv3 (Chen et al., *Rethinking atrous convolution*, 2017) "
            "gave it the form used here: a 1×1 convolution, three 3×3 atrous convolutions "
            "(rates 6/12/18 at output stride 16, doubled at 8) and an **image-pooling** branch: "
            "the whole feature map averaged into one vector, passed through a 1×1 convolution and "
            "copied back to every position. The branch outputs are concatenated and mixed by a "
            "1×1 **projection**, then the head turns them into class scores."
        )
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
    notes = []
    for f in fps:
        if kinds[f.name] != "atrous":
            continue
        n_on, n = int(f.valid.sum()), len(f.valid)
        text = (
            f"**{f.name}**: taps {f.rate * os_} px apart on the network's input "
            f"({f.spacing_px:.0f} px on your image); **{n_on} of {n}** on the image"
        )
        if n_on == 1:
            text += ". Only the centre tap reads data: here this branch is a 1×1."
        elif n_on < n:
            text += f", the other {n - n_on} read zero padding."
        else:
            text += "."
        notes.append(text)
    with c_txt:
        st.markdown(
            "**Why image pooling?** The larger the rate, the more of a 3×3 kernel's taps fall "
            "off the feature map into the zero padding; when the rate approaches the size of "
            "the map, only the centre tap still reads data and the filter degenerates into a "
            "1×1. The pooling branch gives every pixel the global context explicitly."
        )
        if notes:
            st.markdown("\n".join(f"- {t}" for t in notes))
        else:
            st.markdown(
                "This model's ASPP has **no atrous branch**: the 1×1 branch reads the one "
                "feature cell under the pixel, image pooling reads them all. Its wide "
                "context comes from the dilated backbone and from image pooling."
            )
        st.caption(
            f"Taps sit rate × output stride pixels apart on the network's input (output "
            f"stride {os_}), drawn in the pixels of your image. Filled circles read the "
            "feature map; hollow red crosses land in the zero padding (grey) and read "
            "nothing; the dotted square is the kernel's reach; image pooling (dashed "
            "frame) reads the whole image. Move the pixel to a corner: the big rates "
            "lose most of their taps first."
        )


with t_fp:
    footprint_section(lesson, probe, t_fp.open)


# --------------------------------------------------------------------------- maps
@st.fragment
def maps_section(lesson, probe, open_: bool) -> None:
    intro = st.container()  # filled when open: the widget below keeps its place
    mode = MODES[
        links.radio(st, "Show each branch as", list(MODES), horizontal=True, key="aspp_mode")
    ]
    if not open_:
        return
    with intro:
        st.header("2 · What each branch sees")
    pictures = C.branch_pictures(*key, mode, align, probe)
    panels = []
    for b, (name, rgb, flat) in zip(branches, pictures, strict=True):
        energy = A.branch_energy(b.output)
        flat = " (flat)" if flat else ""
        panels.append(P.Panel(f"{name} · RMS {energy:.2f}{flat}", rgb, colours[name]))
    cols = 2 if len(panels) <= 4 else 3
    st.plotly_chart(
        P.panels_figure(
            panels,
            cols=cols,
            width_hint=950,
            colorbar=(P.MAP_SCALE, ["low", "", "high"]) if mode == "mean" else None,
        ),
        width="stretch",
        key="aspp_maps_fig",
    )
    h, w = branches[0].output.shape[-2:]
    st.caption(
        f"Each panel: {MODE_NOTES[mode]}. The branches work on a {w}×{h} feature grid, "
        "resized onto your image. **RMS** is the branch's energy, the root-mean-square of "
        "its output. Image pooling is one vector copied to every position, so its map "
        "is flat. Straight edges inside an atrous branch's map mark where its outer taps "
        "start to land in the padding (compare the footprints, tab 1)."
    )


with t_maps:
    maps_section(lesson, probe, t_maps.open)


# --------------------------------------------------------------------------- shares
def _pct(v: float, signed: bool = False) -> str:
    return f"{100 * v:+.1f} %" if signed else f"{100 * v:.1f} %"


KIND_LABELS = {"1x1": "1×1 conv", "atrous": "3×3 atrous", "pooling": "image pooling"}


def shares_section() -> None:
    """Tab 3 (no widgets): the projection split into one term per branch."""
    st.header("3 · How much each branch adds to the projection")
    split = C.split(*key, model, probe)
    off_alone = C.changed_when_off(*key, model, probe)
    st.markdown(
        "The projection starts with a 1×1 convolution (with its batch norm folded in), a linear "
        "map, so its input to the ReLU is *exactly* a sum: one term per branch plus a bias, "
        "$z = \\sum_b W_b x_b + \\text{bias}$. "
        "The **signed share** of a branch is its part of $\\lVert z \\rVert^2$, "
        "$\\langle W_b x_b, z\\rangle / \\lVert z\\rVert^2$: how far it pushes the "
        "projection the way the projection finally points (negative: it works against the "
        "others), and the signed shares plus the bias's add up to exactly 1; the "
        "**magnitude share** says how much a branch moves the projection at all, whatever the "
        "direction."
    )
    table = pd.DataFrame(
        [
            {
                "branch": b.name,
                "kind": KIND_LABELS[b.kind],
                "taps apart": f"{b.rate * os_} px" if b.kind == "atrous" else "—",
                "energy (RMS)": f"{A.branch_energy(b.output):.2f}",
                "signed share": _pct(split.share[b.name], signed=True),
                "magnitude share": _pct(split.magnitude_share[b.name]),
                "changed when off": _pct(off_alone[b.name]),
            }
            for b in branches
        ]
        + [
            {
                "branch": "bias",
                "kind": "projection bias",
                "taps apart": "—",
                "energy (RMS)": "—",
                "signed share": _pct(split.bias_share, signed=True),
                "magnitude share": "—",
                "changed when off": "—",
            }
        ]
    )
    st.dataframe(
        table,
        hide_index=True,
        width="stretch",
        key="aspp_table",
        column_config={
            "taps apart": st.column_config.TextColumn(
                help="rate × output stride, in pixels of the network's input"
            ),
            "changed when off": st.column_config.TextColumn(
                help="switch this branch alone off: the share of pixels whose class changes"
            ),
        },
    )
    st.plotly_chart(
        P.shares_figure(
            split.share,
            split.magnitude_share,
            split.bias_share,
            title=f"Share of each branch in the projection<br><sup>{lesson.label}</sup>",
        ),
        width="stretch",
        key="aspp_shares_fig",
    )
    st.caption(
        f"Self-check: rebuilding the projection from the terms differs from the network's own by "
        f"at most {split.max_error:.1e}. Signed shares + bias = "
        f"{sum(split.share.values()) + split.bias_share:.6f}."
    )


with t_share:
    if t_share.open:
        shares_section()


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
        st.markdown(
            "Set a branch's output to zero and run only the projection and the head again, "
            "from the branch outputs already computed (the backbone does not run again). "
            "Which pixels change their class?"
        )
    rgb = lesson.image.rgb
    before = overlay(rgb, probe.class_map)
    result = C.ablation(*key, off, model, probe)
    c1, c2, c3 = st.columns(3, gap="small")
    c1.image(before, caption="All branches", width="stretch")
    c2.image(
        overlay(rgb, result.class_map),
        caption="Without " + ", ".join(off) if off else "Nothing switched off yet",
        width="stretch",
    )
    c3.image(
        P.changed_overlay(rgb, result.changed),
        caption="Pixels whose class changed (magenta)",
        width="stretch",
    )
    m1, m2 = st.columns([1, 3])
    m1.metric(
        "Pixels that changed class",
        f"{result.changed_fraction:.1%}",
        help="share of the image's pixels whose predicted class differs from the full model's",
    )
    with m2:
        if not off:
            st.caption("Pick one or more branches above to switch them off.")
        elif len(off) == len(names):
            st.caption(
                "With every branch off the projection is only its bias, the same at every "
                "position, so the whole image gets one class."
            )
        rows = sorted(result.class_change.items(), key=lambda kv: -max(kv[1]))
        st.dataframe(
            pd.DataFrame(
                [
                    {
                        "class": name,
                        "before %": 100 * b,
                        "after %": 100 * a,
                        "change (points)": 100 * (a - b),
                    }
                    for name, (b, a) in rows
                ]
            ),
            hide_index=True,
            width="stretch",
            key="aspp_class_change",
            column_config={
                "before %": st.column_config.NumberColumn(format="%.1f %%"),
                "after %": st.column_config.NumberColumn(format="%.1f %%"),
                "change (points)": st.column_config.NumberColumn(format="%+.1f"),
            },
        )


def measured_section() -> None:
    """The branch ablation measured on real labels, shipped with the model (if it was)."""
    measured = C.shipped_ablation(model.spec.name)
    if measured is None:
        return
    st.subheader("What each branch is worth on real labels")
    st.markdown(M.ablation_summary(measured))
    st.dataframe(
        pd.DataFrame(M.branch_table(measured)),
        hide_index=True,
        width="stretch",
        key="aspp_measured_table",
    )
    st.caption(
        "IoU in points (×100) over the object classes present; Δ is the change from the "
        "full model. Measured once when the model was trained (python -m deeplab_viz "
        "train-voc-aspp --val …) and shipped with it; the live ablation above is your image."
    )


with t_off:
    ablation_section(lesson, probe, t_off.open)
    if t_off.open:
        measured_section()


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
        gate = st.empty()
        with gate.container():
            st.info(
                f"Grad-CAM runs a backward pass through the ASPP and head of "
                f"{model.spec.name} once per branch: some seconds on a CPU. Results are kept "
                "once computed.",
                icon=":material/hourglass_top:",
            )
            clicked = st.button("Compute Grad-CAM", key="aspp_cam_go", type="primary")
        if not clicked:
            return
        gate.empty()
        done.add(params)
    maps = C.gradcam(*key, target, align, model, probe)
    peak = max((float(m.max()) for m in maps.values()), default=0.0)
    rgb = lesson.image.rgb
    panels = [
        P.Panel(
            f"{name} · peak {float(maps[name].max()):.3g}",
            P.heat_overlay(rgb, maps[name] / peak if peak > 0 else maps[name] * 0),
            colours[name],
        )
        for name in names
    ]
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
    st.caption(
        "Grad-CAM (Selvaraju et al., 2017, via captum): each channel of a branch's output is "
        f"weighted by the average gradient of the “{target}” score, and only the positive sum "
        "is kept: where this branch's features push the class up. The score is the class's "
        "logits summed over the pixels predicted as it. All panels share one colour scale, so "
        "a dim branch matters little; image pooling is one vector everywhere, so its map is "
        "flat. Computed on a private copy of ASPP + head."
    )


with t_cam:
    gradcam_section(lesson, probe, t_cam.open)
