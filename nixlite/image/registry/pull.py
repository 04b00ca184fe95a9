"""Pull an image from a registry into the ``Image`` model.

Steps (spec §6): fetch the manifest with every modern media type accepted; if it is an index
or manifest list pick the entry for the wanted platform and fetch that by digest; fetch the
config; download the layers in parallel threads into a private temporary directory, each one
verified by size and digest and — after decompression — by the config's diff_id.  Only then
does the caller write anything to its destination, so a corrupt blob leaves nothing behind.

Layers are kept either as the registry's blobs (``keep='blob'``, for OCI layouts: digests
survive) or decompressed (``keep='tar'``, for docker-archive, which stores tars), or not
downloaded at all (``keep='lazy'``, for copies to a registry: each layer streams from the
source registry when read — verified by size and digest — so blobs the destination already
has or can mount are never transferred).
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import os
import platform as _platform
import queue
from concurrent.futures import FIRST_EXCEPTION, wait
from dataclasses import dataclass, field
from typing import Any

from nixlite.errors import NixliteError
from nixlite.image import model
from nixlite.image.compression import DEFAULT_MAX_DECOMPRESSED, decompress_chunks, sniff_compression
from nixlite.image.files import temporary_directory
from nixlite.image.jsonstyle import MAX_JSON, parse_json
from nixlite.image.model import Image, Layer, check_digest_syntax, file_source
from nixlite.image.progress import Progress
from nixlite.image.threads import start_worker, worker_pool
from nixlite.image.registry.client import RegistryClient, RegistryError
from nixlite.image.registry.reference import Reference

MANIFEST_ACCEPT = (model.OCI_INDEX, model.DOCKER_MANIFEST_LIST, model.OCI_MANIFEST,
                   model.DOCKER_MANIFEST)
_INDEX_TYPES = (model.OCI_INDEX, model.DOCKER_MANIFEST_LIST)
_IMAGE_TYPES = (model.OCI_MANIFEST, model.DOCKER_MANIFEST)
_SCHEMA1 = ("application/vnd.docker.distribution.manifest.v1+prettyjws",
            "application/vnd.docker.distribution.manifest.v1+json")

_ARCH_OF_MACHINE = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64",
                    "armv7l": "arm", "armv6l": "arm", "i386": "386", "i686": "386",
                    "ppc64le": "ppc64le", "s390x": "s390x", "riscv64": "riscv64"}


@dataclass(frozen=True, slots=True)
class Platform:
    os: str
    architecture: str
    variant: str | None = None

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)


def host_platform() -> Platform:
    machine = _platform.machine()
    arch = _ARCH_OF_MACHINE.get(machine, machine)
    variant = {"armv7l": "v7", "armv6l": "v6"}.get(machine)
    return Platform("linux", arch, variant)


def _normal_variant(arch: str, variant: str | None) -> str | None:
    """arm64's variant defaults to v8 (containers/image treats them alike)."""
    if arch == "arm64" and variant in (None, "", "v8"):
        return "v8"
    return variant or None


@dataclass(slots=True)
class PulledImage:
    """A pulled image whose layers live in a private staging directory (``workdir``) until
    ``cleanup`` removes it; nothing is left there when the pull fails or is interrupted."""

    image: Image
    reference: Reference
    manifest_bytes: bytes
    manifest_media_type: str
    manifest_digest: str
    index_digest: str | None
    workdir: str
    layer_descriptors: list[dict[str, Any]] = field(default_factory=list)
    layer_files: dict[str, str] = field(default_factory=dict)  # diff_id -> verified tar file
    _stack: contextlib.ExitStack | None = None

    def cleanup(self) -> None:
        if self._stack is not None:
            self._stack.close()

    def __enter__(self) -> PulledImage:
        return self

    def __exit__(self, *exc: object) -> None:
        self.cleanup()


def _media_type(body: dict[str, Any], header_type: str) -> str:
    declared = body.get("mediaType")
    if isinstance(declared, str) and declared:
        return declared
    if header_type in _INDEX_TYPES + _IMAGE_TYPES:
        return header_type
    if "manifests" in body:
        return model.OCI_INDEX
    if body.get("schemaVersion") == 1:
        return _SCHEMA1[0]
    return model.OCI_MANIFEST


