"""About: the models, their licenses and sources, and the health of the shared models."""

import pandas as pd
import streamlit as st

from deeplab_viz import __version__
from deeplab_viz.health import fingerprint
from deeplab_viz.models import REGISTRY
from ui import cache, prose
from ui.sidebar import current_lesson

lesson = current_lesson()
st.title("About Atrous Lab")
prose.show("about", "intro", version=__version__)

st.subheader("Models")
rows = [
    {
        "name": e.name,
        "network": e.title,
        "trained on": e.dataset,
        "native output stride": e.native_stride,
        "ASPP atrous rates": ", ".join(map(str, e.trained_rates)) or "none (1×1 + image pooling)",
    }
    for e in REGISTRY.values()
]
# Rows of three lines (a grid wraps its text in rows taller than 4rem) and widths that fit
# a 1280 px window; licenses and sources, long sentences and paths, are a list below.
st.dataframe(
    pd.DataFrame(rows),
    hide_index=True,
    width="stretch",
    height="content",  # every model in view
    row_height=66,
    column_config={
        "name": st.column_config.TextColumn(width=210),
        "network": st.column_config.TextColumn(width=190),
        "trained on": st.column_config.TextColumn(width=190),
        "native output stride": st.column_config.NumberColumn(
            "native OS", width=80, help="the output stride its weights were trained at"
        ),
        "ASPP atrous rates": st.column_config.TextColumn("ASPP rates", width=110),
    },
)
st.markdown(
    "**Licenses and sources**\n"
    + "\n".join(f"- **{e.name}**: {e.license}; `{e.source}`" for e in REGISTRY.values())
)
st.caption(prose.text("about", "strides_and_samples"))

st.subheader("Shared models in this server")
prose.show("about", "shared_models")
health = []
for spec, model in list(cache.LOADED.items()):
    fp = fingerprint(model.module)
    health.append(
        {
            "model": spec.label,
            "device": spec.device,
            "hooks": fp.hooks,
            "modules in training mode": fp.training_modules,
            "params requiring grad": fp.params_requiring_grad,
            "weights sha256": fp.weights_sha256[:16],
            "clean": "yes" if fp.clean else "NO",
        }
    )
if health:
    # A static table (not a canvas grid) so load tests can read it from the page too.
    st.table(pd.DataFrame(health).set_index("model"))
else:
    st.caption(prose.text("about", "none_loaded"))
