"""Store-path layering as upstream does it: ``referencesByPopularity`` and the ``maxLayers`` cut.

The popularity of a path counts, over the tree expansion of the reference graph from its
roots, how often and how deep it occurs (spec §2): for a forest, each node gets 1, and each
entry of its subtree's result gets that count + 1.  Paths are ordered by descending
popularity, ties by ``package_name`` ascending (the path with its ``/nix/store/<hash>`` prefix
moved to the end, so name then hash).  Subtree results are memoised per path, computed
iteratively so deep closures cannot exhaust Python's stack.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from nixlite.errors import NixliteError


def package_name(path: str) -> str:
    """Upstream's tie-break key: the first ``-``-separated part moved to the end."""
    parts = path.split("-")
    return "-".join(parts[1:] + parts[:1])


def _lookup(graph: Iterable[Mapping[str, Any]] | Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    """path -> distinct references other than itself, from exportReferencesGraph JSON
    (a list of ``{"path", "references", ...}``) or a plain mapping."""
    items = graph.items() if isinstance(graph, Mapping) else (
        (entry.get("path"), entry.get("references")) for entry in graph)
    lookup: dict[str, list[str]] = {}
    for path, refs in items:
        if not isinstance(path, str) or not isinstance(refs, (list, tuple)):
            raise NixliteError("malformed closure graph entry: expected a path and a list of references")
        lookup[path] = list(dict.fromkeys(r for r in refs if r != path))
    return lookup


def popularity(graph) -> dict[str, int]:
    """Popularity of every path reachable from the roots (paths no other path references)."""
    lookup = _lookup(graph)
    referenced = {r for refs in lookup.values() for r in refs}
    roots = [p for p in lookup if p not in referenced]
    memo: dict[str, dict[str, int]] = {}
    for root in roots:
        _subtree(root, lookup, memo)
    total: dict[str, int] = {}
    for root in roots:
        total[root] = total.get(root, 0) + 1
        for path, count in memo[root].items():
            total[path] = total.get(path, 0) + count + 1
    return total


def _subtree(start: str, lookup: dict[str, list[str]], memo: dict[str, dict[str, int]]) -> None:
    """Fill ``memo[p]`` (the contest over p's children) for p and everything below it."""
    expanding: set[str] = set()  # the current DFS path: a reference back into it is a cycle
    stack = [start]
    while stack:
        path = stack[-1]
        if path in memo:
            stack.pop()
            continue
        refs = lookup.get(path)
        if refs is None:
            raise NixliteError(f"closure graph has no entry for referenced path '{path}'")
        if path not in expanding:
            expanding.add(path)
            for r in refs:
                if r in expanding:
                    raise NixliteError(f"closure graph has a reference cycle through '{r}'")
                if r not in memo:
                    stack.append(r)
            continue
        result: dict[str, int] = {}
        for child in refs:
            result[child] = result.get(child, 0) + 1
            for sub, count in memo[child].items():
                result[sub] = result.get(sub, 0) + count + 1
        memo[path] = result
        expanding.discard(path)
        stack.pop()


def references_by_popularity(graph) -> list[str]:
    """All paths of the graph, most popular first (upstream's ``referencesByPopularity``).
    Paths not reachable from a root come last, sorted (upstream: set order)."""
    counts = popularity(graph)
    ordered = sorted(counts, key=lambda p: (-counts[p], package_name(p)))
    lookup = _lookup(graph)
    everything = set(lookup) | {r for refs in lookup.values() for r in refs}
    ordered.extend(sorted(everything - counts.keys()))
    return ordered


def cut_layers(paths: Sequence[str], available: int) -> list[list[str]]:
    """The seed's jq slicing: ``available - 1`` single-path layers, then one layer with the
    rest; empty layers dropped."""
    if available < 1:
        raise NixliteError("at least one layer must be left for the image contents")
    head = [[p] for p in paths[: available - 1]]
    rest = list(paths[available - 1:])
    return head + ([rest] if rest else [])


def store_layers(graph, *, max_layers: int = 100, base_layers: int = 0,
                 exclude: Iterable[str] = ()) -> list[list[str]]:
    """Layers for streamLayeredImage, bottom first, the seed's way: popularity over the whole
    graph, then paths containing any ``exclude`` string dropped (its ``grep -v``), then the
    cut leaving one layer for the customisation layer and ``base_layers`` for ``fromImage``."""
    if max_layers <= 1:
        raise NixliteError("the maxLayers argument of dockerTools.buildLayeredImage function must "
                           f"be greather than 1 (current value: {max_layers})")
    used = base_layers + 1
    if used >= max_layers:
        raise NixliteError(f"usedLayers {used} layers to store 'fromImage' and 'extraCommands', "
                           f"but only maxLayers={max_layers} were allowed. At least 1 layer is "
                           "required to store contents.")
    drop = [e for e in exclude if e]
    paths = [p for p in references_by_popularity(graph) if not any(e in p for e in drop)]
    return cut_layers(paths, max_layers - used)
