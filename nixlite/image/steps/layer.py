"""What buildImage's layer steps (mkPureLayer, runAsRoot) and the customisation layer share:
the base JSON, the layer directory (``layer.tar`` with its TarSum, ``json``, ``VERSION``) and
the user's commands."""

from __future__ import annotations

import datetime
import json
import os
from collections.abc import Iterable, Iterator
from typing import Any

from nixlite.build.native import StepContext
from nixlite.image.files import atomic_file, write_bytes_atomically
from nixlite.image.jsonstyle import jq_dumps, jshon_dumps, load_ordered
from nixlite.image.legacy import tarsum_v1
from nixlite.image.steps.sandbox import run_script


def base_json_bytes(args: dict[str, Any]) -> bytes:
    """The base JSON the seed writes with ``builtins.toJSON``; for ``created = "now"`` the
    impure variant's ``jq '.created = "<date --iso-8601=seconds>"'`` output."""
    text = args["baseJson"].encode()
    if json.loads(text).get("created") != "now":
        return text
    value = load_ordered(text)
    value["created"] = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S+00:00")
    return jq_dumps(value).encode()


def owner_name(uid: int) -> str:
    """What uid/gid ``--owner``/``--group`` resolve to in Nix's build sandbox."""
    return "root" if uid == 0 else ""


def _tee(chunks: Iterable[bytes], out) -> Iterator[bytes]:
    for chunk in chunks:
        out.write(chunk)
        yield chunk


def write_layer_dir(out: str, layer_chunks: Iterable[bytes], base_json: bytes) -> None:
    """``layer.tar`` (streamed to disk while TarSum reads it), ``json`` with ``checksum``
    inserted by jshon, ``VERSION``."""
    os.makedirs(out)
    checksum: list[str] = []
    atomic_file(os.path.join(out, "layer.tar"),
                lambda f: checksum.append(tarsum_v1(_tee(layer_chunks, f))))
    layer_json = load_ordered(base_json)
    layer_json["checksum"] = checksum[0]
    write_bytes_atomically(os.path.join(out, "json"), jshon_dumps(layer_json).encode())
    write_bytes_atomically(os.path.join(out, "VERSION"), b"1.0")


def run_extra_commands(ctx: StepContext, script: str, cwd: str, what: str = "extraCommands",
                       nix_db_roots: list[str] | None = None) -> None:
    """The user's commands in ``cwd`` (``nix_db_roots``: the WithNixDb variants' database
    first, as the seed prepends its command)."""
    if nix_db_roots:
        from nixlite.image.steps.nixdb import write_nix_db
        ctx.log.write("Generating the nix database...\n")
        write_nix_db(ctx.store, cwd, nix_db_roots)
    if script.strip():
        run_script(script, cwd=cwd, env=ctx.env, store_real_dir=ctx.store.real_dir,
                   store_dir=ctx.store.store_dir, log=ctx.log, scratch=ctx.build_dir, what=what,
                   cancelled=ctx.cancelled)
