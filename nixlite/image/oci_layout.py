"""OCI image layout directories (``oci:DIR:TAG`` in skopeo, ``DIR:TAG`` in umoci).

Layout: ``oci-layout``, ``index.json`` (one manifest descriptor per tag, the tag in the
``org.opencontainers.image.ref.name`` annotation) and content-addressed ``blobs/sha256/<hex>``.
The writer adds an image to a new or existing layout (blobs written under temporary names
and renamed once their digest is known; ``index.json`` replaced atomically; an existing
entry with the same tag is replaced).  The reader verifies every blob it reads by digest
and size and every layer against the config's diff_ids.
"""

from __future__ import annotations

import json
import os
from typing import Any

from nixlite.errors import NixliteError
from nixlite.image.compression import DEFAULT_MAX_DECOMPRESSED
from nixlite.image.files import atomic_file, write_bytes_atomically
from nixlite.image.jsonstyle import MAX_JSON, go_json, parse_json
from nixlite.image.model import (DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_INDEX, OCI_MANIFEST,
                                 Image, Layer, check_digest_syntax, file_source, sha256_digest)
from nixlite.image.progress import Progress

REF_NAME = "org.opencontainers.image.ref.name"
LAYOUT_FILE = b'{"imageLayoutVersion": "1.0.0"}'  # skopeo's spelling


def _blob_path(directory: str, digest: str) -> str:
    return os.path.join(directory, "blobs", "sha256", check_digest_syntax(digest, "blob digest"))


def _write_blob_bytes(directory: str, data: bytes) -> str:
    digest = sha256_digest(data)
    path = _blob_path(directory, digest)
    if not (os.path.isfile(path) and os.path.getsize(path) == len(data)):
        write_bytes_atomically(path, data)
    return digest


def _write_layer_blob(directory: str, layer: Layer, progress: Progress | None) -> None:
    known = layer.known_digest
    path = _blob_path(directory, known) if known is not None else None
    if not (path and os.path.isfile(path) and os.path.getsize(path) == layer.size):
        # the digest may be unknown until the blob is streamed: named once written
        atomic_file(os.path.join(directory, "blobs", "sha256", "layer"),
                    lambda out: layer.write_blob(progress.counting(out) if progress else out),
                    final_name=lambda: _blob_path(directory, layer.digest))
    if progress is not None:
        progress.layer_done()


def default_tag(image: Image) -> str:
    """The tag part of the image's first repo tag, else ``latest``."""
    for name in image.repo_tags:
        last = name.rsplit("/", 1)[-1]
        if ":" in last:
            return last.rsplit(":", 1)[1]
    return "latest"


def write_oci_layout(image: Image, directory: str, tag: str | None = None, *,
                     progress: Progress | None = None) -> str:
    """Add ``image`` to the layout at ``directory`` under ``tag``; returns the manifest digest.
    ``progress`` hears of every layer blob written."""
    tag = default_tag(image) if tag is None else tag
    if not tag:
        raise NixliteError("an OCI layout tag must not be empty")
    os.makedirs(os.path.join(directory, "blobs", "sha256"), exist_ok=True)
    layout_path = os.path.join(directory, "oci-layout")
    if os.path.exists(layout_path):
        _check_layout_file(directory)
    else:
        write_bytes_atomically(layout_path, LAYOUT_FILE)
    for layer in image.layers:
        _write_layer_blob(directory, layer, progress)
    _write_blob_bytes(directory, image.config_bytes)
    manifest = image.manifest_bytes(oci=True)
    digest = _write_blob_bytes(directory, manifest)
    index_path = os.path.join(directory, "index.json")
    if os.path.exists(index_path):
        index = _read_index(directory)
        manifests = [m for m in index.get("manifests", [])
                     if _ref_name(m) != tag]
    else:
        index = {"schemaVersion": 2}
        manifests = []
    entry: dict[str, Any] = {"mediaType": OCI_MANIFEST, "digest": digest, "size": len(manifest),
                             "annotations": {REF_NAME: tag}}
    manifests.append(entry)
    index["manifests"] = manifests
    write_bytes_atomically(index_path, go_json(index))
    return digest


def _check_layout_file(directory: str) -> None:
    try:
        with open(os.path.join(directory, "oci-layout"), "rb") as f:
            layout = json.loads(f.read(4096))
    except OSError as e:
        raise NixliteError(f"'{directory}' is not an OCI layout: {e.strerror}") from None
    except ValueError:
        raise NixliteError(f"'{directory}/oci-layout' is not valid JSON") from None
    if not isinstance(layout, dict) or layout.get("imageLayoutVersion") != "1.0.0":
        raise NixliteError(f"'{directory}' has an unsupported imageLayoutVersion")


def _read_index(directory: str) -> dict[str, Any]:
    try:
        with open(os.path.join(directory, "index.json"), "rb") as f:
            data = f.read(MAX_JSON + 1)
    except OSError as e:
        raise NixliteError(f"'{directory}' is not an OCI layout: {e.strerror}") from None
    index = parse_json(data, f"'{directory}/index.json'")
    if not isinstance(index, dict) or not isinstance(index.get("manifests"), list):
        raise NixliteError(f"'{directory}/index.json' has no manifests list")
    return index


def _read_blob(directory: str, desc: dict[str, Any]) -> bytes:
    digest, size = desc.get("digest"), desc.get("size")
    if not isinstance(digest, str) or not isinstance(size, int) or size < 0:
        raise NixliteError(f"'{directory}': malformed descriptor {json.dumps(desc)}")
    if size > MAX_JSON:
        raise NixliteError(f"'{directory}': blob {digest} is too large for a JSON document")
    path = _blob_path(directory, digest)
    try:
        with open(path, "rb") as f:
            data = f.read(size + 1)
    except OSError as e:
        raise NixliteError(f"'{directory}': cannot read blob {digest}: {e.strerror}") from None
    if len(data) != size or sha256_digest(data) != digest:
        raise NixliteError(f"'{directory}': blob {digest} does not match its digest or size")
    return data


