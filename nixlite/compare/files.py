"""The files of a layer and of a merged file system, and how two sets of files differ.

A layer is read once, as a stream: each member's metadata is kept (``Entry``) and a
regular file's content is hashed while it passes, never held; so comparing an image
costs memory in proportion to its number of files, not its size.  The merged view applies
the layers in order with OCI whiteouts (``.wh.NAME`` deletes NAME, ``.wh..wh..opq``
empties the directory below it), as a runtime extracting them would.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from nixlite.errors import NixliteError
from nixlite.image.tarreader import TarStream

_TYPES = {b"0": "file", b"7": "file", b"1": "hardlink", b"2": "symlink", b"3": "char",
          b"4": "block", b"5": "dir", b"6": "fifo"}
WHITEOUT_PREFIX = ".wh."
OPAQUE = ".wh..wh..opq"
# the attributes of an entry a comparison looks at, in the order differences are shown
ATTRIBUTES = ("type", "mode", "uid", "gid", "uname", "gname", "size", "content", "target",
              "link", "device", "mtime", "xattrs")
# a store path's hash, masked so the same package at another hash pairs up
_STORE_HASH = re.compile(r"(^|/)nix/store/[0-9a-df-np-sv-z]{32}-")


@dataclass(slots=True)
class Entry:
    """One file as a tar member describes it.  ``content`` is ``sha256:…`` of a regular
    file's bytes; ``target`` a symlink's target, ``link`` a hard link's (canonical path)."""

    type: str
    mode: int
    uid: int
    gid: int
    uname: str
    gname: str
    size: int
    mtime: int
    content: str | None = None
    target: str | None = None
    link: str | None = None
    device: str | None = None
    xattrs: dict[str, str] = field(default_factory=dict)

    def value(self, attr: str):
        """An attribute as it is shown and compared (modes in octal)."""
        value = getattr(self, attr)
        if attr == "mode":
            return f"{value:04o}"
        return value


@dataclass(slots=True)
class LayerFiles:
    """What one layer carries: its entries by canonical path, the paths in tar order, and
    whether its tar bytes held anything the entries do not show (non-canonical names)."""

    entries: dict[str, Entry]
    order: list[str]
    raw_names: bool
    tar_size: int = 0

    def content_keys(self) -> frozenset[str]:
        """The paths that say what the layer is for, with store hashes masked: every
        non-directory (directories repeat across layers), or every path if it has only
        directories."""
        keys = frozenset(mask_store_hash(p) for p, e in self.entries.items() if e.type != "dir")
        return keys or frozenset(mask_store_hash(p) for p in self.entries)


def canonical(name: str) -> str:
    """A member name as a path from the root without ``./``, leading, doubled or trailing
    slashes (diffoci's --treat-canonical-paths-equal, always on)."""
    return "/".join(part for part in name.split("/") if part not in ("", "."))


def mask_store_hash(path: str) -> str:
    return _STORE_HASH.sub(r"\1nix/store/*-", path)


def scan_layer(chunks: Iterable[bytes], name: str) -> LayerFiles:
    """Read a layer tar (uncompressed chunks), hashing file contents as they stream by."""
    entries: dict[str, Entry] = {}
    order: list[str] = []
    raw_names = False
    size = [0]

    def counted():
        for chunk in chunks:
            size[0] += len(chunk)
            yield chunk

    for member, data in TarStream(counted(), name):
        path = canonical(member.name)
        if path != member.name.rstrip("/"):
            raw_names = True
        kind = _TYPES.get(member.type, "other")
        entry = Entry(kind, member.mode, member.uid, member.gid, member.uname, member.gname,
                      member.size if kind == "file" else 0, member.mtime,
                      xattrs={k: v.decode("utf-8", "backslashreplace")
                              for k, v in sorted(member.xattrs.items())})
        if kind == "file":
            digest = hashlib.sha256()
            for piece in data:
                digest.update(piece)
            entry.content = "sha256:" + digest.hexdigest()
        elif kind == "symlink":
            entry.target = member.linkname
        elif kind == "hardlink":
            entry.link = canonical(member.linkname)
        elif kind in ("char", "block"):
            entry.device = f"{member.devmajor},{member.devminor}"
        if path in entries:
            order.remove(path)
        entries[path] = entry
        order.append(path)
    for entry in entries.values():  # a hard link has its target's content
        if entry.type == "hardlink" and entry.link in entries:
            entry.content = entries[entry.link].content
    return LayerFiles(entries, order, raw_names, size[0])


