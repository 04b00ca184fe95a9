"""A real nixpkgs (release 17.09, from ``../shared/corpora``), extracted once per test
session, and the two evaluators run on it as a user runs them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def nixpkgs_tree(shared, tmp_path_factory) -> Path:
    tarball = shared / "corpora" / "nixpkgs-17.09.tar.gz"
    if not tarball.is_file():
        pytest.skip(f"{tarball} is absent")
    dest = tmp_path_factory.mktemp("nixpkgs")
    with tarfile.open(tarball) as tar:
        tar.extractall(dest, filter="data")
    (tree,) = dest.iterdir()
    return tree


@pytest.fixture(scope="session")
def eval_both(nixpkgs_tree):
    """``eval_both(argv)`` → (nixlite's, Nix 2.8's) completed ``--eval --strict`` runs,
    with ``-I nixpkgs=TREE`` and nothing from the environment's ``NIX_PATH``."""
    if shutil.which("nix-instantiate") is None:
        pytest.skip("nix-instantiate (Nix 2.8, the reference) is not installed")
    env = dict(os.environ, NIX_PATH="")
    common = ["--strict", "-I", f"nixpkgs={nixpkgs_tree}"]

    def run(argv: list[str]):
        # Nix runs while nixlite does: the test takes as long as the slower one.
        nix = subprocess.Popen(["nix-instantiate", "--eval", "--readonly-mode", *common, *argv],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        ours = subprocess.run([sys.executable, "-m", "nixlite", "eval", *common, *argv],
                              capture_output=True, text=True, env=env)
        out, err = nix.communicate()
        return ours, subprocess.CompletedProcess(nix.args, nix.returncode, out, err)

    return run