def _ref_name(desc: Any) -> Any:
    """The tag an index entry carries (None if it has none or is malformed)."""
    annotations = desc.get("annotations") if isinstance(desc, dict) else None
    return annotations.get(REF_NAME) if isinstance(annotations, dict) else None


def _platform_matches(desc: dict[str, Any], os_name: str, arch: str, variant: str | None) -> bool:
    platform = desc.get("platform")
    if not isinstance(platform, dict):
        return False
    if platform.get("os") != os_name or platform.get("architecture") != arch:
        return False
    return variant is None or platform.get("variant") == variant


def list_tags(directory: str) -> list[str]:
    return [t for m in _read_index(directory)["manifests"]
            if isinstance(t := _ref_name(m), str)]


def read_oci_layout(directory: str, tag: str | None = None, *, os_name: str = "linux",
                    arch: str = "amd64", variant: str | None = None,
                    verify: bool = True,
                    max_decompressed: int = DEFAULT_MAX_DECOMPRESSED) -> Image:
    """The image tagged ``tag`` (or the only one); an index entry picks os/arch/variant.
    Compressed layers are decompressed once now (within the decompression bound) and checked
    against the config's diff_ids unless ``verify`` is false: copied verbatim to another
    layout or a registry, a blob that matches its digest but not its diff_id would otherwise
    pass unnoticed (umoci refuses such layouts).  No layer may decompress to more than
    ``max_decompressed`` bytes."""
    _check_layout_file(directory)
    manifests = [m for m in _read_index(directory)["manifests"] if isinstance(m, dict)]
    if tag is not None:
        found = [m for m in manifests if _ref_name(m) == tag]
        if not found:
            raise NixliteError(f"'{directory}' has no image tagged '{tag}' "
                               f"(it has: {', '.join(list_tags(directory)) or 'no tags'})")
        desc = found[-1]
    elif len(manifests) == 1:
        desc = manifests[0]
    else:
        tags = list_tags(directory)
        raise NixliteError(f"'{directory}' holds {len(manifests)} images; name one by tag, as "
                           f"oci:{directory}:{tags[0] if tags else 'TAG'} "
                           f"(it has: {', '.join(tags) or 'no tags'})")
    for _ in range(4):
        if desc.get("mediaType") not in (OCI_INDEX, DOCKER_MANIFEST_LIST):
            break
        nested = parse_json(_read_blob(directory, desc), f"'{directory}': index {desc.get('digest')}",
                            want=dict)
        entries = nested.get("manifests")
        choices = [m for m in entries if isinstance(m, dict)
                   and _platform_matches(m, os_name, arch, variant)] if isinstance(entries, list) else []
        if not choices:
            raise NixliteError(f"'{directory}': no image for {os_name}/{arch}"
                               f"{'/' + variant if variant else ''} in index {desc.get('digest')}")
        desc = choices[0]
    media_type = desc.get("mediaType")
    manifest_bytes = _read_blob(directory, desc)
    manifest = parse_json(manifest_bytes, f"'{directory}': manifest {desc.get('digest')}")
    if not isinstance(manifest, dict) or not isinstance(manifest.get("config"), dict) \
            or not isinstance(manifest.get("layers"), list):
        raise NixliteError(f"'{directory}': manifest {desc.get('digest')} is not an image manifest")
    media_type = manifest.get("mediaType", media_type)
    if media_type not in (OCI_MANIFEST, DOCKER_MANIFEST):
        raise NixliteError(f"'{directory}': unsupported manifest media type '{media_type}'")
    config_bytes = _read_blob(directory, manifest["config"])
    layers = []
    for layer_desc in manifest["layers"]:
        if not isinstance(layer_desc, dict):
            raise NixliteError(f"'{directory}': malformed layer descriptor")
        digest, size = layer_desc.get("digest"), layer_desc.get("size")
        urls, annotations = layer_desc.get("urls"), layer_desc.get("annotations")
        if not isinstance(digest, str) or not isinstance(size, int) or size < 0 \
                or not (urls is None or isinstance(urls, list) and all(isinstance(u, str) for u in urls)) \
                or not (annotations is None or isinstance(annotations, dict)):
            raise NixliteError(f"'{directory}': malformed layer descriptor {json.dumps(layer_desc)}")
        path = _blob_path(directory, digest)
        if not os.path.isfile(path):
            raise NixliteError(f"'{directory}': layer blob {digest} is missing")
        layer = Layer.from_blob(file_source(path), media_type=layer_desc.get("mediaType"),
                                digest=digest, size=size, max_tar_size=max_decompressed)
        layer.urls = layer_desc.get("urls")
        layer.annotations = layer_desc.get("annotations")
        layers.append(layer)
    image = Image(config_bytes, layers)
    image.config  # parse now: a broken config is an error at read time
    image.check_layers_match_config()
    image.set_manifest_bytes(manifest_bytes, oci=media_type == OCI_MANIFEST)
    if isinstance(manifest.get("annotations"), dict):
        image.annotations = manifest["annotations"]
    if verify:
        for number, layer in enumerate(layers, 1):
            if layer.compression != "none":
                try:
                    for _ in layer.tar_chunks():
                        pass
                except NixliteError as e:
                    raise NixliteError(f"'{directory}': layer {number}: {e.message}") from None
    return image
