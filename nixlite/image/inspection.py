"""What ``skopeo inspect`` (1.9) prints about an image, for any location.

* ``raw_manifest`` — ``--raw``: the manifest as stored (from a registry, the one the
  reference names, an index included; from a docker-archive, the manifest skopeo's archive
  source makes up);
* ``raw_config`` — ``--config --raw``: the config blob's bytes;
* ``oci_config_json`` — ``--config``: the config decoded into the OCI image-spec ``Image``
  struct and re-encoded with Go's four-space indent (fields skopeo does not know dropped);
* ``inspect_json`` — the default: Name, Digest, RepoTags, Created, … in skopeo's order.

Go's encoder decides the spellings: maps with sorted keys, times in RFC 3339 with the
fraction trimmed and ``Z`` for UTC, HTML characters escaped.
"""

from __future__ import annotations

import re
from typing import Any

from nixlite.errors import NixliteError
from nixlite.image.docker_archive import skopeo_view_manifest
from nixlite.image.jsonstyle import go_json_indented, parse_json
from nixlite.image.model import OCI_MANIFEST, Image, sha256_digest
from nixlite.image.registry.pull import MANIFEST_ACCEPT, fetch_config, resolve_manifest
from nixlite.image.transports import Location, Options, open_image

GO_ZERO_TIME = "0001-01-01T00:00:00Z"
_RFC3339 = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)\Z")


def go_time(text: Any, what: str = "created") -> str:
    """An RFC 3339 time as Go's ``time.Time`` re-encodes it."""
    m = _RFC3339.match(text) if isinstance(text, str) else None
    if m is None:
        raise NixliteError(f"image config: invalid '{what}' time {text!r} (expected RFC 3339)")
    fraction = (m.group(2) or "").rstrip("0")
    zone = "Z" if m.group(3) in ("Z", "+00:00", "-00:00") else m.group(3)
    return m.group(1) + ("." + fraction if fraction else "") + zone


def _sorted_map(value: Any, what: str, *, empty_values: bool = False) -> dict | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise NixliteError(f"image config: '{what}' is not an object")
    items = sorted(value.items(), key=lambda kv: kv[0].encode())
    return {k: ({} if empty_values else v) for k, v in items}


def _fields(source: dict, spec: tuple[tuple[str, type], ...], what: str) -> dict:
    """Go's ``omitempty`` fields of a struct, in its order."""
    out: dict[str, Any] = {}
    for key, kind in spec:
        value = source.get(key)
        if value in (None, "", False, [], {}):
            continue
        if kind is dict:
            value = _sorted_map(value, f"{what}.{key}", empty_values=key in ("ExposedPorts",
                                                                             "Volumes"))
        elif not isinstance(value, kind):
            raise NixliteError(f"image config: '{what}.{key}' has the wrong type")
        out[key] = value
    return out


_IMAGE_CONFIG = (("User", str), ("ExposedPorts", dict), ("Env", list), ("Entrypoint", list),
                 ("Cmd", list), ("Volumes", dict), ("WorkingDir", str), ("Labels", dict),
                 ("StopSignal", str), ("ArgsEscaped", bool))
_HISTORY = (("created_by", str), ("author", str), ("comment", str), ("empty_layer", bool))


def oci_config_json(config: dict[str, Any]) -> str:
    """``skopeo inspect --config``: the config as the OCI ``Image`` struct, indented."""
    out: dict[str, Any] = {}
    if config.get("created") is not None:
        out["created"] = go_time(config["created"])
    if config.get("author"):
        out["author"] = config["author"]
    out["architecture"] = config.get("architecture") or ""
    if config.get("variant"):
        out["variant"] = config["variant"]
    out["os"] = config.get("os") or ""
    if config.get("os.version"):
        out["os.version"] = config["os.version"]
    if config.get("os.features"):
        out["os.features"] = config["os.features"]
    inner = config.get("config")
    out["config"] = _fields(inner, _IMAGE_CONFIG, "config") if isinstance(inner, dict) else {}
    rootfs = config.get("rootfs") if isinstance(config.get("rootfs"), dict) else {}
    out["rootfs"] = {"type": rootfs.get("type") or "", "diff_ids": rootfs.get("diff_ids")}
    history = config.get("history")
    if isinstance(history, list) and history:
        entries = []
        for item in history:
            item = item if isinstance(item, dict) else {}
            entry = {"created": go_time(item["created"], "history.created")} \
                if item.get("created") is not None else {}
            entry.update(_fields(item, _HISTORY, "history"))
            entries.append(entry)
        out["history"] = entries
    return go_json_indented(out)


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
            "Labels": _sorted_map(inner.get("Labels"), "config.Labels"),
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
    """(client, manifest bytes, media type, digest to show, config bytes, layer descriptors)."""
    from nixlite.image.registry.pull import host_platform

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
