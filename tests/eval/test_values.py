"""The value model contract that the builtins are written against."""

from __future__ import annotations

import pytest

from nixlite.eval.api import evaluate_string, parse_attr_path
from nixlite.eval.printer import attr_name, escape_string, format_float, print_ambiguous, show_value
from nixlite.eval.values import (
    Attrs,
    CStr,
    EvalError,
    InfiniteRecursion,
    NixPath,
    PosChain,
    PrimOp,
    Thunk,
    call,
    ctx_of,
    force,
    force_int,
    mkstr,
    type_name,
)


def test_strings_carry_context_only_when_non_empty():
    assert type(mkstr("a", set())) is str
    s = mkstr("a", {"/nix/store/x"})
    assert type(s) is CStr and s == "a" and ctx_of(s) == frozenset({"/nix/store/x"})
    assert ctx_of("plain") == frozenset()


def test_thunk_memoises_and_detects_blackholes():
    calls = []
    t = Thunk(lambda arg: calls.append(arg) or 42, "env")
    assert force(t) == 42 and force(t) == 42 and calls == ["env"]
    loop = Thunk(lambda _: force(loop), None)
    with pytest.raises(InfiniteRecursion):
        force(loop)
    assert not loop.is_blackhole()  # back to pending after the failure, as in Nix


def test_primop_partial_application():
    add = PrimOp("add", 2, lambda a, b: force(a) + force(b))
    inc = call(add, 1)
    assert type(inc) is PrimOp and inc.args == (1,)
    assert call(inc, Thunk(lambda _: 41, None)) == 42


def test_type_errors_use_todays_wording():
    with pytest.raises(EvalError) as info:
        force_int("x")
    assert info.value.message == 'expected an integer but found a string: "x"'
    assert type_name(True) == "a Boolean" and type_name(1) == "an integer"


def test_pos_chain_behaves_as_a_mapping():
    chain = PosChain({"b": 2}, PosChain({"a": 1, "b": 3}, {"c": 4}))
    assert chain["b"] == 2 and chain.get("a") == 1 and "c" in chain and "d" not in chain
    assert sorted(chain) == ["a", "b", "c"]


def test_printers():
    assert escape_string('a"\\\n${x}$y') == '"a\\"\\\\\\n\\${x}$y"'
    assert attr_name("a-b'") == "a-b'" and attr_name("if") == '"if"' and attr_name("$x") == '"\\$x"'
    assert [format_float(x) for x in (1.0, 0.1, 1e20, 123456.7, -0.0)] == ["1", "0.1", "1e+20", "123457", "-0"]
    lazy = Attrs({"a": Thunk(lambda _: 1, None), "p": NixPath("/x")})
    assert print_ambiguous(lazy) == "{ a = <CODE>; p = /x; }"
    assert show_value(lazy) == "{ a = «thunk»; p = /x; }"


def test_attr_paths():
    assert parse_attr_path("") == []
    assert parse_attr_path('a."b.c".0') == ["a", "b.c", "0"]


def test_evaluate_string_api():
    v = evaluate_string("let f = x: x * 2; in { y = f 21; }", strict=True)
    assert type(v) is Attrs and force(v["y"]) == 42


def test_long_pos_chains_are_flattened_with_newest_first():
    pos = {"a": "old-a", "k5": "old-k5"}
    for i in range(100):
        pos = PosChain.combine({f"k{i}": i}, pos)
    assert type(pos) is PosChain and pos.depth <= PosChain.MAX_DEPTH
    assert pos.get("a") == "old-a" and pos.get("k5") == 5 and pos.get("k99") == 99
