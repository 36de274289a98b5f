"""Where the files that ship with the package live (inside it, so a wheel carries them).

deeplab_viz/assets/models/    trained networks (.pt) with their settings and metrics (.json)
deeplab_viz/assets/samples/   the sample images (see SOURCES.md there)
deeplab_viz/assets/metrics/   measured tables the pages show (bench/ writes them)
"""

from __future__ import annotations

from pathlib import Path

ASSETS = Path(__file__).resolve().parent / "assets"
MODELS_DIR = ASSETS / "models"
SAMPLES_DIR = ASSETS / "samples"
METRICS_DIR = ASSETS / "metrics"
