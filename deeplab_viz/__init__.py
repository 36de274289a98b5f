"""Atrous Lab: atrous (dilated) convolution and DeepLab, taught on a live model.

This package never imports streamlit: every function here is usable from pytest,
the CLI (``python -m deeplab_viz``) and the Streamlit pages alike.
"""

__version__ = "0.1.0"
