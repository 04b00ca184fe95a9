"""Activities: what long operations (builds, substitutions, transfers, layer writing) tell
whoever shows their progress, in Nix's vocabulary.

The library only reports; the command line decides how to show it (``nixlite.cli.logs``:
a status bar on a terminal, plain lines in a pipe, Nix's ``internal-json``).  The model is
Nix's logger: an *activity* is started with a type, a verbosity level, a text and typed
fields, receives *results* (a build log line, progress counts, a phase) and is stopped;
plain *messages* have a level too.  The numbers below are Nix's, so a tool that reads
``nix … --log-format internal-json`` reads ours.

Every method may be called from several threads at once.
"""

from __future__ import annotations

import enum
import _thread
import itertools
import os
from collections.abc import Callable


class Verbosity(enum.IntEnum):
    ERROR = 0
    WARN = 1
    NOTICE = 2
    INFO = 3        # the default: what nix-build prints
    TALKATIVE = 4
    CHATTY = 5
    DEBUG = 6
    VOMIT = 7


class ActivityType(enum.IntEnum):
    UNKNOWN = 0
    COPY_PATH = 100        # fields: path, source, destination; progress in bytes
    FILE_TRANSFER = 101    # fields: URL; progress in bytes
    REALISE = 102
    COPY_PATHS = 103       # progress in paths (or layers)
    BUILDS = 104           # progress in derivations
    BUILD = 105            # fields: drv path, machine, round, rounds
    OPTIMISE_STORE = 106
    VERIFY_PATHS = 107
    SUBSTITUTE = 108       # fields: path, substituter
    QUERY_PATH_INFO = 109
    POST_BUILD_HOOK = 110
    BUILD_WAITING = 111
    FETCH_TREE = 112


class ResultType(enum.IntEnum):
    FILE_LINKED = 100
    BUILD_LOG_LINE = 101   # fields: the line
    UNTRUSTED_PATH = 102
    CORRUPTED_PATH = 103
    SET_PHASE = 104        # fields: the phase
    PROGRESS = 105         # fields: done, expected, running, failed
    SET_EXPECTED = 106     # fields: activity type, expected
    POST_BUILD_LOG_LINE = 107
    FETCH_STATUS = 108


_ids = itertools.count()


def _next_id() -> int:
    """Nix's activity ids: a counter in the low 32 bits, the process id above."""
    return next(_ids) + (os.getpid() << 32)


class Logger:
    """Receives messages and activity events.  This one drops them all: a library used
    without a command line reports to nobody.  Subclasses override the four hooks."""

    #: build log lines are shown as they come (``-L``): failures then omit the log's tail
    shows_build_logs = False

    def log(self, level: Verbosity, text: str) -> None:
        """A message (one or more lines, without the final newline)."""

    def started(self, act: "Activity") -> None:
        """``act`` has started."""

    def stopped(self, act: "Activity") -> None:
        """``act`` has stopped (each activity stops once)."""

    def result(self, act: "Activity", kind: ResultType, fields: tuple) -> None:
        """``act`` reports a result."""

    def activity(self, kind: ActivityType, text: str = "", fields: tuple = (),
                 level: Verbosity = Verbosity.ERROR, parent: "Activity | None" = None) -> "Activity":
        """Start an activity (stop it with ``stop()`` or a ``with`` block)."""
        act = Activity(self, kind, text, fields, level, parent.id if parent is not None else 0)
        self.started(act)
        return act


class Activity:
    """One started activity; its results go to its logger."""

    __slots__ = ("logger", "id", "type", "text", "fields", "level", "parent", "_stopped")

    def __init__(self, logger: Logger, kind: ActivityType, text: str, fields: tuple,
                 level: Verbosity, parent: int) -> None:
        self.logger = logger
        self.id = _next_id()
        self.type = kind
        self.text = text
        self.fields = tuple(fields)
        self.level = level
        self.parent = parent
        self._stopped = False

    def result(self, kind: ResultType, *fields) -> None:
        self.logger.result(self, kind, fields)

    def progress(self, done: int, expected: int = 0, running: int = 0, failed: int = 0) -> None:
        self.logger.result(self, ResultType.PROGRESS, (done, expected, running, failed))

    def set_expected(self, kind: ActivityType, expected: int) -> None:
        self.logger.result(self, ResultType.SET_EXPECTED, (int(kind), expected))

    def phase(self, name: str) -> None:
        self.logger.result(self, ResultType.SET_PHASE, (name,))

    def log_line(self, line: str) -> None:
        self.logger.result(self, ResultType.BUILD_LOG_LINE, (line,))

    def child(self, kind: ActivityType, text: str = "", fields: tuple = (),
              level: Verbosity = Verbosity.ERROR) -> "Activity":
        return self.logger.activity(kind, text, fields, level, parent=self)

    def stop(self) -> None:
        if not self._stopped:
            self._stopped = True
            self.logger.stopped(self)

    def __enter__(self) -> "Activity":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


NOBODY = Logger()


def to_stderr() -> "LineLogger":
    """Plain lines on standard error: what library code reports when no command line
    chose otherwise."""
    import sys

    def write_line(line: str) -> None:
        sys.stderr.write(line + "\n")
        sys.stderr.flush()

    return LineLogger(write_line)


def detached() -> Activity:
    """An activity nobody hears of (the default for code run outside a command)."""
    return NOBODY.activity(ActivityType.UNKNOWN)


class LineLogger(Logger):
    """Plain lines, as Nix's default ("raw") logger writes them: messages and the texts of
    activities at or below ``verbosity`` (an activity's text followed by ``...``), build
    log lines only when ``build_logs``.  ``write_line`` gets each line without its newline."""

    def __init__(self, write_line: Callable[[str], None], verbosity: Verbosity = Verbosity.INFO,
                 build_logs: bool = False) -> None:
        self.write_line = write_line
        self.verbosity = verbosity
        self.shows_build_logs = build_logs
        self._lock = _thread.allocate_lock()  # (not threading: an evaluation never imports it)

    def log(self, level: Verbosity, text: str) -> None:
        if level <= self.verbosity:
            with self._lock:
                self.write_line(text)

    def started(self, act: Activity) -> None:
        if act.text and act.level <= self.verbosity:
            with self._lock:
                self.write_line(act.text + "...")

    def result(self, act: Activity, kind: ResultType, fields: tuple) -> None:
        if kind == ResultType.BUILD_LOG_LINE and self.shows_build_logs:
            with self._lock:
                self.write_line(fields[0])
