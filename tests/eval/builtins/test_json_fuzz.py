"""fromJSON on seeded random fragments of (mostly broken) JSON, against Nix 2.8:
the same value, or the same nlohmann error text (line, column, last read)."""

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
