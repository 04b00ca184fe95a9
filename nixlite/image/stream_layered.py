"""streamLayeredImage's stream script as a library: the image it streams, as an ``Image``.

Given the store layers (from ``layering.store_layers``) and the customisation layer built
at build time (a directory with ``layer.tar`` and ``checksum``), build the config exactly as
upstream (spec §1.5) and the per-member headers of the outer archive (§1.4); write it with
``docker_archive.write_docker_archive(image, dest, mtime=..., layer_headers=...)``.
"""

from __future__ import annotations

import datetime
import grp
import os
import pwd
from dataclasses import dataclass
from typing import Any

from nixlite.errors import NixliteError
from nixlite.image.compression import DEFAULT_MAX_DECOMPRESSED
from nixlite.image.docker_archive import DockerArchive, write_docker_archive
from nixlite.image.files import atomic_file, write_bytes_atomically
from nixlite.image.model import Image, Layer, check_digest_syntax, file_source
from nixlite.image.tarwriter import store_layer_chunks


@dataclass
class StreamedImage:
    image: Image
    mtime: int
    layer_headers: dict[int, dict[str, Any]]

    def write(self, dest, compression: str = "none") -> None:
        write_docker_archive(self.image, dest, mtime=self.mtime, layer_headers=self.layer_headers,
                             compression=compression)


def write_customisation_layer(tree: str, out_dir: str, *, exclude: tuple[str, ...] = (),
                              mtime: int = 315532800) -> str:
    """The customisation-layer derivation's output (spec §1.3): ``layer.tar`` as
    ``tar --sort name --numeric-owner --mtime @SOURCE_DATE_EPOCH --hard-dereference -cf``
    run inside ``tree`` (``exclude``: enableFakechroot's ``./dev`` etc.), and ``checksum``
    (its sha256 hex and a newline).  Both written atomically; returns the hex digest."""
    import hashlib

    from nixlite.image.tarwriter import gnu_tree_chunks

    os.makedirs(out_dir, exist_ok=True)
    digest = hashlib.sha256()

    def write_tar(out) -> None:
        for chunk in gnu_tree_chunks(tree, mtime=mtime, numeric_owner=True, exclude=exclude):
            digest.update(chunk)
            out.write(chunk)

    atomic_file(os.path.join(out_dir, "layer.tar"), write_tar, mode=0o444)
    hexdigest = digest.hexdigest()
    write_bytes_atomically(os.path.join(out_dir, "checksum"), (hexdigest + "\n").encode(),
                           mode=0o444)
    return hexdigest


def parse_created(created: str) -> datetime.datetime:
    """``now`` or an ISO 8601 time as the conf step leaves it (``date -Iseconds``)."""
    if created == "now":
        return datetime.datetime.now(tz=datetime.timezone.utc)
    try:
        value = datetime.datetime.fromisoformat(created.replace("Z", "+00:00"))
    except ValueError:
        raise NixliteError(f"invalid 'created' time '{created}'") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.timezone.utc)
    return value


def _stat_header(path: str, mtime: int) -> dict[str, Any]:
    """What tarfile.gettarinfo gives for the stored layer.tar (mode, owner ids and names)."""
    st = os.stat(path)
    try:
        uname = pwd.getpwuid(st.st_uid).pw_name
    except KeyError:
        uname = ""
    try:
        gname = grp.getgrgid(st.st_gid).gr_name
    except KeyError:
        gname = ""
    return {"mode": st.st_mode & 0o7777, "uid": st.st_uid, "gid": st.st_gid, "uname": uname,
            "gname": gname, "mtime": mtime}


