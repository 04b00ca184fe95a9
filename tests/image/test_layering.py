"""Popularity layering equals upstream's referencesByPopularity and the seed's maxLayers cut."""

from __future__ import annotations

import random
from collections import defaultdict

import pytest

from nixlite.errors import NixliteError
from nixlite.image.layering import (cut_layers, popularity, references_by_popularity,
                                    store_layers)

S = "/nix/store/"


def p(h: str, name: str) -> str:
    return f"{S}{h * 32}-{name}"


# --- upstream's closure-graph.py, re-implemented directly (nested dicts, recursion) ----------

def upstream_order(graph: list[dict]) -> list[str]:
    lookup = {c["path"]: [r for r in c["references"] if r != c["path"]] for c in graph}
    roots = [c["path"] for c in graph
             if not any(c["path"] != o["path"] and c["path"] in o["references"] for o in graph)]

    def segment(root):
        return {ref: segment(ref) for ref in lookup[root]}

    cache: dict = {}

    def contest(full):
        pop = defaultdict(int)
        for path, sub in full.items():
            pop[path] += 1
            if path not in cache:
                cache[path] = contest(sub)
            for subpath, count in cache[path].items():
                pop[subpath] += count + 1
        return pop

    def name_key(path):
        parts = path.split("-")
        start = parts.pop(0)
        parts.append(start)
        return "-".join(parts)

    counts = contest({root: segment(root) for root in roots})
    by_pop = defaultdict(list)
    for path, n in counts.items():
        by_pop[n].append(path)
    flat = []
    for n in sorted(set(counts.values())):
        flat.extend(reversed(sorted(by_pop[n], key=name_key)))
    ordered = list(reversed(flat))
    everything = sorted({c["path"] for c in graph} | {r for c in graph for r in c["references"]})
    return ordered + [x for x in everything if x not in ordered]


def upstream_cut(paths: list[str], available: int) -> list[list[str]]:
    """The seed's jq: (.[:n-1] | map([.])) + [ .[n-1:] ] | map(select(length > 0))."""
    layers = [[x] for x in paths[: max(available - 1, 0)]] + [paths[available - 1:]]
    return [layer for layer in layers if layer]


def graph_of(edges: dict[str, list[str]]) -> list[dict]:
    return [{"path": k, "references": [k, *v], "narSize": 1} for k, v in edges.items()]


FOO, BAR, BAZ, TUX = p("a", "foo"), p("b", "bar"), p("c", "baz"), p("d", "tux")


def test_script_docstring_example():
    graph = graph_of({FOO: [BAR, BAZ], BAR: [BAZ], BAZ: [TUX], TUX: []})
    assert popularity(graph) == {FOO: 1, BAR: 2, BAZ: 4, TUX: 6}
    assert references_by_popularity(graph) == [TUX, BAZ, BAR, FOO]


def test_ties_sort_by_name_then_hash():
    # an image root referencing four leaves: all leaves have popularity 2
    root = p("z", "image-root")
    glibc_new, glibc_old = p("1", "glibc-2.33"), p("9", "glibc-2.32")
    same_a, same_b = p("5", "zlib-1.2"), p("4", "zlib-1.2")
    graph = graph_of({root: [glibc_new, glibc_old, same_a, same_b], glibc_new: [],
                      glibc_old: [], same_a: [], same_b: []})
    # worked out by hand: name order glibc-2.32 < glibc-2.33 < zlib-1.2 (hash 444.. < 555..)
    assert references_by_popularity(graph) == [glibc_old, glibc_new, same_b, same_a, root]


def test_two_roots_and_a_shared_library():
    app1, app2, lib, libc = p("1", "app1"), p("2", "app2"), p("3", "lib"), p("4", "libc")
    graph = graph_of({app1: [lib, libc], app2: [lib], lib: [libc], libc: []})
    # subtree results: lib {libc:1}; app1 {lib:1, libc:(1+1)+1=3}; app2 {lib:1, libc:2}
    # totals: lib (1+1)+(1+1) = 4, libc (3+1)+(2+1) = 7
    assert popularity(graph) == {app1: 1, app2: 1, lib: 4, libc: 7}
    assert upstream_order(graph) == [libc, lib, app1, app2]
    assert references_by_popularity(graph) == [libc, lib, app1, app2]


@pytest.mark.parametrize("seed", range(30))
def test_random_dags_match_upstream(seed):
    rng = random.Random(seed)
    n = rng.randint(1, 40)
    names = [p(format(rng.randrange(16**4), "04x")[0], f"pkg{rng.randint(0, 5)}-{i % 3}")
             + str(i) for i in range(n)]
    edges = {names[i]: sorted(set(rng.sample(names[i + 1:], min(len(names) - i - 1, rng.randint(0, 4)))))
             for i in range(n)}
    graph = graph_of(edges)
    rng.shuffle(graph)
    expected = upstream_order(graph)
    assert references_by_popularity(graph) == expected
    for available in (1, 2, n - 1, n, n + 1):
        if available >= 1:
            assert cut_layers(expected, available) == upstream_cut(expected, available)


def test_deep_chain_does_not_recurse():
    chain = [p("a", f"c{i:05d}") for i in range(3000)]
    edges = {chain[i]: [chain[i + 1]] if i + 1 < len(chain) else [] for i in range(len(chain))}
    order = references_by_popularity(graph_of(edges))
    assert order == list(reversed(chain))


def test_store_layers_drop_helper_paths_and_leave_room():
    base_json, closure = p("e", "hello-base.json"), p("f", "closure")
    app, libc = p("1", "hello"), p("2", "glibc")
    graph = graph_of({closure: [base_json, app], base_json: [], app: [libc], libc: []})
    assert store_layers(graph, max_layers=100, exclude=[base_json, closure]) == [[libc], [app]]
    assert store_layers(graph, max_layers=2, exclude=[base_json, closure]) == [[libc, app]]
    assert store_layers(graph, max_layers=3, base_layers=1, exclude=[base_json, closure]) == [[libc, app]]


def test_errors():
    with pytest.raises(NixliteError, match="greather than 1"):
        store_layers([], max_layers=1)
    with pytest.raises(NixliteError, match="At least 1 layer"):
        store_layers([], max_layers=3, base_layers=2)
    with pytest.raises(NixliteError, match="cycle"):
        popularity(graph_of({FOO: [BAR], BAR: [BAZ], BAZ: [BAR], TUX: [FOO]}))
    with pytest.raises(NixliteError, match="no entry"):
        popularity(graph_of({FOO: [BAR]}))
    with pytest.raises(NixliteError, match="malformed"):
        popularity([{"path": FOO}])
