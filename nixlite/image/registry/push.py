"""Push an ``Image`` to a registry.

For each distinct blob (layers in parallel threads, then the config): skip it if the registry
already has it (HEAD), else try a cross-repository mount when the blob is known to live in
another repository of the same registry, else upload it.  The manifest goes last, so a
registry never holds a manifest whose blobs are missing.

Layers stored uncompressed (e.g. read from a docker-archive) are gzip-compressed first with
the pigz-exact compressor, as skopeo compresses on push; the compressed blob is spooled to a
temporary file so its digest is known before the blob-exists check and retries can re-read it.
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass

from nixlite.image import model
from nixlite.image.files import temporary_directory
from nixlite.image.model import Image, Layer, bytes_source, file_source
from nixlite.image.progress import Progress
from nixlite.image.threads import worker_pool
from nixlite.image.registry.client import RegistryClient
from nixlite.image.registry.reference import Reference


@dataclass(slots=True)
class PushResult:
    digest: str  # of the manifest pushed
    media_type: str
    uploaded: int
    mounted: int
    existing: int


def _compressed(layer: Layer, spool_dir: str) -> Layer:
    """The layer as a gzip blob in a spool file (digest and size now known)."""
    gz = Layer.from_tar(layer.tar_chunks, compression="gzip", diff_id=layer.diff_id)
    fd, path = tempfile.mkstemp(prefix="layer-", dir=spool_dir)
    with os.fdopen(fd, "wb") as out:
        gz.write_blob(out)
    return Layer.from_blob(file_source(path), compression="gzip", digest=gz.digest,
                           size=gz.size, diff_id=gz.diff_id)


def push(client: RegistryClient, image: Image, ref: Reference, *, oci: bool = False,
         mount_from: dict[str, str] | None = None, chunk_size: int | None = None,
         max_workers: int = 4, spool_parent: str | None = None,
         progress: Progress | None = None,
         on_abort: Callable[[], None] | None = None) -> PushResult:
    """Push ``image`` as ``ref``.  ``oci`` picks the manifest flavour; ``mount_from`` maps
    blob digests to a repository on the same registry that already holds them.  A failure
    or an interruption cancels the other transfers, and calls ``on_abort`` (e.g. to cancel
    the client the layers stream from) before waiting for them to stop."""
    mount_from = mount_from or {}
    progress = progress or Progress()
    counts = {"uploaded": 0, "mounted": 0, "existing": 0}
    image.check_layers_match_config()
    try:
        with temporary_directory(spool_parent, "nixlite-push") as spool_dir:
            workers = max(1, min(max_workers, len(image.layers)))
            with worker_pool(workers, "nixlite-push") as pool:
                try:
                    layers = list(pool.map(lambda layer: _compressed(layer, spool_dir)
                                           if layer.compression == "none" else layer,
                                           image.layers))
                    pushed = Image(image.config_bytes, layers, image.repo_tags) \
                        if layers != image.layers else image
                    unique: dict[str, Layer] = {}
                    for layer in layers:
                        unique.setdefault(layer.digest, layer)
                    progress.begin("pushing", len(unique),
                                   sum(layer.size for layer in unique.values()))

                    def send(layer: Layer) -> None:
                        sent = 0

                        def counted():  # a retried upload starts counting again
                            nonlocal sent
                            progress.transferred(-sent)
                            sent = 0
                            for chunk in layer.blob_chunks():
                                sent += len(chunk)
                                progress.transferred(len(chunk))
                                yield chunk

                        _send_blob(client, ref.repository, layer.digest, layer.size, counted,
                                   mount_from.get(layer.digest), chunk_size, counts)
                        progress.layer_done()

                    list(pool.map(send, unique.values()))
                except BaseException:
                    client.cancel()
                    if on_abort is not None:
                        on_abort()
                    raise
            _send_blob(client, ref.repository, pushed.config_digest, len(pushed.config_bytes),
                       bytes_source(pushed.config_bytes), mount_from.get(pushed.config_digest),
                       None, counts)
            media_type = model.OCI_MANIFEST if oci else model.DOCKER_MANIFEST
            body = pushed.manifest_bytes(oci)
            digest = client.put_manifest(ref.repository, ref.digest or ref.tag or "latest", body,
                                         media_type)
            return PushResult(digest, media_type, **counts)
    finally:
        progress.end()


_count_lock = threading.Lock()


def _send_blob(client: RegistryClient, repository: str, digest: str, size: int,
               source: Callable, mount_source: str | None, chunk_size: int | None,
               counts: dict[str, int]) -> None:
    if client.blob_exists(repository, digest):
        outcome = "existing"
    elif mount_source and mount_source != repository and client.mount_blob(repository, digest,
                                                                           mount_source):
        outcome = "mounted"
    else:
        client.upload_blob(repository, digest, size, source, chunk_size)
        outcome = "uploaded"
    with _count_lock:
        counts[outcome] += 1
