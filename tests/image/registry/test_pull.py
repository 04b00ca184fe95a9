"""``nixlite image pull`` against a real registry, compared byte for byte with skopeo."""

from __future__ import annotations

import hashlib
import json
import os
import tarfile

import pytest

from regkit import needs_tools, put_blob, skopeo
from nixlite.cli import main

pytestmark = needs_tools


def nixlite(*args: str) -> int:
    return main(["image", *args])


def skopeo_pull(registry, ref: str, dest, name_tag: str, *extra: str) -> bytes:
    skopeo(*extra, "copy", "-q", "--src-tls-verify=false", f"docker://{registry.host}/{ref}",
           f"docker-archive:{dest}:{name_tag}")
    return dest.read_bytes()


def test_pull_docker_archive_is_byte_identical_to_skopeo(images, tmp_path):
    expected = skopeo_pull(images, "test/simple:v1", tmp_path / "skopeo.tar", "nix:2.2.1")
    out = tmp_path / "nixlite.tar"
    assert nixlite("pull", f"docker://{images.host}/test/simple:v1", "-o", str(out),
                   "--tag", "nix:2.2.1", "--tls-verify=false", "-q") == 0
    assert out.read_bytes() == expected
    # the duplicated layer is stored once, listed twice, as skopeo does
    with tarfile.open(out) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))
    assert manifest[0]["RepoTags"] == ["docker.io/library/nix:2.2.1"]
    assert len(manifest[0]["Layers"]) == 3 and len(set(manifest[0]["Layers"])) == 2
    assert sorted(os.listdir(tmp_path)) == ["nixlite.tar", "skopeo.tar"]  # no temporary left


def test_pull_default_tag_is_the_reference(images, tmp_path):
    ref = f"{images.host}/test/simple:v1"
    expected = skopeo_pull(images, "test/simple:v1", tmp_path / "skopeo.tar", ref)
    out = tmp_path / "nixlite.tar"
    assert nixlite("pull", ref, "-o", str(out), "--tls-verify=false", "-q") == 0
    assert out.read_bytes() == expected


def test_pull_by_digest_is_byte_identical(images, tmp_path):
    digest = json.loads(skopeo("inspect", "--tls-verify=false",
                               f"docker://{images.host}/test/simple:v1").stdout)["Digest"]
    ref = f"test/simple@{digest}"
    expected = skopeo_pull(images, ref, tmp_path / "skopeo.tar", "example.com/x/y:z")
    out = tmp_path / "nixlite.tar"
    assert nixlite("pull", f"docker://{images.host}/{ref}", "-o", str(out), "--tag",
                   "example.com/x/y:z", "--tls-verify=false", "-q") == 0
    assert out.read_bytes() == expected


@pytest.mark.parametrize("repo", ["test/multi", "test/multioci"])
@pytest.mark.parametrize("arch,variant", [("arm64", "v8"), ("arm", "v7"), ("amd64", None)])
def test_pull_from_index_selects_platform_like_skopeo(images, tmp_path, repo, arch, variant):
    extra = ["--override-os", "linux", "--override-arch", arch]
    args = ["--os", "linux", "--arch", arch]
    if variant:
        extra += ["--override-variant", variant]
        args += ["--variant", variant]
    expected = skopeo_pull(images, f"{repo}:latest", tmp_path / "skopeo.tar", "multi:1", *extra)
    out = tmp_path / "nixlite.tar"
    assert nixlite("pull", f"docker://{images.host}/{repo}:latest", "-o", str(out), "--tag",
                   "multi:1", "--tls-verify=false", "-q", *args) == 0
    assert out.read_bytes() == expected
    with tarfile.open(out) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))
        config = json.load(tar.extractfile(manifest[0]["Config"]))
        layer = tarfile.open(fileobj=tar.extractfile(manifest[0]["Layers"][0]))
        assert layer.extractfile("arch").read() == f"{arch}{variant or ''}\n".encode()
    assert config["architecture"] == arch


def test_pull_platform_flag_and_unknown_platform(images, tmp_path, capsys):
    out = tmp_path / "a.tar"
    assert nixlite("pull", f"docker://{images.host}/test/multioci", "-o", str(out),
                   "--platform", "linux/arm/v7", "--tls-verify=false", "-q") == 0
    with tarfile.open(out) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))
        assert json.load(tar.extractfile(manifest[0]["Config"]))["variant"] == "v7"
    missing = tmp_path / "b.tar"
    assert nixlite("pull", f"docker://{images.host}/test/multioci", "-o", str(missing),
                   "--arch", "s390x", "--tls-verify=false") == 1
    err = capsys.readouterr().err
    assert err.startswith("error: no image for platform linux/s390x")
    assert "linux/arm64/v8" in err and "unknown" not in err
    assert not missing.exists()


