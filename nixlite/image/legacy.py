"""The seed's ``buildImage`` output: one layer in the legacy + manifest layout (spec §4).

``build_image_chunks`` reproduces the ``result`` derivation of the seed's buildImage (without
``fromImage``/``runAsRoot``): the mkPureLayer tar with its TarSum-carrying ``json`` and
``VERSION``, the layer's runtime closure appended to ``layer.tar`` as ``tar -r`` does, the
layer ID, the jq-printed config and manifest, the jshon-printed ``repositories``, and the
final ``tar --xform 's:^./::' | pigz -nT``.  The JSON printers mimic jq 1.6 and jshon
(jansson) byte for byte; the tests compare them with the real programs.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
from collections.abc import Iterable, Iterator
from typing import Any

from nixlite.errors import NixliteError
from nixlite.image.files import remove_tree
from nixlite.image.tarreader import TarStream
from nixlite.image.tarwriter import RECORD, gnu_entries_chunks, gnu_tree_chunks

SDE = 315532800


# JSON printers --------------------------------------------------------------------------------

def _jq_number(value: float) -> str:
    """jq 1.6's jvp_dtoa_fmt: shortest digits; exponent form when the decimal point is far."""
    if value == 0:
        return "-0" if math.copysign(1, value) < 0 else "0"
    if math.isinf(value):
        return "1.7976931348623157e+308" if value > 0 else "-1.7976931348623157e+308"
    sign = "-" if value < 0 else ""
    digits, exponent = _shortest_digits(abs(value))
    decpt = exponent + len(digits)
    if decpt <= -4 or decpt > len(digits) + 15:
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        e = decpt - 1
        return f"{sign}{mantissa}e{'-' if e < 0 else '+'}{abs(e):02d}"
    if decpt <= 0:
        return f"{sign}0.{'0' * -decpt}{digits}"
    if decpt >= len(digits):
        return sign + digits + "0" * (decpt - len(digits))
    return f"{sign}{digits[:decpt]}.{digits[decpt:]}"


def _shortest_digits(value: float) -> tuple[str, int]:
    """(digits, exponent) with value == int(digits) * 10**exponent, shortest round-trip."""
    mantissa, _, exp = repr(value).partition("e")
    whole, _, frac = mantissa.partition(".")
    digits = (whole + frac).lstrip("0")
    exponent = (int(exp) if exp else 0) - len(frac)
    stripped = digits.rstrip("0")
    exponent += len(digits) - len(stripped)
    return stripped or "0", exponent


