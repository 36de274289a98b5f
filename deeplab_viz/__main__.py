"""``python -m deeplab_viz``: see :mod:`deeplab_viz.cli`."""

import sys

from .cli import main

sys.exit(main())
