"""Suite-wide settings and the fixtures for inputs kept outside the repository.

Under CI (``CI`` set) every hypothesis test runs a fixed, derandomised set of examples,
so a run's verdict depends only on the code; locally they keep exploring new inputs
(and remember failures in the example database).

``../shared`` (beside the repository) holds test inputs that are not ours to ship: the
seed (upstream dockerTools) and the nixpkgs corpus.  A plain ``git clone`` has none of
it; tests that need it take the ``shared`` or ``seed`` fixture and are skipped, with the
reason, when it is absent.  Everything else draws the same cases either way."""

import os
from pathlib import Path

import pytest
from hypothesis import settings

settings.register_profile("ci", derandomize=True, database=None, deadline=None)
if os.environ.get("CI"):
    settings.load_profile("ci")

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


@pytest.fixture(scope="session")
def shared() -> Path:
    """The ``../shared`` directory beside the repository."""
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} is absent (test inputs beside the repository; a plain clone has none)")
    return SHARED


@pytest.fixture(scope="session")
def seed(shared) -> Path:
    """The seed: upstream dockerTools' ``default.nix``, a test input."""
    path = shared / "seed" / "dockertools-default.nix"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    return path
