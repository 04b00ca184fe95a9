"""Progress of long image operations (pull, push, convert), reported to whoever listens.

The library only counts; the command line decides whether and how to show it (on a
terminal, never in a pipe).  Every method may be called from several threads at once.
"""

from __future__ import annotations

import threading
from typing import IO


class Progress:
    """Counts bytes moved and layers finished; subclasses show them (``changed``)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.action = ""
        self.layers_total = 0
        self.layers_done = 0
        self.bytes_total: int | None = None
        self.bytes_done = 0

    def begin(self, action: str, layers: int, total_bytes: int | None = None) -> None:
        """A new phase: ``action`` (e.g. 'pulling'), how many layers and (if known) bytes."""
        with self._lock:
            self.action, self.layers_total, self.bytes_total = action, layers, total_bytes
            self.layers_done = self.bytes_done = 0
        self.changed()

    def transferred(self, n: int) -> None:
        with self._lock:
            self.bytes_done += n
        self.changed()

    def layer_done(self) -> None:
        with self._lock:
            self.layers_done += 1
        self.changed()

    def end(self) -> None:
        """The phase is over (successfully or not)."""

    def changed(self) -> None:
        """Called after every update; the default shows nothing."""

    def counting(self, out: IO[bytes]) -> IO[bytes]:
        """``out`` with every write counted as transferred bytes."""
        return _CountingWriter(out, self)


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
