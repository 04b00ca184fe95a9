"""`nixlite build` of the fixture recipes on nixlite's own package set (`import <nixpkgs> {}`
with no nixpkgs on the search path): host packages built by the namespace runner, image
derivations by the native steps; a second build builds nothing; `./result | docker load`'s
input is the stream."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from nixlite.image.docker_archive import DockerArchive


FIXTURES = Path(__file__).parent.parent.parent / "fixtures" / "dockertools"


@pytest.fixture
def nixlite_build(monkeypatch, tmp_path, capsys):
    """``nixlite build ARGS`` in-process on a fresh store; returns (status, stdout, stderr)."""
    from nixlite.cli import main

    if subprocess.run(["unshare", "-rm", "true"], capture_output=True).returncode != 0:
        pytest.skip("user and mount namespaces are unavailable")
    monkeypatch.setenv("NIX_PATH", "")
    monkeypatch.chdir(tmp_path)
    store = str(tmp_path / "store")

    def run(*args: str):
        capsys.readouterr()
        status = main(["build", *args, "--store", store])
        out, err = capsys.readouterr()
        return status, out, err
    return run


def test_build_image_recipe_twice_and_push(nixlite_build, tmp_path, registry, capsys):
    status, out, err = nixlite_build(str(FIXTURES / "hello.nix"))
    assert status == 0, err
    assert out.strip().endswith("-docker-image-Hello.tar.gz") and "docker-layer-Hello" in err
    image = os.path.realpath(tmp_path / "result")
    assert open(image, "rb").read(2) == b"\x1f\x8b"
    plain = tmp_path / "image.tar"
    plain.write_bytes(subprocess.run(["pigz", "-dc", image], capture_output=True, check=True).stdout)
    info = subprocess.run(["skopeo", "inspect", f"docker-archive:{plain}"], capture_output=True,
                          text=True)
    assert info.returncode == 0 and '"Architecture": "amd64"' in info.stdout
    status, again, err = nixlite_build(str(FIXTURES / "hello.nix"))
    assert (status, again) == (0, out) and "will be built" not in err
    from nixlite.cli import main  # what the README tells users to do with the result

    assert main(["image", "push", "--tls-verify=false", "result",
                 f"docker://{registry.host}/hello:v1"]) == 0, capsys.readouterr().err
    pushed = subprocess.run(["skopeo", "inspect", "--tls-verify=false",
                             f"docker://{registry.host}/hello:v1"], capture_output=True, text=True)
    assert pushed.returncode == 0 and '"org.opencontainers.image.title": "hello"' in pushed.stdout


def test_stream_recipe_result_writes_the_layered_archive(nixlite_build, tmp_path):
    status, printed, err = nixlite_build(str(FIXTURES / "layered.nix"), "--arg", "stream", "true",
                                         "-o", "stream")
    assert status == 0, err
    # `$(nixlite build img.nix) | docker load`: the printed path is the script, on disk
    script = printed.strip()
    assert script == os.path.realpath(tmp_path / "stream") and script.endswith("-stream-layered")
    with subprocess.Popen([script], stdout=subprocess.PIPE) as run:
        image = DockerArchive(run.stdout).image()  # read as docker load reads a pipe
    assert run.returncode == 0 and image.repo_tags == ["layered:latest"]
    assert image.config["config"]["Cmd"] == ["/bin/sh", "-c", "cat /home/app/data"]
    assert len(image.layers) == 3
    status, _, err = nixlite_build(str(FIXTURES / "layered.nix"), "-o", "archive")
    assert status == 0, err
    streamed = subprocess.run([str(tmp_path / "stream")], capture_output=True, check=True).stdout
    archive = subprocess.run(["pigz", "-dc", str(tmp_path / "archive")], capture_output=True,
                             check=True).stdout
    assert streamed == archive and streamed[257:262] == b"ustar"
