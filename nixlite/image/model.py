"""The image model every format reads into and writes from, after go-containerregistry.

A ``Layer`` is a blob whose bytes are produced on demand by a *source*: a zero-argument
callable returning a fresh iterable of ``bytes`` chunks each time it is called (so a layer can
be streamed more than once, e.g. once to learn its digest and once into an archive, without
being held in memory).  A layer has two views:

* the *blob* — the bytes as stored in a registry, OCI layout or archive (gzip, zstd or plain);
* the *tar* — the uncompressed layer tar; ``diff_id`` is its sha256.

Either view may be the source; the other is derived by (de)compressing.  ``digest``, ``size``
and ``diff_id`` are computed lazily and at most once: any complete pass over ``blob_chunks()``
or ``tar_chunks()`` records them as a side effect, and asking for one that is still unknown
streams the layer into a hashing sink.  Values a reader declares (from a manifest or config) are
*expected* values: they are returned without streaming, and every later full pass checks the
bytes against them, raising ``NixliteError`` on a mismatch — so a writer copying a layer never
emits unverified content silently.

An ``Image`` is the config blob (exact bytes — upstream's JSON style matters for digests) plus
the ordered layers, bottom first.  Manifests for docker schema2 and OCI are generated lazily in
the compact Go style skopeo and go-containerregistry write.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from nixlite.errors import NixliteError
from nixlite.image.compression import (DEFAULT_MAX_DECOMPRESSED, CompressionError, compress_chunks,
                                       decompress_chunks, sniff_compression)
from nixlite.image.files import exact_length, read_chunks
from nixlite.image.jsonstyle import go_json, parse_json, python_json

Chunks = Iterable[bytes]
Source = Callable[[], Chunks]

# Media types -------------------------------------------------------------------------------
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_LAYER_FOREIGN = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
OCI_LAYER_NONDIST = "application/vnd.oci.image.layer.nondistributable.v1.tar"
OCI_LAYER_NONDIST_GZIP = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"

# compression name -> (docker media type, OCI media type)
_LAYER_MEDIA_TYPES = {
    "none": (DOCKER_LAYER, OCI_LAYER),
    "gzip": (DOCKER_LAYER_GZIP, OCI_LAYER_GZIP),
    "zstd": (OCI_LAYER_ZSTD, OCI_LAYER_ZSTD),  # docker schema2 has no zstd type; both use OCI's
}
_COMPRESSION_OF_MEDIA_TYPE = {
    DOCKER_LAYER: "none",
    DOCKER_LAYER_GZIP: "gzip",
    DOCKER_LAYER_FOREIGN: "gzip",
    OCI_LAYER: "none",
    OCI_LAYER_GZIP: "gzip",
    OCI_LAYER_ZSTD: "zstd",
    OCI_LAYER_NONDIST: "none",
    OCI_LAYER_NONDIST_GZIP: "gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd": "zstd",
}


def compression_of_media_type(media_type: str) -> str:
    """'none', 'gzip' or 'zstd' for a layer media type; unknown types are an error."""
    compression = _COMPRESSION_OF_MEDIA_TYPE.get(media_type) if isinstance(media_type, str) else None
    if compression is None:
        raise NixliteError(f"unsupported layer media type {json.dumps(media_type)}")
    return compression


def layer_media_type(compression: str, oci: bool) -> str:
    """The layer media type for a compression in a docker schema2 (``oci=False``) or OCI manifest."""
    return _LAYER_MEDIA_TYPES[compression][1 if oci else 0]


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def check_digest_syntax(digest: str, what: str = "digest") -> str:
    """Return the hex part of a ``sha256:<64 hex>`` digest, or raise (digests name files)."""
    algo, _, hexpart = digest.partition(":")
    if algo != "sha256" or len(hexpart) != 64 or any(c not in "0123456789abcdef" for c in hexpart):
        raise NixliteError(f"invalid {what} '{digest}' (expected sha256:<64 lower-case hex digits>)")
    return hexpart


def descriptor(media_type: str, digest: str, size: int, oci: bool) -> dict[str, Any]:
    """A content descriptor with the field order of the flavour's Go struct."""
    if oci:
        return {"mediaType": media_type, "digest": digest, "size": size}
    return {"mediaType": media_type, "size": size, "digest": digest}


def file_source(path: str, offset: int = 0, length: int | None = None) -> Source:
    """A source reading ``length`` bytes of a file from ``offset`` (whole rest if None)."""

    def chunks() -> Iterator[bytes]:
        with open(path, "rb") as f:
            if offset:
                f.seek(offset)
            yield from read_chunks(f, length, path)

    return chunks


def bytes_source(data: bytes) -> Source:
    return lambda: (data,)


