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
from nixlite.store.fetch import download
from nixlite.store.nar import MAGIC


def fetchurl(ctx: StepContext) -> None:
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
        with opener(target, "rb") as f:
            restore_nar(f, dest)
    elif env.get("executable") == "1":
        os.chmod(dest, 0o755)


class _NarReader:
    __slots__ = ("f",)

    def __init__(self, f) -> None:
        self.f = f

    def string(self) -> bytes:
        n = int.from_bytes(self._exact(8), "little")
        data = self._exact(n)
        self._exact(-n % 8)
        return data

    def _exact(self, n: int) -> bytes:
        data = self.f.read(n)
        if len(data) != n:
            raise StepFailed("unexpected end of NAR archive")
        return data

    def expect(self, token: bytes) -> None:
        got = self.string()
        if got != token:
            raise StepFailed(f"bad NAR archive: expected '{token.decode()}', got '{got[:40]!r}'")


def restore_nar(f, dest: str) -> None:
    """Unpack the NAR read from ``f`` at ``dest`` (which must not exist)."""
    r = _NarReader(f)
    if r._exact(len(MAGIC)) != MAGIC:
        raise StepFailed("input doesn't look like a Nix archive")
    _restore_node(r, dest)


def _restore_node(r: _NarReader, path: str) -> None:
    r.expect(b"(")
    r.expect(b"type")
    kind = r.string()
    if kind == b"regular":
        tag = r.string()
        executable = tag == b"executable"
        if executable:
            r.expect(b"")
            tag = r.string()
        if tag != b"contents":
            raise StepFailed("bad NAR archive: expected 'contents'")
        n = int.from_bytes(r._exact(8), "little")
        with open(path, "xb") as out:
            left = n
            while left:
                block = r._exact(min(left, 1 << 20))
                out.write(block)
                left -= len(block)
        r._exact(-n % 8)
        if executable:
            os.chmod(path, 0o755)
        r.expect(b")")
    elif kind == b"symlink":
        r.expect(b"target")
        os.symlink(r.string(), path)
        r.expect(b")")
    elif kind == b"directory":
        os.mkdir(path)
        while True:
            tag = r.string()
            if tag == b")":
                break
            if tag != b"entry":
                raise StepFailed("bad NAR archive: expected 'entry'")
            r.expect(b"(")
            r.expect(b"name")
            name = r.string()
            if not name or b"/" in name or name in (b".", b".."):
                raise StepFailed(f"bad NAR archive: invalid file name '{name!r}'")
            r.expect(b"node")
            _restore_node(r, os.path.join(os.fsencode(path), name).decode("utf-8", "surrogateescape"))
            r.expect(b")")
    else:
        raise StepFailed(f"bad NAR archive: unknown file type '{kind!r}'")
