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
        out = f"error: {self.message}"
        if self.pos is not None:
            out += "\n" + format_pos(self.pos)
        return out


def format_pos(pos: Pos) -> str:
    """``at FILE:LINE:COL:`` plus the source excerpt, indented as Nix does."""
    lines = [f"       at {pos}:"]
    text = pos.source
    if text is None and not pos.file.startswith("«"):
        try:
            with open(pos.file, encoding="utf-8", errors="replace") as f:
                text = f.read()
        except OSError:
            text = None
    if text is not None:
        src_lines = text.split("\n")
        if 1 <= pos.line <= len(src_lines):
            src = src_lines[pos.line - 1]
            num = str(pos.line)
            lines.append("")
            lines.append(f"{' ' * (12 - len(num) - 1)}{num}| {src}")
            lines.append(f"{' ' * 12}| {' ' * (pos.col - 1)}^")
    return "\n".join(lines)
