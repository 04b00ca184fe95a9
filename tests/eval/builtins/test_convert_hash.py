"""``builtins.convertHash`` against ``nix-hash --to-base32/--to-base16`` of
Nix 2.8 (which has no convertHash builtin but the same encodings)."""

from __future__ import annotations

import base64
import hashlib
import random
import shutil
import subprocess

import pytest

ALGOS = ["md5", "sha1", "sha256", "sha512"]

pytestmark = [pytest.mark.nix,
              pytest.mark.skipif(shutil.which("nix-hash") is None, reason="Nix 2.8 not installed")]


def _nix_hash(algo: str, flag: str, hashes: list[str]) -> list[str]:
    out = subprocess.run(["nix-hash", "--type", algo, flag, *hashes],
                         capture_output=True, text=True, check=True).stdout
    return out.split()


@pytest.mark.parametrize("algo", ALGOS)
def test_convert_hash_matches_nix_hash(algo, nl_eval):
    rnd = random.Random(algo)
    hexes = [hashlib.new(algo, rnd.randbytes(rnd.randint(0, 64))).hexdigest() for _ in range(20)]
    b32 = _nix_hash(algo, "--to-base32", hexes)
    assert _nix_hash(algo, "--to-base16", b32) == hexes
    sri = [f"{algo}-" + base64.b64encode(bytes.fromhex(h)).decode() for h in hexes]
    expr = "[ " + " ".join(
        f'(builtins.convertHash {{ hash = "{h}"; hashAlgo = "{algo}"; toHashFormat = "nix32"; }})'
        f' (builtins.convertHash {{ hash = "{algo}:{b}"; toHashFormat = "base16"; }})'
        f' (builtins.convertHash {{ hash = "{b}"; hashAlgo = "{algo}"; toHashFormat = "sri"; }})'
        f' (builtins.convertHash {{ hash = "{s}"; toHashFormat = "base32"; }})'
        for h, b, s in zip(hexes, b32, sri)) + " ]"
    expected = "[ " + " ".join(
        f'"{b}" "{h}" "{s}" "{b}"' for h, b, s in zip(hexes, b32, sri)) + " ]"
    assert nl_eval(expr) == (True, expected)
