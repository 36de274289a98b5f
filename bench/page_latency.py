#!/usr/bin/env python
"""How long each page of the app takes to open, and to answer a widget, on a warm server.

    python bench/page_latency.py [--quick] [--contended] [--repeats N] [--pages a,b]
                                 [--out bench/results/page_latency-cpu.json]

For every page (default model, default image), through Streamlit's ``AppTest``:

* **open**: the page's first run in a fresh session, after the process has imported
  everything and rendered every page once (``st.cache_resource`` warm: models, probes,
  the warm-up thread's work) with ``st.cache_data`` cleared first, so the page's cached
  data is computed as on its first visit (the sidebar's default image is decoded again
  before the clock starts, as any earlier session on the server would have left it);
* **open (cached)**: the same, again, in a new session, with the page's data now cached;
* **widget changes**: up to 8 of the page's main-area widgets (sliders, selectboxes,
  radios, toggles, number inputs, segmented controls, pills, …, found in the element
  tree), each set to another valid value ("change": that value's cached data is cold)
  and then back ("back": cached), each rerun timed until AppTest returns.

Each figure is the median of ``--repeats`` rounds after a warm-up round, with quartiles,
min and max; pages rotate and the two conditions alternate from round to round. The
"contended" condition keeps a competing one-thread CPU job running (a classroom server
shares its CPU). Budgets (issue 13): every widget change within 1 s, every page open
within 3 s; the JSON records the verdicts, stdout gets a short table. An exception in a
run is recorded as a failure; the benchmark goes on. Nothing asserts: JSON out.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import json
import logging
import os
import platform
import signal
import statistics
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for _p in (ROOT, ROOT / "tests"):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

os.environ.setdefault("DEEPLAB_VIZ_WEIGHTS_DIR", str(ROOT.parent / "shared" / "weights"))
os.environ.setdefault("DEEPLAB_VIZ_OFFLINE", "1")

SCHEMA = "atrous-lab/page_latency/1"
APP = ROOT / "app.py"
HOME = "home"
QUICK_PAGES = ("home", "dilated_convolution@Sampling grid")
BUDGETS = {"widget_change_s": 1.0, "page_open_s": 3.0}
# What a lecturer touches: settings. Buttons (actions that start a measurement),
# text inputs (no generic valid value) and uploads are left out, and recorded as such.
WIDGET_TYPES = (
    "slider",
    "select_slider",
    "selectbox",
    "radio",
    "button_group",  # segmented controls and pills
    "multiselect",
    "toggle",
    "checkbox",
    "number_input",
)
SKIPPED_TYPES = {
    "button": "an action (starts a computation), not a setting",
    "text_input": "free text: no generic valid value",
    "text_area": "free text: no generic valid value",
    "file_uploader": "an upload",
    "camera_input": "a camera",
    "chat_input": "free text",
    "download_button": "an action",
    "form_submit_button": "an action",
}
CHANGE_RULES = {
    "slider": "a quarter of its range up (down when that passes the maximum), on its step; "
    "a range slider moves its upper end a quarter of the range inwards",
    "select_slider": "the next option (a range: its upper end one option down)",
    "selectbox": "the next option (wrapping)",
    "radio": "the next option (wrapping)",
    "button_group": "single select: the next option; multi select (pills): the first "
    "option not selected is added, or the last one removed when all are",
    "multiselect": "as multi-select pills",
    "toggle": "flipped",
    "checkbox": "flipped",
    "number_input": "one step up (down at the maximum): a click on +",
}
COMPETITORS = {
    "torch": (
        "one process, one thread (torch.set_num_threads(1), OMP_NUM_THREADS=1): "
        "a 512×512 float32 matrix product and tanh in a loop, not pinned to a core",
        "import torch\n"
        "torch.set_num_threads(1)\n"
        "a = torch.randn(512, 512)\n"
        "print('ready', flush=True)\n"
        "while True:\n"
        "    a = (a @ a).tanh_()\n",
    ),
    "python": (
        "one process, one thread: a pure-Python busy loop, not pinned to a core",
        "print('ready', flush=True)\nx = 0\nwhile True:\n    x = (x + 1) % 1000003\n",
    ),
}
# The child dies with the bench, even while stopped (SIGSTOP): the kernel sends it SIGKILL.
_DIE_WITH_PARENT = (
    "import ctypes, os, signal, sys\n"
    "try:\n"
    "    ctypes.CDLL(None).prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG\n"
    "except Exception:\n"
    "    pass\n"
    "if os.getppid() != int(sys.argv[1]):\n"
    "    sys.exit(0)\n"
)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ----------------------------------------------------------------- statistics, verdicts


def summarize(runs: list[float]) -> dict | None:
    """Median, quartiles, min and max of ``runs`` (seconds); None when there are none."""
    if not runs:
        return None
    if len(runs) == 1:
        q1 = q3 = runs[0]
    else:
        q1, _, q3 = statistics.quantiles(runs, n=4, method="inclusive")
    return {
        "n": len(runs),
        "median_s": round(statistics.median(runs), 4),
        "q1_s": round(q1, 4),
        "q3_s": round(q3, 4),
        "min_s": round(min(runs), 4),
        "max_s": round(max(runs), 4),
        "runs_s": [round(r, 4) for r in runs],
    }


def page_verdict(page: dict, budgets: dict = BUDGETS) -> dict:
    """Pass/fail of one page under one condition against the budgets (medians)."""
    open_s = (page.get("open") or {}).get("median_s")
    worst = None
    widget_failures = 0
    for w in page.get("widgets", []):
        widget_failures += len(w.get("failures", []))
        for direction in ("change", "back"):
            med = (w.get(direction) or {}).get("median_s")
            if med is not None and (worst is None or med > worst["median_s"]):
                worst = {"widget": w["key"], "direction": direction, "median_s": med}
    open_ok = open_s is not None and open_s <= budgets["page_open_s"]
    widgets_ok = widget_failures == 0 and (
        worst is None or worst["median_s"] <= budgets["widget_change_s"]
    )
    failures = len(page.get("failures", []))
    return {
        "page_open_budget_s": budgets["page_open_s"],
        "open_median_s": open_s,
        "open_ok": open_ok,
        "widget_change_budget_s": budgets["widget_change_s"],
        "worst_widget": worst,
        "widgets_ok": widgets_ok,
        "failures": failures,
        "within_budget": open_ok and widgets_ok and failures == 0,
    }


# ----------------------------------------------------------------- widget changes


def _quarter_step(lo: float, hi: float, step: float) -> float:
    q = round((hi - lo) / 4 / step) * step
    return max(step, q)


def _numeric(v, *, integer: bool):
    return int(round(v)) if integer else round(float(v), 10)


def plan_change(w) -> tuple[dict | None, str | None]:
    """What to set this widget to: ({"kind", "to", "from"}, None) or (None, why not)."""
    t = w.type
    if getattr(w.proto, "disabled", False):
        return None, "disabled"
    if getattr(w, "form_id", ""):
        return None, "inside a form (applies on submit only)"
    if t in ("selectbox", "radio"):
        opts = list(w.options)
        if len(opts) < 2:
            return None, "fewer than two options"
        i = w.index
        j = 0 if i is None else (i + 1) % len(opts)
        return {"kind": "string", "to": opts[j], "from": None if i is None else opts[i]}, None
    if t == "select_slider":
        opts = list(w.options)
        current = list(w._widget_state.string_array_value.data)
        if len(opts) < 2 or not current:
            return None, "fewer than two options"
        idx = [opts.index(c) for c in current]
        if len(idx) == 1:
            new = [opts[(idx[0] + 1) % len(opts)]]
        else:
            lo, hi = idx
            new = [opts[lo], opts[hi - 1 if hi - 1 > lo else min(hi + 1, len(opts) - 1)]]
            if new == current:
                return None, "a range slider with no room to move"
        return {"kind": "strings", "to": new, "from": current}, None
    if t in ("button_group", "multiselect"):
        opts = list(w.options)
        current = list(w._widget_state.string_array_value.data)
        single = t == "button_group" and w._is_single_select
        if single:
            if len(opts) < 2:
                return None, "fewer than two options"
            i = opts.index(current[0]) if current else -1
            return {"kind": "strings", "to": [opts[(i + 1) % len(opts)]], "from": current}, None
        missing = [o for o in opts if o not in current]
        new = [*current, missing[0]] if missing else current[:-1]
        return {"kind": "strings", "to": new, "from": current}, None
    if t in ("toggle", "checkbox"):
        return {"kind": "bool", "to": not bool(w.value), "from": bool(w.value)}, None
    if t == "slider":
        lo, hi, step = w.min, w.max, w.step
        if not all(isinstance(x, (int, float)) for x in (lo, hi, step)):
            return None, "a date/time slider"
        value = w.value
        integer = all(float(x).is_integer() for x in (lo, hi, step)) and not isinstance(
            value if not isinstance(value, (tuple, list)) else value[0], float
        )
        q = _quarter_step(lo, hi, step)
        if isinstance(value, (tuple, list)):
            a, b = value
            nb = b - q if b - q > a else min(hi, b + q)
            new = [_numeric(a, integer=integer), _numeric(nb, integer=integer)]
            if new == list(value):
                return None, "a range slider with no room to move"
            return {"kind": "range", "to": new, "from": list(value)}, None
        nv = value + q if value + q <= hi else value - q
        nv = max(lo, nv)
        if nv == value:
            return None, "no other value"
        return {"kind": "number", "to": _numeric(nv, integer=integer), "from": value}, None
    if t == "number_input":
        value, step = w.value, w.step or 1
        if value is None:
            value = w.min if w.min is not None else 0
        nv = value + step if w.max is None or value + step <= w.max else value - step
        if w.min is not None and nv < w.min:
            return None, "no other value"
        integer = isinstance(value, int) and float(step).is_integer()
        return {"kind": "number", "to": _numeric(nv, integer=integer), "from": value}, None
    return None, f"type {t} not changed by this bench"


def _forced_class(cls):
    """A subclass of an AppTest widget whose state is the one we set, as a browser sends."""
    if cls in _FORCED.values():  # forced twice in one tree: the last state wins
        return cls
    cached = _FORCED.get(cls)
    if cached is None:
        cached = _FORCED[cls] = type(
            f"Forced{cls.__name__}",
            (cls,),
            {"_widget_state": property(lambda self: self._forced_state)},
        )
    return cached


_FORCED: dict[type, type] = {}


def force_state(w, state) -> None:
    """Send ``state`` (a WidgetState, its id replaced by ``w``'s) for ``w`` on the next run."""
    from streamlit.proto.WidgetStates_pb2 import WidgetState

    ws = WidgetState()
    ws.CopyFrom(state)
    ws.id = w.id
    w.__class__ = _forced_class(type(w))
    w._forced_state = ws


def apply_change(w, change: dict) -> None:
    """Set widget ``w`` (in the current tree) to the planned value."""
    from streamlit.proto.WidgetStates_pb2 import WidgetState

    kind, to = change["kind"], change["to"]
    if kind in ("number", "bool"):
        w.set_value(to)
    elif kind == "range":
        w.set_value(tuple(to))
    else:  # option widgets: the formatted option, exactly what the frontend sends
        ws = WidgetState()
        if kind == "string":
            ws.string_value = to
        else:
            ws.string_array_value.data[:] = to
        force_state(w, ws)


def current_state(w):
    from streamlit.proto.WidgetStates_pb2 import WidgetState

    ws = WidgetState()
    ws.CopyFrom(w._widget_state)
    return ws


def same_state(w, state) -> bool:
    """Whether ``w`` (in the tree of the last run) holds ``state``'s value."""
    now = current_state(w)
    now.id = state.id
    return now.SerializeToString(deterministic=True) == state.SerializeToString(deterministic=True)


def main_widgets(at) -> list:
    from streamlit.testing.v1.element_tree import Widget

    return [node for node in at.main if isinstance(node, Widget)]


def find_widget(at, ident: dict):
    for node in main_widgets(at):
        if node.type == ident["type"] and (
            (ident["key"] is not None and node.key == ident["key"])
            or (ident["key"] is None and node.id == ident["id"])
        ):
            return node
    return None


def discover(at, limit: int) -> tuple[list[dict], list[dict]]:
    """The first ``limit`` main-area widgets a lecturer would touch, and the ones left out."""
    chosen, skipped, seen = [], [], set()
    for w in main_widgets(at):
        if w.id in seen:
            continue
        seen.add(w.id)
        ident = {"key": w.key, "id": w.id, "type": w.type, "label": str(getattr(w, "label", ""))}
        if w.type not in WIDGET_TYPES:
            why = SKIPPED_TYPES.get(w.type, f"type {w.type} not changed by this bench")
            skipped.append({**ident, "reason": why})
            continue
        try:
            change, why = plan_change(w)
        except Exception as exc:  # a widget this bench does not understand: left out, said why
            change, why = None, f"no change planned ({type(exc).__name__}: {exc})"
        if change is None:
            skipped.append({**ident, "reason": why})
        elif len(chosen) >= limit:
            skipped.append({**ident, "reason": f"over the cap of {limit} per page"})
        else:
            chosen.append({**ident, "change": change})
    return chosen, skipped


# ----------------------------------------------------------------- the app under AppTest


class _MonkeyPatch:  # what conftest's pinning helper needs of pytest's monkeypatch
    def setattr(self, target, name, value):
        setattr(target, name, value)


class LogCollector(logging.Handler):
    """Warnings Streamlit logs while a page runs, and the uncaught errors behind a page's
    exception (the app's config redacts their text in the page: ``showErrorDetails``)."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.records: list[str] = []
        self.errors: list[str] = []

    def emit(self, record):
        self.records.append(f"{record.name}: {record.getMessage().splitlines()[0][:300]}")
        if record.exc_info and record.exc_info[1] is not None:
            self.errors.append(describe_error(record.exc_info[1]))


def describe_error(exc: BaseException) -> str:
    """``Type: message`` and the last frames in the project's own files."""
    import traceback

    frames = [
        f"{Path(f.filename).relative_to(ROOT)}:{f.lineno} {f.name}"
        for f in traceback.extract_tb(exc.__traceback__)
        if Path(f.filename).is_relative_to(ROOT) and ".venv" not in Path(f.filename).parts
    ]
    text = f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}"
    return text + (" at " + " <- ".join(reversed(frames[-3:])) if frames else "")