def test_pull_to_stdout(images, tmp_path, capfdbinary):
    expected = skopeo_pull(images, "test/simple:v1", tmp_path / "skopeo.tar", "a/b:c")
    assert nixlite("pull", f"docker://{images.host}/test/simple:v1", "-o", "-", "--tag", "a/b:c",
                   "--tls-verify=false", "-q") == 0
    assert capfdbinary.readouterr().out == expected


def test_pull_needs_tls_by_default(images, tmp_path, capsys):
    out = tmp_path / "x.tar"
    assert nixlite("pull", f"docker://{images.host}/test/simple:v1", "-o", str(out)) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: TLS connection to") and "--tls-verify=false" in err
    assert not out.exists()


def test_pull_unknown_tag_is_a_clear_error(images, tmp_path, capsys):
    out = tmp_path / "x.tar"
    assert nixlite("pull", f"docker://{images.host}/test/simple:nope", "-o", str(out),
                   "--tls-verify=false") == 1
    err = capsys.readouterr().err
    assert "not found" in err and "MANIFEST_UNKNOWN" in err
    assert not out.exists()


def test_corrupt_blob_is_an_error_and_nothing_is_written(registry, tmp_path, capsys):
    from imagekit import docker_archive, image_config, layer_tar
    from regkit import load

    layer = layer_tar([("victim", os.urandom(50_000))])
    load(docker_archive(tmp_path / "v.tar", [layer], image_config([layer])), registry.host,
         "test/victim:v1")
    manifest = json.loads(skopeo("inspect", "--raw", "--tls-verify=false",
                                 f"docker://{registry.host}/test/victim:v1").stdout)
    blob = registry.blob_path(manifest["layers"][0]["digest"])
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, different bytes
    blob.write_bytes(bytes(data))
    outdir = tmp_path / "out"
    outdir.mkdir()
    for fmt in ("docker-archive", "oci"):
        dest = outdir / ("x.tar" if fmt == "docker-archive" else "layout")
        assert nixlite("pull", f"docker://{registry.host}/test/victim:v1", "-o", str(dest),
                       "--format", fmt, "--tls-verify=false", "--retry-times", "0") == 1
        err = capsys.readouterr().err
        assert f"blob {manifest['layers'][0]['digest']}" in err
        assert "corrupt" in err
        assert os.listdir(outdir) == []


def test_layer_not_matching_diff_id_is_an_error(registry, tmp_path, capsys):
    from imagekit import docker_archive, image_config, layer_tar
    from regkit import put_manifest

    # A consistent blob whose content is not what the config's diff_id promises: push the real
    # image, then a manifest whose config lists another diff_id.
    layer = layer_tar([("f", b"content")])
    other = layer_tar([("f", b"other")])
    from regkit import load
    load(docker_archive(tmp_path / "a.tar", [layer], image_config([layer])), registry.host,
         "test/liar:base")
    manifest = json.loads(skopeo("inspect", "--raw", "--tls-verify=false",
                                 f"docker://{registry.host}/test/liar:base").stdout)
    lying_config = image_config([other])
    digest = put_blob(registry.host, "test/liar", lying_config)
    manifest["config"] = {"mediaType": manifest["config"]["mediaType"],
                          "size": len(lying_config), "digest": digest}
    body = json.dumps(manifest).encode()
    put_manifest(registry.host, "test/liar", "lie", body, manifest["mediaType"])
    dest = tmp_path / "out.tar"
    assert nixlite("pull", f"docker://{registry.host}/test/liar:lie", "-o", str(dest),
                   "--tls-verify=false") == 1
    err = capsys.readouterr().err
    assert "diff_id" in err and not dest.exists()


