"""pullImage against a real docker-registry on 127.0.0.1 (bytes equal skopeo copy's), the
pulled image as a base for buildImage (the seed's shell agrees), exportImage and mergeImages,
the Nix database of the WithNixDb variants (read by nix-store 2.8), and hostile base images."""

from __future__ import annotations

import gzip
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile

import pytest
from stepkit import add_tree, needs_store_mount, realise
from test_build_image import base_json, build_image, physical_bytes, seed_result
from test_stream import needs_busybox, static_busybox_pkg, stream_layered

from nixlite.build.native import StepFailed

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(__file__)), "image", "registry"))

from regkit import skopeo  # noqa: E402


def push(store, tmp_path, archive_path: str, registry, ref: str) -> str:
    plain = tmp_path / "push.tar"
    plain.write_bytes(subprocess.run(["pigz", "-dc", archive_path], capture_output=True,
                                     check=True).stdout)
    skopeo("copy", "-q", "--dest-tls-verify=false", f"docker-archive:{plain}",
           f"docker://{registry.host}/{ref}")
    return json.loads(skopeo("inspect", "--tls-verify=false",
                             f"docker://{registry.host}/{ref}").stdout)["Digest"]


def pull(store, registry, repo, digest, name="final/app", tag="1.0"):
    return realise(store, "nixlite-pull-image", f"docker-image-{name.replace('/', '-')}-{tag}.tar", {
        "imageName": f"{registry.host}/{repo}", "imageDigest": digest, "os": "linux",
        "arch": "amd64", "finalImageName": name, "finalImageTag": tag, "tlsVerify": False})


@needs_busybox
def test_pull_image_equals_skopeo_copy_and_bases_a_build(store, tmp_path, registry):
    busybox = static_busybox_pkg(store, tmp_path)
    built = stream_layered(store, "app", [busybox], {"Env": ["PATH=/bin"]}, tag="v1")
    digest = push(store, tmp_path, store.physical(built["archive"]), registry, "test/app:v1")
    pulled = pull(store, registry, "test/app", digest)
    expected = tmp_path / "skopeo.tar"
    skopeo("--override-os", "linux", "--override-arch", "amd64", "copy", "-q",
           "--src-tls-verify=false", f"docker://{registry.host}/test/app@{digest}",
           f"docker-archive://{expected}:final/app:1.0")
    assert physical_bytes(store, pulled) == expected.read_bytes()

    # exportImage: the merged root file system of the pulled image
    exported = realise(store, "nixlite-export-image", "app-export.tar", {"fromImage": pulled})
    with tarfile.open(store.physical(exported)) as tar:
        names = tar.getnames()
        sh = tar.getmember("./bin/sh")
    assert sh.issym() and sh.linkname == "busybox"
    assert f".{busybox}/bin/busybox" in names and "./nix/store" in names
    assert names == sorted(names, key=lambda n: n.split("/"))


@needs_store_mount
def test_build_image_on_a_pulled_base_equals_the_seed(store, tmp_path, registry):
    tool = add_tree(store, tmp_path, "tool", {"bin/tool": ("exec", b"tool")})
    _, base = build_image(store, "base", [tool], {"Env": ["A=1"]}, tag="v1")
    digest = push(store, tmp_path, store.physical(base), registry, "test/base:v1")
    pulled = pull(store, registry, "test/base", digest, name="base", tag="v1")
    extra = add_tree(store, tmp_path, "extra", {"etc/motd": b"hi\n"})
    layer, image = build_image(store, "top", [extra], {"Env": ["B=2"]}, from_image=pulled)
    expected = seed_result(store, tmp_path, layer, {"Env": ["B=2"]}, name="top", tag="latest",
                           from_image=pulled)
    assert physical_bytes(store, image) == expected


def test_merge_images_holds_both(store, tmp_path):
    a_pkg = add_tree(store, tmp_path, "a", {"a": b"a"})
    b_pkg = add_tree(store, tmp_path, "b", {"b": b"b"})
    _, a = build_image(store, "a", [a_pkg], None, tag="1")
    _, b = build_image(store, "b", [b_pkg], None, tag="2")
    merged = realise(store, "nixlite-merge-images", "merge-docker-images", {"images": [a, b]})
    plain = tmp_path / "merged.tar"
    plain.write_bytes(subprocess.run(["pigz", "-dc", store.physical(merged)], capture_output=True,
                                     check=True).stdout)
    for tag in ("a:1", "b:2"):
        info = json.loads(skopeo("inspect", f"docker-archive:{plain}:{tag}").stdout)
        assert len(info["Layers"]) == 1