# What Streamlit says when the bench calls a cached function between runs (bare mode).
BARE_MODE_LOGGERS = (
    "streamlit.runtime.scriptrunner_utils.script_run_context",
    "streamlit.runtime.caching.cache_data_api",
    "streamlit.runtime.caching.cache_resource_api",
)


class Bench:
    def __init__(self, *, timeout: float):
        self.timeout = timeout
        self.threads_seen: set[int] = set()
        self.logs = LogCollector()

    def setup(self) -> dict:
        import streamlit.logger as st_logger
        from conftest import _pin_navigation_mode  # the same AppTest setup the tests use

        import deeplab_viz.threads as threads_mod

        real = threads_mod.use_app_threads

        def recording():  # app.py calls this at the start of every run
            n = real()
            self.threads_seen.add(n)
            return n

        threads_mod.use_app_threads = recording
        _pin_navigation_mode(_MonkeyPatch())
        main_threads = real()  # the bench's own thread too, as the app would
        self._st_logger = st_logger
        self.quiet_logs()
        return {"main_thread": main_threads, "rule": threads_mod.app_threads.__doc__}

    def quiet_logs(self) -> None:
        """Bare-mode chatter off; every other Streamlit warning is collected, not printed."""
        for name in BARE_MODE_LOGGERS:
            self._st_logger.get_logger(name)
        for name, lg in self._st_logger._loggers.items():
            if name in BARE_MODE_LOGGERS:
                lg.setLevel(logging.ERROR)
            for h in list(lg.handlers):
                if h is not self.logs:
                    lg.removeHandler(h)
            if self.logs not in lg.handlers:
                lg.addHandler(self.logs)

    def _apptest(self, page: str):
        from streamlit.testing.v1 import AppTest

        at = AppTest.from_file(str(APP), default_timeout=self.timeout)
        stem, tab = split_variant(page)
        if tab is not None:  # the tab travels in the link, as a shared link opens it
            at.query_params[page_tabs(stem)[0]] = tab
        if stem != HOME:
            at.switch_page(f"pages/{stem}.py")
        return at

    def run(self, at) -> tuple[float | None, str | None]:
        """One timed rerun: (seconds, None) or (seconds or None, the error)."""
        self.quiet_logs()  # loggers created during the last run
        errors_before = len(self.logs.errors)
        t0 = time.perf_counter()
        try:
            at.run()
        except Exception as exc:  # a timeout, an AppTest error: recorded, not raised
            return None, describe_error(exc)
        finally:
            dt = time.perf_counter() - t0
            self.quiet_logs()  # reading its config, Streamlit set its console handlers again
        if at.exception:
            msgs = self.logs.errors[errors_before:] or [
                str(e.value).splitlines()[0][:300] for e in at.exception
            ]
            return dt, "exception on the page: " + " | ".join(msgs)
        return dt, None

    def landed_on(self, at) -> str | None:
        try:
            info = at._registered_pages.get(at._finished_page_script_hash) or {}
            return Path(str(info["script_path"])).stem
        except Exception:  # private AppTest attributes: no check rather than a false alarm
            return None

    def open(self, page: str):
        at = self._apptest(page)
        dt, err = self.run(at)
        if err is None:
            landed = self.landed_on(at)
            if landed is not None and landed != split_variant(page)[0]:
                err = f"opened {landed!r} instead of {page!r}"
        return at, dt, err


