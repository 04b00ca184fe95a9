"""What ``skopeo inspect`` (1.9) prints about an image, for any location.

* ``raw_manifest`` — ``--raw``: the manifest as stored (from a registry, the one the
  reference names, an index included; from a docker-archive, the manifest skopeo's archive
  source makes up);
* ``raw_config`` — ``--config --raw``: the config blob's bytes;
* ``oci_config_json`` — ``--config``: the config decoded into the OCI image-spec ``Image``
  struct and re-encoded with Go's four-space indent (fields skopeo does not know dropped);
* ``inspect_json`` — the default: Name, Digest, RepoTags, Created, … in skopeo's order.

Go's encoder decides the spellings: maps with sorted keys, times in RFC 3339 with the
fraction trimmed and ``Z`` for UTC, HTML characters escaped (see ``oci_config``).
"""

from __future__ import annotations

from typing import Any

from nixlite.image.docker_archive import skopeo_view_manifest
from nixlite.image.jsonstyle import go_json_indented, parse_json
from nixlite.image.model import OCI_MANIFEST, Image, sha256_digest
from nixlite.image.oci_config import GO_ZERO_TIME, go_time, oci_config, sorted_map
from nixlite.image.registry.pull import (MANIFEST_ACCEPT, fetch_config, host_platform,
                                         resolve_manifest)
from nixlite.image.transports import Location, Options, open_image

def oci_config_json(config: dict[str, Any]) -> str:
    """``skopeo inspect --config``: the config as the OCI ``Image`` struct, indented."""
    return go_json_indented(oci_config(config))


def _info(config: dict[str, Any], digest: str, tags: list[str], layers: list[str],
          oci: bool) -> dict[str, Any]:
    """The fields ``skopeo inspect`` prints, in its order.  A docker config's missing
    ``created`` is Go's zero time (a struct field), an OCI config's is null (a pointer)."""
    inner = config.get("config")
    if not isinstance(inner, dict):
        inner = {}
    created = config.get("created")
    return {"Digest": digest, "RepoTags": tags,
            "Created": go_time(created) if created is not None else
            (None if oci else GO_ZERO_TIME),
            "DockerVersion": config.get("docker_version") or "",
            "Labels": sorted_map(inner.get("Labels"), "config.Labels"),
            "Architecture": config.get("architecture") or "", "Os": config.get("os") or "",
            "Layers": layers, "Env": inner.get("Env")}


def raw_manifest(loc: Location, options: Options = Options()) -> bytes:
    """``skopeo inspect --raw``."""
    if loc.transport == "docker":
        ref = loc.reference
        return options.registry.client(ref).get_manifest(ref.repository, ref.ref,
                                                         MANIFEST_ACCEPT)[0]
    with open_image(loc, options, verify=False) as opened:
        return _local_manifest(loc, opened.image)


def _local_manifest(loc: Location, image: Image) -> bytes:
    image.check_layers_match_config()
    if loc.transport == "oci":
        return image.manifest_bytes(True)
    return skopeo_view_manifest(image)


def _registry_config(loc: Location, options: Options):
    """(client, media type, digest to show, config bytes, layer descriptors)."""
    ref = loc.reference
    client = options.registry.client(ref)
    body, media_type, digest, index_digest = resolve_manifest(
        client, ref, options.platform or host_platform())
    config_bytes, layer_descs = fetch_config(client, ref, body)
    return client, media_type, index_digest or digest, config_bytes, layer_descs


def raw_config(loc: Location, options: Options = Options()) -> bytes:
    """``skopeo inspect --config --raw``: the config blob of the (platform's) image."""
    if loc.transport == "docker":
        return _registry_config(loc, options)[3]
    with open_image(loc, options, verify=False) as opened:
        opened.image.check_layers_match_config()
        return opened.image.config_bytes


def inspect_json(loc: Location, options: Options = Options()) -> str:
    """``skopeo inspect``'s JSON (without the final newline)."""
    if loc.transport == "docker":
        ref = loc.reference
        client, media_type, digest, config_bytes, layer_descs = _registry_config(loc, options)
        config = parse_json(config_bytes, f"config of {ref}", want=dict)
        info = {"Name": ref.name}
        info.update(_info(config, digest, client.list_tags(ref.repository),
                          [d["digest"] for d in layer_descs], media_type == OCI_MANIFEST))
        return go_json_indented(info)
    with open_image(loc, options, verify=False) as opened:
        image = opened.image
        manifest = _local_manifest(loc, image)
        if loc.transport == "oci":
            layers = [layer.digest for layer in image.layers]
            oci = parse_json(manifest, "manifest", want=dict).get("mediaType", OCI_MANIFEST) \
                == OCI_MANIFEST
        else:  # a docker-archive, as skopeo's docker-archive source describes it
            layers, oci = list(image.diff_ids), False
        # RepoTags lists a registry repository's tags; skopeo leaves it empty elsewhere
        return go_json_indented(_info(image.config, sha256_digest(manifest), [], layers, oci))


def config_json(loc: Location, options: Options = Options()) -> str:
    """``skopeo inspect --config`` (without the final newline)."""
    return oci_config_json(parse_json(raw_config(loc, options), "image config", want=dict))
