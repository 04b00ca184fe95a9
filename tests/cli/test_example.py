"""The main job's example recipe gives what nix-instantiate gives."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "default.nix"


def _run(argv, **env):
    return subprocess.run(argv, capture_output=True, text=True, check=True, env=env or None).stdout


@pytest.mark.skipif(shutil.which("nix-instantiate") is None, reason="Nix 2.8 not installed")
def test_example_matches_nix(tmp_path):
    import os

    env = dict(os.environ, NIXLITE_STORE=str(tmp_path / "store"))
    ours = [sys.executable, "-m", "nixlite"]
    assert _run(ours + ["instantiate", str(EXAMPLE), "-A", "image"], **env) == \
        _run(["nix-instantiate", str(EXAMPLE), "-A", "image"])
    # today's nix-instantiate ends --json output with a newline; 2.8 does not
    assert _run(ours + ["eval", "--strict", "--json", str(EXAMPLE), "-A", "config"], **env) == \
        _run(["nix-instantiate", "--eval", "--strict", "--json", str(EXAMPLE), "-A", "config"]) + "\n"