def clear_page_data() -> None:
    """Empty ``st.cache_data``; decode the sidebar's default image again (outside the clock).

    Every session on a warm server uses the default image, so its decode is cached
    for a new visitor; the page's own cached data is not, on its first visit.
    """
    import streamlit as st

    from deeplab_viz.images import DEFAULT_MAX_SIDE
    from ui import cache

    st.cache_data.clear()
    cache.sample_image(cache.DEFAULT_SAMPLE, DEFAULT_MAX_SIDE)


def page_round(bench: Bench, page: str, widgets: list[dict], rotate: int, fail) -> dict:
    """One page in one fresh session: open, each widget there and back, then a cached open."""
    out: dict = {"open": None, "open_cached": None, "change": {}, "back": {}, "logs": []}
    out |= {"applied": {}, "restored": {}}
    before = len(bench.logs.records)
    clear_page_data()
    at, dt, err = bench.open(page)
    if err:
        fail("open", None, err)
        out["logs"] = bench.logs.records[before:]
        return out
    out["open"] = dt
    order = widgets[rotate % len(widgets) :] + widgets[: rotate % len(widgets)] if widgets else []
    for w in order:
        node = find_widget(at, w)
        if node is None:
            fail("change", w["key"] or w["id"], "widget not found on the page")
            continue
        original = current_state(node)
        try:
            apply_change(node, w["change"])
        except Exception as exc:
            fail("change", w["key"] or w["id"], f"{type(exc).__name__}: {exc}")
            continue
        dt, err = bench.run(at)
        if err:
            fail("change", w["key"] or w["id"], err)
            at, _, _ = bench.open(page)  # a fresh session for the next widget
            continue
        name = w["key"] or w["id"]
        out["change"][name] = dt
        node = find_widget(at, w)
        if node is None:
            fail("back", name, "widget gone after the change")
            at, _, _ = bench.open(page)
            continue
        out["applied"][name] = not same_state(node, original)  # else the rerun was a no-op
        force_state(node, original)
        dt, err = bench.run(at)
        if err:
            fail("back", name, err)
            at, _, _ = bench.open(page)
            continue
        out["back"][name] = dt
        node = find_widget(at, w)
        out["restored"][name] = node is not None and same_state(node, original)
    _, dt, err = bench.open(page)
    if err:
        fail("open_cached", None, err)
    else:
        out["open_cached"] = dt
    out["logs"] = bench.logs.records[before:]
    return out


