"""``python -m deeplab_viz`` / ``atrous-lab``: the same library functions the app's pages use.

Every subcommand is a module in :mod:`deeplab_viz.commands` with ``register(subparsers)``;
this module only gathers them and turns errors into exit codes.
Exit codes: 0 all went well, 1 some inputs (or the model) failed, 2 usage errors.
Every error is one line on stderr; results are JSON on stdout.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from . import weights as W
from .commands import Parser, UsageError


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="python -m deeplab_viz",
        description="Atrous Lab on the command line: the functions the app's pages use.",
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    for module in _command_modules():
        module.register(sub)
    return parser


FIRST = ("segment", "models", "eval_voc")  # listed first in --help: what most people want


def _command_modules():
    """Subcommand modules in deeplab_viz.commands: FIRST, then the rest in name order."""
    import importlib
    import pkgutil

    from . import commands

    names = sorted(i.name for i in pkgutil.iter_modules(commands.__path__))
    for name in sorted(names, key=lambda n: (FIRST.index(n) if n in FIRST else len(FIRST), n)):
        yield importlib.import_module(f"{commands.__name__}.{name}")


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        return args.func(args)
    except UsageError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    except W.WeightsUnavailable as exc:
        print(f"model unavailable: {exc.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
