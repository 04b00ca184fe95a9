"""A registry on loopback for the plan of a recipe that pulls its base image."""

from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(__file__)), "image", "registry"))

from regkit import session_registry  # noqa: E402


registry = pytest.fixture(scope="session", name="registry")(session_registry)
