"""Helpers for the builtin tests: evaluate many expressions with one run of the
reference ``nix-instantiate`` (2.8), and evaluate with nixlite in-process."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from nixlite.errors import NixliteError
from nixlite.eval.printer import print_ambiguous
from nixlite.eval.state import EvalState
from nixlite.eval.values import deep_force

HAVE_NIX = shutil.which("nix-instantiate") is not None
_ENV = {"PATH": "/usr/bin:/bin", "HOME": "/tmp", "NIX_PATH": ""}


class NixResult:
    """What Nix printed for one expression: ``ok`` and the printed value or the error."""

    __slots__ = ("ok", "out", "err")

    def __init__(self, ok: bool, out: str, err: str) -> None:
        self.ok = ok
        self.out = out
        self.err = err

    @property
    def message(self) -> str:
        """The first line of Nix's error, without ``error: ``."""
        first = self.err.strip().splitlines()[0] if self.err.strip() else ""
        return first.removeprefix("error: ")


def _nix(files: list[str], cwd: str) -> tuple[int, str, str]:
    p = subprocess.run(["nix-instantiate", "--eval", "--strict", *files],
                       capture_output=True, env=_ENV, cwd=cwd)
    dec = lambda b: b.decode("utf-8", "surrogateescape")  # noqa: E731
    return p.returncode, dec(p.stdout), dec(p.stderr)


def run_nix_batch(exprs: list[str], expect_ok: bool = True) -> dict[str, NixResult]:
    """Evaluate every expression with ``--strict``: one Nix process for the whole
    batch when all succeed, else one per expression (in a few parallel workers)."""
    with tempfile.TemporaryDirectory() as d:
        files = []
        for i, e in enumerate(exprs):
            p = Path(d, f"c{i}.nix")
            p.write_text(e)
            files.append(str(p))
        if expect_ok:
            rc, out, _ = _nix(files, d)
            lines = out.split("\n")
            if rc == 0 and len(lines) == len(exprs) + 1:
                return {e: NixResult(True, line, "") for e, line in zip(exprs, lines)}
        with ThreadPoolExecutor(4) as pool:
            runs = list(pool.map(lambda f: _nix([f], d), files))
        return {e: NixResult(rc == 0, out.rstrip("\n"), err) for e, (rc, out, err) in zip(exprs, runs)}


def nixlite_eval(expr: str) -> tuple[bool, str]:
    """(True, printed value) or (False, error message), as ``--eval --strict`` would."""
    state = EvalState(use_nix_path_env=False)
    try:
        v = state.eval_string(expr, "«string»", tempfile.gettempdir())
        return True, print_ambiguous(deep_force(v))
    except NixliteError as e:
        return False, e.message


@pytest.fixture(scope="session")
def nix_batch():
    """``nix_batch(exprs)`` → results from Nix 2.8, memoised per expression list."""
    if not HAVE_NIX:
        pytest.skip("nix-instantiate (Nix 2.8) not installed")
    memo: dict[tuple, dict[str, NixResult]] = {}

    def get(exprs: list[str], expect_ok: bool = True) -> dict[str, NixResult]:
        key = (tuple(exprs), expect_ok)
        if key not in memo:
            memo[key] = run_nix_batch(list(exprs), expect_ok)
        return memo[key]

    return get


@pytest.fixture(scope="session")
def nl_eval():
    """``nl_eval(expr)`` → (True, printed value) or (False, error message)."""
    return nixlite_eval


@pytest.fixture(scope="session")
def nix_one():
    """``nix_one(expr)`` → NixResult of ``nix-instantiate --eval --strict`` 2.8."""
    if not HAVE_NIX:
        pytest.skip("nix-instantiate (Nix 2.8) not installed")

    def run(expr: str) -> NixResult:
        with tempfile.TemporaryDirectory() as d:
            p = Path(d, "e.nix")
            p.write_bytes(expr.encode("utf-8", "surrogateescape"))
            rc, out, err = _nix([str(p)], d)
        return NixResult(rc == 0, out.rstrip("\n"), err)

    return run


def nix_string(s: str) -> str:
    """A Nix string literal for ``s``."""
    out = s.replace("\\", "\\\\").replace('"', '\\"').replace("${", "\\${")
    return '"' + out.replace("\n", "\\n").replace("\t", "\\t").replace("\r", "\\r") + '"'


@pytest.fixture(scope="session")
def nix_str():
    return nix_string
