"""docker-archive and OCI layout: upstream's bytes, and acceptance by skopeo and umoci.

The whole streamLayeredImage output is compared byte for byte with a tarfile-driven
re-implementation of upstream's stream script; every archive and layout nixlite writes is
inspected and copied by skopeo (which checks diff_ids) and unpacked by umoci, and the root
file systems umoci and nixlite unpack are compared entry by entry.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess

import pytest

from nixlite.errors import NixliteError
from nixlite.image.docker_archive import read_docker_archive, write_docker_archive
from nixlite.image.layering import store_layers
from nixlite.image.model import Image, Layer
from nixlite.image.oci_layout import read_oci_layout, write_oci_layout
from nixlite.image.stream_layered import stream_layered_image, write_customisation_layer
from nixlite.image.tarwriter import gnu_tree_chunks
from nixlite.image.unpack import unpack_image

from image_upstream_reference import reference_stream_image

SDE = 315532800


def run(*args: str) -> str:
    proc = subprocess.run(args, capture_output=True, text=True)
    assert proc.returncode == 0, f"{' '.join(args)} failed:\n{proc.stderr}"
    return proc.stdout


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A small layered image the seed's way: a store with a library, an app and its
    closure graph, and a customisation layer made by GNU tar from a contents tree."""
    base = tmp_path_factory.mktemp("img")
    store = base / "nix" / "store"
    store.mkdir(parents=True)
    libc = store / "1b9p07z77phvv2hf6gm9f28syp39f1ag-glibc-2.33"
    (libc / "lib").mkdir(parents=True)
    (libc / "lib" / "libc.so.6").write_bytes(os.urandom(5000))
    (libc / "lib" / "libc.so").symlink_to("libc.so.6")
    app = store / "7gx4kiv5m0i7d7qkixq2cwzbr10lvxwc-hello-2.10"
    (app / "bin").mkdir(parents=True)
    (app / "bin" / "hello").write_text("#!/bin/sh\necho hello\n")
    (app / "share" / "doc" / ("d" * 120)).mkdir(parents=True)
    (app / "share" / "doc" / ("d" * 120) / "README-ü").write_text("readme")
    for p in (libc, app):
        for dirpath, dirnames, filenames in os.walk(p):
            for f in filenames:
                full = os.path.join(dirpath, f)
                if not os.path.islink(full):
                    os.chmod(full, 0o555 if f == "hello" else 0o444)
            for d in dirnames:
                os.chmod(os.path.join(dirpath, d), 0o555)
    os.chmod(p, 0o555)
    os.chmod(libc, 0o555)
    graph = [
        {"path": str(app), "references": [str(app), str(libc)]},
        {"path": str(libc), "references": [str(libc)]},
    ]
    layers = store_layers(graph, max_layers=100)
    contents = base / "contents"
    (contents / "bin").mkdir(parents=True)
    (contents / "bin" / "hello").symlink_to(str(app / "bin" / "hello"))
    (contents / "etc").mkdir()
    (contents / "etc" / "passwd").write_text("root:x:0:0::/root:/bin/sh\n")
    (contents / "tmp").mkdir()
    os.chmod(contents / "tmp", 0o1777)
    custom = base / "custom"
    write_customisation_layer(str(contents), str(custom))
    data = subprocess.run(["tar", "-C", str(contents), "--sort=name", "--numeric-owner",
                           f"--mtime=@{SDE}", "--hard-dereference", "-cf", "-", "."],
                          capture_output=True, check=True).stdout
    assert (custom / "layer.tar").read_bytes() == data
    assert (custom / "checksum").read_text() == hashlib.sha256(data).hexdigest() + "\n"
    config = {"Cmd": ["/bin/hello"], "Env": ["GREETING=grüß dich", "PATH=/bin"]}
    streamed = stream_layered_image(
        store_layers=layers, customisation_layer=str(custom), architecture="amd64",
        config=config, created="1970-01-01T00:00:01+00:00", repo_tag="hello:latest",
        store_dir=str(store))
    yield {"base": base, "store": store, "layers": layers, "custom": custom, "config": config,
           "streamed": streamed, "app": app, "libc": libc}
    for dirpath, dirnames, _ in os.walk(base):
        for d in dirnames:
            if not os.path.islink(os.path.join(dirpath, d)):
                os.chmod(os.path.join(dirpath, d), 0o755)


