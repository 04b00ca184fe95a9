"""Evaluation errors: Nix's messages, positions, excerpts, traces and exit status."""

from __future__ import annotations

import pytest

# Same text as nix-instantiate 2.8 prints (whole stderr compared).
SAME_AS_2_8 = [
    "let x = x; in x",
    "1 + \"a\"",
    "{ a = 1; }.b",
    "{ ab = 1; ac = 2; b = 3; }.a",
    "let s = { a.bc = 1; }; in s.a.b",
    "throw \"foo\"",
    "abort \"x\"",
    "assert 1 == 2; 1",
    "let x = 1; in assert x == 2 && true; 1",
    "undefinedvar",
    "rec { a = b; b = a; }.a",
    "let f = n: if n == 0 then {}.x else f (n - 1); in f 3",
]

# 2.8 prints this hint when an error has frames --show-trace would show.  nixlite does
# not record 2.8's "… while evaluating the attribute 'a'" frame of a selection, so it has
# nothing to hint at for these.
SHOW_TRACE_HINT = "\n(use '--show-trace' to show detailed location information)"
NO_SELECT_FRAME = {"rec { a = b; b = a; }.a", "let s = { a.bc = 1; }; in s.a.b"}

# Today's Nix reworded these (value shown after the type; lambda naming).
TODAY = {
    "if 1 then 1 else 2": "error: expected a Boolean but found an integer: 1",
    "({ x }: x) { }": "error: function 'anonymous lambda' called without required argument 'x'",
    "let f = { x }: x; in f { x = 1; y = 2; }": "error: function 'f' called with unexpected argument 'y'",
    "\"${1}\"": "error: cannot coerce an integer to a string: 1",
    "1 1": "error: attempt to call something which is not a function but an integer: 1",
    "9223372036854775807 + 1": "error: integer overflow in adding 9223372036854775807 + 1",
    "(-9223372036854775807) - 2": "error: integer overflow in subtracting -9223372036854775807 - 2",
    "4611686018427387904 * 2": "error: integer overflow in multiplying 4611686018427387904 * 2",
    "1 / 0": "error: division by zero",
    "{ } < { }": "error: cannot compare a set with a set; values of that type are incomparable",
    "1 < \"a\"": "error: cannot compare an integer with a string; values are 1 and \"a\"",
    "with 1; x": "error: expected a set but found an integer: 1",
    "let s = { a.b = 1; }; in s.a.b.c": "error: expected a set but found an integer: 1",
    "let s = { }; in if s ? ${1} then 1 else 2": "error: expected a string but found an integer: 1",
    "if [ (throw \"inner\") ] == [ 1 ] then 1 else 2": "error: inner",
}


@pytest.mark.nix
@pytest.mark.parametrize("expr", SAME_AS_2_8)
def test_error_matches_nix(expr, nixlite_eval, nix_eval):
    expected = nix_eval(["--strict", "-E", expr])
    got = nixlite_eval(["--strict", "-E", expr])
    assert got[0] == expected[0] == 1
    assert got[1] == ""
    if expr in NO_SELECT_FRAME:
        expected = expected[:2] + (expected[2].replace(SHOW_TRACE_HINT, ""),)
    assert got[2] == expected[2]


@pytest.mark.parametrize("expr,first_line", list(TODAY.items()))
def test_todays_messages(expr, first_line, nixlite_eval):
    rc, out, err = nixlite_eval(["--strict", "-E", expr])
    assert (rc, out) == (1, "")
    assert err.splitlines()[0] == first_line


def test_show_trace_lists_calls(tmp_path, nixlite_eval):
    (tmp_path / "t.nix").write_text("let f = x: {}.x; g = y: f y; in\n g 1\n")
    rc, _, err = nixlite_eval(["--show-trace", "t.nix"])
    assert rc == 1
    frames = [line.strip() for line in err.splitlines() if line.strip().startswith("…")]
    assert frames == ["… while calling 'f'", "… from call site", "… while calling 'g'", "… from call site"]
    assert f"at {tmp_path}/t.nix:2:2:" in err
    rc, _, err = nixlite_eval(["t.nix"])
    assert "…" not in err


def test_error_excerpt_layout(tmp_path, nixlite_eval):
    (tmp_path / "m.nix").write_text("let\n  a = 1;\n  b = a.x;\nin\n  b\n")
    rc, _, err = nixlite_eval(["m.nix"])
    assert rc == 1
    assert err == (
        "error: expected a set but found an integer: 1\n\n"
        f"       at {tmp_path}/m.nix:3:7:\n\n"
        "            2|   a = 1;\n"
        "            3|   b = a.x;\n"
        "             |       ^\n"
        "            4| in\n"
    )


def test_parse_error_is_reported_not_raised(nixlite_eval):
    rc, out, err = nixlite_eval(["-E", "1 +"])
    assert rc == 1 and out == ""
    assert err.startswith("error: syntax error")


def test_try_eval_catches_only_throw_and_assert(nixlite_eval):
    rc, out, _ = nixlite_eval(["--strict", "-E", "map (x: (builtins.tryEval x).success) [ (throw \"a\") (assert false; 1) 2 ]"])
    assert (rc, out) == (0, "[ false false true ]\n")
    rc, _, err = nixlite_eval(["--strict", "-E", "builtins.tryEval (abort \"no\")"])
    assert rc == 1 and "evaluation aborted with the following error message: 'no'" in err
