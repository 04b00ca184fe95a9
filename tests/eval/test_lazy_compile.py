"""Thunk expressions and function bodies are compiled when first run, and only once."""

from __future__ import annotations

from nixlite.eval.compiler import Compiler
from nixlite.eval.deep import run_deep
from nixlite.eval.io import MemoryIO
from nixlite.eval.state import EvalState
from nixlite.eval.values import deep_force


def _compiles(monkeypatch, text: str):
    """(value, number of nodes compiled) for ``text``."""
    count = [0]
    compile_node = Compiler.compile

    def counting(self, e):
        count[0] += 1
        return compile_node(self, e)

    monkeypatch.setattr(Compiler, "compile", counting)
    state = EvalState(io=MemoryIO({}), use_nix_path_env=False)
    value = run_deep(lambda: deep_force(state.eval_string(text)))
    return value, count[0]


def test_code_never_run_is_never_compiled(monkeypatch):
    small = _compiles(monkeypatch, "let f = x: x; unused = 1; in 2")
    big = _compiles(monkeypatch, "let f = x: { a = [ (x + 1) (x * 2) ]; b = f (x - 1); }; "
                                 "unused = builtins.map (y: y.z or { w = 3; }) [ 1 2 3 ]; in 2")
    assert small == big == (2, small[1])


def test_thunks_made_before_the_first_compile_do_not_compile_again(monkeypatch):
    # every level makes a thunk of `elemAt xs n` before any is forced: all share one compile
    def text(n: int) -> str:
        return (f"let xs = builtins.genList (i: i) {n}; g = a: b: b + a; "
                f"f = n: if n == {n} then 0 else g (builtins.elemAt xs n) (f (n + 1)); in f 0")

    v1, c1 = _compiles(monkeypatch, text(100))
    v2, c2 = _compiles(monkeypatch, text(200))
    assert (v1, v2) == (sum(range(100)), sum(range(200)))
    assert c1 == c2
