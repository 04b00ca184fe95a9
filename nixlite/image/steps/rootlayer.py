"""mkRootLayer without a virtual machine: buildImage's ``runAsRoot``.

The base image's layers are unpacked (safely, whiteouts applied) into one lower directory;
the contents are copied into the upper directory; the script runs as root chrooted into the
overlay of the two, in private user and mount namespaces (``sandbox``).  What it changes is
then in the upper directory, as in the seed's VM: overlay whiteouts (character devices 0/0)
become ``.wh.NAME`` files, extraCommands run there, and it is packed like mkPureLayer's tar but
with the owners on disk.
"""

from __future__ import annotations

import os
import stat
from typing import Any

from nixlite.build.native import StepContext
from nixlite.image.docker_archive import DockerArchive
from nixlite.image.legacy import SDE
from nixlite.image.tarwriter import gnu_tree_chunks
from nixlite.image.unpack import unpack_layers
from nixlite.image.steps.context import as_list, decompression_limit, view_of
from nixlite.image.steps.layer import base_json_bytes, run_extra_commands, write_layer_dir
from nixlite.image.steps.sandbox import run_script
from nixlite.image.steps.tree import copy_contents


def whiteouts_to_files(upper: str) -> None:
    """Overlay's deletion markers (char devices 0/0) as the ``.wh.NAME`` files layers use."""
    for dirpath, dirnames, filenames in os.walk(upper):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                os.unlink(path)
                open(os.path.join(dirpath, ".wh." + name), "w").close()


def root_layer(ctx: StepContext, args: dict[str, Any]) -> None:
    view = view_of(ctx)
    work = ctx.build_dir
    lower = None
    if args.get("fromImage"):
        lower = os.path.join(work, "lower")
        image = DockerArchive(view.physical(args["fromImage"]),
                              max_decompressed=decompression_limit()).image(index=0)
        unpack_layers(image.layers, lower)
    upper, overlay_work, mnt = (os.path.join(work, d) for d in ("layer", "work", "mnt"))
    for d in (upper, overlay_work, mnt):
        os.mkdir(d)
    for item in as_list(args.get("contents")):
        ctx.log.write(f"Adding {item}...\n")
        copy_contents(view, item, upper, keep_dirlinks=bool(args.get("keepContentsDirlinks")))
    os.chmod(upper, os.stat(upper).st_mode | 0o660)
    env = dict(ctx.env)
    env["PATH"] = args.get("path") or "/bin:/usr/bin:/sbin:/usr/sbin"
    run_script(args["runAsRoot"], cwd=work, env=env, store_real_dir=ctx.store.real_dir,
               store_dir=ctx.store.store_dir, log=ctx.log, scratch=work, what="runAsRoot",
               shell=args.get("shell") or "/bin/sh", cancelled=ctx.cancelled,
               overlay={"lower": lower, "upper": upper, "work": overlay_work, "mnt": mnt})
    whiteouts_to_files(upper)
    run_extra_commands(ctx, args.get("extraCommands") or "", upper)
    owner = None if os.geteuid() == 0 else 0
    chunks = gnu_tree_chunks(upper, mtime=SDE, uid=owner, gid=owner,
                             uname=None if owner is None else "root",
                             gname=None if owner is None else "root")
    write_layer_dir(ctx.outputs["out"], chunks, base_json_bytes(args))