# ----------------------------------------------------------------- the competing job


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Competitor:
    """A one-thread CPU job in a child process, running only inside :meth:`running`."""

    def __init__(self, kind: str):
        self.kind = kind
        self.description, self.code = COMPETITORS[kind]
        self.proc: subprocess.Popen | None = None
        self.blocks: list[dict] = []

    def start(self) -> None:
        env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _DIE_WITH_PARENT + self.code, str(os.getpid())],
            stdout=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            env=env,
            text=True,
        )
        line = self.proc.stdout.readline()  # torch imported, loop about to start
        if line.strip() != "ready":
            raise RuntimeError(f"the competing job did not start ({line!r})")
        os.kill(self.proc.pid, signal.SIGSTOP)

    @contextlib.contextmanager
    def running(self, label: str):
        os.kill(self.proc.pid, signal.SIGCONT)
        time.sleep(0.5)  # let it take its core
        cpu0, t0 = _cpu_seconds(self.proc.pid), time.perf_counter()
        try:
            yield
        finally:
            cpu, wall = _cpu_seconds(self.proc.pid) - cpu0, time.perf_counter() - t0
            os.kill(self.proc.pid, signal.SIGSTOP)
            self.blocks.append(
                {
                    "round": label,
                    "wall_s": round(wall, 2),
                    "cpu_s": round(cpu, 2),
                    "cpu_share": round(cpu / wall, 3) if wall > 0 else None,
                }
            )

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, signal.SIGCONT)
            self.proc.kill()
            self.proc.wait()

    def report(self) -> dict:
        shares = [b["cpu_share"] for b in self.blocks if b["cpu_share"] is not None]
        return {
            "kind": self.kind,
            "description": self.description,
            "code": self.code,
            "how": "started once, then SIGCONT for each contended block and SIGSTOP after it "
            "(0.5 s to settle before the block's clock starts)",
            "cpu_share_median": round(statistics.median(shares), 3) if shares else None,
            "blocks": self.blocks,
        }


