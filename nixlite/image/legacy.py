"""The seed's ``buildImage`` output: one layer in the legacy + manifest layout (spec §4).

``build_image_chunks`` reproduces the ``result`` derivation of the seed's buildImage (without
``fromImage``/``runAsRoot``): the mkPureLayer tar with its TarSum-carrying ``json`` and
``VERSION``, the layer's runtime closure appended to ``layer.tar`` as ``tar -r`` does, the
layer ID, the jq-printed config and manifest, the jshon-printed ``repositories`` (printers in
``jsonstyle``), and the final ``tar --xform 's:^./::' | pigz -nT``.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterable, Iterator

from nixlite.errors import NixliteError
from nixlite.image.files import remove_tree
from nixlite.image.jsonstyle import jq_dumps, jshon_dumps, load_ordered
from nixlite.image.tarreader import TarStream
from nixlite.image.tarwriter import RECORD, gnu_entries_chunks, gnu_tree_chunks

SDE = 315532800


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
