"""Streamlit-side helpers shared by the pages (the library itself never imports streamlit)."""
