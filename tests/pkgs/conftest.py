"""Fixtures for the package-set tests: nixlite and the reference Nix 2.8 run as commands,
and nixpkgs 17.09's lib (from ../shared) as the reference for nixlite's lib."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

PKGS = Path(__file__).resolve().parents[2] / "nixlite" / "pkgs"
NIXPKGS_1709 = Path(__file__).resolve().parents[3] / "shared" / "corpora" / "nixpkgs-17.09.tar.gz"
HAVE_NIX = shutil.which("nix-instantiate") is not None
# nix-build without a binary cache (the test machines have no network) and without NIX_PATH.
NIX_ENV = {"PATH": "/usr/bin:/bin", "HOME": "/tmp", "NIX_PATH": ""}
NO_CACHE = ["--option", "substituters", ""]


@pytest.fixture
def nix():
    """``nix(argv)`` → CompletedProcess of a reference Nix command (nix-instantiate,
    nix-build …) without NIX_PATH; skips when Nix is not installed."""
    if not HAVE_NIX:
        pytest.skip("the reference Nix 2.8 (nix-bin) is not installed")

    def run(argv: list[str], cwd=None) -> subprocess.CompletedProcess:
        if argv[0] == "nix-build":
            argv = [argv[0], *NO_CACHE, *argv[1:]]
        return subprocess.run(argv, capture_output=True, text=True, cwd=cwd, env=NIX_ENV)

    return run


@pytest.fixture
def pkgs_dir() -> Path:
    """nixlite's package set (what ``-I nixpkgs=`` points the reference Nix at)."""
    return PKGS


@pytest.fixture
def nixlite(tmp_path):
    """``nixlite(argv)`` → CompletedProcess of ``python -m nixlite argv`` with its own
    store and no NIX_PATH (so ``<nixpkgs>`` is nixlite's package set)."""
    env = dict(os.environ, NIXLITE_STORE=str(tmp_path / "nixlite-store"), NIX_PATH="",
               NIXLITE_CACHE_DIR=str(tmp_path / "cache"))

    def run(argv: list[str], cwd=None) -> subprocess.CompletedProcess:
        p = subprocess.run([sys.executable, "-m", "nixlite", *argv], capture_output=True,
                           text=True, env=env, cwd=cwd or tmp_path)
        if argv[0] == "build":  # printed where they are on disk: compared as /nix/store paths
            p.stdout = p.stdout.replace(f"{env['NIXLITE_STORE']}/store/", "/nix/store/")
        return p

    return run


@pytest.fixture(scope="session")
def nixpkgs_1709_lib(tmp_path_factory) -> Path:
    """nixpkgs 17.09's lib directory, extracted from ../shared's corpus."""
    if not NIXPKGS_1709.exists():
        pytest.skip(f"{NIXPKGS_1709} is absent (a plain clone has no ../shared)")
    dest = tmp_path_factory.mktemp("nixpkgs-1709")
    with tarfile.open(NIXPKGS_1709) as tar:
        members = [m for m in tar.getmembers() if "/lib/" in m.name or m.name.endswith("/.version")]
        tar.extractall(dest, members=members, filter="data")
    (lib,) = dest.glob("*/lib")
    return lib