# ----------------------------------------------------------------- report


def _load() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def machine_info() -> dict:
    import streamlit
    import torch

    cpu = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    from deeplab_viz.threads import available_cores

    return {
        "cpu_model": cpu or platform.processor(),
        "cpu_count": os.cpu_count(),
        "available_cores": available_cores(),
        "torch": torch.__version__,
        "streamlit": streamlit.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average_1min_start": _load(),
    }


def app_pages() -> dict[str, str]:
    """The app's pages in menu order, {file stem: title}, read from app.py's SECTIONS."""
    tree = ast.parse(APP.read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "SECTIONS" for t in node.targets
        ):
            sections = ast.literal_eval(node.value)
            pages = {
                Path(f).stem: title
                for items in sections.values()
                for f, title, _ in items
                if (ROOT / "pages" / f).exists()
            }
            out: dict[str, str] = {}
            for stem, title in pages.items():
                tabs = page_tabs(stem)
                if tabs is None:
                    out[stem] = title
                else:  # one entry per tab: only the open tab computes, so each is a page
                    for label in tabs[1]:
                        out[f"{stem}{TAB_SEP}{label}"] = f"{title} · {label}"
            return out
    raise RuntimeError("SECTIONS not found in app.py")


TAB_SEP = "@"  # "receptive_fields@3 · Effective RF": a page opened on one of its tabs


def split_variant(page: str) -> tuple[str, str | None]:
    """("receptive_fields", "3 · Effective RF") from a page entry; (stem, None) untabbed."""
    stem, sep, tab = page.partition(TAB_SEP)
    return stem, (tab if sep else None)


