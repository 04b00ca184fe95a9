"""Image configs as the OCI image-spec's Go structs see them.

containers/image (skopeo) decodes a config into the ``Image`` struct of the OCI image-spec
to show it (``skopeo inspect --config``) and to store a docker image in an OCI layout; what
it writes back is what the struct keeps: known fields only, in the struct's order, maps with
sorted keys, times in Go's RFC 3339 spelling.
"""

from __future__ import annotations

import re
from typing import Any

from nixlite.errors import NixliteError
from nixlite.image.files import printable
from nixlite.image.jsonstyle import go_json

GO_ZERO_TIME = "0001-01-01T00:00:00Z"
_RFC3339 = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)\Z")


def go_time(text: Any, what: str = "created") -> str:
    """An RFC 3339 time as Go's ``time.Time`` re-encodes it."""
    m = _RFC3339.match(text) if isinstance(text, str) else None
    if m is None:
        raise NixliteError(f"image config: invalid '{what}' time '{printable(str(text), 60)}' "
                           "(expected RFC 3339)")
    fraction = (m.group(2) or "").rstrip("0")
    zone = "Z" if m.group(3) in ("Z", "+00:00", "-00:00") else m.group(3)
    return m.group(1) + ("." + fraction if fraction else "") + zone


def sorted_map(value: Any, what: str, *, empty_values: bool = False) -> dict | None:
    """A Go map as encoded: keys sorted (values replaced by {} for ``map[string]struct{}``)."""
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
            value = sorted_map(value, f"{what}.{key}", empty_values=key in ("ExposedPorts",
                                                                             "Volumes"))
        elif not isinstance(value, kind):
            raise NixliteError(f"image config: '{what}.{key}' has the wrong type")
        out[key] = value
    return out


_IMAGE_CONFIG = (("User", str), ("ExposedPorts", dict), ("Env", list), ("Entrypoint", list),
                 ("Cmd", list), ("Volumes", dict), ("WorkingDir", str), ("Labels", dict),
                 ("StopSignal", str), ("ArgsEscaped", bool))
_HISTORY = (("created_by", str), ("author", str), ("comment", str), ("empty_layer", bool))


def oci_config_bytes(config: dict[str, Any]) -> bytes:
    """The config as containers/image stores a docker image's in an OCI layout."""
    return go_json(oci_config(config))


def oci_config(config: dict[str, Any]) -> dict[str, Any]:
    """The config decoded into the OCI image-spec ``Image`` struct (as containers/image
    does to show a docker config, or to store it in an OCI image), as a value to encode."""
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
    return out
