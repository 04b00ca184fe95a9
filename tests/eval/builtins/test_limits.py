"""Integers past 64 bits and past Python's 4,300-digit conversion limit: every place
that turns digits into a number gives Nix's answer, never an internal error."""

from __future__ import annotations

import pytest

LONG = "1" * 5000  # past Python's int/str conversion limit

SAME_AS_NIX = [
    LONG,
    "9223372036854775808",
    "0000000000000000000000000009",
    f'builtins.fromJSON "{LONG}"',
    f'builtins.fromJSON "-{LONG}"',
    f'builtins.fromJSON "{"9" * 400}"',  # past a double's range too
    'builtins.fromJSON "18446744073709551616"',
    f'builtins.compareVersions "1.{LONG}" "1.2"',
    'builtins.compareVersions "1.99999999999" "1.2"',
]


@pytest.mark.nix
@pytest.mark.parametrize("expr", SAME_AS_NIX, ids=lambda e: e[:40])
def test_long_numbers_as_in_nix(expr, nixlite_eval, nix_eval):
    got = nixlite_eval(["-E", expr])
    expected = nix_eval(["-E", expr])
    assert got[:2] == expected[:2]
    if got[0]:
        assert got[2].splitlines()[0] == expected[2].splitlines()[0]


def test_toml_integers_out_of_range(nixlite_eval):
    """Today's Nix refuses them (2.8 clamped them to the 64-bit range)."""
    for text in (LONG, "0x" + "f" * 5000, "9223372036854775808"):
        rc, out, err = nixlite_eval(["-E", f'builtins.fromTOML "a = {text}"'])
        assert (rc, out) == (1, "")
        assert err.startswith("error: while parsing TOML: ") and "out of the range of a 64-bit integer" in err


@pytest.mark.nix
@pytest.mark.parametrize("index", [LONG, "4294967296", "-1"], ids=["long", "2^32", "-1"])
def test_attr_path_index_past_unsigned_names_an_attribute(index, nixlite_eval, nix_eval):
    """``-A`` takes a component as a list index only when it fits an unsigned int."""
    argv = ["-A", index, "-E", "[ ]"]
    assert nixlite_eval(argv)[:3] == nix_eval(argv)[:3]


@pytest.mark.nix
@pytest.mark.parametrize("arg", ["1 +", "undefined"])
def test_arg_is_parsed_at_once(arg, nixlite_eval, nix_eval):
    argv = ["--arg", "unused", arg, "-E", "1"]
    got, expected = nixlite_eval(argv), nix_eval(argv)
    assert (got[0], got[1]) == (expected[0], expected[1]) == (1, "")
    assert got[2].splitlines()[0] == expected[2].splitlines()[0]


def test_arg_is_evaluated_only_when_used(nixlite_eval):
    assert nixlite_eval(["--arg", "unused", 'throw "no"', "-E", "1"]) == (0, "1\n", "")
    assert nixlite_eval(["--arg", "x", "1 + 2", "-E", "{ x }: x"]) == (0, "3\n", "")
