"""docker-archive (``docker save`` / ``docker load`` tarballs): writer and reader.

The writer produces upstream streamLayeredImage's layout byte for byte (spec §1.4–1.6):
``<diff_id hex>/layer.tar`` per layer, ``<config hex>.json``, ``manifest.json``, in the pax
dialect of Python's tarfile, JSON as ``json.dumps(indent=4)``.  It streams: every layer's
tar is generated on demand (once for its digest if unknown, once into the archive).

The reader accepts any docker-archive skopeo or docker accepts (member names are free,
layers may be gzip/zstd compressed inside, layer members may be symlinks as in skopeo's
archives) and the whole archive may itself be compressed (``buildLayeredImage``'s
``.tar.gz``).  Every layer is checked against the config's diff_ids while it is streamed.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
from collections.abc import Iterator
from typing import IO, Any

from nixlite.errors import NixliteError
from nixlite.image.compression import (DEFAULT_MAX_DECOMPRESSED, compress_chunks,
                                       decompress_chunks, sniff_compression)
from nixlite.image.files import atomic_file, read_chunks, temporary_directory
from nixlite.image.gzip import JobCache, Span, pigz_chunks
from nixlite.image.jsonstyle import MAX_JSON, go_json, parse_json, python_json
from nixlite.image.model import (DOCKER_CONFIG, DOCKER_LAYER_GZIP, DOCKER_MANIFEST, Image, Layer,
                                 check_digest_syntax, descriptor, file_source)
from nixlite.image.tarreader import Member, index_tar_file, safe_relative
from nixlite.image.tarwriter import PaxTarWriter


def docker_archive_chunks(image: Image, *, mtime: int = 0, repo_tags: list[str] | None = None,
                          layer_headers: dict[int, dict[str, Any]] | None = None,
                          compression: str = "none", job_cache: JobCache | None = None
                          ) -> Iterator[bytes]:
    """Stream the archive.  ``mtime`` is every member's mtime (upstream: ``created``'s epoch
    in the seed, ``mtime`` today).  ``repo_tags`` overrides ``image.repo_tags``.
    ``layer_headers`` maps a layer index to header fields overriding the defaults (mode
    0644, root ids, empty names) — upstream's customisation layer carries the stat() of its
    stored file (mode 0444 and the store owner); ``name`` overrides the member name and
    ``verbatim`` copies the stored blob instead of the tar (fromImage's base layers).
    ``compression='gzip'`` gives the seed buildLayeredImage's ``stream | pigz -nT`` bytes,
    ``'gzip-rsyncable'`` today's ``pigz -nTR``, ``'zstd'`` a zstd frame.  With gzip,
    ``job_cache`` keeps the deflated jobs and reuses those of earlier archives: layers are
    passed to it by diff_id, and read only where a job over them is not cached."""
    spans = job_cache is not None and compression in ("gzip", "gzip-rsyncable")
    chunks = _archive_chunks(image, mtime, image.repo_tags if repo_tags is None else repo_tags,
                             layer_headers or {}, spans)
    if spans:
        return pigz_chunks(chunks, rsyncable=compression == "gzip-rsyncable", cache=job_cache)
    return compress_chunks(chunks, compression)


def _archive_chunks(image: Image, mtime: int, repo_tags: list[str],
                    layer_headers: dict[int, dict[str, Any]], spans: bool = False
                    ) -> Iterator[bytes | Span]:
    writer = PaxTarWriter()
    names = []
    for index, layer in enumerate(image.layers):
        attrs: dict[str, Any] = {"mode": 0o644, "mtime": mtime}
        attrs.update(layer_headers.get(index, {}))
        name = attrs.pop("name", None) or (
            check_digest_syntax(layer.diff_id, "layer diff_id") + "/layer.tar")
        names.append(name)
        if attrs.pop("verbatim", False):
            size, key, chunks = layer.size, layer.digest, layer.blob_chunks
        else:
            size, key, chunks = layer.tar_size, layer.diff_id, layer.tar_chunks
        content = Span(key, size, chunks) if spans else chunks()
        yield from writer.add(name, size, content, **attrs)
    config_name = image.config_digest.split(":", 1)[1] + ".json"
    yield from writer.add(config_name, len(image.config_bytes), [image.config_bytes], mtime=mtime)
    manifest = python_json([{"Config": config_name, "RepoTags": list(repo_tags), "Layers": names}])
    yield from writer.add("manifest.json", len(manifest), [manifest], mtime=mtime)
    yield writer.end()


def write_docker_archive(image: Image, dest: str | IO[bytes], **options: Any) -> None:
    """Write the archive to a path (atomically: temp file, then rename) or a binary stream.
    Options as for ``docker_archive_chunks``."""
    chunks = docker_archive_chunks(image, **options)
    if isinstance(dest, str):
        atomic_file(dest, lambda out: _write_all(chunks, out))
    else:
        _write_all(chunks, dest)


def _write_all(chunks: Iterator[bytes], out: IO[bytes]) -> None:
    for chunk in chunks:
        out.write(chunk)


# Reading -----------------------------------------------------------------------------------

class _Spool:
    """A decompressed copy of a compressed or streamed archive, removed when unreferenced."""

    def __init__(self, chunks, label: str) -> None:
        self._stack = contextlib.ExitStack()
        self.dir = self._stack.enter_context(temporary_directory(None, "nixlite-archive"))
        self.path = os.path.join(self.dir, "archive.tar")
        try:
            with open(self.path, "wb") as out:
                for chunk in chunks:
                    out.write(chunk)
        except NixliteError as e:
            self._stack.close()
            raise NixliteError(f"'{label}': {e.message}") from None
        except BaseException:
            self._stack.close()
            raise

    def __del__(self) -> None:
        self._stack.close()


def _sniff_file(path: str, offset: int = 0) -> str:
    with open(path, "rb") as f:
        f.seek(offset)
        return sniff_compression(f.read(4))


class DockerArchive:
    """An opened archive: ``entries`` is manifest.json; ``image(...)`` builds an ``Image``
    and ``stored_members(...)`` tells how its layers are stored (for verbatim copies).

    The archive file must stay in place while its images' layers are used; compressed or
    streamed input is spooled to a private temporary file kept alive by the layers.  No
    layer (nor the archive itself, if compressed) may decompress to more than
    ``max_decompressed`` bytes."""

    def __init__(self, source: str | IO[bytes], *,
                 max_decompressed: int = DEFAULT_MAX_DECOMPRESSED) -> None:
        self._spool: _Spool | None = None
        self.max_decompressed = max_decompressed
        if isinstance(source, str):
            try:
                kind = _sniff_file(source)
            except OSError as e:
                raise NixliteError(f"cannot open docker-archive '{source}': {e.strerror}") from None
            self.label = source
            if kind != "none":
                with open(source, "rb") as f:
                    self._spool = _Spool(decompress_chunks(read_chunks(f), kind, max_decompressed),
                                         self.label)
            self.path = self._spool.path if self._spool else source
        else:
            chunks = read_chunks(source)
            first = next(chunks, b"")
            kind = sniff_compression(first)
            rest = (c for part in ([first], chunks) for c in part)
            self.label = "<stream>"
            self._spool = _Spool(decompress_chunks(rest, kind, max_decompressed), self.label)
            self.path = self._spool.path
        self.members: dict[str, Member] = {}
        for member in index_tar_file(self.path, self.label):
            self.members[safe_relative(member.name, "archive member")] = member
        manifest = self._read_json("manifest.json")
        if not isinstance(manifest, list) or not manifest or not all(map(_valid_entry, manifest)):
            raise NixliteError(f"'{self.label}': manifest.json must be a non-empty list of "
                               "{\"Config\": ..., \"RepoTags\": [...], \"Layers\": [...]} objects")
        self.entries: list[dict[str, Any]] = manifest

    def _member(self, name: str) -> Member:
        """The regular-file member a manifest reference names, following links inside the
        archive (skopeo writes ``<id>/layer.tar`` as a symlink)."""
        current = safe_relative(name, "manifest reference")
        for _ in range(16):
            member = self.members.get(current)
            if member is None:
                raise NixliteError(f"'{self.label}' has no member '{name}' (named in manifest.json)")
            if member.is_file:
                return member
            if member.type == b"2":
                target = member.linkname
                joined = target.lstrip("/") if target.startswith("/") else posixpath.join(
                    posixpath.dirname(current), target)
                normal = posixpath.normpath(joined)
                if normal == ".." or normal.startswith("../"):
                    raise NixliteError(f"'{self.label}': link '{current}' points outside the archive")
                current = safe_relative(normal, "link target")
            elif member.type == b"1":
                current = safe_relative(member.linkname, "hard link target")
            else:
                raise NixliteError(f"'{self.label}': member '{current}' is not a file")
        raise NixliteError(f"'{self.label}': too many levels of links at '{name}'")

    def _read_json(self, name: str) -> Any:
        member = self.members.get(name)
        if member is None:
            raise NixliteError(f"'{self.label}' is not a docker-archive: it has no {name}")
        return parse_json(self._read_member(self._member(name)), f"'{self.label}': {name}")

    def _read_member(self, member: Member) -> bytes:
        if member.size > MAX_JSON:
            raise NixliteError(f"'{self.label}': '{member.name}' is too large for a JSON document")
        with open(self.path, "rb") as f:
            f.seek(member.offset)
            return f.read(member.size)

    def tags(self) -> list[str]:
        return [t for e in self.entries for t in (e.get("RepoTags") or []) if isinstance(t, str)]

    def image(self, tag: str | None = None, index: int | None = None, *,
              verify: bool = True) -> Image:
        """The image named ``tag`` (matching RepoTags, also with docker.io/library/ spelled
        out), or number ``index``, or the only one.  Compressed layer members are checked
        against the config's diff_ids now unless ``verify`` is false (``inspect``, which like
        skopeo's does not hash layers); uncompressed ones as they are streamed."""
        entry = self._entry(tag, index)
        config_bytes = self._read_member(self._member(entry["Config"]))
        parse_json(config_bytes, f"'{self.label}': config")
        layers = [self._layer(self._member(ref)) for ref in entry["Layers"]]
        tags = [t for t in (entry.get("RepoTags") or []) if isinstance(t, str)]
        image = Image(config_bytes, layers, tags)
        image.check_layers_match_config()
        if verify:  # (an uncompressed member's digest is its diff_id, checked as it streams)
            for number, layer in enumerate(layers, 1):
                if layer.compression != "none":
                    self._verify_compressed(layer, number, entry["Layers"][number - 1])
        return image

    def stored_members(self, tag: str | None = None, index: int | None = None) -> list[Member]:
        """The members manifest.json names as an image's layers, as stored (links not
        followed): what a verbatim copy such as streamLayeredImage's ``fromImage`` keeps."""
        entry = self._entry(tag, index)
        found = []
        for name in entry["Layers"]:
            member = self.members.get(safe_relative(name, "manifest reference"))
            if member is None:
                raise NixliteError(f"'{self.label}' has no member '{name}' (named in manifest.json)")
            found.append(member)
        return found

    def _entry(self, tag: str | None, index: int | None) -> dict[str, Any]:
        if tag is not None:
            wanted = {tag, _normalise_tag(tag)}
            found = [e for e in self.entries
                     if any(t in wanted or _normalise_tag(t) in wanted for t in (e.get("RepoTags") or [])
                            if isinstance(t, str))]
            if not found:
                raise NixliteError(f"'{self.label}' has no image tagged '{tag}' "
                                   f"(it has: {', '.join(self.tags()) or 'no tags'})")
            return found[0]
        if index is not None:
            if not 0 <= index < len(self.entries):
                raise NixliteError(f"'{self.label}' has no image number {index}")
            return self.entries[index]
        if len(self.entries) == 1:
            return self.entries[0]
        tags = self.tags()
        spelling = "" if self.label == "<stream>" else \
            f", as docker-archive:{self.label}:{tags[0] if tags else 'NAME:TAG'}"
        raise NixliteError(f"'{self.label}' holds {len(self.entries)} images; name one by "
                           f"tag{spelling} (it has: {', '.join(tags) or 'no tags'})")

    def _verify_compressed(self, layer: Layer, number: int, ref: str) -> None:
        """Decompress a compressed layer member once, within the decompression bound, and
        check it against its diff_id now: its blob is copied verbatim (to an OCI layout or a
        registry) where no later step would look inside, so a mismatch must stop the copy
        before anything is written (skopeo refuses such archives too)."""
        try:
            for _ in layer.tar_chunks():
                pass
        except NixliteError as e:
            raise NixliteError(f"'{self.label}': layer {number} ('{ref}', {layer.compression}"
                               f"-compressed): {e.message}") from None

    def _layer(self, member: Member) -> Layer:
        source = file_source(self.path, member.offset, member.size)
        if self._spool is not None:
            spool = self._spool

            def keep_alive_source(source=source, spool=spool):
                return source()

            source = keep_alive_source
        kind = _sniff_file(self.path, member.offset) if member.size else "none"
        return Layer.from_blob(source, compression=kind, size=member.size,
                               max_tar_size=self.max_decompressed)


def skopeo_view_manifest(image: Image) -> bytes:
    """The manifest skopeo's docker-archive source reports for an image (what ``skopeo
    inspect --raw`` prints and ``skopeo inspect``'s Digest hashes): every layer named by its
    diff_id with its uncompressed size, under the gzip media type whatever the member's
    actual compression.  Compressed members are decompressed (within the bound) to size
    them, but not checked: inspect, like skopeo's, does not verify layers."""
    layers = []
    for number, (layer, diff_id) in enumerate(zip(image.layers, image.diff_ids), 1):
        if layer.compression == "none":
            size = layer.size
        else:
            try:
                size = sum(map(len, decompress_chunks(layer.blob_chunks(), layer.compression,
                                                      layer.max_tar_size)))
            except NixliteError as e:
                raise NixliteError(f"layer {number}: {e.message}") from None
        layers.append(descriptor(DOCKER_LAYER_GZIP, diff_id, size, False))
    return go_json({"schemaVersion": 2, "mediaType": DOCKER_MANIFEST,
                    "config": descriptor(DOCKER_CONFIG, image.config_digest,
                                         len(image.config_bytes), False),
                    "layers": layers})


def _valid_entry(entry: Any) -> bool:
    """A manifest.json entry with the types docker and skopeo require."""
    def strings(value: Any) -> bool:
        return isinstance(value, list) and all(isinstance(x, str) for x in value)

    return isinstance(entry, dict) and isinstance(entry.get("Config"), str) \
        and strings(entry.get("Layers")) and (entry.get("RepoTags") is None
                                              or strings(entry["RepoTags"]))


def _normalise_tag(tag: str) -> str:
    """docker.io/library/name:tag spelled out, as skopeo writes RepoTags."""
    name, _, rest = tag.partition("/")
    if "/" not in tag:
        return "docker.io/library/" + tag
    if "." not in name and ":" not in name and name != "localhost":
        return "docker.io/" + tag
    return tag


def read_docker_archive(source: str | IO[bytes], *, tag: str | None = None,
                        index: int | None = None, verify: bool = True,
                        max_decompressed: int = DEFAULT_MAX_DECOMPRESSED) -> Image:
    """Read one image from a docker-archive file (plain, .tar.gz or .tar.zst) or stream;
    see ``DockerArchive.image`` for ``tag``, ``index`` and ``verify``."""
    return DockerArchive(source, max_decompressed=max_decompressed).image(
        tag=tag, index=index, verify=verify)
