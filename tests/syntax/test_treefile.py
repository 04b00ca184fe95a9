"""The parse cache's tree format: what is stored comes back the same, large function
bodies are read only when used, and bad bytes are refused."""

import pickle

import pytest

from nixlite.errors import NixliteError
from nixlite.resolve import resolve
from nixlite.syntax import ast as A
from nixlite.syntax import treefile
from nixlite.syntax.parser import parse
from nixlite.syntax.printer import show

# one small function (kept inline) and large ones (stored apart), nested
BIG = " ".join(f"a{i} = {i};" for i in range(200))
TEXT = ("rec { small = x: x + 1; big = { y }: let " + BIG + " in z: with y; [ a1 z (w: w) ]; "
        "inner = p: { q = r: { " + BIG + " }; }; n = ./p; s = ''\n  x\n''; }")


def _load(text=TEXT):
    tree = resolve(parse(text, "/dir/f.nix", "/dir"))
    data = treefile.dumps(tree)
    return tree, data, treefile.loads(data, A.Source("/dir/f.nix", text, "/dir"))


def _lambdas(tree):
    return [node for node in A.walk(tree) if type(node) is A.Lambda]


def test_round_trip_is_exact():
    tree, _, loaded = _load()
    assert show(loaded) == show(tree)
    # resolver annotations and positions survive; every node shares the given Source
    for before, after in zip(_lambdas(tree), _lambdas(loaded)):
        assert (after.slots, after.name, after.line, after.col) == (
            before.slots, before.name, before.line, before.col)
        assert after.src is loaded.src


def test_large_bodies_are_read_on_first_use():
    _, _, loaded = _load()
    attrs = loaded.attrs
    assert type(attrs["small"].value._body) is A.BinOp
    big = attrs["big"].value
    assert type(big._body) is A.DeferredBody
    assert type(big.body) is A.Let and big._body is big.body  # read once, then kept
    # a body that is small once its large functions are stored apart stays inline
    inner = attrs["inner"].value
    assert type(inner._body) is A.Attrs
    assert type(inner.body.attrs["q"].value._body) is A.DeferredBody


def test_bad_bytes_are_refused():
    _, data, _ = _load()
    src = A.Source("/dir/f.nix", TEXT, "/dir")
    for bad in (b"", b"garbage", data[:-1], data[:20], pickle.dumps(1)):
        with pytest.raises(Exception):
            treefile.loads(bad, src)


def test_a_body_damaged_after_loading_is_a_clear_error():
    _, data, _ = _load()
    src = A.Source("/dir/f.nix", TEXT, "/dir")
    loaded = treefile.loads(data, src)
    segments = loaded.attrs["big"].value._body.loader.__self__
    segments.data = segments.data[:len(treefile.MAGIC) + 4] + bytes(len(data))
    with pytest.raises(NixliteError, match="parse cache's entry for '/dir/f.nix' is damaged"):
        loaded.attrs["big"].value.body
