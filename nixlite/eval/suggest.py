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
