"""The on-disk parse cache: reused when fresh, ignored and rewritten when corrupt or stale."""

import os
import pickle

from nixlite.syntax import ast as A
from nixlite.syntax import cache, treefile
from nixlite.syntax.printer import show


def _entries(root):
    return sorted(p for p in root.rglob("*") if p.is_file())


def test_cache_hit_returns_resolved_tree(tmp_path, monkeypatch):
    from nixlite.resolve import parse_file

    monkeypatch.setenv("NIXLITE_CACHE_DIR", str(tmp_path / "c"))
    f = tmp_path / "a.nix"
    f.write_text("let a = 1; in a + builtins.length [ ]")
    first = parse_file(str(f))
    [entry] = _entries(tmp_path / "c")
    second = parse_file(str(f))
    assert show(second) == show(first)
    assert second is not first  # came from disk
    body = second.body.left
    assert isinstance(body, A.Var) and (body.level, body.index) == (0, 0)
    # the plain parse is cached under its own key, unresolved
    plain = cache.parse_file(str(f))
    assert len(_entries(tmp_path / "c")) == 2
    assert plain.body.left.level == -1


def test_corrupt_entry_is_rewritten(tmp_path, monkeypatch):
    monkeypatch.setenv("NIXLITE_CACHE_DIR", str(tmp_path / "c"))
    f = tmp_path / "a.nix"
    f.write_text("{ x = 1; }")
    cache.parse_file(str(f))
    [entry] = _entries(tmp_path / "c")
    entry.write_bytes(b"garbage")
    assert show(cache.parse_file(str(f))) == "{ x = 1; }"
    src = A.Source(str(f), f.read_text(), str(tmp_path))
    assert treefile.loads(entry.read_bytes(), src).attrs["x"].value.value == 1


def test_entry_of_another_format_is_not_used(tmp_path, monkeypatch):
    monkeypatch.setenv("NIXLITE_CACHE_DIR", str(tmp_path / "c"))
    f = tmp_path / "a.nix"
    f.write_text("1")
    cache.parse_file(str(f))
    [entry] = _entries(tmp_path / "c")
    # a plain pickle of another tree (the format before this one) under the key of "1"
    entry.write_bytes(pickle.dumps(cache.parse_cached("2", str(f), str(tmp_path))))
    assert show(cache.parse_file(str(f))) == "1"
    # ... and a truncated entry
    data = entry.read_bytes()
    entry.write_bytes(data[:-1])
    assert show(cache.parse_file(str(f))) == "1"
    assert entry.read_bytes() == data


def test_bytes_and_text_find_the_same_entry(tmp_path, monkeypatch):
    monkeypatch.setenv("NIXLITE_CACHE_DIR", str(tmp_path / "c"))
    data = b'"caf\xc3\xa9 \xff"'
    tree = cache.parse_cached(data, "/x/a.nix", "/x")
    assert len(_entries(tmp_path / "c")) == 1
    again = cache.parse_cached(data.decode("utf-8", "surrogateescape"), "/x/a.nix", "/x")
    assert len(_entries(tmp_path / "c")) == 1 and again is not tree
    assert again.value == tree.value == "caf\xe9 \udcff"


def test_cache_location(monkeypatch, tmp_path):
    monkeypatch.delenv("NIXLITE_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cache.cache_dir() == tmp_path / "nixlite" / "parse"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "h"))
    assert cache.cache_dir() == tmp_path / "h" / ".cache" / "nixlite" / "parse"


def test_unwritable_cache_still_parses(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("NIXLITE_CACHE_DIR", str(blocker / "sub"))
    f = tmp_path / "a.nix"
    f.write_text("[ 1 ]")
    assert show(cache.parse_file(str(f))) == "[ (1) ]"
    assert not os.path.exists(blocker / "sub")


def test_every_node_pickles_through_its_constructor():
    """``_fields`` must list every slot, in constructor order, or cached trees lose data."""
    import inspect

    for name in A.__all__:
        cls = getattr(A, name)
        if not isinstance(cls, type) or cls in (A.Expr, A.Source) or not hasattr(cls, "_fields"):
            continue
        params = list(inspect.signature(cls.__init__).parameters)[1:]
        slots = {s for klass in cls.__mro__ for s in getattr(klass, "__slots__", ())}
        assert params == list(cls._fields), name
        # a Lambda keeps its body in ``_body``, behind the ``body`` property
        assert {p if p != "body" or cls is not A.Lambda else "_body" for p in params} == slots, name


def test_resolved_tree_round_trips_through_pickle():
    from nixlite.resolve import resolve
    from nixlite.syntax.parser import parse

    text = "x: with x; let a = rec { b = a; inherit (x) c; }; in [ a.b or y (a - 1) ]"
    tree = resolve(parse(text, "«string»", "/"))
    again = pickle.loads(pickle.dumps(tree, protocol=pickle.HIGHEST_PROTOCOL))
    assert show(again) == show(tree)
    original, loaded = [], []
    for t, out in ((tree, original), (again, loaded)):
        stack = [t]
        while stack:
            node = stack.pop()
            if isinstance(node, (A.Expr, A.AttrDef, A.DynAttr, A.Formal)):
                out.append(tuple(
                    getattr(node, f) for f in node._fields
                    if f != "src" and not isinstance(getattr(node, f), (A.Expr, list, dict))))
                for f in node._fields:
                    v = getattr(node, f)
                    if isinstance(v, dict):
                        stack.extend(v.values())
                    elif isinstance(v, list):
                        stack.extend(v)
                    elif isinstance(v, (A.Expr, A.AttrDef, A.DynAttr, A.Formal)):
                        stack.append(v)
    assert original == loaded and len(original) > 15


def test_entries_depend_on_the_parser_sources(tmp_path, monkeypatch):
    """A changed lexer/parser/grammar must not reuse trees it did not make."""
    monkeypatch.setenv("NIXLITE_CACHE_DIR", str(tmp_path / "c"))
    f = tmp_path / "a.nix"
    f.write_text("1")
    cache.parse_file(str(f))
    monkeypatch.setitem(cache._digests, "\0".join(map(str, cache._parser_sources())), b"other")
    cache.parse_file(str(f))
    assert len(_entries(tmp_path / "c")) == 2