def _add_base_layers(from_image: str, layers: list[Layer], history: list[dict[str, str]],
                     headers: dict[int, dict[str, Any]], created_text: str, config: Any,
                     merge_env: bool, max_decompressed: int) -> Any:
    """Upstream's add_base_layers: each layer member of the base archive's first image,
    copied as stored (name and header kept), with the base config's diff_ids; returns the
    (merged) config."""
    archive = DockerArchive(from_image, max_decompressed=max_decompressed)
    base = archive.image(index=0, verify=False)  # copied verbatim: checked as they stream
    for layer, member in zip(base.layers, archive.stored_members(index=0)):
        if not member.is_file:
            raise NixliteError(f"base image '{from_image}': layer member '{member.name}' is a link")
        headers[len(layers)] = {"name": member.name, "mode": member.mode, "uid": member.uid,
                                "gid": member.gid, "uname": member.uname, "gname": member.gname,
                                "mtime": member.mtime, "verbatim": True}
        layers.append(layer)
        history.append({"created": created_text, "comment": f"store paths: {[member.name]!r}"})
    inner = base.config.get("config")
    if merge_env and isinstance(config, dict):
        base_env = (inner if isinstance(inner, dict) else {}).get("Env", []) or []
        env = list(base_env) + list(config.get("Env", []))
        if env:
            resolved: dict[str, str] = {}
            for item in env:
                resolved[item.split("=", 1)[0]] = item
            config = dict(config)
            config["Env"] = list(resolved.values())
    return config


def stream_layered_image(*, store_layers: list[list[str]], customisation_layer: str | None,
                         architecture: str, config: Any, created: str, repo_tag: str,
                         mtime: int | None = None, store_dir: str = "/nix/store",
                         uid: int = 0, gid: int = 0, uname: str = "root", gname: str = "root",
                         nix_dir_mode: int = 0o555, walk_symlinked_roots: bool = True,
                         from_image: str | None = None, merge_base_env: bool = False,
                         max_decompressed: int = DEFAULT_MAX_DECOMPRESSED) -> StreamedImage:
    """The seed's stream script (defaults) or today's (``mtime``, owner, ``nix_dir_mode=0o755``,
    ``walk_symlinked_roots=False``, ``merge_base_env=True``).  ``config`` is the base JSON's
    ``config`` value.  ``from_image`` is a docker-archive whose layers come first, copied
    with their member names and headers; ``merge_base_env`` prepends its ``Env`` to the
    config's, each variable keeping its first position and its last value (today's rule);
    none of its layers may decompress to more than ``max_decompressed`` bytes."""
    when = parse_created(created)
    created_text = when.isoformat()
    layer_mtime = int(when.timestamp()) if mtime is None else mtime
    layers: list[Layer] = []
    history: list[dict[str, str]] = []
    headers: dict[int, dict[str, Any]] = {}
    if from_image is not None:
        config = _add_base_layers(from_image, layers, history, headers, created_text, config,
                                  merge_base_env, max_decompressed)
    for paths in store_layers:
        def source(paths=tuple(paths)):
            return store_layer_chunks(paths, mtime=layer_mtime, uid=uid, gid=gid, uname=uname,
                                      gname=gname, nix_dir_mode=nix_dir_mode, store_dir=store_dir,
                                      walk_symlinked_roots=walk_symlinked_roots)
        layers.append(Layer.from_tar(source))
        history.append({"created": created_text, "comment": f"store paths: {list(paths)!r}"})
    if customisation_layer is not None:
        tar_path = os.path.join(customisation_layer, "layer.tar")
        try:
            with open(os.path.join(customisation_layer, "checksum")) as f:
                checksum = f.read().strip()
        except OSError as e:
            raise NixliteError(f"customisation layer '{customisation_layer}': {e.strerror}") from None
        check_digest_syntax("sha256:" + checksum, "customisation layer checksum")
        headers[len(layers)] = _stat_header(tar_path, layer_mtime)
        layers.append(Layer.from_blob(file_source(tar_path), compression="none",
                                      digest="sha256:" + checksum, diff_id="sha256:" + checksum))
        history.append({"created": created_text,
                        "comment": f"store paths: {[customisation_layer]!r}"})
    diff_ids = [layer.diff_id for layer in layers]
    image_config = {
        "created": created_text,
        "architecture": architecture,
        "os": "linux",
        "config": config,
        "rootfs": {"diff_ids": diff_ids, "type": "layers"},
        "history": history,
    }
    image = Image.from_config(image_config, layers, style="python", repo_tags=[repo_tag])
    return StreamedImage(image, layer_mtime, headers)
