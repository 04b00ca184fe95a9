"""The shared derivation corpus (fixtures/drv, goldens from Nix 2.8) against live Nix 2.8.

Every ``*.nix`` under fixtures/drv is instantiated by nixlite and by nix-instantiate:
same printed drvPaths (or the same first error line), and byte-identical .drv files for
the whole closure.  The corpus's own goldens are checked by its own tests; comparing with
the live reference here also covers files added after the goldens were made.
"""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parents[3] / "fixtures" / "drv"
FILES = sorted(FIXTURES.rglob("*.nix")) if FIXTURES.is_dir() else []
NIX = shutil.which("nix-instantiate")

pytestmark = [pytest.mark.nix, pytest.mark.skipif(NIX is None, reason="nix-instantiate not installed")]


@pytest.mark.skipif(not FILES, reason="fixtures/drv has no corpus yet")
@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(FIXTURES)))
def test_fixture_matches_nix(path, store):
    ref = subprocess.run([NIX, str(path)], capture_output=True, text=True, cwd=path.parent)
    env = dict(os.environ, NIXLITE_STORE=store.root)
    ours = subprocess.run([sys.executable, "-m", "nixlite", "instantiate", str(path)],
                          capture_output=True, text=True, cwd=path.parent, env=env)
    if ref.returncode != 0:
        assert ours.returncode != 0
        nix_errors = [line for line in ref.stderr.splitlines() if line.startswith("error:")]
        assert ours.stderr.splitlines()[0] == nix_errors[0]
        return
    assert ours.returncode == 0, ours.stderr
    assert ours.stdout == ref.stdout
    roots = [line.split("!")[0] for line in ours.stdout.split()]
    for drv in sorted(p for p in store.closure(roots) if p.endswith(".drv")):
        with open(drv, "rb") as f:
            theirs = f.read()
        with open(store.physical(drv), "rb") as f:
            assert f.read() == theirs, drv