def select_platform(index: dict[str, Any], wanted: Platform, what: str) -> dict[str, Any]:
    """The index entry for ``wanted``; attestation entries (unknown/unknown) never match."""
    entries = index.get("manifests")
    if not isinstance(entries, list):
        raise NixliteError(f"{what} has no 'manifests' list")
    want_variant = _normal_variant(wanted.architecture, wanted.variant)
    candidates = []
    seen = []
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        plat = entry.get("platform") or {}
        if not isinstance(plat, dict):
            continue
        os_, arch = plat.get("os"), plat.get("architecture")
        if os_ == "unknown" or arch == "unknown":
            continue
        variant = _normal_variant(arch or "", plat.get("variant"))
        seen.append(str(Platform(str(os_), str(arch), plat.get("variant"))))
        if os_ != wanted.os or arch != wanted.architecture:
            continue
        if wanted.variant is not None and variant != want_variant:
            continue
        candidates.append((variant != want_variant, entry))
    if not candidates:
        raise NixliteError(f"no image for platform {wanted} in {what} "
                           f"(it has: {', '.join(seen) or 'no usable entries'}); "
                           "choose one with --os/--arch/--variant")
    candidates.sort(key=lambda c: c[0])  # stable: an exact variant match first, else list order
    return candidates[0][1]


def resolve_manifest(client: RegistryClient, ref: Reference, wanted: Platform
                     ) -> tuple[bytes, str, str, str | None]:
    """(manifest bytes, media type, digest, index digest or None) for an image manifest."""
    body, header_type, digest = client.get_manifest(ref.repository, ref.ref, MANIFEST_ACCEPT)
    parsed = parse_json(body, want=dict, what=f"manifest of {ref}")
    media_type = _media_type(parsed, header_type)
    index_digest = None
    if media_type in _INDEX_TYPES:
        index_digest = digest
        entry = select_platform(parsed, wanted, f"the manifest list of {ref}")
        entry_digest = entry.get("digest")
        if not isinstance(entry_digest, str):
            raise NixliteError(f"the manifest list of {ref} has an entry without a digest")
        check_digest_syntax(entry_digest, "manifest digest")
        body, header_type, digest = client.get_manifest(ref.repository, entry_digest,
                                                        MANIFEST_ACCEPT)
        if isinstance(entry.get("size"), int) and entry["size"] != len(body):
            raise RegistryError(f"manifest {entry_digest} has {len(body)} bytes, the list "
                                f"declares {entry['size']}")
        parsed = parse_json(body, want=dict, what=f"manifest {entry_digest} of {ref}")
        media_type = _media_type(parsed, header_type)
    if media_type in _SCHEMA1:
        raise NixliteError(f"{ref} has a schema 1 manifest, which is not supported "
                           "(deprecated by every registry since 2019)")
    if media_type not in _IMAGE_TYPES:
        raise NixliteError(f"{ref}: unsupported manifest media type '{media_type}'")
    return body, media_type, digest, index_digest


def descriptor_of(value: Any, what: str) -> dict[str, Any]:
    """``value`` if it is a descriptor with a valid digest and size, else an error."""
    if not isinstance(value, dict) or not isinstance(value.get("digest"), str) \
            or not isinstance(value.get("size"), int) or value["size"] < 0:
        raise NixliteError(f"{what} is not a valid descriptor (needs digest and size)")
    check_digest_syntax(value["digest"], what + " digest")
    return value


def fetch_config(client: RegistryClient, ref: Reference, manifest_bytes: bytes
                 ) -> tuple[bytes, list[dict[str, Any]]]:
    """The config blob of an image manifest (verified) and its checked layer descriptors."""
    manifest = parse_json(manifest_bytes, want=dict, what=f"manifest of {ref}")
    config_desc = descriptor_of(manifest.get("config"), f"config of {ref}")
    layers = manifest.get("layers")
    if not isinstance(layers, list):
        raise NixliteError(f"manifest of {ref} has no 'layers' list")
    layer_descs = [descriptor_of(d, f"layer {i} of {ref}") for i, d in enumerate(layers)]
    if config_desc["size"] > MAX_JSON:
        raise NixliteError(f"config of {ref} is implausibly large ({config_desc['size']} bytes)")
    config_bytes = client.download_blob(ref.repository, config_desc["digest"], config_desc["size"],
                                        lambda chunks: b"".join(chunks))
    return config_bytes, layer_descs


