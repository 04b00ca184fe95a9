"""Command-line entry point.

Each subcommand lives in its own module (``nixlite/cli/<name>_cmd.py``) exposing
``register(subparsers)``, which adds its parser and sets ``func`` to a callable
``(args) -> int``.  Only the module of the command being run is imported (``--help``
and bad command lines import them all, to list them); the heavy stages a command uses
are imported only when it runs.

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

COMMAND_MODULES = {
    "parse": "parse_cmd",
    "eval": "eval_cmd",
    "instantiate": "instantiate_cmd",
    "build": "build_cmd",
    "store": "store_cmd",
    "image": "image_cmd",
    "plan": "plan_cmd",
    "compare": "compare_cmd",
}


class _Parser(argparse.ArgumentParser):
    """argparse with Nix's habits for bad command lines: ``error: …`` and exit status 1
    (argparse's own is a usage dump and status 2)."""

    def error(self, message: str):
        unknown = re.match(r"unrecognized arguments: (\S+)", message)
        command = re.match(r"argument COMMAND: invalid choice: '([^']*)'", message)
        needs = re.match(r"argument ([^/:\s]+)[^:]*: expected (one|\d+) arguments?", message)
        if unknown:
            message = f"unrecognised flag '{unknown.group(1)}'"
        elif command:
            message = f"'{command.group(1)}' is not a recognised command"
        elif needs:
            flag, count = needs.group(1), needs.group(2)
            if count == "one":
                message = f"'{flag}' requires an argument"
            else:
                message = f"flag '{flag}' requires {count} argument(s)"
        self.exit(1, f"error: {message}\nTry '{self.prog} --help' for more information.\n")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The command line's parser, with only ``command``'s subcommand when it names one,
    else with every subcommand."""
    parser = _Parser(
        prog="nixlite",
        description="Nix without Nix, for container recipes.",
    )
    parser.add_argument("--version", action="version", version=f"nixlite {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    names = [command] if command in COMMAND_MODULES else list(COMMAND_MODULES)
    for name in names:
        importlib.import_module(f"nixlite.cli.{COMMAND_MODULES[name]}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line ``argv`` (default: this program's arguments); the status."""
    if argv is not None:
        return _run(argv)
    status = _run(sys.argv[1:])
    # The process ends now: spare it the cyclic GC's last pass over everything still
    # alive (on a large evaluation that pass cost more than the evaluation itself).
    # Nothing is lost: memory goes back with the process, and exit handlers still run.
    import gc

    gc.freeze()
    return status


def _run(argv: list[str]) -> int:
    command = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(command)
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.error("no subcommand specified")
    if not hasattr(args, "log_format"):  # a command that reports no progress
        return _dispatch(args)
    from nixlite.cli import logs

    with logs.session(args):
        return _dispatch(args)


def _dispatch(args) -> int:
    """Run the command; errors are shown through its logger when it has one (a bar is
    erased first, internal-json gets a ``msg``)."""
    try:
        return args.func(args)
    except NixliteError as exc:
        sys.stdout.flush()
        if not _reported(args, exc.render(), exc.message, exc.pos):
            write_bytes(sys.stderr, exc.render() + "\n")
        return 1
    except KeyboardInterrupt:
        if not _reported(args, "error: interrupted by the user", "interrupted by the user"):
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


def _reported(args, rendered: str, message: str, pos=None) -> bool:
    """Whether the command's logger showed the error itself (commands without one do not)."""
    if not hasattr(args, "log_format"):
        return False
    from nixlite.cli import logs

    return logs.report_error(rendered, message, pos)


def _want_traceback() -> bool:
    import os

    return os.environ.get("NIXLITE_TRACEBACK", "") not in ("", "0")
