"""streamLayeredImage and buildLayeredImage as native steps (spec §1–2).

Three derivations, as upstream: the customisation layer (``customisation_layer``: contents
joined as symlinkJoin does, extraCommands, fakeRootCommands, the tar and its checksum), the
conf (``stream_conf``: layering by popularity over the closure, the maxLayers cut, the tag)
and the result (``stream_script``: an executable that writes the image to stdout).
``layered_archive`` is buildLayeredImage: the same stream, compressed, as the output file.

The script is ``#!/bin/sh`` exec'ing the Python that built it on this module, with the conf's
store path and its own location (from which it finds nixlite's store on disk):
``$(nixlite build img.nix) | docker load`` works wherever that nixlite is installed.
``main`` takes ``CONF [SCRIPT] [-t NAME:TAG]``.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import re
import shlex
import sys
from typing import Any

from nixlite.build.native import StepContext, StepFailed
from nixlite.errors import NixliteError
from nixlite.image.docker_archive import docker_archive_chunks
from nixlite.image.files import atomic_file, write_bytes_atomically
from nixlite.image.layering import store_layers
from nixlite.image.model import Image, Layer, file_source
from nixlite.image.stream_layered import StreamedImage, _add_base_layers, _stat_header, parse_created
from nixlite.image.tarreader import index_tar_file
from nixlite.image.tarwriter import gnu_tree_chunks, store_layer_chunks
from nixlite.image.steps.context import (as_list, decompression_limit, failures, hash_part,
                                         job_cache, step_args, view_of, write_output)
from nixlite.image.steps.layer import run_extra_commands
from nixlite.image.steps.storeview import StoreView
from nixlite.image.steps.tree import link_contents

SDE = 315532800
FAKECHROOT_EXCLUDES = ("./dev", "./proc", "./sys", "./nix/store")


# customisation layer ------------------------------------------------------------------------

def customisation_layer(ctx: StepContext) -> None:
    with failures(ctx):
        args = step_args(ctx)
        view = view_of(ctx)
        tree = os.path.join(ctx.build_dir, "old_out")
        os.mkdir(tree)
        for item in as_list(args.get("contents")):
            link_contents(view, item, tree)
        run_extra_commands(ctx, args.get("extraCommands") or "", tree,
                           nix_db_roots=as_list(args.get("contents")) if args.get("nixDb") else None)
        run_extra_commands(ctx, args.get("fakeRootCommands") or "", tree, "fakeRootCommands")
        exclude = FAKECHROOT_EXCLUDES if args.get("enableFakechroot") else ()
        out = ctx.outputs["out"]
        os.mkdir(out)
        # fakeroot reports root for files nobody chowned; outside it only root's chowns are real
        owner = None if os.geteuid() == 0 else 0
        digest = []

        def write(f):
            h = hashlib.sha256()
            for chunk in gnu_tree_chunks(tree, mtime=SDE, uid=owner, gid=owner,
                                         numeric_owner=True, exclude=exclude):
                h.update(chunk)
                f.write(chunk)
            digest.append(h.hexdigest())

        atomic_file(os.path.join(out, "layer.tar"), write)
        write_bytes_atomically(os.path.join(out, "checksum"), (digest[0] + "\n").encode())


# conf ---------------------------------------------------------------------------------------

def _referenced_paths(ctx: StepContext, text: str) -> list[str]:
    """The valid store paths ``text`` names: what a file holding it would reference."""
    pattern = re.escape(ctx.store.store_dir) + r"/[0-9a-df-np-sv-z]{32}-[A-Za-z0-9+\-._?=]+"
    return sorted(p for p in set(re.findall(pattern, text)) if ctx.store.is_valid(p))


def closure_graph(ctx: StepContext, base_json: str, contents: list[str]
                  ) -> tuple[dict[str, list[str]], tuple[str, str]]:
    """exportReferencesGraph of the seed's ``overallClosure`` text file (which references the
    base JSON and the contents), with both of those files stood in for by nodes (returned
    second) that are dropped after ordering, as the seed's grep drops them."""
    root = f"{ctx.store.store_dir}/{'0' * 32}-closure"
    base = f"{ctx.store.store_dir}/{'1' * 32}-base.json"
    graph = {root: [base] + contents, base: _referenced_paths(ctx, base_json)}
    for path in ctx.store.closure(contents + graph[base]):
        graph[path] = sorted(ctx.store.references(path))
    return graph, (root, base)


def normalise_created(created: str) -> str:
    """``date -Iseconds -d CREATED`` in the build's UTC ("now" is kept for the script)."""
    if created == "now":
        return created
    value = parse_created(created).astimezone(datetime.timezone.utc)
    return value.strftime("%Y-%m-%dT%H:%M:%S+00:00")


