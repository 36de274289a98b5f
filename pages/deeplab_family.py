"""DeepLab family: v1 → v2 → v3 → v3+, each head drawn from its own modules."""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st
import torch

from deeplab_viz import cost
from deeplab_viz import eval_shapes as ES
from deeplab_viz import family as FA
from deeplab_viz import scale_lab as SL
from deeplab_viz import shapes_world as SW
from deeplab_viz.atrous import separable_vs_regular
from deeplab_viz.boundary import boundary_f
from deeplab_viz.gridding import coverage_map
from deeplab_viz.models import REGISTRY, ModelSpec
from deeplab_viz.models.output_stride import current_wiring
from deeplab_viz.plots import family as PF
from deeplab_viz.plots import shapes as PS
from deeplab_viz.plots.colours import shape_colours
from deeplab_viz.plots.gridding import coverage_figure, erf_figure
from deeplab_viz.timing import compare, spread
from deeplab_viz.weights import WeightsUnavailable
from ui import cache, links
from ui.crf_view import crf_section
from ui.sidebar import current_lesson
from ui.widgets import initial

V3, V3P = "shapes-deeplabv3", "shapes-deeplabv3plus"
V3_SOURCES = ["ShapesWorld v3 (trained here)", "torchvision ResNet-101 (architecture)"]
MISSING = (
    "The ShapesWorld models are not installed yet (deeplab_viz/assets/models/shapes_deeplabv3*.pt are "
    "missing; run `python -m deeplab_viz train-shapes`), so this part has nothing to run."
)


def _have_shapes() -> bool:
    return V3 in REGISTRY and V3P in REGISTRY


@st.cache_resource(max_entries=4, show_spinner=False)
def small_head(which: str):
    """Architecture-only heads for the diagrams, built on the meta device: the real
    layer sizes (VGG's 512/1024 channels) without allocating a single weight."""
    with torch.device("meta"):
        return {"v1": FA.v1_head, "v2": FA.v2_head, "tv": FA.torchvision_v3_head}[which]()


@st.cache_data(max_entries=8, show_spinner=False)
def diagram(key: str, title: str, input_label: str, _module) -> tuple[go.Figure, int]:
    """The head drawn as a figure (laying it out takes ~0.1 s; a rerun reads it) and its
    number of boxes."""
    g = FA.head_graph(_module, title=title, input_label=input_label)
    return PF.graph_figure(g), len(g.nodes)


@st.cache_data(max_entries=16, show_spinner="Running v3 and v3+ on the scene…")
def live(seed: int, os_: int, _v3, _v3p):
    """Both models on one ShapesWorld scene: class maps, the v3+ decoder's steps."""
    scene = SW.generate_scene(seed)
    e = REGISTRY[V3P]
    x = SL.normalise(scene.rgb, e.mean, e.std)
    steps = FA.plus_steps(_v3p.module, x)
    e3 = REGISTRY[V3]
    v3 = SL.predict(_v3.module, scene.rgb, mean=e3.mean, std=e3.std)[None][0]
    return scene, v3, steps


@st.cache_data(max_entries=16, show_spinner="Timing both convolutions…")
def timing(channels: int, rate: int, hw: int) -> FA.SeparableTiming:
    return FA.separable_latency(channels, rate, hw, repeats=7)


@st.cache_data(max_entries=16, show_spinner=False)
def mg_erf(rates: tuple[int, ...]):
    return FA.multigrid_erf(rates, n_samples=4)


def _graph(drawn: tuple[go.Figure, int], key: str, where) -> None:
    fig, n_boxes = drawn
    where.plotly_chart(fig, width="stretch", key=key)
    where.caption(
        f"Drawn from the module: {n_boxes} boxes walked from `named_children()` "
        "(a conv and its batch norm / ReLU are one box; hover a box for its module path). "
        "Dotted boxes have no weights."
    )


# --------------------------------------------------------------------------- page

lesson = current_lesson()
st.title("The DeepLab family")
st.markdown(
    "Four papers, one question: how to label every pixel with a network built to name "
    "whole images. Each version kept what worked and changed one thing. Below, each "
    "version's **head** (what sits on the backbone) is drawn straight from a PyTorch "
    "module, so the picture is the code."
)
shapes_ok = _have_shapes()
LIVE_OS = 16  # stride of the diagrams and the default of the live comparison


