"""The server-start warm-up takes the one-time costs off the pages' first clicks."""

from __future__ import annotations

import subprocess
import sys

from conftest import ROOT


def test_warm_imports_and_traces_once_in_a_fresh_process():
    code = (
        "import sys, time\n"
        "from deeplab_viz.warmup import warm\n"
        "before = {m: m in sys.modules for m in ('torchvision', 'captum', 'torch._dynamo')}\n"
        "ms = warm()\n"
        "after = {m: m in sys.modules for m in before}\n"
        "assert not any(before.values()), before\n"
        "assert all(after.values()), after\n"
        "assert set(ms) == {'torchvision', 'captum', 'flop_count'} and min(ms.values()) > 0\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr


def test_app_starts_the_warmup_once(app):
    from ui import warmup

    app.run()
    w = warmup.start()
    w.thread.join(timeout=300)
    assert w.error is None and w.timings is not None
    assert warmup.start() is w  # one per process
