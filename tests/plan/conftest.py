"""A registry on loopback for the plan of a recipe that pulls its base image."""

from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(__file__)), "image", "registry"))

from regkit import REGISTRY_BIN, Registry  # noqa: E402


@pytest.fixture(scope="session")
def registry(tmp_path_factory):
    if not os.path.exists(REGISTRY_BIN):
        pytest.skip("docker-registry is needed")
    reg = Registry(tmp_path_factory.mktemp("registry"))
    reg.start()
    yield reg
    reg.stop()
