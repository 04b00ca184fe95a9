"""``nixlite image push`` and OCI-layout pulls, validated with skopeo and umoci."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tarfile

import pytest

from nixlite.cli import main
from imagekit import docker_archive, image_config, layer_tar
from regkit import needs_tools, skopeo

pytestmark = needs_tools


def nixlite(*args: str) -> int:
    return main(["image", *args])


@pytest.fixture
def archive(tmp_path):
    base = layer_tar([("etc/motd", b"pushed by nixlite\n"), ("bin/tool", os.urandom(200_000))],
                     symlinks=[("bin/t", "tool")])
    top = layer_tar([("srv/index.html", b"<html>&</html>\n")])
    layers = [base, top]
    config = image_config(layers)
    return docker_archive(tmp_path / "in.tar", layers, config, repo_tags=["app:1"]), config


def test_push_archive_then_skopeo_inspects_and_copies_back(registry, archive, tmp_path, capsys):
    path, config = archive
    ref = f"docker://{registry.host}/pushed/app:1"
    assert nixlite("push", str(path), ref, "--tls-verify=false") == 0
    captured = capsys.readouterr()
    assert "2 blobs uploaded" not in captured.err and "3 blobs uploaded" in captured.err
    assert captured.out.startswith(f"{registry.host}/pushed/app@sha256:")
    info = json.loads(skopeo("inspect", "--tls-verify=false", ref).stdout)
    assert info["Architecture"] == "amd64" and info["Env"] == ["PATH=/bin", "X=<&>"]
    assert len(info["Layers"]) == 2
    raw = json.loads(skopeo("inspect", "--raw", "--tls-verify=false", ref).stdout)
    assert raw["mediaType"] == "application/vnd.docker.distribution.manifest.v2+json"
    assert {d["mediaType"] for d in raw["layers"]} == {
        "application/vnd.docker.image.rootfs.diff.tar.gzip"}
    back = tmp_path / "back.tar"
    skopeo("copy", "-q", "--src-tls-verify=false", ref, f"docker-archive:{back}")  # checks diff_ids
    with tarfile.open(back) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))
        assert tar.extractfile(manifest[0]["Config"]).read() == config
    # pushing again finds every blob in place
    assert nixlite("push", str(path), ref, "--tls-verify=false") == 0
    assert "0 blobs uploaded, 0 mounted, 3 already present" in capsys.readouterr().err


def test_push_chunked_upload(registry, archive, proxy, tmp_path):
    path, _ = archive
    ref = f"docker://{proxy.host}/pushed/chunked:1"
    assert nixlite("push", str(path), ref, "--tls-verify=false", "--chunk-size", "65536",
                   "-q") == 0
    patches = [p for m, p, s in proxy.log if m == "PATCH" and s == 202]
    assert len(patches) >= 3
    back = tmp_path / "back.tar"
    skopeo("copy", "-q", "--src-tls-verify=false", ref, f"docker-archive:{back}")


def test_push_between_repositories_mounts_blobs(images, proxy, tmp_path):
    src = f"docker://{proxy.host}/test/simple:v1"
    dest = f"docker://{proxy.host}/mounted/simple:v1"
    assert nixlite("push", src, dest, "--tls-verify=false", "-q") == 0
    mounts = [(p, s) for m, p, s in proxy.log if m == "POST" and "mount=" in p]
    assert mounts and all(s == 201 for _, s in mounts)
    assert not [p for m, p, _ in proxy.log if m in ("PATCH", "PUT") and "/blobs/uploads/" in p]
    # only the config is read (for its diff_ids); no layer is downloaded
    assert len([p for m, p, _ in proxy.log if m == "GET" and "/blobs/" in p]) == 1
    original = skopeo("inspect", "--raw", "--tls-verify=false",
                      f"docker://{images.host}/test/simple:v1").stdout
    copied = skopeo("inspect", "--raw", "--tls-verify=false",
                    f"docker://{images.host}/mounted/simple:v1").stdout
    assert copied == original  # same manifest bytes, same digest


def test_pull_oci_layout_passes_skopeo_and_umoci(images, tmp_path):
    layout = tmp_path / "layout"
    assert nixlite("pull", f"docker://{images.host}/test/simple:v1", "-o", str(layout),
                   "--format", "oci", "--tls-verify=false", "-q") == 0
    info = json.loads(skopeo("inspect", f"oci:{layout}:v1").stdout)
    assert info["Architecture"] == "amd64" and len(info["Layers"]) == 3
    skopeo("copy", "-q", f"oci:{layout}:v1", f"docker-archive:{tmp_path / 'check.tar'}")
    if shutil.which("umoci"):
        bundle = tmp_path / "bundle"
        subprocess.run(["umoci", "unpack", "--rootless", "--image", f"{layout}:v1", str(bundle)],
                       check=True, capture_output=True)
        root = bundle / "rootfs"
        assert (root / "etc/os-release").read_bytes() == b"ID=nixlite\n"
        assert os.readlink(root / "bin/hi") == "hello"
        assert (root / "app/data.bin").stat().st_size == 300_000


def test_pull_oci_index_to_layout_keeps_manifest_digest(images, tmp_path):
    layout = tmp_path / "layout"
    assert nixlite("pull", f"docker://{images.host}/test/multioci:latest", "-o", str(layout),
                   "--format", "oci", "--arch", "arm64", "--tls-verify=false", "-q") == 0
    index = json.loads((layout / "index.json").read_bytes())
    registry_manifest = skopeo("inspect", "--raw", "--tls-verify=false",
                               f"docker://{images.host}/test/multioci:arm64").stdout.encode()
    import hashlib
    assert index["manifests"][0]["digest"] == "sha256:" + hashlib.sha256(registry_manifest).hexdigest()
    assert json.loads(skopeo("inspect", f"oci:{layout}:latest").stdout)["Architecture"] == "arm64"


def test_push_oci_layout_writes_an_oci_manifest(registry, archive, tmp_path):
    path, _ = archive
    layout = tmp_path / "layout"
    assert nixlite("convert", str(path), str(layout), "-q") == 0
    ref = f"docker://{registry.host}/pushed/oci:2"
    assert nixlite("push", f"oci:{layout}:1", ref, "--tls-verify=false", "-q") == 0
    raw = json.loads(skopeo("inspect", "--raw", "--tls-verify=false", ref).stdout)
    assert raw["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    skopeo("copy", "-q", "--src-tls-verify=false", ref, f"docker-archive:{tmp_path / 'b.tar'}")


def test_push_from_stdin_in_process(registry, archive, tmp_path, monkeypatch):
    path, _ = archive
    import io
    import sys
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(path.read_bytes())))
    ref = f"docker://{registry.host}/pushed/stdin-in-process:1"
    assert nixlite("push", "-", ref, "--tls-verify=false", "-q") == 0
    assert json.loads(skopeo("inspect", "--tls-verify=false", ref).stdout)["Os"] == "linux"


def test_copy_between_registries_streams_blobs(images, proxy, tmp_path):
    # the proxy counts as another registry: no mount is possible, blobs stream through
    src = f"docker://{proxy.host}/test/multi:latest"
    dest = f"docker://{images.host}/copied/multi:arm"
    assert nixlite("push", src, dest, "--arch", "arm", "--variant", "v7",
                   "--tls-verify=false", "-q") == 0
    gets = [p for m, p, s in proxy.log if m == "GET" and "/blobs/" in p]
    assert len(gets) == 2  # config and the one layer, each read once
    original = skopeo("inspect", "--raw", "--tls-verify=false",
                      f"docker://{images.host}/test/multi:arm").stdout
    copied = skopeo("inspect", "--raw", "--tls-verify=false", dest).stdout
    assert copied == original


def test_pull_adds_to_an_existing_layout(images, tmp_path, capsys):
    layout = tmp_path / "layout"
    for name in ("test/simple:v1", "test/multi:arm64"):
        assert nixlite("pull", f"docker://{images.host}/{name}", "-o", str(layout), "--format",
                       "oci", "--arch", "arm64" if "multi" in name else "amd64",
                       "--tls-verify=false", "-q") == 0
    assert json.loads(skopeo("inspect", f"oci:{layout}:v1").stdout)["Architecture"] == "amd64"
    assert json.loads(skopeo("inspect", f"oci:{layout}:arm64").stdout)["Architecture"] == "arm64"
    assert sorted(p.name for p in layout.iterdir()) == ["blobs", "index.json", "oci-layout"]
    other = tmp_path / "other"
    other.mkdir()
    (other / "file").write_text("x")
    assert nixlite("pull", f"docker://{images.host}/test/simple:v1", "-o", str(other),
                   "--format", "oci", "--tls-verify=false") == 1
    assert "the directory is not empty and not an OCI layout" in capsys.readouterr().err


def test_push_from_stdin(registry, archive):
    import sys

    path, config = archive
    ref = f"docker://{registry.host}/pushed/stdin:1"
    result = subprocess.run([sys.executable, "-m", "nixlite", "image", "push", "-", ref,
                             "--tls-verify=false", "-q"], input=path.read_bytes(),
                            capture_output=True, timeout=120)
    assert result.returncode == 0, result.stderr
    raw = json.loads(skopeo("inspect", "--raw", "--tls-verify=false", ref).stdout)
    assert raw["config"]["digest"] == "sha256:" + hashlib.sha256(config).hexdigest()
