"""Unit tests of the pure builtins where Nix expressions alone cannot reach:
string contexts (made directly, no store needed), float layout, XML positions."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from nixlite.errors import Pos
from nixlite.eval.builtins import load_all
from nixlite.eval.builtins.json import json_float, json_float_layout
from nixlite.eval.builtins.xml import to_xml
from nixlite.eval.state import EvalState
from nixlite.eval.values import Attrs, CStr, EvalError, Lambda, ctx_of

REG = load_all()
DRV = "/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-x.drv"
OUT = "/nix/store/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-x"


def call(name, *args):
    spec = REG[name]
    return spec.fn(EvalState(use_nix_path_env=False), *args) if spec.wants_state else spec.fn(*args)


def c(s, *ctx):
    return CStr(s, frozenset(ctx))


def test_substring_keeps_context_even_when_empty():
    s = c(OUT + "/bin", "=" + DRV)
    assert ctx_of(call("substring", 0, 5, s)) == {"=" + DRV}
    assert ctx_of(call("substring", 0, 0, s)) == {"=" + DRV}
    assert call("substring", 0, 0, s) == ""


def test_concat_strings_sep_collects_separator_and_item_contexts():
    r = call("concatStringsSep", c("/", OUT), [c("a", "=" + DRV), "b"])
    assert r == "a/b" and ctx_of(r) == {OUT, "=" + DRV}
    assert ctx_of(call("concatStringsSep", c("/", OUT), [])) == {OUT}


def test_replace_strings_context_from_subject_and_used_replacements_only():
    r = call("replaceStrings", [c("a", OUT), "z"], [c("A", "=" + DRV), c("Z", "!out!" + DRV)], c("ab", OUT + "x"))
    assert r == "Ab"
    assert ctx_of(r) == {OUT + "x", "=" + DRV}


def test_match_and_split_captures_drop_context():
    s = c("abc", OUT)
    assert all(type(x) is str for x in call("match", "a(b)(c)", s))
    parts = call("split", "(b)", s)
    assert type(parts[0]) is str and type(parts[1][0]) is str
    assert call("split", "x", s)[0] is s  # no match: the original string, context kept


def test_hash_string_drops_context():
    assert type(call("hashString", "sha1", c("x", OUT))) is str


def test_attribute_names_and_json_reject_context():
    for name, args in [("getAttr", (c("a", OUT), Attrs(a=1))), ("fromJSON", (c("1", OUT),)),
                       ("hasAttr", (c("a", OUT), Attrs())), ("match", (c("a", OUT), "a")),
                       ("split", (c("a", OUT), "a")), ("fromTOML", (c("a = 1", OUT),)),
                       ("listToAttrs", ([Attrs(name=c("a", OUT), value=1)],))]:
        try:
            call(name, *args)
        except EvalError as e:
            assert "is not allowed to refer to a store path" in e.message
        else:
            raise AssertionError(name)


def test_to_json_and_to_xml_collect_context():
    v = Attrs(a=c("x", OUT), b=[c("y", "=" + DRV)])
    assert ctx_of(call("toJSON", v)) == {OUT, "=" + DRV}
    assert ctx_of(call("toXML", v)) == {OUT, "=" + DRV}


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_json_float_fast_path_agrees_with_nlohmann_layout(f):
    assert json_float(f) == json_float_layout(f)
    assert float(json_float(f)) == f or (f == 0 and math.copysign(1, float(json_float(f))) == math.copysign(1, f))


def test_json_float_layout_examples():
    assert [json_float(x) for x in (1e15, 1e14, 1.5e-7, 0.0001, 1e-5, 2.0)] == [
        "1e+15", "100000000000000.0", "1.5e-07", "0.0001", "1e-05", "2.0"]
    assert json_float(float("inf")) == json_float(float("nan")) == "null"


def test_xml_locations_only_name_files():
    pos_file = Pos("/src/x.nix", 3, 5)
    pos_expr = Pos("«string»", 1, 3)
    v = Attrs(a=1, b=2)
    v.pos = {"a": pos_file, "b": pos_expr}
    xml = to_xml(v, True)
    assert '<attr column="5" line="3" name="a" path="/src/x.nix">' in xml
    assert '<attr column="3" line="1" name="b">' in xml
    assert 'line' not in to_xml(v, False)


def test_xml_non_strict_prints_unevaluated_thunks():
    from nixlite.eval.values import Thunk

    v = Attrs(a=Thunk(lambda _: 1, None))
    assert "<unevaluated />" in to_xml(v, False, strict=False)
    assert '<int value="1" />' in to_xml(v, False, strict=True)


def test_sort_calls_the_comparator_as_nix_peeksort_does():
    # Nix >= 2.28 sorts with its PeekSort: below 17 items an insertion sort that
    # compares each item with its left neighbour, swapping while it is less.
    seen = []

    def less(a):
        return Lambda(lambda b: (seen.append((a, b)), a < b)[1])

    assert call("sort", Lambda(less), [3, 1, 2]) == [1, 2, 3]
    assert seen == [(1, 3), (2, 3), (2, 1)]


def test_sort_with_an_inconsistent_comparator_follows_nix():
    always = Lambda(lambda a: Lambda(lambda b: True))
    assert call("sort", always, [1, 2, 3]) == [3, 2, 1]
    assert call("sort", always, [1, 2]) == [2, 1]


@given(st.lists(st.integers(0, 20), max_size=300))
def test_peeksort_is_a_stable_sort_for_strict_weak_orders(keys):
    from nixlite.eval.builtins.lists import peeksort

    items = [(k, i) for i, k in enumerate(keys)]
    out = list(items)
    peeksort(out, lambda a, b: a[0] < b[0])
    assert out == sorted(items, key=lambda x: x[0])


def test_sort_is_stable_with_nix_comparators():
    items = [Attrs(k=2, v="a"), Attrs(k=1, v="b"), Attrs(k=2, v="c"), Attrs(k=1, v="d")] * 10
    by_k = Lambda(lambda a: Lambda(lambda b: a["k"] < b["k"]))
    out = call("sort", by_k, items)
    assert [x["v"] for x in out] == ["b", "d"] * 10 + ["a", "c"] * 10