def page_tabs(stem: str) -> tuple[str, list[str]] | None:
    """The link key and labels of a page's ``links.tabs(st, LABELS, key=...)``, read from
    its source (None for a page without tabs)."""
    path = ROOT / "pages" / f"{stem}.py"
    if not path.exists():
        return None
    tree = ast.parse(path.read_text())
    lists = {
        t.id: node.value
        for node in tree.body
        if isinstance(node, ast.Assign)
        for t in node.targets
        if isinstance(t, ast.Name) and isinstance(node.value, ast.List)
    }
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "tabs"
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "links"
        ):
            key = next((k.value for k in node.keywords if k.arg == "key"), None)
            arg = node.args[1] if len(node.args) > 1 else None
            labels = lists.get(arg.id) if isinstance(arg, ast.Name) else arg
            if isinstance(key, ast.Constant) and isinstance(labels, ast.List):
                return key.value, [ast.literal_eval(e) for e in labels.elts]
            imported = _imported_labels(tree, arg)
            if isinstance(key, ast.Constant) and imported is not None:
                return key.value, imported
    return None


def _imported_labels(tree: ast.Module, arg: ast.expr | None) -> list[str] | None:
    """Tab labels a page takes from a ui module: ``from ui.m import TABS`` (``TABS``) or
    ``from ui import m as V`` (``V.TABS``), read by importing that module."""
    import importlib

    for node in tree.body:
        if not (isinstance(node, ast.ImportFrom) and (node.module or "").startswith("ui")):
            continue
        for alias in node.names:
            local = alias.asname or alias.name
            if isinstance(arg, ast.Name) and local == arg.id and node.module != "ui":
                value = getattr(importlib.import_module(node.module), alias.name)
            elif (
                isinstance(arg, ast.Attribute)
                and isinstance(arg.value, ast.Name)
                and local == arg.value.id
            ):
                module = importlib.import_module(f"{node.module}.{alias.name}")
                value = getattr(module, arg.attr)
            else:
                continue
            return [str(v) for v in value]
    return None


def build_report(state: dict) -> dict:
    """The JSON from what was measured so far."""
    conditions = {}
    for cond, per_page in state["runs"].items():
        pages = {}
        for page, rec in per_page.items():
            widgets = []
            for w in state["widgets"].get(page, []):
                name = w["key"] or w["id"]
                widgets.append(
                    {
                        "key": w["key"],
                        "label": w["label"],
                        "type": w["type"],
                        "from": w["change"]["from"],
                        "to": w["change"]["to"],
                        "change": summarize(rec["change"].get(name, [])),
                        "back": summarize(rec["back"].get(name, [])),
                        # rounds where the rerun showed the new value / the default again
                        "applied": rec["applied"].get(name, []).count(True),
                        "restored": rec["restored"].get(name, []).count(True),
                        "failures": [f for f in rec["failures"] if f["widget"] == name],
                    }
                )
            entry = {
                "title": state["pages"][page],
                "file": f"pages/{page}.py",
                "open": summarize(rec["open"]),
                "open_cached": summarize(rec["open_cached"]),
                "widgets": widgets,
                "failures": [f for f in rec["failures"] if f["widget"] is None],
                "log_warnings": sorted(set(rec["logs"])),
            }
            entry["budget"] = page_verdict(entry)
            pages[page] = entry
        conditions[cond] = {
            "load_average_1min": state["load"].get(cond, []),
            "pages": pages,
            "all_within_budget": all(p["budget"]["within_budget"] for p in pages.values()),
            "over_budget": [p for p, e in pages.items() if not e["budget"]["within_budget"]],
        }
    return {
        "schema": SCHEMA,
        "mode": state["mode"],
        "complete": state["complete"],
        "created_utc": state["created_utc"],
        "elapsed_s": round(time.perf_counter() - state["t0"], 1),
        "command": state["command"],
        "machine": {**state["machine"], "load_average_1min_end": _load()},
        "threads": state["threads"],
        "settings": state["settings"],
        "warm_and_cold": {
            "process": "before any timing: every import done, app.py run once, the app's "
            "warm-up thread (torchvision, captum, first FLOP trace) joined, then a warm-up "
            "round over every page and widget (not counted)",
            "st.cache_resource": "warm for everything a page and its widget changes use "
            "(models, probes, CRF and multi-scale results, random-weights copies): the "
            "warm-up round filled it",
            "st.cache_data": "cleared before each timed 'open'; the sidebar's default image "
            "is decoded again before the clock starts (any earlier session leaves it cached)",
            "open": "a fresh AppTest session's first run of the page (the link to the page "
            "opened in a new tab); its st.cache_data results computed as on a first visit",
            "open_cached": "the same in another fresh session right after: st.cache_data warm",
            "change": "in the session of that open, the widget set to another value: cached "
            "data for the new value is cold, the rest of the page warm",
            "back": "the widget set back to its default: everything warm",
            "timed": "AppTest.run() until it returns (script run finished, element tree "
            "parsed); no browser, no network",
        },
        "budgets": BUDGETS,
        "competitor": state["competitor"],
        "warmup": state["warmup"],
        "discovered": {
            page: {
                "measured": [
                    {k: w[k] for k in ("key", "label", "type")} for w in state["widgets"][page]
                ],
                "left_out": state["skipped"].get(page, []),
            }
            for page in state["widgets"]
        },
        "conditions": conditions,
        "failures": [
            f for per in state["runs"].values() for r in per.values() for f in r["failures"]
        ],
    }


