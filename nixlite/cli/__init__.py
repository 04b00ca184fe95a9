"""Command-line entry point.

Each subcommand lives in its own module (``nixlite/cli/<name>_cmd.py``) exposing
``register(subparsers)``, which adds its parser and sets ``func`` to a callable
``(args) -> int``.  Modules are listed here so ``--help`` shows every command; the
heavy stages they use are imported only when the command runs.

This package owns all printing of errors and every exit status: stages raise
``nixlite.errors.NixliteError`` (or a subclass) and never print or exit.
"""

from __future__ import annotations

import argparse
import importlib
import re
import sys

from nixlite import __version__
from nixlite.cli.output import write_bytes
from nixlite.errors import NixliteError

COMMAND_MODULES = (
    "parse_cmd",
    "eval_cmd",
    "instantiate_cmd",
    "build_cmd",
    "store_cmd",
    "image_cmd",
)


class _Parser(argparse.ArgumentParser):
    """argparse with Nix's habits for bad command lines: ``error: …`` and exit status 1
    (argparse's own is a usage dump and status 2)."""

    def error(self, message: str):
        unknown = re.match(r"unrecognized arguments: (\S+)", message)
        needs = re.match(r"argument ([^/:\s]+)[^:]*: expected (one|\d+) arguments?", message)
        if unknown:
            message = f"unrecognised flag '{unknown.group(1)}'"
        elif needs:
            flag, count = needs.group(1), needs.group(2)
            if count == "one":
                message = f"'{flag}' requires an argument"
            else:
                message = f"flag '{flag}' requires {count} argument(s)"
        self.exit(1, f"error: {message}\nTry '{self.prog} --help' for more information.\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="nixlite",
        description="Nix without Nix, for container recipes.",
    )
    parser.add_argument("--version", action="version", version=f"nixlite {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"nixlite.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"nixlite.cli.{name}":
                continue  # command not built yet
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return args.func(args)
    except NixliteError as exc:
        sys.stdout.flush()
        write_bytes(sys.stderr, exc.render() + "\n")
        return 1
    except KeyboardInterrupt:
        sys.stderr.write("error: interrupted by the user\n")
        return 130
    except BrokenPipeError:
        return 1
    except RecursionError:
        sys.stderr.write("error: stack overflow (possible infinite recursion)\n")
        return 1
    except Exception as exc:  # a bug in nixlite: never a bare traceback
        sys.stderr.write(
            f"error: internal error in nixlite: {type(exc).__name__}: {exc}\n"
            "(this is a bug in nixlite; set NIXLITE_TRACEBACK=1 to see where it happened)\n"
        )
        if _want_traceback():
            import traceback

            traceback.print_exc()
        return 1


def _want_traceback() -> bool:
    import os

    return os.environ.get("NIXLITE_TRACEBACK", "") not in ("", "0")
