"""The main job's example recipe: the drvPaths nix-instantiate gives for it (on nixlite's
own package set), and the image nixlite builds from it runs its command."""

import gzip
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "default.nix"
PKGS = ROOT / "nixlite" / "pkgs"
NIXLITE = [sys.executable, "-m", "nixlite"]


def _run(argv, env=None, cwd=None):
    return subprocess.run(argv, capture_output=True, text=True, check=True, env=env, cwd=cwd).stdout


@pytest.fixture
def env(tmp_path):
    return dict(os.environ, NIXLITE_STORE=str(tmp_path / "store"), NIX_PATH="")


@pytest.mark.nix
@pytest.mark.skipif(shutil.which("nix-instantiate") is None, reason="Nix 2.8 not installed")
def test_example_matches_nix(env):
    nix = ["nix-instantiate", "-I", f"nixpkgs={PKGS}"]
    for attr in ("image", "layered"):
        assert _run(NIXLITE + ["instantiate", str(EXAMPLE), "-A", attr], env) == \
            _run(nix + [str(EXAMPLE), "-A", attr])
    # today's nix-instantiate ends --json output with a newline; 2.8 does not
    assert _run(NIXLITE + ["eval", "--strict", "--json", str(EXAMPLE), "-A", "config"], env) == \
        _run(nix + ["--eval", "--strict", "--json", str(EXAMPLE), "-A", "config"]) + "\n"


@pytest.mark.slow
def test_example_image_runs(env, tmp_path):
    for tool in ("skopeo", "umoci", "unshare", "chroot"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed")
    out = _run(NIXLITE + ["build", str(EXAMPLE), "-A", "image"], env, cwd=tmp_path).split()
    assert len(out) == 1 and out[0].endswith("-docker-image-hello.tar.gz")
    archive = tmp_path / "image.tar"
    with gzip.open(tmp_path / "result") as src, open(archive, "wb") as dst:
        shutil.copyfileobj(src, dst)
    _run(["skopeo", "copy", "-q", f"docker-archive:{archive}", f"oci:{tmp_path / 'oci'}:latest"])
    _run(["umoci", "unpack", "--image", f"{tmp_path / 'oci'}:latest", str(tmp_path / "bundle")])
    rootfs = tmp_path / "bundle" / "rootfs"
    assert sorted(os.listdir(rootfs)) == ["bin", "etc", "nix", "tmp", "var"]
    assert _run(["unshare", "-r", "chroot", str(rootfs), "/bin/greet"]) == \
        "Hello from a nixlite image, running as root\n"
