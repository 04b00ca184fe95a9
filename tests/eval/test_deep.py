"""Deep recursion: at least as deep as Nix 2.8 goes, then Nix's stack overflow error."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("depth", [100_000])
def test_deep_non_tail_recursion(depth, nixlite_eval):
    # Nix 2.8 itself overflows between 70k and 80k frames on this expression.
    expr = f"let f = n: if n == 0 then 0 else 1 + f (n - 1); in f {depth}"
    assert nixlite_eval(["-E", expr]) == (0, f"{depth}\n", "")


def test_foldl_strict_over_a_million(nixlite_eval):
    expr = "builtins.foldl' (a: b: a + b) 0 (builtins.genList (x: x) 1000000)"
    assert nixlite_eval(["-E", expr]) == (0, "499999500000\n", "")


def test_long_lazy_chain(nixlite_eval):
    # each element's thunk forces the previous one: a 100k-deep chain of thunks
    expr = ("let xs = builtins.genList (i: if i == 0 then 0 else builtins.elemAt xs (i - 1) + 1) 100000;"
            " in builtins.elemAt xs 99999")
    assert nixlite_eval(["-E", expr]) == (0, "99999\n", "")


def test_deeply_nested_data_prints(nixlite_eval):
    expr = "let go = n: if n == 0 then [ ] else [ (go (n - 1)) ]; in builtins.length (go 50000)"
    assert nixlite_eval(["--strict", "-E", expr]) == (0, "1\n", "")


def test_long_concatenation_chain(nixlite_eval):
    # a 100k-term `[i] ++ [i] ++ …` is one concatenation, not 100k copies of the tail
    expr = " ++ ".join(f"[{i}]" for i in range(100_000))
    assert nixlite_eval(["-E", f"builtins.elemAt ({expr}) 99999"]) == (0, "99999\n", "")


@pytest.mark.parametrize("expr,column", [
    ("1 ++ (2 ++ [])", 9),           # the innermost ++ checks its operands first
    ("1 ++ [2] ++ [3]", 3),
    ("[1] ++ 2 ++ [3]", 10),
    ("[1] ++ [2] ++ 3", 12),
    ("1 ++ [2] ++ (throw \"x\")", None),  # every operand is evaluated before any is checked
])
def test_concatenation_chain_reports_errors_as_nested_concatenations(expr, column, nixlite_eval):
    rc, out, err = nixlite_eval(["--strict", "-E", expr])
    assert rc == 1
    if column is None:
        assert err.startswith("error: x")
    else:
        assert f"at «string»:1:{column}:" in err


def test_unbounded_recursion_is_a_stack_overflow_error(nixlite_eval):
    rc, out, err = nixlite_eval(["-E", "let f = n: 1 + f (n + 1); in f 0"])
    assert (rc, out) == (1, "")
    assert err.startswith("error: stack overflow (possible infinite recursion)")


def test_address_space_limit_gets_a_smaller_stack_and_nix_overflow_error():
    """Under ``ulimit -v`` the 4 GiB stack cannot be reserved: evaluation runs on the
    largest stack it can have, and running out of it is still Nix's error."""
    import subprocess
    import sys

    def run(expr: str) -> subprocess.CompletedProcess:
        return subprocess.run(["bash", "-c", 'ulimit -v 3000000 && exec "$0" -m nixlite eval -E "$1"',
                               sys.executable, expr], capture_output=True, text=True, timeout=300)

    one = run("1")
    assert (one.returncode, one.stdout, one.stderr) == (0, "1\n", "")
    deep = run("let f = n: if n == 0 then 0 else 1 + f (n - 1); in f 100000")
    assert (deep.returncode, deep.stdout, deep.stderr) == (0, "100000\n", "")
    unbounded = run("let f = n: 1 + f (n + 1); in f 0")
    assert (unbounded.returncode, unbounded.stdout) == (1, "")
    assert unbounded.stderr == "error: stack overflow (possible infinite recursion)\n"
