"""Pieces shared by the CLI's subcommands.

Each module here (besides this one) defines ``register(subparsers)``, which adds
its subcommand(s) with ``set_defaults(func=...)``; ``deeplab_viz.cli`` calls them.
A command returns its exit code and raises :class:`UsageError` for bad arguments.
"""

from __future__ import annotations

import argparse


class UsageError(Exception):
    """Bad arguments: reported in one line on stderr, exit code 2."""


class Parser(argparse.ArgumentParser):
    """argparse that reports a usage error as one line (no usage dump)."""

    def error(self, message: str) -> None:
        raise UsageError(f"{self.prog}: {message} (see --help)")


def positive_int(text: str) -> int:
    """argparse type: a whole number ≥ 1, or a one-line error."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number ≥ 1, got {text!r}")
    return value
