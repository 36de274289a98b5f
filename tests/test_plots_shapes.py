"""ShapesWorld figures."""

from __future__ import annotations

import numpy as np

from deeplab_viz.plots import shapes as PS


def test_depth_figure_one_line_per_configuration_and_readable_bins():
    fig = PS.depth_figure(
        {"all branches": [0.9, 1.0, None], "− 1×1": [0.3, 0.8, 1.0]},
        (1, 4, 16, 10_000),
        colours={"− 1×1": "#123456"},
        title="depth",
    )
    assert [t.name for t in fig.data] == ["all branches", "− 1×1"]
    assert list(fig.data[0].x) == ["1–3 px", "4–15 px", "≥ 16 px"]
    assert np.isnan(fig.data[0].y[2]) and fig.data[1].line.color == "#123456"
    assert fig.data[0].line.width > fig.data[1].line.width


def test_trend_figure_keeps_missing_values_as_gaps():
    fig = PS.trend_figure({"tiny": {8: 0.2, 16: None, 32: 0.0}}, title="t")
    assert list(fig.data[0].x) == ["8", "16", "32"] and np.isnan(fig.data[0].y[1])
    assert fig.layout.xaxis.type == "category" and fig.layout.yaxis.range == (0, 1.08)