def table(report: dict) -> str:
    lines = []
    for cond, c in report["conditions"].items():
        lines.append(f"\n{cond}" + (" (competing job on)" if cond == "contended" else ""))
        lines.append(
            f"{'page':<22} {'open median [q1–q3]':<24} {'worst widget median':<20} "
            f"{'which widget':<26} within budget?"
        )
        for page, e in c["pages"].items():
            o = e["open"]
            opened = f"{o['median_s']:.2f} s [{o['q1_s']:.2f}–{o['q3_s']:.2f}]" if o else "failed"
            worst = e["budget"]["worst_widget"]
            if worst:
                ww = f"{worst['median_s']:.2f} s"
                which = f"{worst['widget']} ({worst['direction']})"
            else:
                ww, which = "—", "(no widget)" if not e["widgets"] else "failed"
            ok = "yes" if e["budget"]["within_budget"] else "NO"
            n_failed = len(e["failures"]) + sum(len(w["failures"]) for w in e["widgets"])
            if n_failed:
                ok += f" ({n_failed} failed runs)"
            lines.append(f"{page:<22} {opened:<24} {ww:<20} {which:<26} {ok}")
    b = report["budgets"]
    lines.append(
        f"\nbudgets: page open ≤ {b['page_open_s']} s, widget change ≤ {b['widget_change_s']} s "
        "(medians); failures: " + str(len(report["failures"]))
    )
    return "\n".join(lines)


# ----------------------------------------------------------------- main


def warm_process(bench: Bench) -> dict:
    """Imports, the app's first run, its background warm-up thread: done before any clock."""
    t = time.perf_counter()
    _, first, err = bench.open(HOME)
    warm = {"first_app_run_s": round(first, 3) if first else None, "first_app_run_error": err}
    for th in threading.enumerate():
        if th.name == "atrous-warmup":
            th.join(timeout=300)
    with contextlib.suppress(Exception):
        from ui import warmup

        w = warmup.start()  # the process's one warm-up (st.cache_resource): its timings
        warm["app_warmup_ms"] = w.timings
        warm["app_warmup_error"] = w.error
    warm["process_warm_s"] = round(time.perf_counter() - t, 2)
    return warm


def warmup_round(bench: Bench, state: dict, max_widgets: int) -> None:
    """Every page once: finds its widgets and fills st.cache_resource; reported, not counted."""
    for page in state["pages"]:
        fails: list[dict] = []

        def fail(phase, widget, error, _page=page, _fails=fails):
            _fails.append(
                {"condition": "warmup", "round": 0, "page": _page, "phase": phase,
                 "widget": widget, "error": error}
            )  # fmt: skip

        clear_page_data()
        at, dt, err = bench.open(page)
        widgets, skipped = [], []
        if err:
            fail("open", None, err)
        else:
            widgets, skipped = discover(at, max_widgets)
        state["widgets"][page], state["skipped"][page] = widgets, skipped
        rec = page_round(bench, page, widgets, 0, fail)
        state["warmup"]["pages"][page] = {
            "first_open_s": round(dt, 3) if dt else None,
            "open_s": round(rec["open"], 3) if rec["open"] else None,
            "change_s": {k: round(v, 3) for k, v in rec["change"].items()},
            "back_s": {k: round(v, 3) for k, v in rec["back"].items()},
            "applied": rec["applied"],
            "failures": fails,
        }
        log(f"  warm-up {page}: open {dt or 0:.2f} s, {len(widgets)} widgets, "
            f"{len(fails)} failures")  # fmt: skip


