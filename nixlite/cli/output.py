"""Writing text that may carry bytes which are not UTF-8.

Nix strings and source files are bytes; nixlite reads them with
``surrogateescape``, so writing them back this way gives the same bytes."""

from __future__ import annotations


def write_bytes(stream, text: str) -> None:
    """Write ``text`` to ``stream`` (stdout/stderr), surrogate escapes as raw bytes."""
    buffer = getattr(stream, "buffer", None)
    if buffer is not None:
        stream.flush()
        buffer.write(text.encode("utf-8", "surrogateescape"))
        buffer.flush()
    else:
        stream.write(text)
        stream.flush()
