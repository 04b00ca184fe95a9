"""mkRootLayer without a virtual machine: buildImage's ``runAsRoot``.

The base image's layers are unpacked (safely, whiteouts applied) into one lower directory;
the contents are copied into the upper directory; the script runs as root chrooted into the
overlay of the two, in private user and mount namespaces (``sandbox``).  What it changes is
then in the upper directory, as in the seed's VM: overlay whiteouts (character devices 0/0)
become ``.wh.NAME`` files, extraCommands run there, and it is packed like mkPureLayer's tar but
with the owners on disk.

``diskSize`` (MiB) was the size of that VM's disk, which held the unpacked base layers and
the new layer: here it bounds the same bytes, and a script that writes more fails the build
as the full disk failed it upstream (rather than the limit being silently ignored).
``buildVMMemorySize`` has no counterpart: the script runs in the builder's own memory.
"""

from __future__ import annotations

import os
import stat
from typing import Any

from nixlite.build.native import StepContext, StepFailed
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


def tree_bytes(root: str) -> int:
    """The bytes of the regular files below ``root`` (each hard-linked file once)."""
    seen = set()
    total = 0
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            st = os.lstat(os.path.join(dirpath, name))
            if stat.S_ISREG(st.st_mode) and (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_size
    return total


def check_disk_size(roots: list[str], disk_size: Any, what: str) -> None:
    """Fail as upstream's VM did when its ``diskSize`` MiB disk filled up."""
    if disk_size is None:
        return
    used = sum(map(tree_bytes, roots))
    if used > int(disk_size) << 20:
        raise StepFailed(f"{what} needs {used / (1 << 20):.1f} MiB of disk (the base image's "
                         f"layers and the new one), more than diskSize = {disk_size} MiB; "
                         "raise diskSize")


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
    check_disk_size([d for d in (lower, upper) if d], args.get("diskSize"), "runAsRoot")
    whiteouts_to_files(upper)
    run_extra_commands(ctx, args.get("extraCommands") or "", upper)
    owner = None if os.geteuid() == 0 else 0
    chunks = gnu_tree_chunks(upper, mtime=SDE, uid=owner, gid=owner,
                             uname=None if owner is None else "root",
                             gname=None if owner is None else "root")
    write_layer_dir(ctx.outputs["out"], chunks, base_json_bytes(args))
