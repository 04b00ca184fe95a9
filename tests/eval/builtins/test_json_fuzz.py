"""Seeded random inputs against Nix 2.8: fragments of (mostly broken) JSON for
fromJSON (same value, or the same nlohmann error text with line, column and
last read), and valid TOML documents for fromTOML (same value)."""

from __future__ import annotations

import random

import pytest

ATOMS = ['1', '-0', '0.5', '1e5', '"s"', '"\\u00e9"', 'true', 'false', 'null', '[]', '{}',
         '[1,2]', '{"a":1}', '"a\\nb"', '-', '01', '1.', '.5', '1e', '"\\x"', '"\\u12"', 'tru',
         'nul', ',', ':', ']', '}', '[', '{', ' ', '\n', '"', '\\', '1 2', 'NaN', '"\t"']


def _cases(n: int = 120) -> list[str]:
    rnd = random.Random(20240611)
    return ["".join(rnd.choice(ATOMS) for _ in range(rnd.randint(1, 5))) for _ in range(n)]


@pytest.mark.nix
def test_from_json_fragments_like_nix(nix_batch, nl_eval, nix_str):
    exprs = [f"builtins.fromJSON {nix_str(t)}" for t in _cases()]
    results = nix_batch(exprs, expect_ok=False)
    mismatches = []
    for e in exprs:
        r = results[e]
        expected = (True, r.out) if r.ok else (False, r.message)
        got = nl_eval(e)
        if got != expected:
            mismatches.append((e, expected, got))
    assert mismatches == []


TOML_KEYS = ['a', 'b', '"q k"', "'lit'", 'a.b', 'x-y', '1', 'true']
TOML_VALUES = ['1', '-2', '+3', '0x1f', '0o7', '0b11', '1_000', '1.5', '-0.0', '1e2', '6.02e+23',
               'true', 'false', '"s"', "'l'", '"""m\nl"""', "'''r\\n'''", '[]', '[1, 2]',
               '[ "a", [1] ]', '{}', '{ x = 1 }', '"\\u00e9\\t"', 'inf', '-inf']


def _toml_documents(n: int = 100) -> list[str]:
    rnd = random.Random(5)
    docs = []
    for _ in range(n):
        lines: list[str] = []
        used: set[str] = set()
        for _ in range(rnd.randint(1, 4)):
            k = rnd.choice(TOML_KEYS)
            if k in used or any(k.startswith(u + ".") or u.startswith(k + ".") for u in used):
                continue
            used.add(k)
            lines.append(f"{k} = {rnd.choice(TOML_VALUES)}")
        if rnd.random() < 0.3:
            lines.append("[tbl]\nz = 1")
        docs.append("\n".join(lines))
    return docs


@pytest.mark.nix
def test_from_toml_documents_like_nix(nix_batch, nl_eval, nix_str):
    exprs = [f"builtins.fromTOML {nix_str(d)}" for d in _toml_documents()]
    results = nix_batch(exprs)
    assert [nl_eval(e) for e in exprs] == [(r.ok, r.out if r.ok else r.message) for r in
                                           (results[e] for e in exprs)]
