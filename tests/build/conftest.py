"""Fixtures for build tests: nixlite build in a private store, and Debian's nix-build 2.8."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

HAVE_NIX_BUILD = shutil.which("nix-build") is not None
DATA = os.path.join(os.path.dirname(__file__), "data")
NIX_ENV = {**os.environ, "NIX_CONFIG": "substituters =", "NIX_PATH": ""}


def nixlite_cmd(*argv: str) -> list[str]:
    return [sys.executable, "-m", "nixlite", *argv]


@pytest.fixture
def store(tmp_path) -> str:
    return str(tmp_path / "store")


@pytest.fixture
def nixlite(store, tmp_path):
    """``nixlite(*argv)`` → CompletedProcess of ``nixlite ARGV`` on the test's store, in
    ``tmp_path`` (``build`` gets ``--store``, every command ``NIXLITE_STORE``)."""

    def run(*argv: str, check: bool = False, **kw) -> subprocess.CompletedProcess:
        args = [argv[0], "--store", store, *argv[1:]] if argv[0] == "build" else list(argv)
        # the Nix settings nix-build runs with (no substituters), unless a test sets its own
        env = {**NIX_ENV, "NIXLITE_STORE": store, **kw.pop("env", {})}
        p = subprocess.run(nixlite_cmd(*args), capture_output=True, cwd=kw.pop("cwd", tmp_path),
                           env=env, **kw)
        if argv[0] == "build":
            p.stdout = logical_paths(p.stdout, store)
        if check:
            assert p.returncode == 0, p.stderr.decode()
        return p

    return run


def logical_paths(printed: bytes | str, store: str):
    """``nixlite build``'s printed output paths (where they are on disk, under ``store``) as
    the ``/nix/store`` paths nix-build prints for the same derivations."""
    real = os.path.join(store, "store") + "/"
    if isinstance(printed, str):
        return printed.replace(real, "/nix/store/")
    return printed.replace(real.encode(), b"/nix/store/")


@pytest.fixture
def nix_build(tmp_path):
    if not HAVE_NIX_BUILD:
        pytest.skip("nix-build (Nix 2.8) is not installed")

    def run(*argv: str) -> subprocess.CompletedProcess:
        return subprocess.run(["nix-build", *argv], capture_output=True, cwd=tmp_path, env=NIX_ENV)

    return run


def nix_store(*argv: str) -> bytes:
    return subprocess.run(["nix-store", *argv], capture_output=True, check=True, env=NIX_ENV).stdout
