"""Home: the chosen image segmented by the chosen model, with a legend of classes found."""

import streamlit as st

from deeplab_viz.palette import hex_color, overlay, voc_colours
from ui import cache, prose
from ui.sidebar import current_lesson

lesson = current_lesson()
st.title("Atrous Lab")
prose.show("home", "intro")
seg = cache.probe(lesson.spec, lesson.image.key, lesson.size, lesson.image)

c1, c2 = st.columns(2)
c1.image(lesson.image.rgb, caption="Input", width="stretch")
view = c2.radio("Show", ["overlay", "class map"], horizontal=True, key="home_view")
shown = (
    overlay(lesson.image.rgb, seg.class_map, outline=True)
    if view == "overlay"
    else voc_colours(seg.class_map)
)
c2.image(shown, caption=f"{lesson.label}", width="stretch")

st.subheader("Classes found")
names = seg.class_names
chips = []
for name, frac in seg.fractions().items():
    color = hex_color(names.index(name))
    chips.append(
        f"<span style='display:inline-block;margin:0 .5em .4em 0;padding:.15em .6em;"
        f"border-radius:.4em;background:{color};color:white;"
        f"text-shadow:0 0 3px #000'>{name} · {frac:.1%}</span>"
    )
st.markdown(" ".join(chips), unsafe_allow_html=True)
st.caption(
    prose.text(
        "home",
        "footer",
        width=seg.model_input_hw[1],
        height=seg.model_input_hw[0],
        ms=f"{seg.timings_ms['total']:.0f}",
        device=lesson.model.spec.device,
        branches=", ".join(b.name for b in seg.branches),
    )
)