_SHORT_ESCAPES = {"\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _json_string(text: str, *, escape_slash: bool, escape_del: bool, hex_format: str) -> str:
    """A JSON string as one of the C tools writes it; they differ only in ``/``,
    DEL and the case of ``\\u`` digits."""
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "/" and escape_slash:
            out.append("\\/")
        elif code < 0x20 or (code == 0x7F and escape_del):
            out.append(_SHORT_ESCAPES.get(ch) or "\\u" + format(code, hex_format))
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _jq_string(text: str) -> str:
    return _json_string(text, escape_slash=False, escape_del=True, hex_format="04x")


def _jansson_string(text: str) -> str:
    return _json_string(text, escape_slash=True, escape_del=False, hex_format="04X")


def _jansson_real(value: float) -> str:
    text = "%.17g" % value
    if "e" in text:
        mantissa, exp = text.split("e")
        sign = "-" if exp.startswith("-") else ""
        text = f"{mantissa}e{sign}{exp.lstrip('+-').lstrip('0') or '0'}"
    if "." not in text and "e" not in text:
        text += ".0"
    return text


def _pretty(value: Any, indent: str, depth: int, string, number) -> str:
    if isinstance(value, dict):
        if not value:
            return "{}"
        pad = indent * (depth + 1)
        items = [f"{pad}{string(k)}: {_pretty(v, indent, depth + 1, string, number)}"
                 for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + indent * depth + "}"
    if isinstance(value, list):
        if not value:
            return "[]"
        pad = indent * (depth + 1)
        items = [pad + _pretty(v, indent, depth + 1, string, number) for v in value]
        return "[\n" + ",\n".join(items) + "\n" + indent * depth + "]"
    if isinstance(value, str):
        return string(value)
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    return number(value)


def jq_dumps(value: Any) -> str:
    """What ``jq .`` prints (2-space indent, trailing newline), numbers as doubles."""
    def number(n):
        if isinstance(n, int) and abs(n) < 2 ** 53:
            return str(n)
        return _jq_number(float(n))
    return _pretty(value, "  ", 0, _jq_string, number) + "\n"


def jshon_dumps(value: Any) -> str:
    """What jshon prints (jansson, 1-space indent, ``/`` escaped, trailing newline)."""
    def number(n):
        return str(n) if isinstance(n, int) else _jansson_real(n)
    return _pretty(value, " ", 0, _jansson_string, number) + "\n"


def load_ordered(data: bytes | str) -> Any:
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError) as e:
        raise NixliteError(f"invalid JSON: {e}") from None


# TarSum ------------------------------------------------------------------------------------------

def tarsum_v1(chunks: Iterable[bytes]) -> str:
    """Docker's TarSum v1 of a tar stream (spec §4), as nixpkgs' ``tarsum`` tool prints it."""
    sums = []
    for member, data in TarStream(chunks, "layer.tar"):
        h = hashlib.sha256()
        fields = (
            ("name", member.name), ("mode", str(member.mode)), ("uid", str(member.uid)),
            ("gid", str(member.gid)), ("size", str(member.size)), ("typeflag", member.type.decode()),
            ("linkname", member.linkname), ("uname", member.uname), ("gname", member.gname),
            ("devmajor", str(member.devmajor)), ("devminor", str(member.devminor)),
        )
        h.update("".join(k + v for k, v in fields).encode("utf-8", "surrogateescape"))
        for key in sorted(member.xattrs):
            h.update(key.encode() + member.xattrs[key])
        for piece in data:
            h.update(piece)
        sums.append(h.hexdigest())
    total = hashlib.sha256("".join(sorted(sums)).encode())
    return "tarsum.v1+sha256:" + total.hexdigest()


# tar -r -----------------------------------------------------------------------------------------

def _members_end(data: bytes) -> int:
    """Offset of the end-of-archive marker: where ``tar -r`` starts writing."""
    offset = 0
    for member, _ in TarStream([data], "layer.tar"):
        size = member.size if member.is_file else 0
        offset = member.offset + size + (-size % 512)
    return offset


def append_entries(tar_bytes: bytes, entries: list[tuple[bytes, str]], **options) -> bytes:
    """``tar -rf`` of ``entries`` ((archive name, host path)) onto an archive: new members
    replace the end marker; the file is then re-terminated and padded to 10240."""
    end = _members_end(tar_bytes)
    body = b"".join(gnu_entries_chunks(entries, mtime=SDE, **options))
    total = end + len(body)
    trailer = b"\0" * (1024 + (-(total + 1024) % RECORD))
    return tar_bytes[:end] + body + trailer


# buildImage --------------------------------------------------------------------------------------

def _find(path: str) -> Iterator[str]:
    """``find PATH`` (the path, then everything below it, not following symlinks)."""
    yield path
    if os.path.isdir(path) and not os.path.islink(path):
        for dirpath, dirnames, filenames in os.walk(path):
            for name in dirnames + filenames:
                yield os.path.join(dirpath, name)


def _ls_tar_names(tar_bytes: bytes) -> set[str]:
    """The seed's ls_tar: member names as absolute paths without trailing slash."""
    names = set()
    for member, _ in TarStream([tar_bytes], "layer.tar"):
        normal = os.path.normpath("/" + member.name)
        if normal != "/":
            names.add(normal)
    return names


def build_image_chunks(*, layer_dir: str, base_json: bytes, name: str, tag: str,
                       closure: Iterable[str] = (), layer_path: str = "",
                       uid: int = 0, gid: int = 0, uname: str = "root", gname: str = "root",
                       compress: bool = True) -> Iterator[bytes]:
    """The seed's buildImage tarball (``pigz -nT`` of it unless ``compress=False``).

    ``layer_dir`` is the mkPureLayer tree (contents rsynced with --chown=0:0, extraCommands
    run); ``base_json`` the bytes of ``<name>-config.json`` (Nix ``toJSON`` of created,
    config, architecture, os); ``closure`` the runtime closure of the layer derivation's
    output, whose files not already in the layer are appended (lines containing
    ``layer_path`` dropped, as the seed's ``grep -v``); ``uname``/``gname`` are the names
    ``uid``/``gid`` resolve to in the build sandbox."""
    base = load_ordered(base_json)
    if not isinstance(base, dict):
        raise NixliteError("buildImage base JSON must be an object")
    layer_tar = b"".join(gnu_tree_chunks(layer_dir, mtime=SDE, uid=uid, gid=gid, uname=uname,
                                         gname=gname))
    checksum = tarsum_v1([layer_tar])
    layer_json = dict(base)
    layer_json["checksum"] = checksum
    json_text = jshon_dumps(layer_json)

    closure = list(closure)
    present = _ls_tar_names(layer_tar)
    candidates = set()
    for dep in closure:
        candidates.update(_find(dep))
    if layer_path:
        candidates = {c for c in candidates if layer_path not in c}
    extra_nix = len(closure) > 1 and "/nix/store" not in present
    new_files = sorted(c for c in candidates if c not in present)
    work = tempfile.mkdtemp(prefix="nixlite-buildimage-")
    try:
        entries: list[tuple[bytes, str]] = []
        if extra_nix:
            os.makedirs(os.path.join(work, "nix", "store"))
            os.chmod(os.path.join(work, "nix", "store"), 0o555)
            os.chmod(os.path.join(work, "nix"), 0o555)
            entries += [(b"./nix", os.path.join(work, "nix")),
                        (b"./nix/store", os.path.join(work, "nix", "store"))]
        entries += [(os.fsencode(p.lstrip("/")), p) for p in new_files]
        if entries:
            layer_tar = append_entries(layer_tar, entries, uid=0, gid=0, uname="root", gname="root")

        layer_id = hashlib.sha256(json_text.encode()).hexdigest()
        layer_json["id"] = layer_id
        layer_json["Size"] = len(layer_tar)
        final_json = jshon_dumps(layer_json)

        created = base.get("created")
        image_json = dict(base)
        config = image_json.get("config")
        env = config.get("Env") if isinstance(config, dict) else None
        if config is None:
            config = {}
        elif not isinstance(config, dict):
            raise NixliteError("buildImage config must be an attribute set or null")
        config = dict(config)
        config["Env"] = [] + (env or [])
        image_json["config"] = config
        image_json["rootfs"] = {"diff_ids": ["sha256:" + hashlib.sha256(layer_tar).hexdigest()],
                                "type": "layers"}
        image_json["history"] = [{"created": created}]
        config_text = jq_dumps(image_json).encode()
        config_name = hashlib.sha256(config_text).hexdigest() + ".json"
        manifest = [{"RepoTags": [f"{name}:{tag}"], "Layers": [f"{layer_id}/layer.tar"],
                     "Config": config_name}]
        repositories = {name: {tag: layer_id}}

        image_dir = os.path.join(work, "image")
        layer_sub = os.path.join(image_dir, layer_id)
        os.makedirs(layer_sub)
        files = {
            os.path.join(layer_sub, "VERSION"): b"1.0",
            os.path.join(layer_sub, "json"): final_json.encode(),
            os.path.join(layer_sub, "layer.tar"): layer_tar,
            os.path.join(image_dir, config_name): config_text,
            os.path.join(image_dir, "manifest.json"): jq_dumps(manifest).encode(),
            os.path.join(image_dir, "repositories"): jshon_dumps(repositories).encode(),
        }
        for path, data in files.items():
            with open(path, "wb") as f:
                f.write(data)
            os.chmod(path, 0o444)
        os.chmod(layer_sub, 0o555)
        os.chmod(image_dir, 0o555)
        chunks = gnu_tree_chunks(image_dir, mtime=SDE, uid=0, gid=0, uname="root", gname="root",
                                 strip_dot_slash=True)
        if compress:
            from nixlite.image.gzip import pigz_chunks

            chunks = pigz_chunks(chunks)
        yield from chunks
    finally:
        remove_tree(work)