def _pair(os_: int):
    """Both ShapesWorld models, shared and cached, rewired to ``os_`` (read only)."""
    return (
        cache.model_for(ModelSpec(name=V3, output_stride=os_)),
        cache.model_for(ModelSpec(name=V3P, output_stride=os_)),
    )


v3m = v3p = None
if shapes_ok:
    v3m, v3p = _pair(LIVE_OS)

# --------------------------------------------------------------------------- tabs
# One idea per tab: only the open tab runs (the page was 9,500 px tall as one scroll).
TABS = ["v1 · v2 and the dense CRF", "v3", "v3+", "Atrous separable conv", "Multi-grid"]
t_v12, t_v3, t_v3p, t_sep, t_mg = links.tabs(st, TABS, key="fam_tab", label="Part of the family")

# --------------------------------------------------------------------------- v1
with t_v12:
    if t_v12.open:
        st.header("DeepLab v1 (Chen et al. 2014)")
        left, right = st.columns([2, 3], gap="large")
        left.markdown(
            "Take VGG-16, trained on ImageNet, and keep it dense: the **last two max poolings** "
            "(pool4, pool5) run with stride 1 instead of 2, so the output stride is **8** instead "
            "of 32. To keep every later kernel looking as far as before, the conv5 layers become "
            "**atrous at rate 2** and the first fully connected layer, turned into a 3×3 "
            "convolution, **atrous at rate 4** (the *hole algorithm*). The scores are upsampled "
            "bilinearly and a **fully connected CRF** sharpens them along image edges afterwards: "
            "the network alone gave blobby boundaries."
        )
        _graph(
            diagram(
                "v1",
                "DeepLab v1 head (VGG-16 conv5 → fc8, architecture only)",
                "VGG-16 conv4 (stride 8)",
                small_head("v1"),
            ),
            "fam_v1_fig",
            right,
        )

        # --------------------------------------------------------------------------- v2
        st.header("DeepLab v2 (Chen et al. 2016)")
        left, right = st.columns([2, 3], gap="large")
        left.markdown(
            "Objects come at every scale. v2 adds **atrous spatial pyramid pooling (ASPP)**: four "
            "parallel 3×3 classifiers at **rates 6, 12, 18, 24** read the same feature map, and "
            "their class scores are **summed**. The backbone becomes **ResNet-101** (its last "
            "block dilated, output stride 8), the dense CRF stays."
        )
        _graph(
            diagram(
                "v2",
                "DeepLab v2 ASPP (ResNet-101, architecture only)",
                "ResNet-101 layer4 (2048 ch)",
                small_head("v2"),
            ),
            "fam_v2_fig",
            right,
        )
        crf_section(lesson)


# --------------------------------------------------------------------------- v3
with t_v3:
    if t_v3.open:
        st.header("DeepLab v3 (Chen et al. 2017)")
        left, right = st.container(), st.container()  # full width: five branches side by side
        left.markdown(
            "*Rethinking atrous convolution*: ASPP branches get **batch norm** and feature "
            "channels instead of class scores, and are **concatenated** and mixed by a 1×1 "
            "projection. At large rates most 3×3 taps fall into the padding, so a branch "
            "degenerates into a 1×1; an **image-pooling** branch adds the global context "
            "explicitly. Rates are 6/12/18 at output stride 16. Inside the backbone, the last "
            "block's three convolutions get **multi-grid** rates (1, 2, 4) × the block's rate "
            "(below). Trained end to end with batch norm, v3 needs **no CRF**."
        )
        src = links.radio(left, "Draw", V3_SOURCES, horizontal=True, key="fam_v3_src")
        if src == V3_SOURCES[0] and shapes_ok:
            _graph(
                diagram(
                    f"v3:{V3}",
                    "ShapesWorld DeepLabv3: ASPP + head (trained weights)",
                    "layer4 (stride 16)",
                    FA.model_head(v3m.module),
                ),
                "fam_v3_fig",
                right,
            )
        else:
            if src == V3_SOURCES[0]:
                left.info(MISSING, icon="📦")
            _graph(
                diagram(
                    "v3:tv",
                    "torchvision DeepLabV3 head (ResNet, rates 12/24/36 at OS 8)",
                    "ResNet layer4 (2048 ch)",
                    small_head("tv"),
                ),
                "fam_v3_fig",
                right,
            )