def stream_conf(ctx: StepContext) -> None:
    with failures(ctx):
        args = step_args(ctx)
        contents = [str(p) for p in as_list(args.get("contents"))]
        base_json = args["baseJson"]
        graph, virtual = closure_graph(ctx, base_json, contents)
        base_layers = 0
        from_image = args.get("fromImage")
        if from_image:
            from nixlite.image.docker_archive import DockerArchive
            entries = DockerArchive(ctx.store.physical(from_image),
                                    max_decompressed=decompression_limit()).entries
            base_layers = len(entries[0]["Layers"])
        layers = store_layers(graph, max_layers=int(args.get("maxLayers", 100)),
                              base_layers=base_layers, exclude=virtual)
        if args.get("includeStorePaths") is False:
            layers = []
        tag = args.get("tag") or hash_part(ctx.output_paths["out"])
        conf = dict(json.loads(base_json))
        conf.update({
            "store_dir": ctx.store.store_dir,
            "from_image": from_image or None,
            "store_layers": layers,
            "customisation_layer": args["customisationLayer"],
            "repo_tag": f"{args['name']}:{tag}",
            "created": normalise_created(args.get("created", "1970-01-01T00:00:01Z")),
        })
        for key in ("mtime", "uid", "gid", "uname", "gname"):
            if args.get(key) is not None:
                conf[key] = args[key]
        write_bytes_atomically(ctx.outputs["out"], json.dumps(conf, indent=2).encode() + b"\n")


# the stream ---------------------------------------------------------------------------------

class LayerCache:
    """Digests of store-path layers, by what they hold: store paths never change, so a layer
    of the same paths written the same way has the same bytes.  A rebuild then streams an
    unchanged layer once (into the archive) instead of twice (digest, then archive); the
    declared digest is still verified as it streams.

    An uncompressed archive (``compressor = "none"``) also records where it holds each
    layer: a rebuild copies that byte range of the earlier archive (an immutable store
    file, checked when written) instead of writing and hashing the tar again."""

    PREFIX = "dockertools-layer:"

    def __init__(self, store) -> None:
        self.store = store

    @staticmethod
    def key(paths, options: dict[str, Any]) -> str:
        return hashlib.sha256(json.dumps([list(paths), options], sort_keys=True).encode()).hexdigest()

    def get(self, key: str) -> dict[str, Any] | None:
        value = self.store.cache_get(self.PREFIX + key)
        return value if isinstance(value, dict) else None

    def put(self, key: str, digest: str, size: int, copy: dict[str, Any] | None = None) -> None:
        self.store.cache_put(self.PREFIX + key, {"digest": digest, "size": size, **(copy or {})})

    def stored_copy(self, known: dict[str, Any]) -> str | None:
        """The file of a valid store archive that holds the layer at ``known["offset"]``,
        if it is still the very file that was written (same inode and size)."""
        archive = known.get("archive")
        if not archive or not self.store.is_valid(archive):
            return None
        path = self.store.physical(archive)
        try:
            st = os.stat(path)
        except OSError:
            return None
        if (st.st_ino, st.st_size) != (known.get("inode"), known.get("archive_size")):
            return None
        return path

    @staticmethod
    def copies(archive: str, written: str, layers: list[Layer]) -> dict[str, dict[str, Any]]:
        """Where the uncompressed archive ``written`` (to become the store path ``archive``)
        holds each layer: diff_id → the record ``stored_copy`` reads."""
        st = os.stat(written)
        wanted = {layer.diff_id.split(":", 1)[1] + "/layer.tar": layer.diff_id for layer in layers}
        return {wanted[m.name]: {"archive": archive, "offset": m.offset, "inode": st.st_ino,
                                 "archive_size": st.st_size}
                for m in index_tar_file(written) if m.name in wanted}


def streamed_image(conf: dict[str, Any], view: StoreView, repo_tag: str | None = None,
                   cache: LayerCache | None = None) -> tuple[StreamedImage, list]:
    """``stream_layered_image`` over a store read through ``view`` (see ``storeview``);
    also returns ``(cache key, layer, cached record)`` for the store layers, to record
    after writing."""
    when = parse_created(conf["created"])
    created_text = when.isoformat()
    mtime = int(when.timestamp()) if conf.get("mtime") is None else int(conf["mtime"])
    layers: list[Layer] = []
    history: list[dict[str, str]] = []
    headers: dict[int, dict[str, Any]] = {}
    keyed = []
    config = conf.get("config")
    if conf.get("from_image"):
        config = _add_base_layers(view.physical(conf["from_image"]), layers, history, headers,
                                  created_text, config, False, decompression_limit())
    options = {"mtime": mtime, "uid": int(conf.get("uid", 0)), "gid": int(conf.get("gid", 0)),
               "uname": conf.get("uname", "root"), "gname": conf.get("gname", "root")}
    for paths in conf["store_layers"]:
        def source(paths=tuple(paths)):
            return store_layer_chunks(paths, view=view, **options)
        key = LayerCache.key(paths, options)
        known = cache.get(key) if cache is not None else None
        stored = cache.stored_copy(known) if known is not None else None
        if known is None:
            layer = Layer.from_tar(source)
        elif stored is not None:
            layer = Layer.from_blob(file_source(stored, known["offset"], known["size"]),
                                    compression="none", digest=known["digest"],
                                    size=known["size"], verified=True)
        else:
            layer = Layer.from_blob(source, compression="none", digest=known["digest"],
                                    size=known["size"], diff_id=known["digest"])
        keyed.append((key, layer, known))
        layers.append(layer)
        history.append({"created": created_text, "comment": f"store paths: {list(paths)!r}"})
    custom = conf["customisation_layer"]
    tar_path = view.physical(custom + "/layer.tar")
    with open(view.physical(custom + "/checksum")) as f:
        checksum = "sha256:" + f.read().strip()
    headers[len(layers)] = _stat_header(tar_path, mtime)
    layers.append(Layer.from_blob(file_source(tar_path), compression="none", digest=checksum,
                                  diff_id=checksum))
    history.append({"created": created_text, "comment": f"store paths: {[custom]!r}"})
    image_config = {
        "created": created_text, "architecture": conf["architecture"], "os": "linux",
        "config": config,
        "rootfs": {"diff_ids": [layer.diff_id for layer in layers], "type": "layers"},
        "history": history,
    }
    image = Image.from_config(image_config, layers, style="python",
                              repo_tags=[repo_tag or conf["repo_tag"]])
    return StreamedImage(image, mtime, headers), keyed