def test_foreign_layer_is_fetched_from_its_urls(registry, tmp_path):
    import functools
    import gzip
    import threading
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    from imagekit import docker_archive, image_config, layer_tar
    from regkit import load, put_manifest

    base = layer_tar([("base", b"in the registry\n")])
    foreign = layer_tar([("foreign", b"from elsewhere\n")])
    foreign_gz = gzip.compress(foreign, mtime=0)
    served = tmp_path / "served"
    served.mkdir()
    (served / "layer.tar.gz").write_bytes(foreign_gz)
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(served))
    handler.log_message = lambda *a: None
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        load(docker_archive(tmp_path / "b.tar", [base], image_config([base])), registry.host,
             "test/foreign:base")
        manifest = json.loads(skopeo("inspect", "--raw", "--tls-verify=false",
                                     f"docker://{registry.host}/test/foreign:base").stdout)
        config = image_config([base, foreign])
        digest = put_blob(registry.host, "test/foreign", config)
        manifest["config"]["digest"], manifest["config"]["size"] = digest, len(config)
        manifest["layers"].append({
            "mediaType": "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
            "size": len(foreign_gz), "digest": "sha256:" + hashlib.sha256(foreign_gz).hexdigest(),
            "urls": [f"http://127.0.0.1:{server.server_address[1]}/layer.tar.gz"]})
        put_manifest(registry.host, "test/foreign", "v1", json.dumps(manifest).encode(),
                     manifest["mediaType"])
        expected = skopeo_pull(registry, "test/foreign:v1", tmp_path / "skopeo.tar", "f:1")
        out = tmp_path / "nixlite.tar"
        assert nixlite("pull", f"docker://{registry.host}/test/foreign:v1", "-o", str(out),
                       "--tag", "f:1", "--tls-verify=false", "-q") == 0
        assert out.read_bytes() == expected
    finally:
        server.shutdown()
        server.server_close()


def test_zstd_layers(registry, tmp_path):
    from imagekit import docker_archive, image_config, layer_tar

    layer = layer_tar([("z", b"zstd " * 5000)])
    archive = docker_archive(tmp_path / "z.tar", [layer], image_config([layer]))
    skopeo("copy", "-q", "--dest-tls-verify=false", "--format=oci",
           "--dest-compress-format=zstd", f"docker-archive:{archive}",
           f"docker://{registry.host}/test/zstd:1")
    raw = json.loads(skopeo("inspect", "--raw", "--tls-verify=false",
                            f"docker://{registry.host}/test/zstd:1").stdout)
    assert raw["layers"][0]["mediaType"].endswith("+zstd")
    # skopeo 1.9.3 refuses to write zstd images as docker-archive ("zstd compression is not
    # supported for docker images"); nixlite decompresses them, and skopeo checks the result.
    out = tmp_path / "nixlite.tar"
    assert nixlite("pull", f"docker://{registry.host}/test/zstd:1", "-o", str(out), "--tag",
                   "z:1", "--tls-verify=false", "-q") == 0
    skopeo("copy", "-q", f"docker-archive:{out}", f"oci:{tmp_path / 'check'}:1")  # checks diff_ids
    with tarfile.open(out) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))
        inner = tarfile.open(fileobj=tar.extractfile(manifest[0]["Layers"][0]))
        assert inner.extractfile("z").read() == b"zstd " * 5000


def test_blob_larger_than_its_descriptor_is_refused(registry, tmp_path, capsys):
    from imagekit import docker_archive, image_config, layer_tar
    from regkit import load, put_manifest

    layer = layer_tar([("big", os.urandom(40_000))])
    load(docker_archive(tmp_path / "a.tar", [layer], image_config([layer])), registry.host,
         "test/sizes:real")
    manifest = json.loads(skopeo("inspect", "--raw", "--tls-verify=false",
                                 f"docker://{registry.host}/test/sizes:real").stdout)
    manifest["layers"][0]["size"] = 1000  # the registry serves the whole blob anyway
    put_manifest(registry.host, "test/sizes", "small", json.dumps(manifest).encode(),
                 manifest["mediaType"])
    dest = tmp_path / "out.tar"
    assert nixlite("pull", f"docker://{registry.host}/test/sizes:small", "-o", str(dest),
                   "--tls-verify=false") == 1
    err = capsys.readouterr().err
    assert "larger than the 1000 bytes its descriptor declares" in err
    assert not dest.exists()


def test_pull_image_api_for_the_pullimage_builder(images, tmp_path):
    from nixlite.image.transports import pull_image

    digest = json.loads(skopeo("inspect", "--tls-verify=false",
                               f"docker://{images.host}/test/multi:latest").stdout)["Digest"]
    expected = tmp_path / "skopeo.tar"
    skopeo("--override-os", "linux", "--override-arch", "arm", "copy", "-q",
           "--src-tls-verify=false", f"docker://{images.host}/test/multi@{digest}",
           f"docker-archive://{expected}:final/name:final-tag")
    out = tmp_path / "docker-image-final-name-final-tag.tar"
    pull_image(f"{images.host}/test/multi", digest, str(out), final_name="final/name",
               final_tag="final-tag", arch="arm", tls_verify=False)
    assert out.read_bytes() == expected.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name, "skopeo.tar"]