# --------------------------------------------------------------------------- v3+
with t_v3p:
    if t_v3p.open:
        st.header("DeepLab v3+ (Chen et al. 2018)")
        left, right = st.container(), st.container()  # full width: five branches side by side
        left.markdown(
            "v3's output at stride 16 is still coarse. v3+ adds a light **decoder**: the ASPP "
            "output is upsampled **×4**, concatenated with **low-level features** from early in "
            "the backbone (stride 4), first **reduced to 48 channels by a 1×1 conv** so they do not "
            "drown the semantic ones, refined by **two 3×3 convolutions**, and upsampled ×4 "
            "again. Its convolutions are **atrous depthwise-separable**: a depthwise 3×3 at some "
            "rate, then a 1×1 across channels, for a fraction of the cost (below)."
        )
        if not shapes_ok:
            right.info(MISSING, icon="📦")
        else:
            _graph(
                diagram(
                    f"v3+:{V3P}",
                    "ShapesWorld DeepLabv3+: ASPP + decoder (trained weights)",
                    "layer4 (stride 16)",
                    FA.model_head(v3p.module),
                ),
                "fam_v3p_fig",
                right,
            )

            # ----------------------------------------------------------------------- live
            st.subheader("v3 against v3+ on a ShapesWorld scene")
            st.markdown(
                "Both ShapesWorld models share the backbone and ASPP design and differ by the "
                "decoder alone. The decoder's gain is at the **boundaries**: compare the zoom. "
                "The coarser the output stride, the more the decoder has to restore."
            )
            c_seed, c_os, _ = st.columns([1, 2, 1])
            seed = links.number_input(c_seed, "Scene seed", 0, 99_999, 3, key="fam_seed")
            live_os = links.segmented_control(
                c_os,
                "Output stride of both models",
                [8, 16, 32],
                default=LIVE_OS,
                key="fam_os",
                help="The same weights rewired (ASPP rates scaled with the stride). "
                "v3+ always decodes at stride 4.",
            )
            live_os = int(live_os or LIVE_OS)
            scene, v3_map, steps = live(int(seed), live_os, *_pair(live_os))
            st.plotly_chart(
                PS.images_figure(
                    [
                        ("scene", scene.rgb),
                        ("ground truth", shape_colours(scene.mask)),
                        ("DeepLabv3", shape_colours(v3_map)),
                        ("DeepLabv3+", shape_colours(steps.class_map)),
                    ],
                ),
                width="stretch",
                key="fam_live_fig",
            )
            bf3 = boundary_f(v3_map, scene.mask)
            bf3p = boundary_f(steps.class_map, scene.mask)
            # one row that wraps when the window is narrow, rather than cutting a label
            m1 = m2 = m3 = m4 = st.container(horizontal=True)
            m1.metric("Boundary F, v3 (this scene)", f"{bf3:.2f}", border=True, width="content")
            m2.metric(
                "Boundary F, v3+ (this scene)",
                f"{bf3p:.2f}",
                delta=f"{bf3p - bf3:+.2f}",
                border=True,
                width="content",
            )
            table = SL.load_metrics()
            if table is not None:
                try:
                    r3, r3p = (
                        ES.find_result(table, V3, live_os),
                        ES.find_result(table, V3P, live_os),
                    )
                    m3.metric(
                        "Held-out boundary F: v3 → v3+",
                        f"{r3['boundary_f']:.2f} → {r3p['boundary_f']:.2f}",
                        border=True,
                        width="content",
                    )
                    m4.metric(
                        "Held-out mIoU: v3 → v3+",
                        f"{r3['miou']:.2f} → {r3p['miou']:.2f}",
                        border=True,
                        width="content",
                    )
                except KeyError:
                    m3.caption(f"The metrics file has no OS-{live_os} rows for both models.")
            else:
                m3.caption(
                    "Held-out numbers: the metrics file (deeplab_viz/assets/models/shapes_metrics.json) "
                    "is not here yet."
                )
            by_stride = ES.decoder_by_stride(table) if table is not None else []
            if by_stride:
                t_col, x_col = st.columns([3, 2], gap="large")
                t_col.dataframe(
                    [
                        {
                            "output stride": r["output_stride"],
                            "mIoU v3": f"{r['miou_v3']:.3f}",
                            "mIoU v3+": f"{r['miou_plus']:.3f}",
                            "boundary F v3": f"{r['boundary_f_v3']:.3f}",
                            "boundary F v3+": f"{r['boundary_f_plus']:.3f}",
                        }
                        for r in by_stride
                    ],
                    hide_index=True,
                    width="stretch",
                    key="fam_stride_table",
                )
                trained = REGISTRY[V3].native_stride
                at = {r["output_stride"]: r for r in by_stride}
                lines = []
                if trained in at:
                    r = at[trained]
                    lines.append(
                        f"Both models end their training at output stride **{trained}**, where the "
                        f"decoder upsamples only ×{max(1, trained // 4)}: boundary F "
                        f"{r['boundary_f_v3']:.2f} (v3) against {r['boundary_f_plus']:.2f} (v3+)."
                    )
                coarse = [r for r in by_stride if r["output_stride"] > trained]
                if coarse:
                    lines.append(
                        "Rewired to a coarser stride, v3's boundaries come apart ("
                        + ", ".join(
                            f"{r['boundary_f_v3']:.2f} at {r['output_stride']}" for r in coarse
                        )
                        + ") while v3+ keeps "
                        + ", ".join(f"{r['boundary_f_plus']:.2f}" for r in coarse)
                        + ": its detail comes from the stride-4 features, which rewiring never "
                        "touches. That is the v3+ bargain: run the costly encoder coarse, recover "
                        "the outlines from early features."
                    )
                x_col.markdown(" ".join(lines))
            st.caption(
                f"Boundary F: share of boundary pixels within {ES.BOUNDARY_TOLERANCE} px of a true "
                "one (precision and recall, combined). Held-out: "
                + (
                    f"{table['heldout_seeds'][1] - table['heldout_seeds'][0]} scenes never seen in "
                    f"training, at output stride {live_os}."
                    if table
                    else "scenes never seen in training."
                )
            )

            def _jump() -> None:
                y, x = cost.most_disagreement(
                    v3_map, steps.class_map, int(st.session_state.get("fam_zside", 40))
                )
                st.session_state["fam_zx"] = int(round(100 * x))
                st.session_state["fam_zy"] = int(round(100 * y))

            @st.fragment
            def zoom_section() -> None:
                c1, c2, c3, c4 = st.columns([2, 2, 2, 2])
                zx = links.slider(
                    c1, "Zoom centre x (%)", 0, 100, initial("fam_zx", 50), key="fam_zx"
                )
                zy = links.slider(
                    c2, "Zoom centre y (%)", 0, 100, initial("fam_zy", 50), key="fam_zy"
                )
                side = links.select_slider(
                    c3, "Crop side (px)", [16, 24, 32, 40, 48, 64, 96], 40, key="fam_zside"
                )
                c4.button("Where they differ most", key="fam_zjump", on_click=_jump)
                box = cost.crop_box(scene.mask.shape, (zy / 100, zx / 100), int(side))
                pics = [
                    ("scene", scene.rgb),
                    ("ground truth", shape_colours(scene.mask)),
                    ("v3", shape_colours(v3_map)),
                    ("v3+", shape_colours(steps.class_map)),
                ]
                st.plotly_chart(
                    PS.images_figure(
                        [(f"{t} · zoom", cost.boundary_zoom(p, box, 320)) for t, p in pics]
                    ),
                    width="stretch",
                    key="fam_zoom_fig",
                )
                y0, x0, y1, x1 = box
                st.caption(
                    f"Crop x {x0}–{x1 - 1}, y {y0}–{y1 - 1} of the 160×160 scene, every pixel "
                    "enlarged to a square (nearest neighbour): what you see is what was predicted."
                )

            zoom_section()

            st.subheader("Inside the v3+ decoder")
            size = 200
            low_shape = steps.low.shape
            panels = [
                (
                    f"ASPP output · {steps.aspp.shape[0]} ch, {steps.aspp.shape[2]}×{steps.aspp.shape[1]} "
                    f"(1/{live_os})",
                    PF.feature_picture(steps.aspp, size),
                ),
                (
                    f"after ×{live_os // 4} · {steps.aspp_up.shape[2]}×{steps.aspp_up.shape[1]}",
                    PF.feature_picture(steps.aspp_up, size),
                ),
                (
                    f"low-level 1×1 → {low_shape[0]} ch · {low_shape[2]}×{low_shape[1]}",
                    PF.feature_picture(steps.low, size),
                ),
                ("after the two 3×3 convs", PF.feature_picture(steps.fused, size)),
                (
                    "classes at 1/4",
                    PS.enlarge(
                        shape_colours(steps.logits_low.argmax(0)), size // steps.logits_low.shape[1]
                    ),
                ),
                ("final ×4: classes at 1/1", shape_colours(steps.class_map)),
            ]
            st.plotly_chart(
                PS.images_figure(panels[:3], legend=()), width="stretch", key="fam_steps_a"
            )
            st.plotly_chart(PS.images_figure(panels[3:]), width="stretch", key="fam_steps_b")
            st.caption(
                "Feature maps shown by their first three principal components as red, green, blue "
                "(similar feature vectors, similar colours), each cell a crisp square. The ASPP "
                "output knows *what* is where but in 10×10 cells; the low-level features know "
                "*where the edges are*; the two 3×3 convolutions combine them at stride 4."
            )