def test_stream_output_is_byte_identical_to_upstream(built, tmp_path):
    expected, config_bytes = reference_stream_image(
        built["layers"], str(built["custom"]),
        {"architecture": "amd64", "config": built["config"]},
        created="1970-01-01T00:00:01+00:00", mtime=1, repo_tag="hello:latest")
    dest = tmp_path / "image.tar"
    built["streamed"].write(str(dest))
    assert built["streamed"].image.config_bytes == config_bytes
    assert dest.read_bytes() == expected
    # buildLayeredImage: the same stream through pigz -nT
    gz = tmp_path / "image.tar.gz"
    built["streamed"].write(str(gz), compression="gzip")
    assert gz.read_bytes() == subprocess.run(["pigz", "-nT"], input=expected,
                                             capture_output=True, check=True).stdout


@pytest.fixture(scope="module")
def archive(built, tmp_path_factory):
    path = tmp_path_factory.mktemp("arch") / "image.tar"
    built["streamed"].write(str(path))
    return str(path)


def test_skopeo_inspects_and_copies_our_archive(archive, tmp_path):
    info = json.loads(run("skopeo", "inspect", f"docker-archive:{archive}"))
    assert info["Architecture"] == "amd64" and len(info["Layers"]) == 3
    run("skopeo", "copy", f"docker-archive:{archive}", f"oci:{tmp_path}/oci:copied")
    image = read_oci_layout(str(tmp_path / "oci"), "copied")
    assert [layer.diff_id for layer in image.layers] == json.loads(
        read_docker_archive(archive).config_bytes)["rootfs"]["diff_ids"]


def rootfs_listing(root: str) -> dict[str, tuple]:
    """Every entry with type, mode, owner and symlink target or content hash."""
    entries = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            st = os.lstat(full)
            rel = os.path.relpath(full, root)
            if os.path.islink(full):
                what = ("link", os.readlink(full))
            elif os.path.isdir(full):
                what = ("dir", "")
            else:
                with open(full, "rb") as f:
                    what = ("file", hashlib.sha256(f.read()).hexdigest())
            entries[rel] = (*what, oct(st.st_mode & 0o7777) if not os.path.islink(full) else "",
                            st.st_uid, st.st_gid)
    return entries


@pytest.mark.parametrize("compression", ["none", "gzip"])
def test_oci_layout_passes_skopeo_and_umoci(archive, built, tmp_path, compression):
    image = read_docker_archive(archive)
    image = Image(image.config_bytes, [layer.recompressed(compression) for layer in image.layers],
                  image.repo_tags)
    layout = str(tmp_path / "layout")
    write_oci_layout(image, layout, "v1")
    info = json.loads(run("skopeo", "inspect", f"oci:{layout}:v1"))
    assert info["Digest"] == image.manifest_digest(oci=True)
    run("skopeo", "copy", f"oci:{layout}:v1", f"docker-archive:{tmp_path}/back.tar:hello:v1")
    run("umoci", "unpack", "--image", f"{layout}:v1", str(tmp_path / "bundle"))
    theirs = str(tmp_path / "bundle" / "rootfs")
    app = str(built["app"]).lstrip("/")
    listing = rootfs_listing(theirs)
    assert listing["bin/hello"][:2] == ("link", str(built["app"] / "bin" / "hello"))
    assert listing["tmp"][2] == "0o1777"
    assert listing[f"{app}/bin/hello"][2] == "0o555"
    assert listing[f"{app}/bin/hello"][3:] == (0, 0)
    assert listing["nix/store"][2] == "0o555"  # the seed stream's /nix/store entry
    ours = str(tmp_path / "ours")
    unpack_image(read_oci_layout(layout, "v1"), ours)
    assert rootfs_listing(ours) == listing


