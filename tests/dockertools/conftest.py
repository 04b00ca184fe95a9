"""Fixtures for the dockerTools step tests: a temporary nixlite store (helpers: ``stepkit``)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(__file__)), "image"))

from nixlite.store.local import LocalStore  # noqa: E402


@pytest.fixture
def store(tmp_path):
    s = LocalStore(str(tmp_path / "nixlite"))
    yield s
    s.close()
    subprocess.run(["chmod", "-R", "u+w", str(tmp_path / "nixlite")], check=False)
