"""The dockerTools steps that move whole images (pullImage, exportImage, mergeImages), and
``tree``: the small directories of files and links fakeNss, binSh and friends are."""

from __future__ import annotations

import json
import os

from nixlite.build.native import StepContext, StepFailed
from nixlite.image.docker_archive import DockerArchive
from nixlite.image.gzip import pigz_chunks
from nixlite.image.legacy import SDE
from nixlite.image.tarwriter import gnu_tree_chunks
from nixlite.image.unpack import unpack_layers
from nixlite.image.steps.archive_dir import extract_archive, make_read_only
from nixlite.image.steps.context import (decompression_limit, failures, step_args, view_of,
                                         write_output)


def pull_image(ctx: StepContext) -> None:
    """pullImage's builder: what ``skopeo copy docker://NAME@DIGEST docker-archive:$out:…``
    writes; the realiser checks the fixed output's hash."""
    from nixlite.image.progress import BuildPhase
    from nixlite.image.transports import pull_image as pull

    with failures(ctx):
        args = step_args(ctx)
        ctx.log.write(f"pulling {args['imageName']}@{args['imageDigest']}\n")
        pull(args["imageName"], args["imageDigest"], ctx.outputs["out"],
             final_name=args["finalImageName"], final_tag=args["finalImageTag"],
             os_name=args.get("os", "linux"), arch=args.get("arch", "amd64"),
             variant=args.get("variant"), tls_verify=bool(args.get("tlsVerify", True)),
             max_decompressed=decompression_limit(), progress=BuildPhase(ctx.activity))


def _write_tar(ctx: StepContext, tree: str, *, compress: bool, **options) -> None:
    chunks = gnu_tree_chunks(tree, mtime=SDE, **options)
    if compress:
        chunks = pigz_chunks(chunks)
    write_output(ctx, ctx.outputs["out"], chunks)


def export_image(ctx: StepContext) -> None:
    """exportImage: the image's merged root file system as a plain tar (``tar -C mnt
    --hard-dereference --sort=name --mtime=@SDE -cf $out .``)."""
    with failures(ctx):
        args = step_args(ctx)
        source = view_of(ctx).physical(args["fromImage"])
        archive = DockerArchive(source, max_decompressed=decompression_limit())
        image = archive.image(index=0)
        rootfs = os.path.join(ctx.build_dir, "mnt")
        unpack_layers(image.layers, rootfs)
        owner = None if os.geteuid() == 0 else 0
        _write_tar(ctx, rootfs, compress=False, uid=owner, gid=owner,
                   uname=None if owner is None else "root", gname=None if owner is None else "root")


def merge_images(ctx: StepContext) -> None:
    """mergeImages: several docker-archives as one (every image's members, one manifest.json
    listing them all), packed as buildImage packs its result (``tar | pigz -nT``)."""
    with failures(ctx):
        args = step_args(ctx)
        view = view_of(ctx)
        image = os.path.join(ctx.build_dir, "image")
        os.mkdir(image)
        manifest: list = []
        repositories: dict = {}
        for number, path in enumerate(args["images"]):
            inputs = os.path.join(ctx.build_dir, f"input-{number}")
            os.mkdir(inputs)
            label = f"image '{path}'"
            extract_archive(view.physical(path), inputs, label, decompression_limit())
            try:
                with open(os.path.join(inputs, "manifest.json"), "rb") as f:
                    entries = json.loads(f.read())
            except (OSError, ValueError) as e:
                raise StepFailed(f"{label}: cannot read manifest.json: {e}") from None
            manifest += entries
            if os.path.isfile(os.path.join(inputs, "repositories")):
                with open(os.path.join(inputs, "repositories"), "rb") as f:
                    for repo, tags in json.loads(f.read()).items():
                        repositories.setdefault(repo, {}).update(tags)
            for entry in os.listdir(inputs):
                if entry in ("manifest.json", "repositories"):
                    continue
                target = os.path.join(image, entry)
                if not os.path.lexists(target):
                    os.rename(os.path.join(inputs, entry), target)
        from nixlite.image.jsonstyle import jq_dumps, jshon_dumps
        with open(os.path.join(image, "manifest.json"), "w") as f:
            f.write(jq_dumps(manifest))
        if repositories:
            with open(os.path.join(image, "repositories"), "w") as f:
                f.write(jshon_dumps(repositories))
        make_read_only(image)
        _write_tar(ctx, image, compress=True, uid=0, gid=0, uname="root", gname="root",
                   strip_dot_slash=True)


def write_tree(ctx: StepContext) -> None:
    """A directory with ``files`` (relative path → text), ``symlinks`` (relative path →
    target) and empty ``dirs``: what upstream writes with writeTextDir, ``ln -s`` and
    ``mkdir -p`` in its small helpers."""
    from nixlite.image.tarreader import safe_relative

    with failures(ctx):
        args = step_args(ctx)
        out = ctx.outputs["out"]
        os.mkdir(out)

        def place(rel: str) -> str:
            path = os.path.join(out, safe_relative(rel, "tree entry"))
            os.makedirs(os.path.dirname(path), exist_ok=True)
            return path

        for rel in args.get("dirs") or []:
            os.makedirs(place(rel), exist_ok=True)
        for rel, text in (args.get("files") or {}).items():
            with open(place(rel), "w") as f:
                f.write(text)
        for rel, target in (args.get("symlinks") or {}).items():
            os.symlink(target, place(rel))