def _read_conf(view: StoreView, conf_path: str) -> dict[str, Any]:
    with open(view.physical(conf_path), "rb") as f:
        conf = json.loads(f.read())
    if not isinstance(conf, dict):
        raise NixliteError(f"'{conf_path}' is not a streamLayeredImage conf")
    return conf


def stream_script(ctx: StepContext) -> None:
    with failures(ctx):
        args = step_args(ctx)
        conf = args["conf"]
        text = ("#!/bin/sh\n"
                f"# streamLayeredImage {args.get('name', '')}: writes the image (docker-archive) "
                "to stdout, e.g. into `docker load`\n"
                f"exec {shlex.quote(sys.executable)} -c {shlex.quote(SCRIPT_ENTRY)} "
                f"{shlex.quote(conf)} \"$0\" \"$@\"\n")
        write_bytes_atomically(ctx.outputs["out"], text.encode(), mode=0o755)


SCRIPT_ENTRY = "import sys; from nixlite.image.steps.stream import main; sys.exit(main(sys.argv[1:]))"
COMPRESSIONS = {None: "gzip", "gz": "gzip-rsyncable", "zstd": "zstd", "none": "none"}


def layered_archive(ctx: StepContext) -> None:
    """buildLayeredImage: the stream through the seed's ``pigz -nT`` (no ``compressor``) or
    today's compressors."""
    with failures(ctx):
        args = step_args(ctx)
        compressor = args.get("compressor")
        if compressor not in COMPRESSIONS:
            raise StepFailed(f"unknown compressor '{compressor}' (expected gz, zstd or none)")
        view = view_of(ctx)
        cache = LayerCache(ctx.store)
        streamed, keyed = streamed_image(_read_conf(view, args["conf"]), view, cache=cache)
        write_output(ctx, ctx.outputs["out"], docker_archive_chunks(
            streamed.image, mtime=streamed.mtime, layer_headers=streamed.layer_headers,
            compression=COMPRESSIONS[compressor], job_cache=job_cache(ctx)))
        copies = {}
        if compressor == "none":
            copies = cache.copies(ctx.output_paths["out"], ctx.outputs["out"],
                                  [layer for _, layer, _ in keyed])
        for key, layer, known in keyed:
            if known is None or layer.diff_id in copies:
                cache.put(key, layer.digest, layer.size, copies.get(layer.diff_id))


def main(argv: list[str]) -> int:
    """The stream script: ``CONF [SCRIPT] [-t|--repo_tag NAME:TAG]``; the store's location on
    disk is taken from where SCRIPT (or CONF) really is."""
    repo_tag = None
    rest = []
    items = iter(argv)
    for arg in items:
        if arg in ("-t", "--repo_tag"):
            repo_tag = next(items, None)
        else:
            rest.append(arg)
    if not rest:
        sys.stderr.write("usage: stream CONF [SCRIPT] [-t NAME:TAG]\n")
        return 2
    conf_path = rest[0]
    anchor = rest[1] if len(rest) > 1 else conf_path
    store_dir = os.path.dirname(conf_path)
    real_dir = os.path.dirname(os.path.realpath(anchor))
    view = StoreView(store_dir, lambda p: real_dir + p[len(store_dir):])
    try:
        streamed, _ = streamed_image(_read_conf(view, conf_path), view, repo_tag)
        streamed.write(sys.stdout.buffer)
        sys.stdout.buffer.flush()
    except NixliteError as e:
        sys.stderr.write(f"error: {e.message}\n")
        return 1
    except BrokenPipeError:
        return 1
    except OSError as e:
        sys.stderr.write(f"error: {e.strerror}: '{e.filename}'\n")
        return 1
    return 0