def test_reads_skopeo_written_archive_and_layout(archive, tmp_path):
    run("skopeo", "copy", f"docker-archive:{archive}", f"docker-archive:{tmp_path}/sk.tar:x/y:z")
    image = read_docker_archive(str(tmp_path / "sk.tar"), tag="x/y:z")
    assert image.repo_tags == ["docker.io/x/y:z"]
    original = read_docker_archive(archive)
    assert [layer.diff_id for layer in image.layers] == [layer.diff_id for layer in original.layers]
    for layer in image.layers:  # streams each member and verifies it against the config
        assert layer.tar_size > 0
    write_docker_archive(image, str(tmp_path / "again.tar"))
    run("skopeo", "inspect", f"docker-archive:{tmp_path}/again.tar")


def test_whiteouts_match_umoci(tmp_path):
    def layer_from(tree_builder, name):
        root = tmp_path / name
        root.mkdir()
        tree_builder(root)
        data = b"".join(gnu_tree_chunks(str(root), mtime=SDE, uid=0, gid=0, numeric_owner=True))
        return Layer.from_tar(lambda: (data,))

    def lower(root):
        (root / "etc" / "old").mkdir(parents=True)
        (root / "etc" / "old" / "a").write_text("a")
        (root / "etc" / "keep").write_text("keep")
        (root / "etc" / "gone").write_text("gone")
        (root / "opaque" / "sub").mkdir(parents=True)
        (root / "opaque" / "sub" / "x").write_text("x")

    def upper(root):
        (root / "etc").mkdir()
        (root / "etc" / ".wh.gone").write_text("")
        (root / "etc" / ".wh.old").write_text("")
        (root / "opaque").mkdir()
        (root / "opaque" / ".wh..wh..opq").write_text("")
        (root / "opaque" / "new").write_text("new")

    layers = [layer_from(lower, "l1"), layer_from(upper, "l2")]
    config = {"architecture": "amd64", "os": "linux",
              "rootfs": {"type": "layers", "diff_ids": [layer.diff_id for layer in layers]}}
    image = Image.from_config(config, layers, style="go")
    layout = str(tmp_path / "layout")
    write_oci_layout(image, layout, "w")
    run("umoci", "unpack", "--image", f"{layout}:w", str(tmp_path / "bundle"))
    unpack_image(image, str(tmp_path / "ours"))
    theirs = rootfs_listing(str(tmp_path / "bundle" / "rootfs"))
    ours = rootfs_listing(str(tmp_path / "ours"))
    assert sorted(ours) == ["etc", "etc/keep", "opaque", "opaque/new"]
    assert ours == theirs


def test_archive_to_stream_and_compressed_input(archive, tmp_path):
    image = read_docker_archive(archive)
    with open(tmp_path / "s.tar", "wb") as out:
        write_docker_archive(image, out, mtime=1, compression="gzip")
    with open(tmp_path / "s.tar", "rb") as f:
        again = read_docker_archive(f)
    assert again.config_bytes == image.config_bytes
    assert [layer.diff_id for layer in again.layers] == [layer.diff_id for layer in image.layers]
    # (skopeo 1.9 reads only uncompressed archive files; pigz must restore our plain bytes)
    write_docker_archive(image, str(tmp_path / "plain.tar"), mtime=1)
    assert subprocess.run(["pigz", "-dc", str(tmp_path / "s.tar")], capture_output=True,
                          check=True).stdout == (tmp_path / "plain.tar").read_bytes()


def test_multiple_images_need_a_tag(archive):
    from nixlite.image.docker_archive import DockerArchive

    arch = DockerArchive(archive)
    arch.entries = arch.entries * 2
    with pytest.raises(NixliteError) as refused:
        arch.image()
    assert refused.value.message == (  # with the spelling that names one
        f"'{archive}' holds 2 images; name one by tag, as docker-archive:{archive}:hello:latest "
        "(it has: hello:latest, hello:latest)")
    with pytest.raises(NixliteError, match="no image tagged"):
        arch.image(tag="nope:1")
    assert arch.image(tag="hello:latest").repo_tags == ["hello:latest"]


