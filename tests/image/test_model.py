"""The Image/Layer model: lazy, once-only hashing, verification of declared values, and
manifests in the exact bytes skopeo generates."""

from __future__ import annotations

import hashlib
import json
import subprocess

import pytest

from nixlite.errors import NixliteError
from nixlite.image.docker_archive import write_docker_archive
from nixlite.image.model import Image, Layer, bytes_source, sha256_digest
from nixlite.image.oci_layout import write_oci_layout

from imagekit import tar_of


def small_tar(content: bytes = b"hello") -> bytes:
    return tar_of(("etc/greeting", "file", content))


class CountingSource:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.calls = 0

    def __call__(self):
        self.calls += 1
        return (self.data[i:i + 1000] for i in range(0, len(self.data), 1000))


def test_digests_are_computed_once_while_streaming():
    data = small_tar()
    source = CountingSource(data)
    layer = Layer.from_tar(source, compression="gzip")
    blob = b"".join(layer.blob_chunks())  # one pass gives digest, size and diff_id
    assert source.calls == 1
    assert layer.digest == sha256_digest(blob) and layer.size == len(blob)
    assert layer.diff_id == sha256_digest(data) and layer.tar_size == len(data)
    assert source.calls == 1
    assert b"".join(layer.tar_chunks()) == data


def test_uncompressed_layer_digest_is_its_diff_id():
    data = small_tar()
    source = CountingSource(data)
    layer = Layer.from_tar(source)
    assert layer.diff_id == layer.digest == sha256_digest(data)
    assert source.calls == 1


def test_declared_values_are_trusted_then_verified():
    data = small_tar()
    wrong = sha256_digest(b"other")
    layer = Layer.from_blob(bytes_source(data), digest=wrong, size=len(data))
    assert layer.digest == wrong  # no streaming needed to answer
    with pytest.raises(NixliteError, match="expected " + wrong):
        b"".join(layer.blob_chunks())
    short = Layer.from_blob(bytes_source(data), size=len(data) + 1)
    with pytest.raises(NixliteError, match="size"):
        b"".join(short.blob_chunks())
    gz = Layer.from_tar(bytes_source(data), compression="gzip")
    blob = b"".join(gz.blob_chunks())
    bad_diff = Layer.from_blob(bytes_source(blob), diff_id=wrong)
    assert bad_diff.compression == "gzip"  # sniffed
    with pytest.raises(NixliteError, match="diff_id"):
        b"".join(bad_diff.tar_chunks())


def test_invalid_inputs():
    with pytest.raises(NixliteError, match="invalid layer digest"):
        Layer.from_blob(bytes_source(b""), digest="md5:abc")
    with pytest.raises(NixliteError, match="unknown compression"):
        Layer.from_tar(bytes_source(b""), compression="lz4")
    with pytest.raises(NixliteError, match="media type"):
        Layer.from_blob(bytes_source(b""), media_type="text/plain")
    with pytest.raises(NixliteError, match="not valid JSON"):
        Image(b"{", []).config


def image_with(compression: str) -> Image:
    layers = [Layer.from_tar(bytes_source(small_tar(c)), compression=compression)
              for c in (b"one", b"two")]
    config = {"architecture": "amd64", "os": "linux", "config": {"Env": ["A=<&>"]},
              "rootfs": {"type": "layers", "diff_ids": [layer.diff_id for layer in layers]}}
    return Image.from_config(config, layers, repo_tags=["m:1"])


def test_docker_manifest_equals_skopeos(tmp_path):
    image = image_with("none")
    path = str(tmp_path / "a.tar")
    write_docker_archive(image, path)
    raw = subprocess.run(["skopeo", "inspect", "--raw", f"docker-archive:{path}"],
                         capture_output=True, check=True).stdout
    # containers/image labels docker-archive layers ".tar.gzip" even when they are plain
    # tars (its tarfile source hard-codes that type); everything else is byte-identical
    ours = image.manifest_bytes(oci=False)
    assert b"rootfs.diff.tar\"" in ours
    assert ours.replace(b"rootfs.diff.tar\"", b"rootfs.diff.tar.gzip\"") == raw


@pytest.mark.parametrize("compression", ["none", "gzip", "zstd"])
def test_oci_manifest_is_what_skopeo_reads_back(tmp_path, compression):
    image = image_with(compression)
    write_oci_layout(image, str(tmp_path / "l"), "t")
    raw = subprocess.run(["skopeo", "inspect", "--raw", f"oci:{tmp_path}/l:t"],
                         capture_output=True, check=True).stdout
    assert raw == image.manifest_bytes(oci=True)
    manifest = json.loads(raw)
    assert list(manifest["config"]) == ["mediaType", "digest", "size"]
    assert manifest["layers"][0]["mediaType"].endswith(
        {"none": "tar", "gzip": "tar+gzip", "zstd": "tar+zstd"}[compression])
    assert hashlib.sha256(raw).hexdigest() == image.manifest_digest(oci=True).split(":")[1]


def test_recompressed_keeps_the_tar():
    image = image_with("none")
    layer = image.layers[0].recompressed("gzip")
    assert layer.diff_id == image.layers[0].diff_id
    assert layer.digest != layer.diff_id


def test_expected_digests_are_declared_once_and_checked():
    """``Layer.expect`` is how readers declare what a layer must hash to (no module sets a
    layer's private fields): a second, different declaration is refused, a declaration
    contradicting what was computed is refused, and a pass over the bytes checks it."""
    import gzip

    tar = small_tar()
    layer = Layer.from_blob(bytes_source(gzip.compress(tar, mtime=0)), compression="gzip")
    assert layer.known_digest is None
    layer.expect(diff_id=sha256_digest(tar))
    layer.expect(diff_id=sha256_digest(tar))  # the same again is fine
    with pytest.raises(NixliteError, match="is declared as both"):
        layer.expect(diff_id=sha256_digest(b"other"))
    assert b"".join(layer.tar_chunks()) == tar
    assert layer.known_digest == sha256_digest(gzip.compress(tar, mtime=0))
    with pytest.raises(NixliteError, match="hashes to"):
        layer.expect(digest=sha256_digest(b"other"))
    # uncompressed: the blob is the tar, so a diff_id declares the digest too
    plain = Layer.from_blob(bytes_source(tar), compression="none")
    plain.expect(diff_id=sha256_digest(tar))
    assert plain.known_digest == sha256_digest(tar)
    wrong = Layer.from_blob(bytes_source(tar), compression="none")
    wrong.expect(diff_id=sha256_digest(b"other"))
    with pytest.raises(NixliteError):
        b"".join(wrong.blob_chunks())
