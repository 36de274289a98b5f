"""How many threads torch gets in the app: a shared CPU must not stall a lecture.

Torch's intra-op pool (OpenMP) splits each convolution over all cores and waits at
a barrier for the slowest thread. When another process holds a core, one of those
threads is descheduled and the whole forward waits for it: on this project's
2-core machine with one other torch job running, the default model's forward went
from a median of about 0.3 s to stalls of 2–2.5 s with 2 threads, while with 1
thread it stayed at 0.3–0.36 s (``bench/contention.py``). A classroom server is a
shared CPU (every session is another job), so the app leaves one core free.
"""

from __future__ import annotations

import os

import torch


def available_cores() -> int:
    """Cores this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def app_threads(cores: int | None = None) -> int:
    """Intra-op threads for the app: all cores but one, at least one."""
    n = available_cores() if cores is None else int(cores)
    return max(1, n - 1)


def use_app_threads() -> int:
    """Set torch's intra-op threads to :func:`app_threads` for the calling thread; returns it.

    The count is an OpenMP setting of the thread that makes it: a server that runs
    each request in a new thread (Streamlit does) calls this at the start of each run.
    """
    n = app_threads()
    torch.set_num_threads(n)
    return n
