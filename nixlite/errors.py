"""Errors shared by every stage, and how they are shown to users.

Stages raise these; only ``nixlite.cli`` prints them.  The rendering follows
today's Nix: ``error: MESSAGE``, then ``at FILE:LINE:COL:`` and the source
line with a caret under the column.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Pos:
    """A source position: 1-based line and column, as Nix prints them.

    ``file`` is the path as Nix would print it (``«string»`` for ``-E`` text,
    ``«stdin»`` for standard input).  ``source`` optionally carries the whole
    text, so errors can show the offending line without re-reading the file.
    """

    file: str
    line: int
    col: int
    end_line: int = 0
    end_col: int = 0
    source: str | None = None

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


class NixliteError(Exception):
    """Base of every error a user may see; ``render()`` gives the text to print."""

    def __init__(self, message: str, pos: Pos | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.pos = pos

    def render(self) -> str:
        """Today's Nix layout (``showErrorInfo``): the message, then ``at FILE:L:C:`` and
        the source lines around the error, every line after the first indented by seven
        spaces and stripped of trailing blanks."""
        text = f"{self.message}\n"
        if self.pos is not None:
            text += format_pos(self.pos) + "\n"
        lines = text.rstrip("\n").split("\n")
        out = ["error: " + lines[0]]
        out.extend(("       " + line).rstrip() for line in lines[1:])
        return "\n".join(line.rstrip() for line in out)


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


def format_pos(pos: Pos) -> str:
    """``at FILE:LINE:COL:`` and the source lines around it, as Nix's ``printPosMaybe``
    and ``printCodeLines`` write them (before the caller's indentation): the previous,
    offending and next line, each as ``" %5d| text"``, and a caret under the column."""
    out = f"at {pos}:"
    text = source_text(pos)
    if text is None or pos.line < 1:
        return out
    lines = text.split("\n")
    if pos.line > len(lines):
        return out
    if pos.line > 1:
        out += f"\n {pos.line - 1:5d}| {lines[pos.line - 2]}"
    out += f"\n {pos.line:5d}| {lines[pos.line - 1]}"
    if pos.col > 0:
        out += "\n      |" + " " * pos.col + "^"
    if pos.line < len(lines):
        out += f"\n {pos.line + 1:5d}| {lines[pos.line]}"
    return out
