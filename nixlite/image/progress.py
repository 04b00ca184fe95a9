"""Progress of long image operations (pull, push, convert, layer writing), reported as
activities (``nixlite.activity``) to whoever listens.

The library only counts; the command line decides whether and how to show it (a bar on a
terminal, nothing in a pipe, Nix's internal-json).  A phase (``begin`` … ``end``) is one
activity counting layers (Nix's "copy paths": ``2/5 copied``) with a child counting bytes
(a download for pulls and pushes, a copy otherwise).  Inside a build, ``for_build`` reports
the layers as the build's phase instead (``building hello (writing layer 2 of 5)``).
Every method may be called from several threads at once.
"""

from __future__ import annotations

import threading
import time
from typing import IO

from nixlite.activity import NOBODY, Activity, ActivityType, Logger, Verbosity


class Progress:
    """Counts bytes moved and layers finished, and reports them to ``logger`` (by default,
    to nobody) under ``parent``."""

    def __init__(self, logger: Logger = NOBODY, parent: Activity | None = None) -> None:
        self._lock = threading.Lock()
        self.logger = logger
        self.parent = parent
        self.action = ""
        self.layers_total = 0
        self.layers_done = 0
        self.bytes_total: int | None = None
        self.bytes_done = 0
        self._layers: Activity | None = None
        self._bytes: Activity | None = None

    def begin(self, action: str, layers: int, total_bytes: int | None = None) -> None:
        """A new phase: ``action`` (e.g. 'pulling'), how many layers and (if known) bytes."""
        self.end()
        with self._lock:
            self.action, self.layers_total, self.bytes_total = action, layers, total_bytes
            self.layers_done = self.bytes_done = 0
        if self.logger is NOBODY:
            return
        self._layers = self.logger.activity(
            ActivityType.COPY_PATHS, f"{action} {layers} layer{'s' * (layers != 1)}",
            level=Verbosity.TALKATIVE, parent=self.parent)
        self._layers.progress(0, layers)
        kind = ActivityType.FILE_TRANSFER if action in ("pulling", "pushing") else ActivityType.COPY_PATH
        self._bytes = self._layers.child(kind)
        self._bytes.progress(0, total_bytes or 0)

    def transferred(self, n: int) -> None:
        with self._lock:
            self.bytes_done += n
            done = self.bytes_done
        if self._bytes is not None:
            self._bytes.progress(done, self.bytes_total or 0)

    def layer_done(self) -> None:
        with self._lock:
            self.layers_done += 1
            done = self.layers_done
        if self._layers is not None:
            self._layers.progress(done, self.layers_total)

    def end(self) -> None:
        """The phase is over (successfully or not)."""
        for act in (self._bytes, self._layers):
            if act is not None:
                act.stop()
        self._bytes = self._layers = None

    def counting(self, out: IO[bytes]) -> IO[bytes]:
        """``out`` with every write counted as transferred bytes."""
        return _CountingWriter(out, self)


class BuildPhase(Progress):
    """What a build step moves, as its build's phase: ``pulling layer 2 of 5, 3.1 MiB``, or
    ``writing output, 12.0 MiB`` when there are no layers to count (the bytes refreshed at
    most twice a second)."""

    def __init__(self, build: Activity) -> None:
        super().__init__(NOBODY)
        self.build = build
        self._said = 0.0

    def begin(self, action: str, layers: int, total_bytes: int | None = None) -> None:
        super().begin(action, layers, total_bytes)
        self._say(force=True)

    def transferred(self, n: int) -> None:
        super().transferred(n)
        self._say()

    def layer_done(self) -> None:
        super().layer_done()
        self._say(force=True)

    def _say(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._said < 0.5:
            return
        self._said = now
        what = self.action
        if self.layers_total:
            what += f" layer {min(self.layers_done + 1, self.layers_total)} of {self.layers_total}"
        if self.bytes_done:
            what += f", {self.bytes_done / 1048576:.1f} MiB"
        self.build.phase(what)


class _CountingWriter:
    """A binary writer passing writes through and counting them."""

    def __init__(self, out: IO[bytes], progress: Progress) -> None:
        self._out = out
        self._progress = progress

    def write(self, data) -> int:
        n = self._out.write(data)
        self._progress.transferred(len(data))
        return n

    def __getattr__(self, name: str):
        return getattr(self._out, name)