def pull(client: RegistryClient, ref: Reference, *, wanted: Platform | None = None,
         keep: str = "tar", workdir_parent: str | None = None, blob_dir: str | None = None,
         max_workers: int = 4, max_decompressed: int = DEFAULT_MAX_DECOMPRESSED,
         progress: Progress | None = None) -> PulledImage:
    """Resolve, fetch and verify ``ref``; see the module docstring for ``keep``.  With
    ``keep='blob'`` and ``blob_dir``, each verified blob is renamed to ``blob_dir/<hex>``
    (an OCI layout's ``blobs/sha256``), so writing the layout copies nothing.  No layer may
    decompress to more than ``max_decompressed`` bytes.  Use the result as a context manager
    (or call ``cleanup``) to remove the staging directory.  On any failure or interruption
    the other transfers are cancelled and the staging directory is removed before this
    returns."""
    wanted = wanted or host_platform()
    body, media_type, digest, index_digest = resolve_manifest(client, ref, wanted)
    config_bytes, layer_descs = fetch_config(client, ref, body)
    image = Image(config_bytes, [])
    diff_ids = image.diff_ids
    if len(diff_ids) != len(layer_descs):
        raise NixliteError(f"{ref}: the config lists {len(diff_ids)} diff_ids but the manifest "
                           f"has {len(layer_descs)} layers")
    for d in diff_ids:
        check_digest_syntax(d, "diff_id")

    if keep == "lazy":
        for desc, diff_id in zip(layer_descs, diff_ids):
            layer = Layer.from_blob(_remote_source(client, ref.repository, desc),
                                    media_type=desc.get("mediaType"), digest=desc["digest"],
                                    size=desc["size"], diff_id=diff_id,
                                    max_tar_size=max_decompressed)
            layer.urls = desc.get("urls")
            layer.annotations = desc.get("annotations")
            image.layers.append(layer)
        image.set_manifest_bytes(body, oci=media_type == model.OCI_MANIFEST)
        return PulledImage(image, ref, body, media_type, digest, index_digest, "", layer_descs)

    progress = progress or Progress()
    stack = contextlib.ExitStack()
    try:
        workdir = stack.enter_context(temporary_directory(workdir_parent, "nixlite-pull"))
        unique: dict[str, tuple[dict[str, Any], str]] = {}
        for desc, diff_id in zip(layer_descs, diff_ids):
            unique.setdefault(desc["digest"], (desc, diff_id))
        progress.begin("pulling", len(unique), sum(d["size"] for d, _ in unique.values()))

        def fetch(item: tuple[str, tuple[dict[str, Any], str]]) -> tuple[str, str, int]:
            blob_digest, (desc, diff_id) = item
            path, size = _fetch_layer(client, ref, desc, diff_id, workdir, keep,
                                      max_decompressed, progress)
            if blob_dir is not None and keep == "blob":
                final = os.path.join(blob_dir, blob_digest.split(":", 1)[1])
                os.replace(path, final)
                path = final
            progress.layer_done()
            return blob_digest, path, size

        results = dict((d, (path, size)) for d, path, size in
                       _run_all(client, fetch, list(unique.items()), max_workers))
        layer_files: dict[str, str] = {}
        for desc, diff_id in zip(layer_descs, diff_ids):
            path, size = results[desc["digest"]]
            if keep == "tar":
                layer_files[diff_id] = path
                layer = Layer.from_blob(file_source(path), compression="none", digest=diff_id,
                                        size=size, diff_id=diff_id)
            else:
                layer = Layer.from_blob(file_source(path), media_type=desc.get("mediaType"),
                                        digest=desc["digest"], size=desc["size"], diff_id=diff_id,
                                        max_tar_size=max_decompressed)
                layer.urls = desc.get("urls")
                layer.annotations = desc.get("annotations")
            image.layers.append(layer)
        if keep == "blob":
            image.set_manifest_bytes(body, oci=media_type == model.OCI_MANIFEST)
        return PulledImage(image, ref, body, media_type, digest, index_digest, workdir, layer_descs,
                           layer_files, stack)
    except BaseException:
        stack.close()
        raise
    finally:
        progress.end()


