"""buildImage's two derivations as native steps (spec §4): the layer and the image.

``docker_layer`` is mkPureLayer (contents copied as ``rsync -a{k,K}``, extraCommands, the tar,
its TarSum in ``json``, ``VERSION``) or, with ``runAsRoot``, mkRootLayer (see ``rootlayer``).
``docker_image`` is the ``result`` derivation: the base image unpacked, the layer's runtime
closure appended to its tar as ``tar -r`` does, parent/ID/Size in its json, the jq-printed
config and manifest, the jshon-printed ``repositories`` and the final ``tar | pigz -nT``.
The JSON printers, TarSum, GNU tar dialect and pigz are the image library's.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from typing import Any

from nixlite.build.native import StepContext, StepFailed
from nixlite.image.files import read_chunks, write_bytes_atomically
from nixlite.image.gzip import pigz_chunks
from nixlite.image.jsonstyle import jq_dumps, jshon_dumps, load_ordered
from nixlite.image.legacy import SDE
from nixlite.image.tarreader import index_tar_file
from nixlite.image.tarwriter import RECORD, gnu_entries_chunks, gnu_tree_chunks
from nixlite.image.steps.archive_dir import extract_archive, make_read_only, tar_names
from nixlite.image.steps.context import (as_list, decompression_limit, failures, hash_part,
                                         interruptible, reporting, step_args, view_of,
                                         write_output)
from nixlite.image.steps.layer import base_json_bytes, owner_name, run_extra_commands, write_layer_dir
from nixlite.image.steps.rootlayer import root_layer
from nixlite.image.steps.tree import copy_contents


def docker_layer(ctx: StepContext) -> None:
    """mkPureLayer, or mkRootLayer when ``runAsRoot`` is set."""
    with failures(ctx):
        args = step_args(ctx)
        if args.get("runAsRoot") is not None:
            root_layer(ctx, args)
            return
        view = view_of(ctx)
        layer = os.path.join(ctx.build_dir, "layer")
        os.mkdir(layer)
        for item in as_list(args.get("contents")):
            ctx.log.write(f"Adding {item}\n")
            copy_contents(view, item, layer, keep_dirlinks=bool(args.get("keepContentsDirlinks")))
        os.chmod(layer, os.stat(layer).st_mode | 0o660)
        run_extra_commands(ctx, args.get("extraCommands") or "", layer,
                           nix_db_roots=as_list(args.get("contents")) if args.get("nixDb") else None)
        uid, gid = int(args.get("uid", 0)), int(args.get("gid", 0))
        chunks = interruptible(ctx, gnu_tree_chunks(layer, mtime=SDE, uid=uid, gid=gid,
                                                    uname=owner_name(uid), gname=owner_name(gid)))
        chunks = reporting(ctx, chunks, "writing layer")
        write_layer_dir(ctx.outputs["out"], chunks, base_json_bytes(args))


# the result derivation ----------------------------------------------------------------------

def _parent_id(manifest: list[Any], from_name: str | None, from_tag: str | None) -> str:
    """The seed's parentID: with name and tag, its jq filter prints (``-r``) every manifest
    entry whose RepoTags contain the tag as a substring — the entry object itself, since
    ``rtrimstr`` leaves non-strings alone; else the first Config minus ``.json``."""
    if from_name and from_tag:
        wanted = f"{from_name}:{from_tag}"
        found = [e for e in manifest
                 if any(wanted in t for t in (e.get("RepoTags") or []) if isinstance(t, str))]
        return "\n".join(jq_dumps(e).rstrip("\n") for e in found)
    config = manifest[0]["Config"]
    return config[:-5] if config.endswith(".json") else config


def _append_to_tar(path: str, entries: list[tuple[bytes, str]]) -> None:
    """``tar -rf PATH`` of ``entries`` (archive name, host path) with the seed's flags: new
    members overwrite the end marker, then the archive is re-terminated and padded."""
    members = index_tar_file(path, "layer.tar")
    end = 0
    if members:
        last = members[-1]
        size = last.size if last.type not in (b"1", b"2", b"3", b"4", b"5", b"6") else 0
        end = last.offset + size + (-size % 512)
    os.chmod(path, 0o644)
    with open(path, "r+b") as f:
        f.truncate(end)
        f.seek(end)
        total = end
        for chunk in gnu_entries_chunks(entries, mtime=SDE, uid=0, gid=0, uname="root",
                                        gname="root"):
            f.write(chunk)
            total += len(chunk)
        f.write(b"\0" * (1024 + (-(total + 1024) % RECORD)))


def _sha256_file(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in read_chunks(f, None, path):
            digest.update(chunk)
    return digest.hexdigest()


def docker_image(ctx: StepContext) -> None:
    with failures(ctx):
        _docker_image(ctx, step_args(ctx))


def _docker_image(ctx: StepContext, args: dict[str, Any]) -> None:
    view = view_of(ctx)
    name = args["name"]
    tag = args.get("tag") or hash_part(ctx.output_paths["out"])
    layer_path = args["layer"]
    work = ctx.build_dir
    image = os.path.join(work, "image")
    os.mkdir(image)
    layer_list: list[str] = []
    base_envs: list[Any] = []
    parent_id = ""
    base_files: set[str] = set()
    from_image = args.get("fromImage")
    if from_image:
        ctx.log.write("Unpacking base image...\n")
        label = f"base image '{from_image}'"
        extract_archive(view.physical(from_image), image, label, decompression_limit())
        manifest = _read_json(os.path.join(image, "manifest.json"), label, list)
        if not manifest or not isinstance(manifest[0], dict):
            raise StepFailed(f"{label}: manifest.json lists no image")
        layer_list = [str(x) for x in manifest[0].get("Layers") or []]
        config = _read_json(os.path.join(image, str(manifest[0].get("Config"))), label, dict)
        env = (config.get("config") or {}).get("Env") if isinstance(config.get("config"), dict) else None
        base_envs = env if isinstance(env, list) else []
        parent_id = _parent_id(manifest, args.get("fromImageName"), args.get("fromImageTag"))
        for entry in os.listdir(image):
            if entry.endswith(".json") and not entry.startswith(".") and \
                    os.path.isfile(os.path.join(image, entry)):
                os.unlink(os.path.join(image, entry))
        for entry in sorted(os.listdir(image)):
            tar = os.path.join(image, entry, "layer.tar")
            if os.path.isdir(os.path.join(image, entry)) and os.path.exists(tar):
                if not os.path.realpath(tar).startswith(os.path.realpath(image) + "/"):
                    raise StepFailed(f"{label}: '{entry}/layer.tar' points outside the image")
                with open(tar, "rb") as f:
                    base_files |= tar_names(read_chunks(f, None, tar), f"{label}: {entry}/layer.tar")

    temp = os.path.join(work, "temp")
    os.mkdir(temp)
    for file in ("layer.tar", "json", "VERSION"):
        shutil.copyfile(view.physical(f"{layer_path}/{file}"), os.path.join(temp, file))
        os.chmod(os.path.join(temp, file), 0o664)
    temp_tar = os.path.join(temp, "layer.tar")
    with open(temp_tar, "rb") as f:
        base_files |= tar_names(read_chunks(f, None, temp_tar), "layer.tar")

    closure = sorted(ctx.store.closure([layer_path]))
    new_files: dict[str, str] = {}
    for dep in closure:
        for logical, real in view.find(dep):
            if layer_path not in logical and logical not in base_files:
                new_files[logical] = real
    entries: list[tuple[bytes, str]] = []
    if len(closure) > 1 and "/nix/store" not in base_files:
        nix = os.path.join(work, "nix")
        os.makedirs(os.path.join(nix, "store"))
        os.chmod(os.path.join(nix, "store"), 0o555)
        os.chmod(nix, 0o555)
        entries += [(b"./nix", nix), (b"./nix/store", os.path.join(nix, "store"))]
    entries += [(os.fsencode(p.lstrip("/")), new_files[p]) for p in sorted(new_files)]
    if entries:
        _append_to_tar(temp_tar, entries)

    layer_json = load_ordered(open(os.path.join(temp, "json"), "rb").read())
    if parent_id:
        layer_json["parent"] = parent_id
    layer_id = hashlib.sha256(jshon_dumps(layer_json).encode()).hexdigest()
    layer_json["id"] = layer_id
    layer_json["Size"] = os.path.getsize(temp_tar)
    created = layer_json.get("created")
    write_bytes_atomically(os.path.join(temp, "json"), jshon_dumps(layer_json).encode())
    os.rename(temp, os.path.join(image, layer_id))
    layer_list.append(f"{layer_id}/layer.tar")

    image_json = {k: v for k, v in layer_json.items() if k not in ("checksum", "parent", "id", "Size")}
    config = image_json.get("config")
    config = {} if config is None else dict(config)
    config["Env"] = list(base_envs) + list(config.get("Env") or [])
    image_json["config"] = config
    image_json["rootfs"] = {"diff_ids": [], "type": "layers"}
    image_json["history"] = []
    for layer_tar in layer_list:
        tar = os.path.join(image, layer_tar)
        if not os.path.realpath(tar).startswith(os.path.realpath(image) + "/"):
            raise StepFailed(f"base image layer '{layer_tar}' points outside the image")
        image_json["history"].append({"created": created})
        image_json["rootfs"]["diff_ids"].append("sha256:" + _sha256_file(tar))
    config_text = jq_dumps(image_json).encode()
    config_name = hashlib.sha256(config_text).hexdigest() + ".json"
    files = {
        config_name: config_text,
        "manifest.json": jq_dumps([{"RepoTags": [f"{name}:{tag}"], "Layers": layer_list,
                                    "Config": config_name}]).encode(),
        "repositories": jshon_dumps({name: {tag: layer_id}}).encode(),
    }
    for file, data in files.items():
        path = os.path.join(image, file)
        if os.path.lexists(path):
            os.unlink(path)
        with open(path, "wb") as f:
            f.write(data)
    make_read_only(image)
    ctx.log.write("Cooking the image...\n")
    chunks = gnu_tree_chunks(image, mtime=SDE, uid=0, gid=0, uname="root", gname="root",
                             strip_dot_slash=True)
    write_output(ctx, ctx.outputs["out"], pigz_chunks(chunks))


def _read_json(path: str, label: str, kind: type) -> Any:
    try:
        with open(path, "rb") as f:
            value = json.loads(f.read())
    except (OSError, ValueError) as e:
        raise StepFailed(f"{label}: cannot read '{os.path.basename(path)}': {e}") from None
    if not isinstance(value, kind):
        raise StepFailed(f"{label}: '{os.path.basename(path)}' is not a JSON {kind.__name__}")
    return value
