"""Extract an image's layers into a root file system, safely.

Layers are applied bottom to top with OCI whiteout semantics (``.wh.NAME`` deletes NAME
from lower layers, ``.wh..wh..opq`` empties a directory of lower-layer content).  Nothing is
ever written outside the destination: names with ``..`` are errors, leading ``/`` is taken
relative to the root (upstream's store layers use absolute names), and symlinks met on the
way to an entry are resolved *inside* the root — one that would lead out of it is an error,
as is a hard link to something outside.  The root is built under a temporary sibling name
and renamed into place only when every layer extracted and matched its diff_id.
"""

from __future__ import annotations

import os
import stat
import tempfile

from nixlite.errors import NixliteError
from nixlite.image.files import printable, remove_tree
from nixlite.image.model import Image, Layer
from nixlite.image.tarreader import Member, TarStream, safe_relative

WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"
MAX_LINKS = 40


class _Root:
    """Path resolution confined to one directory."""

    __slots__ = ("root",)

    def __init__(self, root: str) -> None:
        self.root = root

    def host(self, parts: list[str]) -> str:
        return os.path.join(self.root, *parts) if parts else self.root

    def resolve_dir(self, parts: list[str], name: str, create: bool = True) -> list[str]:
        """Resolve a directory path inside the root, following symlinks within it and
        creating missing directories (0755) when ``create``; returns resolved components."""
        resolved: list[str] = []
        pending = list(reversed(parts))
        links = 0
        while pending:
            part = pending.pop()
            if part in ("", "."):
                continue
            if part == "..":
                if not resolved:
                    raise NixliteError(f"layer entry '{name}' escapes the root through a symlink")
                resolved.pop()
                continue
            path = self.host(resolved + [part])
            try:
                st = os.lstat(path)
            except FileNotFoundError:
                if not create:
                    raise NixliteError(f"layer entry '{name}': '{'/'.join(resolved + [part])}' "
                                       "does not exist") from None
                os.mkdir(path, 0o755)
                resolved.append(part)
                continue
            if stat.S_ISLNK(st.st_mode):
                links += 1
                if links > MAX_LINKS:
                    raise NixliteError(f"layer entry '{name}': too many levels of symlinks")
                target = os.readlink(path)
                if target.startswith("/"):
                    resolved = []
                pending.extend(reversed(target.split("/")))
                continue
            if not stat.S_ISDIR(st.st_mode):
                raise NixliteError(f"layer entry '{name}': '{'/'.join(resolved + [part])}' "
                                   "is not a directory")
            resolved.append(part)
        return resolved