def _run_all(client: RegistryClient, work, items: list, max_workers: int) -> list:
    """``work`` over ``items`` in up to ``max_workers`` threads, results in order.  The
    first failure — or the caller's interruption (Ctrl-C) — cancels the client, so the
    other transfers stop at once instead of running (or hanging) to the end."""
    workers = max(1, min(max_workers, len(items)))
    if workers == 1:
        return [work(item) for item in items]
    pool = worker_pool(workers, "nixlite-pull")
    try:
        futures = [pool.submit(work, item) for item in items]
        wait(futures, return_when=FIRST_EXCEPTION)  # a failure is reported at once
        for future in futures:
            if future.done() and future.exception() is not None:
                raise future.exception()
        return [future.result() for future in futures]
    except BaseException:
        client.cancel()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _remote_source(client: RegistryClient, repository: str, desc: dict[str, Any]):
    """A Layer source streaming a blob from the registry (verified as it is read)."""
    urls = desc.get("urls") if isinstance(desc.get("urls"), list) else None

    def chunks():
        resp = client.open_blob(repository, desc["digest"], urls)
        yield from client.verified_chunks(resp, repository, desc["digest"], desc["size"])

    return chunks


def _fetch_layer(client: RegistryClient, ref: Reference, desc: dict[str, Any], diff_id: str,
                 workdir: str, keep: str, max_decompressed: int,
                 progress: Progress) -> tuple[str, int]:
    """Download one layer into ``workdir``; returns (path, bytes written)."""
    media_type = desc.get("mediaType")
    if isinstance(media_type, str):
        compression = model.compression_of_media_type(media_type)
    else:
        compression = None
    hexpart = desc["digest"].split(":", 1)[1]
    path = os.path.join(workdir, hexpart + (".tar" if keep == "tar" else ".blob"))

    def consume(chunks):
        received = 0
        with open(path, "wb") as out:
            first = next(chunks, b"")
            inflater = _Inflater(compression or sniff_compression(first),
                                 out if keep == "tar" else None, max_decompressed)
            try:
                for chunk in itertools.chain((first,) if first else (), chunks):
                    if keep != "tar":
                        out.write(chunk)
                    inflater.feed(chunk)
                    received += len(chunk)
                    progress.transferred(len(chunk))
            except BaseException:
                progress.transferred(-received)  # a retry starts this layer again
                raise
            finally:
                inflater.close()  # the download's own errors (digest, size) come first
        if isinstance(inflater.error, NixliteError):
            raise NixliteError(f"layer {desc['digest']} of {ref}: {inflater.error.message}")
        if inflater.error is not None:
            raise inflater.error
        if inflater.diff_id != diff_id:
            raise NixliteError(f"layer {desc['digest']} of {ref} decompresses to "
                               f"{inflater.diff_id}, but the image config says its diff_id is "
                               f"{diff_id}")
        return path, inflater.size if keep == "tar" else desc["size"]

    urls = desc.get("urls") if isinstance(desc.get("urls"), list) else None
    return client.download_blob(ref.repository, desc["digest"], desc["size"], consume, urls)


class _Inflater:
    """Decompresses and hashes a layer in its own thread while the download thread receives,
    hashes and stores the compressed blob: verifying the diff_id costs one pass over the
    bytes, overlapped with the transfer (zlib, zstd and sha256 release the GIL).  With
    ``out``, the tar is written there too.

    ``close()`` ends the input and waits for the thread, which always finishes: after an
    error (corrupt data, or input ended early because the download failed) it drains the
    queue up to the end marker, and never waits for a second one."""

    __slots__ = ("_queue", "_thread", "_ended", "error", "diff_id", "size")

    def __init__(self, kind: str, out, limit: int) -> None:
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=8)
        self._ended = False  # the end marker has been taken from the queue
        self.error: BaseException | None = None
        self.diff_id: str | None = None
        self.size = 0
        self._thread = start_worker(self._run, kind, out, limit, name="nixlite-inflate")

    def _chunks(self):
        while not self._ended:
            chunk = self._queue.get()
            if chunk is None:
                self._ended = True
                return
            yield chunk

    def _run(self, kind: str, out, limit: int) -> None:
        h = hashlib.sha256()
        size = 0
        try:
            for block in decompress_chunks(self._chunks(), kind, limit):
                h.update(block)
                size += len(block)
                if out is not None:
                    out.write(block)
            for _ in self._chunks():  # data after the end of the compressed stream
                pass
            self.diff_id, self.size = "sha256:" + h.hexdigest(), size
        except BaseException as e:  # reported by the download thread after the transfer
            self.error = e
            for _ in self._chunks():  # keep taking input so the download can finish
                pass

    def feed(self, chunk: bytes) -> None:
        if self.error is None:
            self._queue.put(chunk)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()