# --------------------------------------------------------------------------- separable
with t_sep:
    if t_sep.open:
        st.header("Atrous separable convolution (v3+)")
        st.markdown(
            "A regular 3×3 convolution mixes space and channels at once: 9·C_in·C_out weights. A "
            "**depthwise-separable** one splits it: a 3×3 filter per channel (9·C_in weights, "
            "**atrous** at any rate), then a 1×1 that mixes channels (C_in·C_out). The cost "
            "ratio is 1/C_out + 1/9: roughly 8–9× fewer parameters and FLOPs (Chen et al. 2018, "
            "after Xception and MobileNet). The rate changes neither count."
        )
        c1, c2, c3 = st.columns(3)
        ch = links.select_slider(
            c1, "Channels (in = out)", [64, 128, 256, 512], 256, key="fam_sep_ch"
        )
        rate = links.select_slider(c2, "Rate", [1, 2, 4, 6, 12], 2, key="fam_sep_rate")
        hw = links.select_slider(c3, "Feature map side (cells)", [17, 33, 65], 33, key="fam_sep_hw")
        cmp = separable_vs_regular(3, int(ch), int(ch), int(hw), int(hw))
        row = st.container(horizontal=True)  # wraps when narrow, rather than cutting a value
        row.metric(
            "Parameters: regular → separable",
            f"{cmp.regular.params:,} → {cmp.separable.params:,}",
            border=True,
            width="content",
        )
        row.metric(
            "FLOPs: regular → separable",
            f"{cmp.regular.flops / 1e6:,.0f} M → {cmp.separable.flops / 1e6:,.1f} M",
            border=True,
            width="content",
        )
        row.metric(
            "Separable / regular",
            f"{cmp.flop_ratio:.1%}",
            help="1/C_out + 1/9, for parameters and FLOPs alike",
            border=True,
            width="content",
        )
        sep_key = (int(ch), int(rate), int(hw))
        sep_done = st.session_state.setdefault("fam_sep_done", set())
        if sep_key not in sep_done and st.button(
            "Measure the latency (CPU, a few runs)", key="fam_sep_go"
        ):
            sep_done.add(sep_key)
        if sep_key in sep_done:
            t = timing(*sep_key)
            left, right = st.columns([3, 2])
            left.plotly_chart(PF.separable_figure(t), width="stretch", key="fam_sep_fig")
            reg, sep = spread(t.runs_ms["regular"]), spread(t.runs_ms["separable"])
            verdict = compare("the regular conv", reg, "the separable one", sep)
            right.markdown(
                f"Measured here, interleaved: regular **{reg.text(2)}**, separable "
                f"**{sep.text(2)}**: {verdict.sentence()}, against "
                f"{1 / cmp.flop_ratio:.1f}× fewer FLOPs. Depthwise convolutions do little "
                "arithmetic per byte they read, so the measured gain is usually smaller than "
                "the FLOP count promises."
            )
            right.caption(
                "FLOPs from torch.utils.flop_counter (2 per multiply-add); wall time on "
                "this shared CPU, so expect noise."
            )

        try:
            mnv2 = cache.model_for(ModelSpec(name="voc-mobilenetv2", output_stride=8))
            wiring = current_wiring(mnv2.module, "tflite_mnv2")
            dil = {}
            for _, d in wiring:
                if d > 1:
                    dil[d] = dil.get(d, 0) + 1
            st.markdown(
                "**The real example in this app:** the offline **voc-mobilenetv2** is built from "
                "depthwise-separable blocks, and at its output stride 8 the depthwise 3×3 "
                "convolutions of its last blocks are atrous: "
                + ", ".join(f"**{n} at rate {d}**" for d, n in sorted(dil.items()))
                + f" (read from the wired model, {len(wiring)} blocks in all)."
            )
        except (WeightsUnavailable, ValueError):
            st.caption(
                "The offline voc-mobilenetv2 is not available here, so its rates are not shown."
            )