class _LayerApplier:
    def __init__(self, root: _Root, preserve_owner: bool, limit: list[int] | None,
                 allow_absolute: bool) -> None:
        self.root = root
        self.allow_absolute = allow_absolute
        self.preserve_owner = preserve_owner
        self.limit = limit
        self.created: set[str] = set()
        self.dir_meta: list[tuple[str, int, int, int, int]] = []

    def apply(self, layer: Layer) -> None:
        for member, data in TarStream(layer.tar_chunks(), layer.label):
            self.entry(member, data)
        for path, mode, uid, gid, mtime in reversed(self.dir_meta):
            if self.preserve_owner:
                os.lchown(path, uid, gid)
            os.chmod(path, mode)
            os.utime(path, (mtime, mtime))

    def entry(self, member: Member, data) -> None:
        if not self.allow_absolute and member.name.startswith("/"):
            raise NixliteError(f"layer entry '{member.name}' has an absolute name")
        rel = safe_relative(member.name, "layer entry")
        if not rel:
            return  # the root itself ("./"): keep the destination's own attributes
        parts = rel.split("/")
        parent = self.root.resolve_dir(parts[:-1], member.name)
        base = parts[-1]
        parent_path = self.root.host(parent)
        self._make_writable(parent_path)
        if base == OPAQUE:
            for child in os.listdir(parent_path):
                full = os.path.join(parent_path, child)
                if full not in self.created:
                    remove_tree(full)
            return
        if base.startswith(WHITEOUT):
            remove_tree(os.path.join(parent_path, base[len(WHITEOUT):]))
            return
        path = os.path.join(parent_path, base)
        kind = member.type
        if kind == b"5":
            if not os.path.isdir(path) or os.path.islink(path):
                remove_tree(path)
                os.mkdir(path, 0o700)
            self.created.add(path)
            self.dir_meta.append((path, member.mode, member.uid, member.gid, member.mtime))
            return
        remove_tree(path)
        self.created.add(path)
        if member.is_file:
            self._write_file(path, member, data)
        elif kind == b"2":
            os.symlink(member.linkname, path)
        elif kind == b"1":
            target_parts = safe_relative(member.linkname, "hard link target").split("/")
            target_dir = self.root.resolve_dir(target_parts[:-1], member.name, create=False)
            target = os.path.join(self.root.host(target_dir), target_parts[-1])
            if not os.path.lexists(target) or os.path.isdir(target) and not os.path.islink(target):
                raise NixliteError(f"hard link '{member.name}' points to '{member.linkname}', "
                                   "which is not a file in the image")
            os.link(target, path, follow_symlinks=False)
            return
        elif kind in (b"3", b"4"):
            if os.geteuid() != 0:
                return  # device nodes need privileges; rootless unpackers skip them too
            device = stat.S_IFCHR if kind == b"3" else stat.S_IFBLK
            os.mknod(path, member.mode | device, os.makedev(member.devmajor, member.devminor))
        elif kind == b"6":
            os.mkfifo(path, member.mode)
        else:
            raise NixliteError(f"layer entry '{printable(member.name)}' has unsupported type "
                               f"'{printable(kind)}'")
        self._finish(path, member)

    def _make_writable(self, directory: str) -> None:
        if os.geteuid() != 0 and not os.access(directory, os.W_OK):
            os.chmod(directory, os.lstat(directory).st_mode & 0o7777 | 0o200)

    def _write_file(self, path: str, member: Member, data) -> None:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as out:
            for piece in data:
                if self.limit is not None:
                    self.limit[0] -= len(piece)
                    if self.limit[0] < 0:
                        raise NixliteError("image is larger than the unpack size limit")
                out.write(piece)

    def _finish(self, path: str, member: Member) -> None:
        if self.preserve_owner:
            os.lchown(path, member.uid, member.gid)
        if member.type != b"2":
            os.chmod(path, member.mode)
        os.utime(path, (member.mtime, member.mtime), follow_symlinks=False)


def unpack_layers(layers: list[Layer], dest: str, *, preserve_owner: bool | None = None,
                  max_bytes: int | None = None, allow_absolute: bool = True) -> None:
    """Extract ``layers`` into ``dest`` (which must not exist or be empty).

    ``preserve_owner`` (default: when running as root) applies the entries' uid/gid.
    ``max_bytes`` bounds the total file content written.  ``allow_absolute=False`` makes
    absolute entry names an error instead of root-relative (upstream's own store layers
    use them, so the default accepts them as skopeo, umoci and docker do)."""
    dest = os.path.abspath(dest)
    if os.path.exists(dest) and (not os.path.isdir(dest) or os.listdir(dest)):
        raise NixliteError(f"unpack destination '{dest}' exists and is not an empty directory")
    parent = os.path.dirname(dest)
    os.makedirs(parent, exist_ok=True)
    work = tempfile.mkdtemp(prefix=".nixlite-rootfs-", dir=parent)
    try:
        os.chmod(work, 0o755)
        root = _Root(work)
        keep_owner = os.geteuid() == 0 if preserve_owner is None else preserve_owner
        limit = None if max_bytes is None else [max_bytes]
        for layer in layers:
            _LayerApplier(root, keep_owner, limit, allow_absolute).apply(layer)
        if os.path.isdir(dest):
            os.rmdir(dest)
        os.rename(work, dest)
    except BaseException:
        remove_tree(work)
        raise


def unpack_image(image: Image, dest: str, **options) -> None:
    """Extract the root file system of ``image`` into ``dest`` (see ``unpack_layers``)."""
    image.check_layers_match_config()
    unpack_layers(image.layers, dest, **options)
