"""Fixtures for ``nixlite compare``: the command run in-process, images written with
nixlite's own writers from layer tars made by Python's tarfile (``imagekit``), a real
registry on 127.0.0.1 (``regkit``), and recipes built on one store per session."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "image"))
sys.path.insert(0, str(HERE.parent / "image" / "registry"))

from regkit import session_registry  # noqa: E402


@pytest.fixture
def compare(capsys, monkeypatch, tmp_path):
    """``compare(*args)`` → (status, stdout, stderr) of ``nixlite compare ARGS``."""
    from nixlite.cli import main

    monkeypatch.setenv("NIX_PATH", "")
    monkeypatch.delenv("NO_COLOR", raising=False)

    def run(*args: str):
        capsys.readouterr()
        try:
            status = main(["compare", *map(str, args)])
        except SystemExit as exit_:  # how argparse leaves on a bad command line
            status = exit_.code
        out, err = capsys.readouterr()
        return status, out, err

    return run


@pytest.fixture(scope="session")
def store_dir(tmp_path_factory) -> str:
    """One nixlite store for the session's recipe builds (each recipe is built once)."""
    return str(tmp_path_factory.mktemp("compare-store") / "store")


@pytest.fixture(scope="session")
def namespaces():
    if subprocess.run(["unshare", "-rm", "true"], capture_output=True).returncode != 0:
        pytest.skip("user and mount namespaces are unavailable (recipes cannot be built)")


registry = pytest.fixture(scope="session", name="registry")(session_registry)
