"""`nixlite build` of the fixture recipes on nixlite's own package set (`import <nixpkgs> {}`
with no nixpkgs on the search path): host packages built by the namespace runner, image
derivations by the native steps; a second build builds nothing; `./result | docker load`'s
input is the stream."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
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


def test_nix_shell_image_runs_the_derivations_build(nixlite_build, tmp_path):
    """buildNixShellImage: the image's command sources the derivation's stdenv setup in
    its build environment (nix-shell's rc file) and `buildDerivation` runs its builder,
    as uid 1000 in /build; the environment is the derivation's, passAsFile included."""
    from stepkit import unpack

    status, printed, err = nixlite_build(str(FIXTURES / "nix-shell.nix"))
    assert status == 0, err
    assert printed.strip().endswith("-greeting-1.0-env.tar.gz")
    plain = tmp_path / "shell.tar"
    plain.write_bytes(subprocess.run(["pigz", "-dc", printed.strip()], capture_output=True,
                                     check=True).stdout)
    rootfs, runtime = unpack(plain, tmp_path, "latest")
    process = runtime["process"]
    assert (process["user"]["uid"], process["user"]["gid"], process["cwd"]) == (1000, 1000, "/build")
    env = dict(item.split("=", 1) for item in process["env"])
    assert env["message"] == "hello from the build environment"
    assert env["out"].endswith("-greeting-1.0") and env["NIX_BUILD_TOP"] == "/build"
    assert open(rootfs / env["notePath"].lstrip("/")).read() == "passed as a file"
    passwd = rootfs / os.readlink(rootfs / "etc/passwd").lstrip("/")  # a link into the store
    assert "nixbld:x:1000:1000:Build user:/build:/noshell\n" in passwd.read_text()
    assert process["args"][0].endswith("/bin/bash") and len(process["args"]) == 2  # --run
    run = subprocess.run(["unshare", "-r", shutil.which("chroot"), str(rootfs), "/usr/bin/env", "-i",
                          *process["env"], "/bin/sh", "-c", 'cd "$0" && exec "$@"', process["cwd"],
                          *process["args"]], capture_output=True, text=True)
    assert (run.returncode, run.stdout) == (0, "hello from the build environment\npassed as a file"), \
        run.stderr
    assert os.path.isfile(rootfs / env["out"].lstrip("/") / "share" / "greeting")


@pytest.mark.skipif(shutil.which("nix-instantiate") is None, reason="Nix 2.8 not installed")
def test_nix_shell_image_instantiates_as_nix_does(tmp_path):
    """The same drvPath as nix-instantiate's over nixlite's package set (the rc file, the
    environment, passAsFile's file and the image's derivations all in it)."""
    pkgs = Path(__file__).parent.parent.parent / "nixlite" / "pkgs"
    args = [str(FIXTURES / "nix-shell.nix"), "-I", f"nixpkgs={pkgs}"]
    env = {**os.environ, "NIX_PATH": "", "NIXLITE_STORE": str(tmp_path / "store")}
    nix = subprocess.run(["nix-instantiate", *args], capture_output=True, text=True, env=env)
    ours = subprocess.run([sys.executable, "-m", "nixlite", "instantiate", *args],
                          capture_output=True, text=True, env=env)
    assert nix.returncode == 0 and ours.returncode == 0, nix.stderr + ours.stderr
    assert ours.stdout.strip() == nix.stdout.strip().splitlines()[-1]
