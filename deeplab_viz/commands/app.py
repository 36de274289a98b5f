"""``atrous-lab app``: start the Streamlit app (the same as ``streamlit run app.py``).

The app's files (``app.py``, ``pages/``, ``ui/``, ``lessons/``, ``.streamlit/``) are
found in the repository checkout beside this package, or where ``pip install .`` put
them (``<prefix>/share/atrous-lab``, the wheel's data files). Streamlit runs with that
folder as its working directory, so the shipped ``.streamlit/config.toml`` applies
(upload cap, no tracebacks in the browser, no file watcher).

``--where`` prints one JSON line (``app``: the entry file, ``ok``) and starts nothing.
Extra arguments after ``--`` go to ``streamlit run`` (``-- --server.port 8600``).
The command becomes the streamlit process (same pid). Exit codes: streamlit's own, 1 when the app's files are not found, 2 usage error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import sysconfig
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent  # deeplab_viz/
SHARE = Path("share") / "atrous-lab"  # the wheel's data files, under the install prefix
NEEDED = ("app.py", "pages", "ui", "lessons")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "app",
        help="start the Streamlit app (streamlit run app.py)",
        description="Start the app in a browser tab; arguments after -- go to streamlit run.",
    )
    p.add_argument("--where", action="store_true", help="print where the app is; start nothing")
    p.add_argument("streamlit_args", nargs=argparse.REMAINDER, metavar="-- ARGS")
    p.set_defaults(func=cmd_app)


def candidates() -> list[Path]:
    """Folders that may hold the app, most specific first."""
    roots = [
        PACKAGE.parent,  # a checkout: the repository root beside deeplab_viz/
        Path(sysconfig.get_path("data")) / SHARE,  # pip install . into this environment
        Path(sys.prefix) / SHARE,
    ]
    # pip install --prefix P / --target T: the package sits in P/lib/pythonX.Y/site-packages
    # or in T itself, and the data files beside it
    roots += [parent / SHARE for parent in PACKAGE.parents[:4]]
    return list(dict.fromkeys(roots))


def find_app() -> Path | None:
    """The app's entry file, or None when no candidate folder holds all its parts."""
    for root in candidates():
        if all((root / part).exists() for part in NEEDED):
            return root / "app.py"
    return None


def cmd_app(args: argparse.Namespace) -> int:
    app = find_app()
    if app is None:
        where = ", ".join(str(c) for c in candidates())
        print(f"the app's files (app.py, pages/, ui/) are not in any of: {where}", file=sys.stderr)
        return 1
    if args.where:
        print(json.dumps({"ok": True, "app": str(app)}))
        return 0
    extra = list(args.streamlit_args)
    if extra[:1] == ["--"]:
        extra = extra[1:]
    cmd = [sys.executable, "-m", "streamlit", "run", str(app), *extra]
    sys.stdout.flush()
    os.chdir(app.parent)  # streamlit reads .streamlit/config.toml from here
    os.execv(sys.executable, cmd)  # streamlit takes this process over: signals reach it
    return 0  # not reached