def test_oci_index_entries_are_chosen_by_platform(tmp_path):
    from nixlite.image.model import OCI_INDEX, go_json, sha256_digest

    layers = [Layer.from_tar(lambda: iter([b"\0" * 1024]), compression="gzip")]
    images = {}
    layout = str(tmp_path / "multi")
    for arch in ("amd64", "arm64"):
        config = {"architecture": arch, "os": "linux",
                  "rootfs": {"type": "layers", "diff_ids": [layers[0].diff_id]}}
        images[arch] = Image.from_config(config, layers, style="go")
        write_oci_layout(images[arch], layout, arch)
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json",
         "digest": images[a].manifest_digest(oci=True),
         "size": len(images[a].manifest_bytes(oci=True)),
         "platform": {"architecture": a, "os": "linux", **({"variant": "v8"} if a == "arm64" else {})}}
        for a in ("amd64", "arm64")]}
    data = go_json(index)
    with open(os.path.join(layout, "blobs", "sha256", sha256_digest(data).split(":")[1]), "wb") as f:
        f.write(data)
    with open(os.path.join(layout, "index.json"), "wb") as f:
        f.write(go_json({"schemaVersion": 2, "manifests": [
            {"mediaType": OCI_INDEX, "digest": sha256_digest(data), "size": len(data),
             "annotations": {"org.opencontainers.image.ref.name": "multi"}}]}))
    assert read_oci_layout(layout, "multi").config["architecture"] == "amd64"
    assert read_oci_layout(layout, "multi", arch="arm64", variant="v8").config["architecture"] == "arm64"
    with pytest.raises(NixliteError, match="no image for linux/s390x"):
        read_oci_layout(layout, "multi", arch="s390x")
    info = json.loads(run("skopeo", "inspect", "--override-arch", "arm64", f"oci:{layout}:multi"))
    assert info["Architecture"] == "arm64"


@pytest.mark.parametrize("merge_env", [False, True])
def test_from_image_matches_upstream(built, archive, tmp_path, merge_env):
    config = {"Env": ["PATH=/usr/bin", "EXTRA=1"], "User": "nobody"}
    streamed = stream_layered_image(
        store_layers=[[str(built["app"])]], customisation_layer=str(built["custom"]),
        architecture="amd64", config=config, created="2021-03-04T05:06:07+00:00",
        repo_tag="derived:1", store_dir=str(built["store"]), from_image=archive,
        merge_base_env=merge_env)
    expected, config_bytes = reference_stream_image(
        [[str(built["app"])]], str(built["custom"]), {"architecture": "amd64", "config": config},
        created="2021-03-04T05:06:07+00:00", mtime=1614834367, repo_tag="derived:1",
        from_image=archive, merge_env=merge_env)
    assert streamed.image.config_bytes == config_bytes
    dest = tmp_path / "derived.tar"
    streamed.write(str(dest))
    assert dest.read_bytes() == expected
    info = json.loads(run("skopeo", "inspect", f"docker-archive:{dest}"))
    assert len(info["Layers"]) == 5
    if merge_env:
        assert json.loads(config_bytes)["config"]["Env"] == [
            "GREETING=grüß dich", "PATH=/usr/bin", "EXTRA=1"]


def test_repeated_layers_are_written_as_upstream_does(tmp_path):
    # upstream's stream script writes a member per layer even when two layers are the same
    # (e.g. fromImage whose base holds the same customisation layer); readers take either
    empty = b"\0" * 1024
    layers = [Layer.from_tar(lambda: iter([empty])) for _ in range(2)]
    config = {"architecture": "amd64", "os": "linux",
              "rootfs": {"type": "layers", "diff_ids": [layer.diff_id for layer in layers]}}
    path = str(tmp_path / "dup.tar")
    write_docker_archive(Image.from_config(config, layers, repo_tags=["dup:1"]), path)
    names = subprocess.run(["tar", "-tf", path], capture_output=True, text=True, check=True).stdout.split()
    assert len(names) == 4 and names[0] == names[1]
    run("skopeo", "copy", f"docker-archive:{path}", f"oci:{tmp_path}/oci:dup")
    assert len(read_oci_layout(str(tmp_path / "oci"), "dup").layers) == 2