def whiteout_of(path: str) -> tuple[str, bool] | None:
    """(what a whiteout entry deletes, whether it is opaque) or None for other paths."""
    head, _, base = path.rpartition("/")
    if base == OPAQUE:
        return head, True
    if base.startswith(WHITEOUT_PREFIX):
        return (head + "/" if head else "") + base[len(WHITEOUT_PREFIX):], False
    return None


def merge_layers(layers: Iterable[LayerFiles]) -> dict[str, Entry]:
    """The file system the layers make, bottom first, whiteouts applied (and dropped)."""
    merged: dict[str, Entry] = {}
    for layer in layers:
        for path in layer.order:
            whiteout = whiteout_of(path)
            if whiteout is None:
                continue
            target, opaque = whiteout
            prefix = target + "/" if target else ""
            doomed = [p for p in merged if p.startswith(prefix)] if opaque else \
                [p for p in merged if p == target or p.startswith(prefix)]
            for p in doomed:
                del merged[p]
        for path in layer.order:
            if whiteout_of(path) is None:
                merged[path] = layer.entries[path]
    return merged


@dataclass(slots=True)
class FileChange:
    """A path on both sides (or a store path at another hash: ``path_b``) whose entries
    differ in ``changes``: ``[(attribute, value in a, value in b)]``."""

    path: str
    changes: list[tuple[str, object, object]]
    path_b: str | None = None


@dataclass(slots=True)
class FileDiff:
    added: list[tuple[str, Entry]] = field(default_factory=list)
    removed: list[tuple[str, Entry]] = field(default_factory=list)
    changed: list[FileChange] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.changed)

    def count(self) -> int:
        return len(self.added) + len(self.removed) + len(self.changed)


def entry_changes(a: Entry, b: Entry, ignore: frozenset[str]) -> list[tuple[str, object, object]]:
    return [(attr, a.value(attr), b.value(attr)) for attr in ATTRIBUTES
            if attr not in ignore and a.value(attr) != b.value(attr)]


def diff_files(a: dict[str, Entry], b: dict[str, Entry], ignore: frozenset[str]) -> FileDiff:
    """Added, removed and changed paths.  A path only on one side whose store hash masked
    names exactly one path only on the other is the same file of a rebuilt package: it is
    shown as changed (``path_b``), not as one removal and one addition."""
    diff = FileDiff()
    only_a = [p for p in a if p not in b]
    only_b = [p for p in b if p not in a]
    for path in a:
        if path in b:
            changes = entry_changes(a[path], b[path], ignore)
            if changes:
                diff.changed.append(FileChange(path, changes))
    masked_a = _unique_by_mask(only_a)
    masked_b = _unique_by_mask(only_b)
    paired = set()
    for key, pa in masked_a.items():
        pb = masked_b.get(key)
        if pb is None or pa == key:  # only store paths pair across hashes
            continue
        paired.update((pa, pb))
        diff.changed.append(FileChange(pa, entry_changes(a[pa], b[pb], ignore), pb))
    diff.removed = [(p, a[p]) for p in only_a if p not in paired]
    diff.added = [(p, b[p]) for p in only_b if p not in paired]
    diff.changed.sort(key=lambda c: c.path)
    diff.removed.sort()
    diff.added.sort()
    return diff


def _unique_by_mask(paths: list[str]) -> dict[str, str]:
    seen: dict[str, str | None] = {}
    for path in paths:
        key = mask_store_hash(path)
        seen[key] = None if key in seen else path
    return {key: path for key, path in seen.items() if path is not None}


def read_merged_file(layers_top_first: list[Callable[[], Iterable[bytes]]], path: str,
                     limit: int) -> bytes | None:
    """The bytes of ``path`` in the file system the layers make (given top layer first,
    each as a source of its tar chunks), None if it is absent or not a regular file there.
    Hard links are followed; a file over ``limit`` bytes is an error, not read into memory."""
    wanted = canonical(path)
    index = links = 0
    while index < len(layers_top_first) and links < 16:
        hidden = False
        for member, data in TarStream(layers_top_first[index]()):
            name = canonical(member.name)
            whiteout = whiteout_of(name)
            if whiteout is not None:
                target, opaque = whiteout
                hidden |= wanted == target or wanted.startswith(target + "/") or \
                    (opaque and target == "")
                continue
            if name != wanted:
                continue
            if member.type == b"1":  # read the layer again for the target
                wanted = canonical(member.linkname)
                links += 1
                break
            if _TYPES.get(member.type) != "file":
                return None
            if member.size > limit:
                raise NixliteError(f"'/{wanted}' has {member.size} bytes, over the "
                                   f"{limit} shown at most")
            return b"".join(data)
        else:
            if hidden:
                return None
            index += 1
    return None