@pytest.mark.skipif(not shutil.which("nix-store"), reason="nix-store (Debian nix-bin) is needed")
def test_nix_db_is_readable_by_nix_store(store, tmp_path):
    libc = add_tree(store, tmp_path, "glibc", {"lib/libc.so": b"libc"})
    app = add_tree(store, tmp_path, "app", {"bin/app": ("exec", libc.encode())}, refs=[libc])
    layer = realise(store, "nixlite-docker-layer", "docker-layer-db", {
        "name": "db", "baseJson": base_json(None), "contents": [app], "nixDb": True,
        "extraCommands": "test -f nix/var/nix/db/db.sqlite"})
    root = tmp_path / "root"
    root.mkdir()
    subprocess.run(["tar", "-C", str(root), "-xf", store.physical(layer + "/layer.tar")], check=True)
    assert os.readlink(root / "nix/var/nix/gcroots/docker" / os.path.basename(app)) == app
    dump = subprocess.run(["nix-store", "--dump-db"], capture_output=True, text=True,
                          env={**os.environ, "NIX_REMOTE": f"local?root={root}", "USER": "nobody",
                               "NIX_STATE_DIR": f"{root}/nix/var/nix"})
    assert dump.returncode == 0, dump.stderr
    registration = dump.stdout.splitlines()
    info = store.query_path_info(app)
    at = registration.index(app)
    assert registration[at + 1] == info.nar_hash.hex()  # --dump-db prints base-16 hashes
    assert registration[at + 2] == str(info.nar_size)
    assert registration[at + 4:at + 6] == ["1", libc]
    subprocess.run(["chmod", "-R", "u+w", str(root)], check=False)


# hostile base images ----------------------------------------------------------------------

def tar_bytes(*members) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, kind, payload in members:
            info = tarfile.TarInfo(name)
            if kind == "file":
                info.size = len(payload)
                tar.addfile(info, io.BytesIO(payload))
            else:
                info.type = tarfile.SYMTYPE if kind == "symlink" else tarfile.LNKTYPE
                info.linkname = payload
                tar.addfile(info)
    return out.getvalue()


def hostile(store, tmp_path, name, data: bytes) -> str:
    path = tmp_path / f"{name}.tar"
    path.write_bytes(data)
    return store.add_path(str(path), name, recursive=False)[0]


MANIFEST = json.dumps([{"Config": "c.json", "RepoTags": ["x:y"], "Layers": ["l/layer.tar"]}]).encode()
CONFIG = json.dumps({"architecture": "amd64", "os": "linux",
                     "rootfs": {"type": "layers", "diff_ids": ["sha256:" + "0" * 64]}}).encode()
HOSTILE = {
    "dotdot": (tar_bytes(("../../escaped", "file", b"x"), ("manifest.json", "file", MANIFEST)),
               "has a '..' component"),
    "link-out": (tar_bytes(("l/layer.tar", "symlink", "/etc/passwd"),
                           ("manifest.json", "file", MANIFEST), ("c.json", "file", CONFIG)),
                 "points outside the archive"),
    "through-link": (tar_bytes(("l", "symlink", "."), ("l/../../x", "file", b"x")),
                     "'..' component"),
    "write-through-link": (tar_bytes(("d", "symlink", "sub"), ("sub/keep", "file", b""),
                                     ("d/x", "file", b"x")),
                           "written through the symbolic link"),
    "hardlink-out": (tar_bytes(("h", "hardlink", "/etc/passwd")), "not a file extracted before"),
}


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_hostile_base_image_fails_cleanly(store, tmp_path, kind):
    data, message = HOSTILE[kind]
    base = hostile(store, tmp_path, f"hostile-{kind}", data)
    tool = add_tree(store, tmp_path, "tool", {"bin/tool": b"t"})
    before = set(os.listdir(tmp_path))
    with pytest.raises(StepFailed, match=message) as failure:
        build_image(store, "victim", [tool], None, from_image=base)
    assert base in str(failure.value) and store.real_dir not in str(failure.value)
    assert set(os.listdir(tmp_path)) == before
    assert not os.path.exists("/etc/escaped") and not os.path.exists(tmp_path.parent / "escaped")
    assert not [p for p in store.all_valid_paths() if p.endswith("docker-image-victim.tar.gz")]


def test_decompression_bomb_base_image_is_refused(store, tmp_path, monkeypatch):
    monkeypatch.setenv("NIXLITE_MAX_DECOMPRESSED_SIZE", "1M")
    bomb = gzip.compress(tar_bytes(("zeros", "file", bytes(4 << 20))), compresslevel=9)
    base = hostile(store, tmp_path, "bomb", bomb)
    tool = add_tree(store, tmp_path, "tool", {"bin/tool": b"t"})
    with pytest.raises(StepFailed, match="1 MiB|1048576"):
        build_image(store, "victim", [tool], None, from_image=base)


@pytest.mark.parametrize("kind", ["dotdot", "link-out"])
def test_hostile_base_under_stream_and_run_as_root(store, tmp_path, kind):
    """The same archives as fromImage of streamLayeredImage's conf and of runAsRoot's layer."""
    data, _ = HOSTILE[kind]
    base = hostile(store, tmp_path, f"hostile-{kind}", data)
    tool = add_tree(store, tmp_path, "tool", {"bin/tool": b"t"})
    with pytest.raises(StepFailed, match="'\\.\\.'|is a link|no member") as failure:
        stream_layered(store, "victim", [tool], {}, from_image=base)
    assert store.real_dir not in str(failure.value)
    with pytest.raises(StepFailed, match="'\\.\\.'|is a link|no member|outside"):
        realise(store, "nixlite-docker-layer", "docker-layer-victim", {
            "name": "victim", "baseJson": base_json(None), "contents": [tool],
            "runAsRoot": "true", "fromImage": base})
    assert not os.path.exists(tmp_path.parent / "escaped")
