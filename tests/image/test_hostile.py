"""Hostile images: every malformed or malicious input is a clear NixliteError, and nothing
is ever written outside the destination."""

from __future__ import annotations

import io
import json
import os
import tarfile

import pytest

from nixlite.errors import NixliteError
from nixlite.image.compression import compress_chunks
from nixlite.image.docker_archive import read_docker_archive
from nixlite.image.model import Image, Layer, bytes_source, go_json, sha256_digest
from nixlite.image.oci_layout import read_oci_layout, write_oci_layout
from nixlite.image.tarreader import TarStream
from nixlite.image.unpack import unpack_image, unpack_layers

from imagekit import tar_file, tar_of


def layer_of(data: bytes) -> Layer:
    return Layer.from_blob(bytes_source(data), compression="none")


@pytest.fixture
def sandbox(tmp_path):
    """dest inside a sandbox; 'outside' is a sibling that must stay untouched."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "victim").write_text("original")
    return tmp_path / "dest", outside


def untouched(outside) -> bool:
    return sorted(os.listdir(outside)) == ["victim"] and (outside / "victim").read_text() == "original"


@pytest.mark.parametrize("entries, message", [
    ([("../outside/victim", "file", b"pwned")], "'..' component"),
    ([("a/../../outside/victim", "file", b"pwned")], "'..' component"),
    ([("link", "symlink", "../outside"), ("link/victim", "file", b"pwned")], "escapes the root"),
    ([("link", "symlink", "/../outside"), ("link/victim", "file", b"pwned")], "escapes the root"),
    ([("d", "dir", None), ("d/up", "symlink", "../.."), ("d/up/outside/victim", "file", b"x")],
     "escapes the root"),
    ([("hl", "hardlink", "../outside/victim")], "'..' component"),
    ([("loop", "symlink", "loop"), ("loop/x", "file", b"x")], "too many levels"),
    ([("f", "file", b"x"), ("f/child", "file", b"x")], "not a directory"),
])
def test_escapes_are_errors(sandbox, entries, message):
    dest, outside = sandbox
    with pytest.raises(NixliteError, match=message):
        unpack_layers([layer_of(tar_of(*entries))], str(dest))
    assert untouched(outside)
    assert not dest.exists()  # the partial root was removed


def test_absolute_names_and_absolute_symlinks_stay_inside(sandbox):
    dest, outside = sandbox
    data = tar_of(("/etc", "dir", None), ("/etc/hosts", "file", b"inside"),
                  ("abs", "symlink", str(outside)), ("abs/victim", "file", b"redirected"))
    unpack_layers([layer_of(data)], str(dest))
    assert (dest / "etc" / "hosts").read_text() == "inside"
    # the absolute symlink target is taken inside the root, as a container sees it
    assert (dest / str(outside).lstrip("/") / "victim").read_text() == "redirected"
    assert untouched(outside)


def test_absolute_names_can_be_refused(sandbox):
    dest, outside = sandbox
    with pytest.raises(NixliteError, match="absolute name"):
        unpack_layers([layer_of(tar_of(("/etc/hosts", "file", b"x")))], str(dest),
                      allow_absolute=False)
    assert not dest.exists()


def test_size_limit(sandbox):
    dest, _ = sandbox
    with pytest.raises(NixliteError, match="size limit"):
        unpack_layers([layer_of(tar_of(("a", "file", b"x" * 5000)))], str(dest), max_bytes=4096)
    assert not dest.exists()


def test_hard_link_inside_is_made(sandbox):
    dest, _ = sandbox
    unpack_layers([layer_of(tar_of(("a", "file", b"x"), ("b", "hardlink", "a")))], str(dest))
    assert os.stat(dest / "a").st_ino == os.stat(dest / "b").st_ino


def test_absurd_and_truncated_sizes():
    header = bytearray(tar_of(("big", "file", b"")))[:512]
    header[124:136] = b"77777777777\0"
    header[148:156] = b"        "  # the checksum is computed with its own field blank
    header[148:156] = b"%06o\0 " % sum(header)
    with pytest.raises(NixliteError, match="truncated"):
        for _, data in TarStream([bytes(header)]):
            for _ in data:
                pass
    plain = tar_of(("x", "file", b"abc"))
    bomb = io.BytesIO()
    with tarfile.open(fileobj=bomb, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("huge")
        info.pax_headers = {"size": str(10**30)}
        tar.addfile(info)
    with pytest.raises(NixliteError, match="absurd size"):
        list(TarStream([bomb.getvalue()]))
    assert [m.name for m, _ in TarStream([plain])] == ["x"]


def test_corrupt_header_checksum():
    data = bytearray(tar_of(("x", "file", b"abc")))
    data[0] = ord("y")
    with pytest.raises(NixliteError, match="checksum"):
        list(TarStream([bytes(data)]))


def oci_image(tmp_path, data: bytes, compression="gzip"):
    layer = Layer.from_tar(bytes_source(data), compression=compression)
    config = {"architecture": "amd64", "os": "linux",
              "rootfs": {"type": "layers", "diff_ids": [layer.diff_id]}}
    layout = str(tmp_path / "layout")
    write_oci_layout(Image.from_config(config, [layer], style="go"), layout, "t")
    blob = os.path.join(layout, "blobs", "sha256", layer.digest.split(":")[1])
    return layout, blob


def test_tampered_layer_blob_is_caught_before_extraction_finishes(tmp_path):
    layout, blob = oci_image(tmp_path, tar_of(("f", "file", b"hello" * 100)), compression="none")
    with open(blob, "r+b") as f:
        f.seek(512)
        f.write(b"J")
    with pytest.raises(NixliteError, match="digest"):
        unpack_image(read_oci_layout(layout, "t"), str(tmp_path / "root"))
    assert not (tmp_path / "root").exists()


def test_truncated_gzip_layer(tmp_path):
    layout, blob = oci_image(tmp_path, tar_of(("f", "file", os.urandom(100000))))
    with open(blob, "r+b") as f:
        f.truncate(os.path.getsize(blob) // 2)
    with pytest.raises(NixliteError, match="truncated|size"):
        read_oci_layout(layout, "t")  # compressed layers are checked when read
    image = read_oci_layout(layout, "t", verify=False)
    with pytest.raises(NixliteError, match="truncated|size"):
        unpack_image(image, str(tmp_path / "root"))
    assert not (tmp_path / "root").exists()


def test_wrong_diff_id_in_config(tmp_path):
    good = tar_of(("f", "file", b"a"))
    layer = Layer.from_tar(bytes_source(good), compression="gzip")
    config = {"architecture": "amd64", "os": "linux",
              "rootfs": {"type": "layers", "diff_ids": [sha256_digest(b"something else")]}}
    layout = str(tmp_path / "layout")
    write_oci_layout(Image.from_config(config, [layer], style="go"), layout, "t")
    with pytest.raises(NixliteError, match="diff_id"):
        unpack_image(read_oci_layout(layout, "t"), str(tmp_path / "root"))


def test_oci_layout_rejects_bad_digests_and_missing_blobs(tmp_path):
    layout, blob = oci_image(tmp_path, tar_of(("f", "file", b"x")))
    index_path = os.path.join(layout, "index.json")
    index = json.load(open(index_path))
    index["manifests"][0]["digest"] = "sha256:../../../etc/passwd"
    open(index_path, "wb").write(go_json(index))
    with pytest.raises(NixliteError, match="invalid blob digest"):
        read_oci_layout(layout, "t")
    layout2, blob2 = oci_image(tmp_path / "b", tar_of(("f", "file", b"x")))
    os.unlink(blob2)
    with pytest.raises(NixliteError, match="missing"):
        read_oci_layout(layout2, "t")
    with pytest.raises(NixliteError, match="no image tagged"):
        read_oci_layout(layout2, "other")


def docker_archive_with(tmp_path, members: dict[str, bytes], links: dict[str, str] = {}) -> str:
    return str(tar_file(tmp_path / "a.tar", list(members.items()), links))


def test_docker_archive_bad_references(tmp_path):
    layer = tar_of(("f", "file", b"x"))
    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {
        "type": "layers", "diff_ids": [sha256_digest(layer)]}}).encode()
    for layers, links, message in [
        (["../l.tar"], {}, "'..' component"),
        (["missing.tar"], {}, "no member"),
        (["link.tar"], {"link.tar": "../../etc/passwd"}, "outside the archive"),
    ]:
        manifest = json.dumps([{"Config": "c.json", "Layers": layers}]).encode()
        path = docker_archive_with(tmp_path, {"manifest.json": manifest, "c.json": config,
                                              "l.tar": layer}, links)
        with pytest.raises(NixliteError, match=message):
            read_docker_archive(path)
    manifest = json.dumps([{"Config": "c.json", "Layers": ["l.tar", "l.tar"]}]).encode()
    path = docker_archive_with(tmp_path, {"manifest.json": manifest, "c.json": config, "l.tar": layer})
    with pytest.raises(NixliteError, match="1 diff_ids but the image has 2 layers"):
        read_docker_archive(path)
    path = docker_archive_with(tmp_path, {"manifest.json": b"{not json", "c.json": config})
    with pytest.raises(NixliteError, match="not valid JSON"):
        read_docker_archive(path)
    path = docker_archive_with(tmp_path, {"c.json": config})
    with pytest.raises(NixliteError, match="no manifest.json"):
        read_docker_archive(path)


def test_truncated_docker_archive(tmp_path):
    layer = tar_of(("f", "file", os.urandom(5000)))
    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {
        "type": "layers", "diff_ids": [sha256_digest(layer)]}}).encode()
    manifest = json.dumps([{"Config": "c.json", "Layers": ["l.tar"]}]).encode()
    path = docker_archive_with(tmp_path, {"manifest.json": manifest, "c.json": config, "l.tar": layer})
    data = open(path, "rb").read()
    end = data.index(layer[:100]) + 3000
    open(path, "wb").write(data[:end])
    with pytest.raises(NixliteError, match="truncated"):
        read_docker_archive(path)
    gz = tmp_path / "b.tar.gz"
    gz.write_bytes(b"".join(compress_chunks([data], "gzip"))[:-100])
    with pytest.raises(NixliteError, match="truncated"):
        read_docker_archive(str(gz))


# --- compression bombs ------------------------------------------------------------------------
BOMB_SIZE = 64 << 20  # a 64 MiB file of zeros: about 64 KiB of gzip


def bomb_tar() -> bytes:
    return tar_of(("zeros", "file", bytes(BOMB_SIZE)))


@pytest.fixture(scope="module")
def bomb():
    """(tar, gzip of it, zstd of it): a real, small compression bomb."""
    import gzip

    import zstandard

    data = bomb_tar()
    packed = gzip.compress(data, compresslevel=9, mtime=0), zstandard.ZstdCompressor(19).compress(data)
    assert all(len(p) < len(data) // 500 for p in packed)
    return data, *packed


@pytest.mark.parametrize("kind", ["gzip", "zstd"])
def test_decompression_stops_at_the_limit(bomb, kind):
    from nixlite.image.compression import decompress_chunks

    packed = bomb[1] if kind == "gzip" else bomb[2]
    seen = 0
    with pytest.raises(NixliteError, match=f"{kind} data decompresses to more than 8 MiB"):
        for piece in decompress_chunks([packed], kind, limit=8 << 20):
            seen += len(piece)
    assert seen <= 8 << 20  # nothing beyond the limit reached the consumer
    assert sum(map(len, decompress_chunks([packed], kind))) == len(bomb[0])  # default: fine


def test_compressed_archive_bomb_is_refused(bomb, tmp_path):
    path = tmp_path / "bomb.tar.gz"
    path.write_bytes(bomb[1])
    with pytest.raises(NixliteError, match=r"bomb.tar.gz': gzip data decompresses to more than 8 MiB"):
        read_docker_archive(str(path), max_decompressed=8 << 20)


def test_layer_bomb_is_refused_while_unpacking(bomb, tmp_path):
    layer = Layer.from_blob(bytes_source(bomb[1]), compression="gzip", diff_id=sha256_digest(bomb[0]),
                            max_tar_size=8 << 20)
    with pytest.raises(NixliteError, match="decompresses to more than 8 MiB"):
        unpack_layers([layer], str(tmp_path / "root"))
    assert not (tmp_path / "root").exists()


def test_limit_from_the_environment():
    from nixlite.image.compression import DEFAULT_MAX_DECOMPRESSED, limit_from_environment

    assert limit_from_environment({}) == DEFAULT_MAX_DECOMPRESSED
    assert limit_from_environment({"NIXLITE_MAX_DECOMPRESSED_SIZE": "4M"}) == 4 << 20
    with pytest.raises(NixliteError, match="invalid NIXLITE_MAX_DECOMPRESSED_SIZE 'lots'"):
        limit_from_environment({"NIXLITE_MAX_DECOMPRESSED_SIZE": "lots"})


def test_cli_refuses_a_bomb_and_writes_nothing(bomb, tmp_path, capsys, monkeypatch):
    from nixlite.cli import main

    layout, _ = oci_image(tmp_path, b"")  # a layout to put the bomb into
    blob = Layer.from_blob(bytes_source(bomb[1]), compression="gzip", diff_id=sha256_digest(bomb[0]))
    config = {"architecture": "amd64", "os": "linux",
              "rootfs": {"type": "layers", "diff_ids": [blob.diff_id]}}
    write_oci_layout(Image.from_config(config, [blob], style="go"), layout, "bomb")
    out = tmp_path / "out"
    out.mkdir()
    assert main(["image", "convert", f"oci:{layout}:bomb", str(out / "x.tar"),
                 "--max-decompressed-size", "8M"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "decompresses to more than 8 MiB" in err
    assert err.count("\n") == 1 and os.listdir(out) == []
    monkeypatch.setenv("NIXLITE_MAX_DECOMPRESSED_SIZE", "4M")  # the flag's default
    assert main(["image", "convert", f"oci:{layout}:bomb", str(out / "x.tar")]) == 1
    assert "decompresses to more than 4 MiB" in capsys.readouterr().err
    assert os.listdir(out) == []


def test_cli_rejects_a_bad_limit_or_retry_count_up_front(monkeypatch, tmp_path, capsys):
    """A bad NIXLITE_MAX_DECOMPRESSED_SIZE is an error even for an image that needs no
    decompression (it would otherwise be ignored until a compressed layer came along), and a
    negative --retry-times is refused rather than taken as zero."""
    from nixlite.cli import main
    from imagekit import docker_archive, image_config, layer_tar

    layer = layer_tar([("a", b"a")])
    archive = docker_archive(tmp_path / "plain.tar", [layer], image_config([layer]))
    monkeypatch.setenv("NIXLITE_MAX_DECOMPRESSED_SIZE", "junk")
    assert main(["image", "inspect", str(archive)]) == 1
    assert capsys.readouterr().err == ("error: invalid NIXLITE_MAX_DECOMPRESSED_SIZE 'junk' "
                                       "(expected a number of bytes, e.g. 512M or 16G)\n")
    monkeypatch.setenv("NIXLITE_MAX_DECOMPRESSED_SIZE", "64M")
    assert main(["image", "inspect", str(archive), "-q"]) == 0
    capsys.readouterr()
    for value in ("-1", "x"):
        with pytest.raises(SystemExit) as exit_:
            main(["image", "pull", "docker://127.0.0.1:1/x", "-o", str(tmp_path / "o.tar"),
                  "--retry-times", value])
        assert exit_.value.code != 0
        assert f"--retry-times: expected a number of times (0 or more), got '{value}'" \
            in capsys.readouterr().err
    assert not (tmp_path / "o.tar").exists()


# --- tar errors name their source ----------------------------------------------------------
def test_corrupt_tar_header_names_the_layer_and_the_archive(tmp_path):
    data = bytearray(tar_of(("x", "file", b"abc")))
    data[124:136] = b"12345678901z"  # a size field that is not octal
    data[148:156] = b"        "
    data[148:156] = b"%06o\0 " % sum(data[:512])
    layer = Layer.from_blob(bytes_source(bytes(data)), compression="none")
    bad_size = r"corrupt tar header: the size field is not an octal number \('12345678901z'\)"
    with pytest.raises(NixliteError, match=rf"^{layer.label}: {bad_size}"):
        unpack_layers([layer], str(tmp_path / "root"))
    archive = tmp_path / "broken.tar"
    archive.write_bytes(bytes(data))
    with pytest.raises(NixliteError, match=rf"^'.*broken.tar': {bad_size}$"):
        read_docker_archive(str(archive))
    # bytes that are not text, or a terminal escape, are shown as escapes, never raw or as
    # a Python bytes repr
    data[148:156] = b"\xf0l\x1b[31m\0"
    with pytest.raises(NixliteError) as err:
        list(TarStream([bytes(data)], "layer.tar"))
    assert err.value.message == ("layer.tar: corrupt tar header: the checksum field is not an "
                                 "octal number ('\ufffdl\\x1b[31m')")
    flipped = bytearray(tar_of(("x", "file", b"abc")))
    flipped[0] ^= 1
    with pytest.raises(NixliteError, match="^layer.tar: corrupt tar header: checksum mismatch at byte 0"):
        list(TarStream([bytes(flipped)], "layer.tar"))
