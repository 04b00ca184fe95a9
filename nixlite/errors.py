"""Errors shared by every stage, and how they are shown to users.

Stages raise these; only ``nixlite.cli`` prints them: ``error: MESSAGE``, then
``at FILE:LINE:COL:`` and the source lines with a caret under the column.
"""

from __future__ import annotations

import re


class Pos:
    """A source position: 1-based line and column, as Nix prints them.

    ``file`` is the path as Nix would print it (``«string»`` for ``-E`` text,
    ``«stdin»`` for standard input).  ``source`` optionally carries the whole
    text, so errors can show the offending line without re-reading the file.
    A value: equal when its fields are, never changed.  (A plain class, not a
    dataclass: every command imports this module, and ``dataclasses`` costs
    milliseconds of start-up.)
    """

    __slots__ = ("file", "line", "col", "source")

    def __init__(self, file: str, line: int, col: int, source: str | None = None) -> None:
        object.__setattr__(self, "file", file)
        object.__setattr__(self, "line", line)
        object.__setattr__(self, "col", col)
        object.__setattr__(self, "source", source)

    def __setattr__(self, name, value):
        raise AttributeError(f"cannot assign to field '{name}'")

    def _key(self) -> tuple:
        return (self.file, self.line, self.col, self.source)

    def __reduce__(self):
        return (Pos, self._key())

    def __eq__(self, other) -> bool:
        return type(other) is Pos and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return f"Pos({self.file!r}, {self.line}, {self.col})"

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


class NixliteError(Exception):
    """Base of every error a user may see; ``render()`` gives the text to print."""

    def __init__(self, message: str, pos: Pos | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.pos = pos

    def render(self) -> str:
        """``error: MESSAGE``, then a blank line and ``render_pos``'s excerpt: the layout
        of Nix 2.8, which ``nixlite eval`` prints for every error (its goldens are 2.8's),
        so a parse error reads the same from ``nixlite parse`` and ``nixlite eval``."""
        text = "error: " + indent_message(self.message)
        if self.pos is not None:
            text += "\n\n" + render_pos(self.pos)
        return text


class SetupError(NixliteError):
    """A problem with nixlite's own set-up (its store, its caches), not with the expression
    being evaluated: wherever it surfaces it is shown without a source position or trace."""

    def at(self, pos) -> SetupError:
        return self

    def add_trace(self, message: str, pos=None) -> SetupError:
        return self


def indent_message(message: str) -> str:
    """A multi-line message under ``error: ``: continuation lines indented 7 spaces
    (blank lines stay blank), as Nix prints them."""
    return _CONTINUATION.sub("\n       ", message)


_CONTINUATION = re.compile(r"\n(?=[^\n])")


def source_text(pos: Pos) -> str | None:
    """The text ``pos`` points into: carried along, or read from its file as bytes kept
    with surrogateescape (so excerpts reproduce them); None when unavailable."""
    if pos.source is not None:
        return pos.source
    if pos.file.startswith("«"):
        return None
    try:
        with open(pos.file, "rb") as f:
            return f.read().decode("utf-8", "surrogateescape")
    except OSError:
        return None


def render_pos(pos: Pos) -> str:
    """``render_excerpt`` of the text ``pos`` points into (read from its file if the
    position does not carry it)."""
    return render_excerpt(pos, source_text(pos))


def render_excerpt(pos: Pos, text: str | None) -> str:
    """``at FILE:LINE:COL:``, a blank line and the lines of ``text`` around it, as Nix
    2.8's ``printCodeLines`` writes them: the previous, offending and next line (a last
    empty line after the final newline is no line), each as ``%6d| text``, and a caret
    under the column; all indented by seven spaces."""
    out = f"       at {pos}:"
    if text is None:
        return out
    lines = text.split("\n")
    if not 1 <= pos.line <= len(lines):
        return out

    def line(n: int) -> str:
        src = lines[n - 1]
        return f"\n       {n:6d}|" + (" " + src if src else "")

    out += "\n"
    if pos.line > 1:
        out += line(pos.line - 1)
    out += line(pos.line)
    out += "\n             | " + " " * (pos.col - 1) + "^"
    if pos.line < len(lines) and (pos.line < len(lines) - 1 or lines[pos.line]):
        out += line(pos.line + 1)
    return out
