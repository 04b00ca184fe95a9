"""docker-archive exactly as skopeo 1.9.3 writes it (``skopeo copy … docker-archive:DEST:NAME:TAG``).

A recipe's ``pullImage`` sha256 covers these bytes, so every detail matters (spec §6):

* Go ``archive/tar`` USTAR headers: mode 0444 (symlinks 0), uid/gid 0, empty user/group names,
  mtime 0, device fields ``0000000\\0``; no directory entries; the archive ends with two zero
  blocks and no further padding.
* Members: each distinct layer as ``<diff_id hex>.tar`` (uncompressed), the config verbatim as
  ``<config digest hex>.json``, then per layer the legacy directory ``<v1 id>/`` holding
  ``layer.tar`` (symlink to ``../<diff_id hex>.tar``), ``VERSION`` (``1.0``) and ``json``, then
  ``manifest.json`` and ``repositories`` in Go's compact JSON.
* v1 ids follow containers/image's writer: a chain id over the diff_ids, then the sha256 of
  the key-sorted layer config map with ``layer_id`` = chain id; the top layer's map also carries
  seven fields copied raw (compacted) from the image config.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterable, Iterator
from typing import BinaryIO

from nixlite.errors import NixliteError
from nixlite.image.files import read_chunks
from nixlite.image.jsonstyle import go_compact, go_object, go_string
from nixlite.image.model import Image, Layer, check_digest_syntax
from nixlite.image.progress import Progress
from nixlite.image.tarwriter import (BLOCK, NO_DEV, POSIX_MAGIC, header_block, octal_field,
                                     padding, pax_record)

_MAX_OCTAL_SIZE = 8 ** 11 - 1
_TOP_LAYER_FIELDS = ("architecture", "config", "container", "container_config", "created",
                     "docker_version", "os")


def _top_level_raw_values(config_text: str) -> dict[str, str]:
    """The raw JSON text of each top-level member of the config object (last duplicate wins,
    as Go's decoder keeps the last)."""
    import json

    decoder = json.JSONDecoder()
    values: dict[str, str] = {}
    text = config_text
    pos = _skip_ws(text, 0)
    if pos >= len(text) or text[pos] != "{":
        raise NixliteError("image config is not a JSON object")
    pos = _skip_ws(text, pos + 1)
    if text[pos:pos + 1] == "}":
        return values
    while True:
        key, pos = decoder.raw_decode(text, pos)
        pos = _skip_ws(text, pos)
        if text[pos:pos + 1] != ":":
            raise NixliteError("image config is not valid JSON")
        start = _skip_ws(text, pos + 1)
        _, end = decoder.raw_decode(text, start)
        values[key] = text[start:end]
        pos = _skip_ws(text, end)
        if text[pos:pos + 1] == ",":
            pos = _skip_ws(text, pos + 1)
            continue
        if text[pos:pos + 1] == "}":
            return values
        raise NixliteError("image config is not valid JSON")


def _skip_ws(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t\n\r":
        pos += 1
    return pos


def legacy_layer_configs(config_bytes: bytes, diff_ids: list[str]) -> list[tuple[str, bytes]]:
    """(v1 id, json bytes) per layer, bottom first, as containers/image computes them."""
    try:
        config_text = config_bytes.decode("utf-8")
        raw = _top_level_raw_values(config_text)
    except (UnicodeDecodeError, ValueError) as e:
        raise NixliteError(f"image config is not valid JSON: {e}") from None
    out: list[tuple[str, bytes]] = []
    chain = ""
    parent = ""
    for i, diff_id in enumerate(diff_ids):
        fields: dict[str, str] = {}
        if parent:
            fields["parent"] = go_string(parent)
        if i == len(diff_ids) - 1:
            for name in _TOP_LAYER_FIELDS:
                fields[name] = go_compact(raw[name]) if name in raw else "null"
        chain = diff_id if not chain else \
            "sha256:" + hashlib.sha256(f"{chain} {diff_id}".encode()).hexdigest()
        fields["layer_id"] = go_string(chain)
        v1id = hashlib.sha256(go_object(fields)).hexdigest()
        del fields["layer_id"]
        fields["id"] = go_string(v1id)
        out.append((v1id, go_object(fields)))
        parent = v1id
    return out


# Go archive/tar headers ---------------------------------------------------------------------
def _header(name: str, size: int, typeflag: bytes, *, mode: int = 0o444, linkname: str = "",
            size_field: int | None = None, dev: bytes = b"0000000\0") -> bytes:
    """A USTAR header as Go writes it: root ids, no user/group names, mtime 0."""
    raw_name, raw_link = name.encode(), linkname.encode()
    if len(raw_name) > 100 or len(raw_link) > 100:
        raise NixliteError(f"archive member name too long for this writer: '{name}'")
    zero = octal_field(0, 8)
    return header_block(raw_name, octal_field(mode, 8), zero, zero,
                        octal_field(size if size_field is None else size_field, 12),
                        octal_field(0, 12), typeflag, raw_link, POSIX_MAGIC, b"", b"", dev, dev)


def _file_headers(name: str, size: int) -> bytes:
    """Header(s) of a regular file member.  Sizes beyond USTAR's 11 octal digits get a PAX
    ``size`` record first, as Go prefers PAX over GNU (read from Go's writer; unverified
    against skopeo, which would need an 8 GiB layer)."""
    if size <= _MAX_OCTAL_SIZE:
        return _header(name, size, b"0")
    payload = pax_record("size", str(size).encode())
    directory, _, base = name.rpartition("/")
    pax_name = (directory + "/" if directory else "") + "PaxHeaders.0/" + base
    # Go's writeRawFile leaves the device fields of the extended header empty
    pax = _header(pax_name[:100].rstrip("/"), len(payload), b"x", mode=0, dev=NO_DEV)
    return pax + payload + padding(len(payload)) + _header(name, size, b"0", size_field=0)


# the writer ---------------------------------------------------------------------------------
class _LayerTar:
    """A layer's uncompressed tar with a known size: the layer itself if it is stored
    uncompressed, else a spooled temporary copy."""

    def __init__(self, layer: Layer, spool_dir: str | None):
        self.layer = layer
        self.spool: str | None = None
        if layer.compression == "none":
            self.size = layer.size
        else:
            fd, self.spool = tempfile.mkstemp(prefix=".nixlite-layer-", dir=spool_dir)
            try:
                with os.fdopen(fd, "wb") as f:
                    layer.write_tar(f)
                    self.size = f.tell()
            except BaseException:
                self.close()
                raise

    def chunks(self) -> Iterator[bytes]:
        if self.spool is None:
            yield from self.layer.blob_chunks()
            return
        with open(self.spool, "rb") as f:
            yield from read_chunks(f, self.size, self.spool)

    def close(self) -> None:
        if self.spool is not None:
            os.unlink(self.spool)
            self.spool = None


def _parts(image: Image, repo_tags: Iterable[tuple[str, str]], spool_dir: str | None,
           layer_files: dict[str, str] | None,
           progress: Progress | None = None) -> Iterator[bytes | tuple[str, int]]:
    """The archive as bytes, and (path, size) for layer tars that are already verified files
    (``layer_files``: diff_id → path), which writers may copy without reading them.
    ``progress`` hears of every layer written."""
    image.check_layers_match_config()
    diff_ids = image.diff_ids
    config_hex = check_digest_syntax(image.config_digest, "config digest")
    tags = list(repo_tags)
    written: set[str] = set()
    for layer, diff_id in zip(image.layers, diff_ids):
        hexpart = check_digest_syntax(diff_id, "diff_id")
        if hexpart in written:
            continue
        written.add(hexpart)
        known = (layer_files or {}).get(diff_id)
        if known is not None:
            size = os.path.getsize(known)
            yield _file_headers(f"{hexpart}.tar", size)
            yield (known, size)
            yield padding(size)
            continue
        tar = _LayerTar(layer, spool_dir)
        try:
            yield _file_headers(f"{hexpart}.tar", tar.size)
            n = 0
            for block in tar.chunks():
                n += len(block)
                yield block
            if n != tar.size:
                raise NixliteError(f"layer {diff_id} produced {n} bytes, expected {tar.size}")
            yield padding(n)
        finally:
            tar.close()
        if progress is not None:
            progress.layer_done()
    yield _header(f"{config_hex}.json", len(image.config_bytes), b"0")
    yield image.config_bytes + padding(len(image.config_bytes))
    top = ""
    seen_v1: set[str] = set()
    for (v1id, layer_json), diff_id in zip(legacy_layer_configs(image.config_bytes, diff_ids),
                                           diff_ids):
        top = v1id
        if v1id in seen_v1:
            continue
        seen_v1.add(v1id)
        yield _header(f"{v1id}/layer.tar", 0, b"2", mode=0,
                      linkname=f"../{diff_id.split(':', 1)[1]}.tar")
        yield _header(f"{v1id}/VERSION", 3, b"0") + b"1.0" + padding(3)
        yield _header(f"{v1id}/json", len(layer_json), b"0") + layer_json + padding(len(layer_json))
    layers = ",".join(go_string(f"{d.split(':', 1)[1]}.tar") for d in diff_ids)
    tag_list = ",".join(go_string(f"{name}:{tag}") for name, tag in tags)
    manifest = (f'[{{"Config":{go_string(config_hex + ".json")},"RepoTags":[{tag_list}],'
                f'"Layers":[{layers}]}}]').encode()
    yield _header("manifest.json", len(manifest), b"0") + manifest + padding(len(manifest))
    repositories: dict[str, dict[str, str]] = {}
    if top:
        for name, tag in tags:
            repositories.setdefault(name, {})[tag] = top
    repos = "{" + ",".join(
        f"{go_string(name)}:{{" + ",".join(f"{go_string(t)}:{go_string(v)}" for t, v in
                                            sorted(by_tag.items(), key=lambda kv: kv[0].encode()))
        + "}" for name, by_tag in sorted(repositories.items(), key=lambda kv: kv[0].encode())) + "}"
    repos_bytes = repos.encode()
    yield _header("repositories", len(repos_bytes), b"0") + repos_bytes + padding(len(repos_bytes))
    yield b"\0" * (2 * BLOCK)


def write_skopeo_archive(image: Image, out: BinaryIO, repo_tags: Iterable[tuple[str, str]] = (),
                         spool_dir: str | None = None,
                         layer_files: dict[str, str] | None = None,
                         progress: Progress | None = None) -> None:
    """Write the archive to a binary file object; verified layer files are copied by the
    kernel (copy_file_range / sendfile) when ``out`` is a real file or pipe.  ``progress``
    hears of every layer written (count the bytes with ``progress.counting(out)``)."""
    for part in _parts(image, repo_tags, spool_dir, layer_files, progress):
        if isinstance(part, bytes):
            out.write(part)
        else:
            _copy_file(part[0], part[1], out)


def _copy_file(path: str, size: int, out: BinaryIO) -> None:
    with open(path, "rb") as src:
        left = size
        try:
            out_fd = out.fileno()
        except (AttributeError, OSError, ValueError):
            out_fd = None
        if out_fd is not None:
            out.flush()
            left -= _kernel_copy(src.fileno(), out_fd, size)
            if out.seekable():
                out.seek(0, os.SEEK_END)  # resynchronise the buffered writer's position
        for block in read_chunks(src, left, path):  # no kernel copy (or it stopped early)
            out.write(block)


def _kernel_copy(src: int, dst: int, size: int) -> int:
    """Copy up to ``size`` bytes between file positions in the kernel; returns how many."""
    done = 0
    for method in ("copy_file_range", "sendfile"):
        try:
            while done < size:
                if method == "copy_file_range":
                    n = os.copy_file_range(src, dst, size - done)
                else:
                    n = os.sendfile(dst, src, None, size - done)
                if n == 0:
                    return done
                done += n
            return done
        except (OSError, AttributeError):
            if done:
                return done
    return done
