"""Nix's "Did you mean …?" hints: closest names by Levenshtein distance."""

from __future__ import annotations


def levenshtein(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def did_you_mean(query: str, names, limit: int = 5, max_distance: int = 2) -> str | None:
    """``Did you mean a?`` / ``Did you mean one of a, b or c?`` — or None."""
    ranked = sorted((levenshtein(query, n), n) for n in names)
    best = [n for d, n in ranked[:limit] if d <= max_distance]
    if not best:
        return None
    if len(best) == 1:
        return f"Did you mean {best[0]}?"
    return f"Did you mean one of {', '.join(best[:-1])} or {best[-1]}?"


# nixlite's own package set (nixlite/pkgs) carries this attribute; selecting a name it
# does not have says so, and how to evaluate a real nixpkgs instead.
PACKAGE_SET_MARKER = "__nixlitePackageSet"


def missing_attribute(name: str, attrs, message: str) -> tuple[str, str | None]:
    """The message and hint for selecting ``name`` from ``attrs``: ``message`` with Nix's
    hint, or nixlite's own message when ``attrs`` is nixlite's package set."""
    hint = did_you_mean(name, attrs)
    if PACKAGE_SET_MARKER in attrs:
        message = f"nixlite's package set has no attribute '{name}'"
        pointer = ("nixlite's package set has only what nixlite/pkgs/README.md lists; to "
                   "evaluate nixpkgs itself, point -I nixpkgs=DIR at a nixpkgs checkout")
        hint = f"{hint}\n       {pointer}" if hint else pointer
    return message, hint
