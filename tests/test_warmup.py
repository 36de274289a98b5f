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


def test_app_threads_leave_a_core_free():
    from deeplab_viz.threads import app_threads

    assert [app_threads(n) for n in (1, 2, 4, 16)] == [1, 1, 3, 15]
    assert app_threads() >= 1


def test_app_starts_the_warmup_once_and_sets_threads_in_every_run(app, monkeypatch):
    import threading

    import torch

    from deeplab_viz.threads import app_threads
    from ui import warmup

    calls: list[tuple[int, str]] = []
    real = torch.set_num_threads
    monkeypatch.setattr(
        torch,
        "set_num_threads",
        lambda n: calls.append((n, threading.current_thread().name)) or real(n),
    )
    warmup.start.clear()  # as on a fresh server
    at = app.run()
    at.run()
    ran = [n for n, thread in calls if thread != threading.main_thread().name]
    assert ran == [app_threads()] * 2  # in the script's own thread, on each run
    w = warmup.start()
    w.thread.join(timeout=300)
    assert w.error is None and w.timings is not None
    assert warmup.start() is w  # one warm-up per process
