"""Fixtures for the dockerTools step tests: a temporary nixlite store (helpers: ``stepkit``)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(__file__)), "image"))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(__file__)), "image", "registry"))

from nixlite.store.local import LocalStore  # noqa: E402
from regkit import REGISTRY_BIN, Registry  # noqa: E402


@pytest.fixture
def store(tmp_path):
    s = LocalStore(str(tmp_path / "nixlite"))
    yield s
    s.close()
    subprocess.run(["chmod", "-R", "u+w", str(tmp_path / "nixlite")], check=False)


@pytest.fixture(scope="session")
def registry(tmp_path_factory):
    if not os.path.exists(REGISTRY_BIN) or not shutil.which("skopeo"):
        pytest.skip("docker-registry and skopeo are needed")
    reg = Registry(tmp_path_factory.mktemp("registry"))
    reg.start()
    yield reg
    reg.stop()