def test_layer_bomb_is_refused_and_nothing_is_written(registry, tmp_path, capsys):
    import gzip

    from imagekit import image_config, tar_of
    from regkit import put_manifest

    layer = tar_of(("zeros", "file", bytes(64 << 20)))
    blob = gzip.compress(layer, compresslevel=9, mtime=0)  # about 64 KiB
    config = image_config([layer])
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                           "size": len(config), "digest": put_blob(registry.host, "test/bomb", config)},
                "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                            "size": len(blob), "digest": put_blob(registry.host, "test/bomb", blob)}]}
    put_manifest(registry.host, "test/bomb", "1", json.dumps(manifest).encode(), manifest["mediaType"])
    out = tmp_path / "out"
    out.mkdir()
    for fmt in ("docker-archive", "oci"):
        assert nixlite("pull", f"docker://{registry.host}/test/bomb:1", "-o", str(out / "dest"),
                       "--format", fmt, "--tls-verify=false", "--max-decompressed-size", "8M") == 1
        err = capsys.readouterr().err
        assert err.startswith(f"error: layer {manifest['layers'][0]['digest']} of ")
        assert "decompresses to more than 8 MiB" in err and err.count("\n") == 1
        assert os.listdir(out) == []
    # within the default limit the same image is fine
    assert nixlite("pull", f"docker://{registry.host}/test/bomb:1", "-o", str(out / "ok.tar"),
                   "--tls-verify=false", "-q") == 0


def test_hostile_registry_manifests_are_clear_errors(tmp_path, capsys):
    """A server that answers with malformed manifests (a real registry refuses to store
    them, so a small HTTP server plays the hostile registry)."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    schema2 = "application/vnd.docker.distribution.manifest.v2+json"
    good = {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 2,
            "digest": "sha256:" + hashlib.sha256(b"{}").hexdigest()}
    bodies = {
        "config-int": {"schemaVersion": 2, "mediaType": schema2, "config": 5, "layers": []},
        "layers-str": {"schemaVersion": 2, "mediaType": schema2, "config": good, "layers": "x"},
        "layer-int": {"schemaVersion": 2, "mediaType": schema2, "config": good, "layers": [5]},
        "bad-digest": {"schemaVersion": 2, "mediaType": schema2,
                       "config": dict(good, digest="sha256:../../etc/passwd"), "layers": []},
        "list": [1, 2],
        "not-json": "{",
    }

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            name = self.path.rsplit("/", 1)[-1]
            if self.path == "/v2/":
                body, ctype = b"{}", "application/json"
            elif "/manifests/" in self.path and name in bodies:
                value = bodies[name]
                body = value.encode() if isinstance(value, str) else json.dumps(value).encode()
                ctype = schema2
            elif self.path.endswith("/blobs/" + good["digest"]):
                body, ctype = b"{}", "application/octet-stream"
            else:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    host = f"127.0.0.1:{server.server_address[1]}"
    out = tmp_path / "out"
    out.mkdir()
    try:
        for name in bodies:
            ref = f"docker://{host}/evil:{name}"
            for argv in (["inspect", ref, "--json"], ["pull", ref, "-o", str(out / "x.tar")]):
                assert nixlite(*argv, "--tls-verify=false", "--retry-times", "0") == 1, (name, argv)
                err = capsys.readouterr().err
                assert err.startswith("error: ") and err.count("\n") == 1, (name, err)
                assert "internal error" not in err, (name, err)
            assert os.listdir(out) == []
    finally:
        server.shutdown()
        server.server_close()


def test_existing_archive_is_refused_like_skopeo(images, tmp_path, capsys):
    """skopeo never replaces a non-empty docker-archive ("doesn't support modifying existing
    images"); an empty file it writes.  pull and convert do the same, before any transfer."""
    ref = f"docker://{images.host}/test/simple:v1"
    existing = tmp_path / "existing.tar"
    existing.write_bytes(b"precious")
    assert skopeo("copy", "-q", "--src-tls-verify=false", ref, f"docker-archive:{existing}:a:b",
                  check=False).returncode != 0
    assert nixlite("pull", ref, "-o", str(existing), "--tls-verify=false", "-q") == 1
    assert "'" + str(existing) + "': the file already exists" in capsys.readouterr().err
    source = tmp_path / "source.tar"
    assert nixlite("pull", ref, "-o", str(source), "--tls-verify=false", "-q") == 0
    assert nixlite("convert", str(source), str(existing), "--format", "docker-archive", "-q") == 1
    assert "the file already exists" in capsys.readouterr().err
    assert existing.read_bytes() == b"precious"
    assert sorted(os.listdir(tmp_path)) == ["existing.tar", "source.tar"]
    empty = tmp_path / "empty.tar"
    empty.touch()
    assert nixlite("pull", ref, "-o", str(empty), "--tls-verify=false", "-q") == 0
    assert empty.read_bytes() == source.read_bytes()
