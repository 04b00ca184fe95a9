"""Stage 1: Nix text to a located AST (``nixlite.syntax.ast``).

``parse(text, file)`` parses a string (``file`` is what errors print: a path, ``«string»``
or ``«stdin»``); ``parse_file(path)`` reads a file through the on-disk parse cache.
Both raise ``nixlite.errors.NixliteError`` on bad input and nothing else.  For trees
with variables resolved (what the evaluator needs), use ``nixlite.resolve.parse_file``.
"""

from __future__ import annotations


def parse(text: str, file: str = "«string»", base_dir: str | None = None):
    from nixlite.syntax.parser import parse as _parse

    return _parse(text, file, base_dir)


def parse_file(path: str):
    from nixlite.syntax.cache import parse_file as _parse_file

    return _parse_file(path)
