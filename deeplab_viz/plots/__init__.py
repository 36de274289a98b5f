"""Figure builders: pure functions that return plotly or matplotlib figures.

One module per concept (``plots.atrous``, ``plots.receptive_field``, ...); pages and
the CLI call them, and none of them imports streamlit.
"""