class Layer:
    """One layer; see the module docstring for the two views and the lazy, verified digests.

    Build one with ``Layer.from_tar`` (you have the uncompressed tar; choose how it is stored)
    or ``Layer.from_blob`` (you have the stored blob, e.g. read from an archive or a registry).
    ``media_type`` is the type the layer was read with (None if made locally); writers pick
    their own with ``media_type_for(oci)``.  ``urls`` and ``annotations`` are carried through
    from descriptors of foreign layers.  ``max_tar_size`` bounds what a compressed blob may
    decompress to (a compression bomb is refused, not unpacked); readers set it from their
    ``max_decompressed`` parameter.
    """

    __slots__ = (
        "_blob_source", "_tar_source", "compression", "compression_level", "media_type",
        "_digest", "_size", "_diff_id", "_tar_size", "_want_digest", "_want_size", "_want_diff_id",
        "urls", "annotations", "history", "max_tar_size", "_verified",
    )

    def __init__(self) -> None:
        self._blob_source: Source | None = None
        self._tar_source: Source | None = None
        self.compression = "none"
        self.compression_level: int | None = None
        self.media_type: str | None = None
        self._digest: str | None = None
        self._size: int | None = None
        self._diff_id: str | None = None
        self._tar_size: int | None = None
        self._want_digest: str | None = None
        self._want_size: int | None = None
        self._want_diff_id: str | None = None
        self.urls: list[str] | None = None
        self.annotations: dict[str, str] | None = None
        self.history: dict[str, Any] | None = None
        self.max_tar_size = DEFAULT_MAX_DECOMPRESSED
        self._verified = False

    # construction ---------------------------------------------------------------------
    @classmethod
    def from_tar(cls, source: Source, *, compression: str = "none", level: int | None = None,
                 diff_id: str | None = None) -> Layer:
        """A layer whose uncompressed tar comes from ``source``, stored with ``compression``
        ('none', 'gzip' = pigz -nT bytes, 'zstd').  ``diff_id``, if known, is verified."""
        if compression not in _LAYER_MEDIA_TYPES:
            raise NixliteError(f"unknown compression '{compression}' (expected none, gzip or zstd)")
        layer = cls()
        layer._tar_source = source
        layer.compression = compression
        layer.compression_level = level
        layer._want_diff_id = diff_id
        return layer

    @classmethod
    def from_blob(cls, source: Source, *, media_type: str | None = None,
                  compression: str | None = None, digest: str | None = None,
                  size: int | None = None, diff_id: str | None = None,
                  max_tar_size: int = DEFAULT_MAX_DECOMPRESSED, verified: bool = False) -> Layer:
        """A layer whose stored blob comes from ``source``.  Its compression is taken from
        ``compression``, else from ``media_type``, else sniffed from the first bytes.
        ``digest``/``size``/``diff_id`` are expected values, verified when streamed —
        unless ``verified``: the source's bytes were checked against them when they were
        written (a range of an immutable store file), so only their length is checked."""
        if verified and (digest is None or size is None):
            raise NixliteError("a verified layer needs its digest and size")
        layer = cls()
        layer._verified = verified
        layer.max_tar_size = max_tar_size
        layer._blob_source = source
        layer.media_type = media_type
        if compression is None and media_type is not None:
            compression = compression_of_media_type(media_type)
        layer.compression = compression if compression is not None else _sniff(source)
        if size is not None and size < 0:
            raise NixliteError(f"invalid layer size {size}")
        layer._want_size = size
        layer.expect(digest=digest, diff_id=diff_id)
        return layer

    def expect(self, *, digest: str | None = None, diff_id: str | None = None) -> None:
        """Declare what the blob (``digest``) or the tar (``diff_id``) must hash to, e.g. as a
        config or manifest says; checked on every later full pass.  An uncompressed layer's
        blob is its tar, so either value declares both."""
        for name, value in (("digest", digest), ("diff_id", diff_id)):
            if value is not None:
                check_digest_syntax(value, f"layer {name}")
        if self.compression == "none":
            digest = digest or diff_id or self._want_digest
            diff_id = diff_id or digest
            if digest != diff_id:
                raise NixliteError(f"uncompressed layer {digest} declares a different diff_id "
                                   f"{diff_id}")
        for want, value, got in (("_want_digest", digest, self._digest),
                                 ("_want_diff_id", diff_id, self._diff_id)):
            if value is None:
                continue
            earlier = getattr(self, want)
            if earlier is not None and earlier != value:
                raise NixliteError(f"{self.label} is declared as both {earlier} and {value}")
            if got is not None and got != value:
                raise NixliteError(f"{self.label} hashes to {got}, expected {value}")
            setattr(self, want, value)

    @property
    def known_digest(self) -> str | None:
        """The blob digest if known without streaming the layer (declared or computed)."""
        return self._digest or self._want_digest

    # identity ---------------------------------------------------------------------------
    @property
    def digest(self) -> str:
        """``sha256:<hex>`` of the stored blob (declared value, else computed by streaming)."""
        if self._digest is None:
            if self._want_digest is not None:
                return self._want_digest
            for _ in self.blob_chunks():
                pass
        return self._digest  # type: ignore[return-value]

    @property
    def size(self) -> int:
        """Byte length of the stored blob."""
        if self._size is None:
            if self._want_size is not None:
                return self._want_size
            for _ in self.blob_chunks():
                pass
        return self._size  # type: ignore[return-value]

    @property
    def diff_id(self) -> str:
        """``sha256:<hex>`` of the uncompressed tar."""
        if self._diff_id is None:
            if self._want_diff_id is not None:
                return self._want_diff_id
            if self.compression == "none":
                return self.digest
            for _ in self.tar_chunks():
                pass
        return self._diff_id  # type: ignore[return-value]

    @property
    def tar_size(self) -> int:
        """Byte length of the uncompressed tar (streams the tar if not yet known)."""
        if self.compression == "none":
            return self.size
        if self._tar_size is None:
            for _ in self.tar_chunks():
                pass
        return self._tar_size  # type: ignore[return-value]

    def recompressed(self, compression: str, level: int | None = None) -> Layer:
        """The same tar stored with another compression (e.g. gzip for a registry).
        The diff_id, if known, carries over and is verified."""
        if compression == self.compression and level is None:
            return self
        known = self._diff_id or self._want_diff_id
        return Layer.from_tar(self.tar_chunks, compression=compression, level=level, diff_id=known)

    def media_type_for(self, oci: bool) -> str:
        """The media type to write in a manifest of the given flavour.  A layer read with a
        type of the wanted flavour keeps it (e.g. foreign or non-distributable types)."""
        if self.media_type is not None and self.media_type.startswith(
                "application/vnd.oci." if oci else "application/vnd.docker."):
            return self.media_type
        return layer_media_type(self.compression, oci)

    def descriptor(self, oci: bool) -> dict[str, Any]:
        """The manifest descriptor in the field order skopeo writes: OCI's Go struct has
        mediaType, digest, size; docker schema2's has mediaType, size, digest."""
        desc = descriptor(self.media_type_for(oci), self.digest, self.size, oci)
        if self.urls:
            desc["urls"] = list(self.urls)
        if self.annotations:
            desc["annotations"] = dict(self.annotations)
        return desc

    # streaming --------------------------------------------------------------------------
    def blob_chunks(self) -> Iterator[bytes]:
        """Stream the stored blob; a complete pass records (and verifies) digest and size,
        and for an uncompressed layer also diff_id."""
        if self._verified:
            yield from exact_length(self._blob_source(), self._want_size, self.label)
            return
        if self._blob_source is not None:
            chunks: Iterable[bytes] = self._blob_source()
        else:
            chunks = self._tar_source()  # type: ignore[misc]
            if self.compression != "none":
                chunks = compress_chunks(self._hash_tar(chunks), self.compression,
                                         self.compression_level)
        h = hashlib.sha256()
        n = 0
        for chunk in chunks:
            h.update(chunk)
            n += len(chunk)
            yield chunk
        self._record_blob("sha256:" + h.hexdigest(), n)

    def tar_chunks(self) -> Iterator[bytes]:
        """Stream the uncompressed tar; a complete pass records (and verifies) diff_id."""
        if self.compression == "none":
            yield from self.blob_chunks()
            return
        if self._tar_source is not None:
            yield from self._hash_tar(self._tar_source())
            return
        try:
            yield from self._hash_tar(decompress_chunks(self.blob_chunks(), self.compression,
                                                        self.max_tar_size))
        except CompressionError as e:
            raise CompressionError(f"{self.label}: {e.message}") from None

    def _hash_tar(self, chunks: Iterable[bytes]) -> Iterator[bytes]:
        h = hashlib.sha256()
        n = 0
        for chunk in chunks:
            h.update(chunk)
            n += len(chunk)
            yield chunk
        self._tar_size = n
        self._record_diff_id("sha256:" + h.hexdigest())

    def _record_blob(self, digest: str, size: int) -> None:
        if self._want_size is not None and size != self._want_size:
            raise NixliteError(f"layer {self._want_digest or digest} has size {size}, "
                               f"expected {self._want_size}")
        if self._want_digest is not None and digest != self._want_digest:
            raise NixliteError(f"layer blob has digest {digest}, expected {self._want_digest}")
        if self._digest is not None and digest != self._digest:
            raise NixliteError(f"layer source is not deterministic: digest {digest}, "
                               f"earlier {self._digest}")
        self._digest, self._size = digest, size
        if self.compression == "none":
            self._tar_size = size
            self._record_diff_id(digest)

    def _record_diff_id(self, diff_id: str) -> None:
        if self._want_diff_id is not None and diff_id != self._want_diff_id:
            raise NixliteError(f"layer {self._want_digest or ''} has diff_id {diff_id}, "
                               f"expected {self._want_diff_id} (from the image config)".replace("  ", " "))
        self._diff_id = diff_id

    def write_blob(self, out) -> None:
        """Write the stored blob to a binary file object."""
        for chunk in self.blob_chunks():
            out.write(chunk)

    def write_tar(self, out) -> None:
        """Write the uncompressed tar to a binary file object."""
        for chunk in self.tar_chunks():
            out.write(chunk)

    @property
    def label(self) -> str:
        """How errors name the layer: by whichever digest is known without streaming it."""
        known = self._want_digest or self._digest or self._want_diff_id or self._diff_id
        return f"layer {known}" if known else "layer"

    def __repr__(self) -> str:
        known = self._digest or self._want_digest or "digest not computed"
        return f"<Layer {known} {self.compression}>"


