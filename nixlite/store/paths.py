"""Store paths: the store directory, fingerprints, name rules, path kinds.

A store path is ``<storeDir>/<hash part>-<name>`` where the 32-character hash
part is the Nix base-32 of the 160-bit fold of ``sha256(fingerprint)``:
``<type>:sha256:<inner hex>:<storeDir>:<name>``.  The functions below build
each kind Nix makes (text, source, fixed output, derivation output).
"""

from __future__ import annotations

import hashlib
import os

from nixlite.errors import NixliteError
from nixlite.store.hashes import Hash, fold, nixbase32_encode

HASH_PART_LEN = 32
MAX_NAME_LEN = 211
_NAME_CHARS = frozenset(
    "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ+-._?="
)


class BadStorePath(NixliteError):
    """An invalid store path or store path name."""


def store_dir() -> str:
    """The logical store directory: ``NIX_STORE_DIR`` or ``/nix/store`` (no trailing slash)."""
    d = os.environ.get("NIX_STORE_DIR") or "/nix/store"
    return d.rstrip("/") or "/"


def check_name(name: str, base_name: str | None = None) -> None:
    """Nix's rules for the name part of a store path.

    Nix 2.8 accepts 1–211 characters from ``[A-Za-z0-9+-._?=]``.  Today's Nix
    additionally rejects ``.``, ``..`` and names starting with ``.-`` or
    ``..-`` (they can look like relative paths or options); we follow today's
    Nix there.  A leading dot is otherwise fine in both.
    """
    shown = base_name if base_name is not None else name
    if not name:
        raise BadStorePath(f"store path '{shown}' has an empty name")
    if len(name) > MAX_NAME_LEN:
        raise BadStorePath(f"store path '{shown}' has a name longer than {MAX_NAME_LEN} characters")
    for c in name:
        if c not in _NAME_CHARS:
            raise BadStorePath(f"store path '{shown}' contains illegal character '{c}'")
    if name in (".", "..") or name.startswith((".-", "..-")):
        raise BadStorePath(f"store path '{shown}' has a name that is not allowed ('{name}')")


def make_store_path(type_: str, inner: bytes, name: str, sdir: str | None = None) -> str:
    """``makeStorePath``: ``inner`` is a sha256 digest."""
    sdir = sdir or store_dir()
    fingerprint = f"{type_}:sha256:{inner.hex()}:{sdir}:{name}"
    part = nixbase32_encode(fold(hashlib.sha256(fingerprint.encode()).digest()))
    check_name(name, f"{part}-{name}")
    return f"{sdir}/{part}-{name}"


def _type_with_refs(type_: str, refs, self_ref: bool = False) -> str:
    out = type_
    for r in sorted(refs):
        out += ":" + r
    if self_ref:
        out += ":self"
    return out


def make_text_path(name: str, contents_sha256: bytes, refs=(), sdir: str | None = None) -> str:
    """``builtins.toFile`` and ``.drv`` files: type ``text`` plus the references."""
    return make_store_path(_type_with_refs("text", refs), contents_sha256, name, sdir)


def text_path_of(name: str, contents: bytes, refs=(), sdir: str | None = None) -> str:
    return make_text_path(name, hashlib.sha256(contents).digest(), refs, sdir)


def make_fixed_output_path(recursive: bool, h: Hash, name: str, refs=(),
                           self_ref: bool = False, sdir: str | None = None) -> str:
    """``makeFixedOutputPath``: recursive sha256 → ``source``; otherwise ``output:out``."""
    if recursive and h.algo == "sha256":
        return make_store_path(_type_with_refs("source", refs, self_ref), h.digest, name, sdir)
    if refs or self_ref:
        raise BadStorePath("fixed-output paths other than recursive sha256 cannot have references")
    inner = f"fixed:out:{'r:' if recursive else ''}{h.algo}:{h.hex()}:"
    return make_store_path("output:out", hashlib.sha256(inner.encode()).digest(), name, sdir)


def output_path_name(drv_name: str, output: str) -> str:
    """Output ``out`` of ``n`` is named ``n``; any other output ``o`` is ``n-o``."""
    return drv_name if output == "out" else f"{drv_name}-{output}"


def make_output_path(output: str, modulo: bytes, drv_name: str, sdir: str | None = None) -> str:
    """Path of output ``output`` of an input-addressed derivation."""
    return make_store_path(f"output:{output}", modulo, output_path_name(drv_name, output), sdir)


def is_store_path(path: str, sdir: str | None = None) -> bool:
    """Is ``path`` exactly ``<storeDir>/<hash>-<name>`` (nothing below it)?"""
    sdir = sdir or store_dir()
    if not path.startswith(sdir + "/"):
        return False
    base = path[len(sdir) + 1:]
    if "/" in base or len(base) < HASH_PART_LEN + 2 or base[HASH_PART_LEN] != "-":
        return False
    try:
        check_name(base[HASH_PART_LEN + 1:])
    except BadStorePath:
        return False
    return True


def parse_store_path(path: str, sdir: str | None = None) -> str:
    """Check a store path (Nix's wording on failure) and return it."""
    sdir = sdir or store_dir()
    if not path.startswith(sdir + "/") or "/" in path[len(sdir) + 1:]:
        raise BadStorePath(f"path '{path}' is not a store path")
    base = path[len(sdir) + 1:]
    if len(base) < HASH_PART_LEN + 1 or base[HASH_PART_LEN:HASH_PART_LEN + 1] != "-":
        raise BadStorePath(f"path '{path}' is not a valid store path")
    check_name(base[HASH_PART_LEN + 1:], base)
    return path


def to_store_path(path: str, sdir: str | None = None) -> str:
    """The store path that ``path`` (which may be below it) lives in."""
    sdir = sdir or store_dir()
    if not path.startswith(sdir + "/"):
        raise BadStorePath(f"path '{path}' is not in the Nix store")
    rest = path[len(sdir) + 1:]
    return parse_store_path(f"{sdir}/{rest.split('/', 1)[0]}", sdir)


def name_of(path: str) -> str:
    return os.path.basename(path)[HASH_PART_LEN + 1:]