def timed_round(bench: Bench, state: dict, r: int, cond: str) -> None:
    """Round ``r`` of condition ``cond``: every page, the order rotated by ``r``."""
    names = list(state["pages"])
    k = (r - 1) % len(names)
    for page in names[k:] + names[:k]:
        per = state["runs"][cond].setdefault(
            page,
            {"open": [], "open_cached": [], "change": {}, "back": {}, "applied": {},
             "restored": {}, "failures": [], "logs": []},
        )  # fmt: skip

        def fail(phase, widget, error, _page=page, _per=per):
            _per["failures"].append(
                {"condition": cond, "round": r, "page": _page, "phase": phase,
                 "widget": widget, "error": error}
            )  # fmt: skip

        rec = page_round(bench, page, state["widgets"][page], r - 1, fail)
        for what in ("open", "open_cached"):
            if rec[what] is not None:
                per[what].append(rec[what])
        for what in ("change", "back", "applied", "restored"):
            for key, v in rec[what].items():
                per[what].setdefault(key, []).append(v)
        per["logs"] += rec["logs"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="1 round, 2 pages, 1 widget each (CI)")
    ap.add_argument(
        "--contended", action="store_true", help="add the contended condition to --quick"
    )
    ap.add_argument("--no-contended", action="store_true", help="the quiet condition only")
    ap.add_argument("--repeats", type=int, default=None, help="timed rounds (default 5; quick 1)")
    ap.add_argument("--max-widgets", type=int, default=None, help="per page (default 8; quick 1)")
    ap.add_argument("--pages", default=None, help="comma-separated page file stems (default: all)")
    ap.add_argument("--competitor", default="torch", choices=sorted(COMPETITORS))
    ap.add_argument("--timeout", type=float, default=180.0, help="seconds one AppTest run may take")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)

    all_pages = app_pages()
    if args.pages:
        asked = [p.strip().removesuffix(".py") for p in args.pages.split(",") if p.strip()]
        unknown = [
            p for p in asked if not any(split_variant(q)[0] == p or q == p for q in all_pages)
        ]
        if unknown:
            ap.error(f"unknown pages {unknown}; the app has {list(all_pages)}")
        wanted = [q for q in all_pages if q in asked or split_variant(q)[0] in asked]
    else:
        wanted = list(QUICK_PAGES if args.quick else all_pages)
    repeats = args.repeats if args.repeats is not None else (1 if args.quick else 5)
    max_widgets = args.max_widgets if args.max_widgets is not None else (1 if args.quick else 8)
    contended = not args.no_contended and (args.contended or not args.quick)
    conditions = ["quiet", "contended"] if contended else ["quiet"]

    log(f"page_latency: {len(wanted)} pages, {repeats} rounds, conditions {conditions}")
    t0 = time.perf_counter()
    bench = Bench(timeout=args.timeout)
    threads = bench.setup()  # before the app's modules: their import logs bare-mode chatter

    import torch

    from deeplab_viz.inference import DEFAULT_SIZE
    from deeplab_viz.models.registry import DEFAULT_MODEL, resolve_device
    from ui.cache import DEFAULT_SAMPLE

    device = resolve_device("auto")
    out = args.out or ROOT / "bench" / "results" / f"page_latency-{device}.json"
    state: dict = {
        "t0": t0,
        "mode": "quick" if args.quick else "full",
        "complete": False,
        "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(["bench/page_latency.py", *(sys.argv[1:] if argv is None else argv)]),
        "machine": machine_info(),
        "pages": {p: all_pages[p] for p in wanted},
        "widgets": {},
        "skipped": {},
        "runs": {c: {} for c in conditions},
        "load": {c: [] for c in conditions},
        "warmup": {"process": None, "pages": {}},
        "competitor": None,
    }

    def write() -> dict:
        report = build_report(state)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n")
        return report

    state["warmup"]["process"] = warm_process(bench)
    state["threads"] = {
        "app_threads": sorted(bench.threads_seen),  # what app.py set in its runs
        "bench_main_thread": threads["main_thread"],
        "torch_interop_threads": torch.get_num_interop_threads(),
        "rule": "deeplab_viz.threads.use_app_threads(), called by app.py at the start of every "
        "run (recorded here from those calls): " + " ".join((threads["rule"] or "").split()),
    }
    state["settings"] = {
        "pages": wanted,
        "repeats": repeats,
        "warmup_rounds": 1,
        "max_widgets_per_page": max_widgets,
        "widget_types": list(WIDGET_TYPES),
        "change_rules": CHANGE_RULES,
        "conditions": conditions,
        "statistic": "median of the rounds, quartiles (inclusive method), min, max",
        "interleaving": "each round runs every page once per condition; the page order "
        "rotates by one from round to round (so do the widgets within a page), and the "
        "order of the conditions alternates",
        "defaults": {"model": DEFAULT_MODEL, "image": DEFAULT_SAMPLE, "working_size": DEFAULT_SIZE},
        "device": device,
        "run_timeout_s": args.timeout,
    }
    warmup_round(bench, state, max_widgets)
    write()

    competitor = Competitor(args.competitor) if contended else None
    try:
        if competitor is not None:
            competitor.start()
        for r in range(1, repeats + 1):
            for cond in conditions if r % 2 else conditions[::-1]:
                state["load"][cond].append(_load())
                if cond == "contended":
                    with competitor.running(str(r)):
                        timed_round(bench, state, r, cond)
                else:
                    timed_round(bench, state, r, cond)
                log(f"  round {r}/{repeats} {cond}: done at "
                    f"{time.perf_counter() - state['t0']:.0f} s")  # fmt: skip
            if competitor is not None:
                state["competitor"] = competitor.report()
            write()
    finally:
        if competitor is not None:
            competitor.stop()
            state["competitor"] = competitor.report()
    state["complete"] = True
    report = write()
    print(table(report))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
