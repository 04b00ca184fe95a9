"""``builtin:fetchurl``: Nix's own download builder, as a native step.

Used by ``<nix/fetchurl.nix>``-style fixed-output derivations: downloads
``url`` to the output (``executable = "1"`` makes it executable); with
``unpack = "1"`` the download is a NAR (xz-compressed when the URL ends in
``.xz``) that is unpacked into the output.  The realiser then checks the
output against the derivation's hash like any fixed output.  Nix first tries
its "hashed mirrors" (tarballs.nixos.org) for flat hashes; nixlite goes to the
URL directly.
"""

from __future__ import annotations

import lzma
import os

from nixlite.build.native import StepContext, StepFailed
from nixlite.errors import NixliteError
from nixlite.store.nar import NarError, restore


def fetchurl(ctx: StepContext) -> None:
    from nixlite.store.fetch import download  # urllib: imported only when a build needs it

    env = ctx.env
    for attr in ("url", "out"):
        if attr not in env:
            raise StepFailed(f"attribute '{attr}' missing")
    url = env["url"]
    dest = ctx.outputs["out"]
    unpack = env.get("unpack") == "1"
    target = os.path.join(ctx.build_dir, "download") if unpack else dest
    try:
        download(url, target)
    except NixliteError as exc:
        raise StepFailed(exc.message) from None
    if unpack:
        opener = lzma.open if url.endswith(".xz") else open
        try:
            with opener(target, "rb") as f:
                restore(f, dest, trailing_ok=True)  # as builtin:fetchurl in Nix
        except NarError as exc:
            raise StepFailed(exc.message) from None
    elif env.get("executable") == "1":
        os.chmod(dest, 0o755)
