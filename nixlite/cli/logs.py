"""How commands show what the library reports (``nixlite.activity``): Nix's ``--log-format``.

* ``raw``: plain lines, byte for byte what ``nix-build`` prints (the plan, ``building
  '…'...``, warnings, ``-L``'s log lines).  The default when standard error is not a
  terminal, or ``CI`` is set, or ``TERM=dumb``.
* ``bar``: the same lines, and under them one status line redrawn in place (at most ten
  times a second, from its own thread, so builds never wait for the terminal):
  ``[1/2/5 built, 3 copied (1.2/4.0 MiB), 0.8 MiB DL, 2.1 MiB/s] building hello: make[1]: …``
  — derivations running/done/expected, paths (or image layers) copied with their bytes,
  bytes downloaded, the transfer rate, and the newest activity with its last log line.
  Cut to the terminal's width (read at every redraw, so a resize is followed), and erased
  when the command ends, before its result or ``error:`` line.
* ``bar-with-logs``: the bar, and every build log line above it as ``NAME> line``.
* ``internal-json`` (alias ``json``): Nix's ``@nix {…}`` lines: ``start``/``stop``/
  ``result``/``msg`` with Nix's activity and result types, fields and levels.

``-v`` (repeatable) and ``--quiet`` (repeatable) move the verbosity up and down from
Nix's default (``info``), as in Nix.
"""

from __future__ import annotations

import contextlib
import os
import sys

from nixlite.activity import LineLogger, Logger, Verbosity

FORMATS = ("raw", "bar", "bar-with-logs", "internal-json", "json")


def add_arguments(p, quiet_flags: tuple[str, ...] = ("--quiet",),
                  quiet_help: str = "say less (repeatable): no plan, no 'building' lines") -> None:
    p.add_argument("-v", "--verbose", action="count", default=0,
                   help="say more (repeatable), as Nix's -v")
    p.add_argument(*quiet_flags, dest="quiet", action="count", default=0, help=quiet_help)
    p.add_argument("--log-format", choices=FORMATS, metavar="FORMAT",
                   help="raw, bar, bar-with-logs, internal-json (or json); default: bar on a "
                        "terminal, raw in a pipe or when CI is set")


def choose_format(requested: str | None, stream, environ) -> str:
    """The format asked for, else a bar only where someone watches a terminal."""
    if requested:
        return "internal-json" if requested == "json" else requested
    try:
        tty = stream.isatty()
    except (AttributeError, ValueError):
        tty = False
    if tty and environ.get("TERM", "") != "dumb" and not environ.get("CI"):
        return "bar"
    return "raw"


def make_logger(args, stream=None, environ=None) -> Logger:
    """The logger the command line asks for (``args`` from ``add_arguments``; ``-L`` too)."""
    stream = stream or sys.stderr
    environ = os.environ if environ is None else environ
    verbosity = Verbosity(max(Verbosity.ERROR, min(Verbosity.VOMIT, Verbosity.INFO
                                                   + getattr(args, "verbose", 0)
                                                   - getattr(args, "quiet", 0))))
    fmt = choose_format(getattr(args, "log_format", None), stream, environ)
    build_logs = bool(getattr(args, "print_build_logs", False))
    if fmt == "internal-json":
        from nixlite.cli.renderers import JSONLogger

        return JSONLogger(stream, verbosity)
    if fmt in ("bar", "bar-with-logs"):
        from nixlite.cli.renderers import BarLogger

        return BarLogger(stream, verbosity, build_logs or fmt == "bar-with-logs",
                         colour=not environ.get("NO_COLOR"), ascii_only=not _utf8_terminal(environ))
    return LineLogger(_stderr_writer(stream), verbosity, build_logs)


def _stderr_writer(stream):
    def write_line(line: str) -> None:
        stream.write(line + "\n")
        stream.flush()
    return write_line


def _utf8_terminal(environ) -> bool:
    """Whether the user's locale shows UTF-8 (Python forces UTF-8 on a C locale, so the
    locale the user chose is read from the environment, as the terminal sees it)."""
    if sys.flags.utf8_mode and environ.get("LC_CTYPE") == "C.UTF-8" and not environ.get("LC_ALL"):
        return False  # coerced from the C locale (PEP 538)
    for name in ("LC_ALL", "LC_CTYPE", "LANG"):
        value = environ.get(name)
        if value:
            return "utf-8" in value.lower() or "utf8" in value.lower()
    return False


# --- the command's session ------------------------------------------------------------------
_current: list[Logger] = []


@contextlib.contextmanager
def session(args):
    """The command's logger, as ``args.logger``, stopped (its bar erased) when it ends."""
    logger = make_logger(args)
    args.logger = logger
    _current.append(logger)
    try:
        yield logger
    finally:
        _current.pop()
        stop = getattr(logger, "stop", None)
        if stop is not None:
            stop()


def current() -> Logger | None:
    return _current[-1] if _current else None


def clear() -> None:
    """Erase the command's bar (before a result goes to standard output); news draws it
    again."""
    erase = getattr(current(), "erase", None)
    if erase is not None:
        erase()


def report_error(rendered: str, message: str | None = None, pos=None) -> bool:
    """Show a final error through the command's logger if it needs to (a bar is erased
    first, JSON becomes a ``msg``); False when the caller should print it as text."""
    error = getattr(current(), "error", None)
    if error is not None:
        error(rendered, message if message is not None else rendered, pos)
        return True
    clear()
    return False
