"""Re-implementations of upstream's stream_layered_image.py, from the spec's description
(§1.1-1.6), driving Python's own tarfile and json exactly as the script does.  They are the
references nixlite's own fast writers are compared with byte for byte."""

from __future__ import annotations

import hashlib
import io
import itertools
import json
import os
import pathlib
import tarfile


def reference_store_layer(paths, mtime, *, uid=0, gid=0, uname="root", gname="root",
                          nix_mode=0o555) -> bytes:
    """Upstream's archive_paths_to, as spec §1.1/1.2 describe it: tarfile in streaming write
    mode (pax), /nix and /nix/store directories first, each store path followed by its
    rglob descendants sorted by path components, hard links turned into regular files."""
    out = io.BytesIO()

    def apply_filters(ti):
        ti.mtime = mtime
        ti.uid, ti.gid, ti.uname, ti.gname = uid, gid, uname, gname
        return ti

    def nix_dir(name):
        ti = tarfile.TarInfo(name)
        ti.type = tarfile.DIRTYPE
        ti.mode = nix_mode
        return ti

    with tarfile.open(fileobj=out, mode="w|") as tar:
        tar.addfile(apply_filters(nix_dir("/nix")))
        tar.addfile(apply_filters(nix_dir("/nix/store")))
        for path in paths:
            path = pathlib.Path(path)
            files = sorted(itertools.chain([path], path.rglob("*")), key=lambda p: p.parts)
            for filename in files:
                ti = tar.gettarinfo(filename)
                ti.name = "/" + ti.name
                if ti.islnk():
                    ti.type = tarfile.REGTYPE
                    ti.linkname = ""
                    ti.size = filename.stat().st_size
                ti = apply_filters(ti)
                if ti.isfile():
                    with open(filename, "rb") as f:
                        tar.addfile(ti, f)
                else:
                    tar.addfile(ti)
    return out.getvalue()


def reference_stream_image(store_layers, customisation_dir, config_extra, *, created, mtime,
                           repo_tag, from_image=None, merge_env=False) -> tuple[bytes, bytes]:
    """The whole streamLayeredImage output (outer archive) and its config bytes.

    ``store_layers`` is a list of path lists; ``customisation_dir`` holds ``layer.tar`` and
    ``checksum`` as the customisation-layer derivation does; ``config_extra`` has
    ``architecture`` and ``config`` from the base JSON."""
    out = io.BytesIO()
    layer_names, diff_ids, histories = [], [], []

    def add_member(tar, info, data):
        tar.addfile(info, io.BytesIO(data))

    config_value = config_extra["config"]
    with tarfile.open(fileobj=out, mode="w|") as tar:
        if from_image is not None:
            # upstream's load_from_image / add_base_layers / overlay_base_config
            with tarfile.open(from_image) as base:
                manifest = json.load(base.extractfile(base.getmember("manifest.json")))
                base_json = json.load(base.extractfile(base.getmember(manifest[0]["Config"])))
                for layer, checksum in zip(manifest[0]["Layers"], base_json["rootfs"]["diff_ids"]):
                    info = base.getmember(layer)
                    tar.addfile(info, base.extractfile(info))
                    layer_names.append(info.path)
                    diff_ids.append("sha256:" + checksum.removeprefix("sha256:"))
                    histories.append({"created": created, "comment": f"store paths: {[info.path]}"})
            if merge_env:
                env = base_json["config"].get("Env", []) + config_value.get("Env", [])
                if env:
                    config_value = dict(config_value)
                    config_value["Env"] = list({e.split("=", 1)[0]: e for e in env}.values())
        for paths in store_layers:
            data = reference_store_layer(paths, mtime)
            digest = hashlib.sha256(data).hexdigest()
            info = tarfile.TarInfo(digest + "/layer.tar")
            info.size = len(data)
            info.mtime = mtime
            add_member(tar, info, data)
            layer_names.append(info.name)
            diff_ids.append("sha256:" + digest)
            histories.append({"created": created, "comment": "store paths: " + str(list(paths))})
        with open(os.path.join(customisation_dir, "checksum")) as f:
            checksum = f.read().strip()
        layer_tar = os.path.join(customisation_dir, "layer.tar")
        info = tar.gettarinfo(layer_tar)
        info.name = checksum + "/layer.tar"
        info.mtime = mtime
        with open(layer_tar, "rb") as f:
            tar.addfile(info, f)
        layer_names.append(info.name)
        diff_ids.append("sha256:" + checksum)
        histories.append({"created": created,
                          "comment": "store paths: " + str([customisation_dir])})
        config = {
            "created": created,
            "architecture": config_extra["architecture"],
            "os": "linux",
            "config": config_value,
            "rootfs": {"diff_ids": diff_ids, "type": "layers"},
            "history": histories,
        }
        config_bytes = json.dumps(config, indent=4).encode()
        config_name = hashlib.sha256(config_bytes).hexdigest() + ".json"
        info = tarfile.TarInfo(config_name)
        info.size = len(config_bytes)
        info.mtime = mtime
        add_member(tar, info, config_bytes)
        manifest = json.dumps([{"Config": config_name, "RepoTags": [repo_tag],
                                "Layers": layer_names}], indent=4).encode()
        info = tarfile.TarInfo("manifest.json")
        info.size = len(manifest)
        info.mtime = mtime
        add_member(tar, info, manifest)
    return out.getvalue(), config_bytes