# --------------------------------------------------------------------------- multi-grid
with t_mg:
    if t_mg.open:
        st.header("Multi-grid (v3)")
        st.markdown(
            "At output stride 16 ResNet's last block runs at rate 2. Its three 3×3 convolutions all "
            "at rate 2 read a sparse lattice of a small field. DeepLabv3's **multi-grid** gives them "
            "*unit rates* (1, 2, 4) times the block's rate: 2, 4, 8. That follows the hybrid dilated "
            "convolution idea (Wang et al. 2018): unit rates without a shared factor fill each "
            "other's gaps, so the field grows with no new holes *inside the lattice the block's rate "
            "leaves*. Exact path counts below; white cells are never read."
        )
        c1, c2 = st.columns(2)
        unit = links.segmented_control(
            c1, "Unit rates (multi-grid)", list(FA.MULTI_GRIDS), default="(1, 2, 4)", key="fam_mg"
        )
        block = links.segmented_control(
            c2,
            "Block rate",
            [1, 2, 4],
            default=2,
            key="fam_mg_block",
            help="2 at output stride 16, 4 at output stride 8",
        )
        base = FA.multigrid_rates((1, 1, 1), int(block))
        chosen = FA.multigrid_rates(FA.MULTI_GRIDS[unit], int(block))
        cols = st.columns(2)
        for side, (col, rates, label) in enumerate(
            ((cols[0], base, "(1, 1, 1)"), (cols[1], chosen, unit))
        ):
            cov = coverage_map(rates)
            with col:
                st.metric(
                    f"{label} × {block} = rates {', '.join(map(str, rates))}",
                    f"{cov.covered} of {cov.rf_cells} cells",
                    help="cells reached by at least one path / the receptive field",
                    border=True,
                )
                st.plotly_chart(
                    coverage_figure(
                        cov,
                        height=480,
                        title=f"rates {list(rates)}: {cov.coverage:.1%} of {cov.side}×{cov.side}",
                    ),
                    width="stretch",
                    theme=None,
                    key=f"fam_mg_cov_{side}",
                )
                res = mg_erf(tuple(rates))
                c = res.out_yx
                st.plotly_chart(
                    erf_figure(
                        res.erf,
                        c,
                        reach=cov.side // 2,
                        height=420,
                        title=f"ERF of a small conv stack at rates {list(rates)}",
                    ),
                    width="stretch",
                    theme=None,
                    key=f"fam_mg_erf_{side}",
                )
        lat = coverage_map(FA.MULTI_GRIDS[unit])
        st.markdown(
            FA.multigrid_verdict(coverage_map(base), coverage_map(chosen), unit, int(block))
        )
        st.caption(
            f"At block rate {block} every rate shares the factor {block}, so only one cell in "
            f"{int(block) ** 2} of the field can be read at all (the lattice the rewiring leaves); "
            f"within that lattice {unit} reads {lat.covered} of {lat.rf_cells}. ERF: gradient of the "
            "centre output of three random 3×3 conv + ReLU layers at those rates, averaged over "
            "4 random inputs, log scale."
        )