def _sniff(source: Source) -> str:
    for chunk in source():
        if chunk:
            return sniff_compression(chunk)
    return "none"


class Image:
    """An image: the config blob (exact bytes) and its layers, bottom first.

    ``config`` is the parsed JSON (lazily, from the bytes).  Manifests are generated lazily,
    for ``oci=False`` (docker schema2) and ``oci=True``; generating one needs every layer's
    digest and size, which may stream layers that were built locally.  ``repo_tags`` carries
    names such as ``name:tag`` through archive formats that store them.  ``manifest_bytes``
    may be preset by a reader that holds the original manifest (so digests survive a copy).
    """

    __slots__ = ("config_bytes", "layers", "repo_tags", "_config", "_manifests", "annotations")

    def __init__(self, config_bytes: bytes, layers: list[Layer],
                 repo_tags: list[str] | None = None) -> None:
        self.config_bytes = config_bytes
        self.layers = list(layers)
        self.repo_tags = list(repo_tags or [])
        self._config: dict[str, Any] | None = None
        self._manifests: dict[bool, bytes] = {}
        self.annotations: dict[str, str] | None = None

    @classmethod
    def from_config(cls, config: dict[str, Any], layers: list[Layer], *,
                    style: str = "python", repo_tags: list[str] | None = None) -> Image:
        """Serialise ``config`` as upstream's stream script does (``style='python'``,
        4-space indent, ASCII) or compactly as Go does (``style='go'``)."""
        data = python_json(config) if style == "python" else go_json(config)
        image = cls(data, layers, repo_tags)
        image._config = config
        return image

    @property
    def config(self) -> dict[str, Any]:
        if self._config is None:
            self._config = parse_json(self.config_bytes, "image config", want=dict)
        return self._config

    @property
    def config_digest(self) -> str:
        return sha256_digest(self.config_bytes)

    @property
    def diff_ids(self) -> list[str]:
        """The config's ``rootfs.diff_ids`` (what the layers must hash to)."""
        rootfs = self.config.get("rootfs")
        ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise NixliteError("image config has no valid rootfs.diff_ids list")
        return ids

    def check_layers_match_config(self) -> None:
        """The number of layers must equal the number of config diff_ids; each layer is
        then expected to hash to its diff_id (checked while streaming)."""
        ids = self.diff_ids
        if len(ids) != len(self.layers):
            raise NixliteError(f"image config lists {len(ids)} diff_ids but the image has "
                               f"{len(self.layers)} layers")
        for layer, diff_id in zip(self.layers, ids):
            check_digest_syntax(diff_id, "diff_id")
            layer.expect(diff_id=diff_id)

    def manifest(self, oci: bool = False) -> dict[str, Any]:
        return json.loads(self.manifest_bytes(oci))

    def manifest_bytes(self, oci: bool = False) -> bytes:
        """The manifest in Go's compact style and field order (schemaVersion, mediaType,
        config, layers, annotations)."""
        cached = self._manifests.get(oci)
        if cached is None:
            manifest: dict[str, Any] = {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST if oci else DOCKER_MANIFEST,
                "config": descriptor(OCI_CONFIG if oci else DOCKER_CONFIG, self.config_digest,
                                     len(self.config_bytes), oci),
                "layers": [layer.descriptor(oci) for layer in self.layers],
            }
            if oci and self.annotations:
                manifest["annotations"] = dict(self.annotations)
            cached = self._manifests[oci] = go_json(manifest)
        return cached

    def set_manifest_bytes(self, data: bytes, oci: bool) -> None:
        """Keep a manifest as read (its digest names the image in a registry or index)."""
        self._manifests[oci] = data

    def manifest_digest(self, oci: bool = False) -> str:
        return sha256_digest(self.manifest_bytes(oci))

    def __repr__(self) -> str:
        return f"<Image {self.config_digest} {len(self.layers)} layers>"
