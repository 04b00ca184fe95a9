"""Fixtures for evaluator tests: run nixlite in-process and the reference Nix 2.8."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from nixlite.cli import main

HAVE_NIX = shutil.which("nix-instantiate") is not None


def _run_nix(argv: list[str], cwd=None, stdin: str | None = None) -> tuple[int, str, str]:
    p = subprocess.run(["nix-instantiate", "--eval", *argv], capture_output=True, text=True,
                       cwd=cwd, input=stdin,
                       env={"PATH": "/usr/bin:/bin", "HOME": "/tmp", "NIX_PATH": ""})
    return p.returncode, p.stdout, p.stderr


@pytest.fixture
def nixlite_eval(capsys, monkeypatch, tmp_path):
    """``nixlite_eval(argv)`` → (status, stdout, stderr), run in ``tmp_path``."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NIX_PATH", "")

    def run(argv: list[str]) -> tuple[int, str, str]:
        capsys.readouterr()
        rc = main(["eval", *argv])
        out = capsys.readouterr()
        return rc, out.out, out.err

    return run


@pytest.fixture
def nix_eval(tmp_path):
    """``nix_eval(argv)`` → (status, stdout, stderr) of nix-instantiate --eval in ``tmp_path``."""
    if not HAVE_NIX:
        pytest.skip("nix-instantiate (Nix 2.8) not installed")

    def run(argv: list[str], stdin: str | None = None) -> tuple[int, str, str]:
        return _run_nix(argv, cwd=tmp_path, stdin=stdin)

    return run
