"""Store paths under their logical names, read from where nixlite's store really keeps them.

Native steps run in the realiser's process, outside any namespace, so ``/nix/store/…`` (the
names that go into layers, configs and history comments) is not where the files are:
``store.physical`` maps one to the other.  This module is the adapter the image library
needs for that: symlink resolution that maps absolute store targets, ``find`` pairs, and the
stream script's store-layer tar written with logical names from physical files.

(Adapter note: ``nixlite.image.tarwriter.store_layer_chunks`` takes host paths that are both
read and named; a ``physical=`` mapping parameter there would make ``store_layer_chunks_at``
here unnecessary.)
"""

from __future__ import annotations

import os
import posixpath
import stat
from collections.abc import Callable, Iterable, Iterator

from nixlite.errors import NixliteError
from nixlite.image.tarwriter import DIRTYPE, REGTYPE, SYMTYPE, FIFOTYPE, CHRTYPE, BLKTYPE, \
    _file_pieces, _Output, pax_header

MAX_LINKS = 40

Physical = Callable[[str], str]


class StoreView:
    """Logical ↔ physical paths of one store (``physical`` maps a logical store path)."""

    def __init__(self, store_dir: str, physical: Physical) -> None:
        self.store_dir = store_dir.rstrip("/")
        self._physical = physical

    @classmethod
    def of(cls, store) -> StoreView:
        return cls(store.store_dir, store.physical)

    def in_store(self, path: str) -> bool:
        return path.startswith(self.store_dir + "/")

    def physical(self, path: str) -> str:
        """Where ``path`` is read: store paths mapped, anything else as it is on the host."""
        return self._physical(path) if self.in_store(path) else path

    def resolve(self, path: str) -> str:
        """The logical path with every symlink resolved (targets in the store mapped)."""
        parts = [p for p in path.split("/") if p]
        done = "/"
        links = 0
        while parts:
            part = parts.pop(0)
            if part == ".":
                continue
            if part == "..":
                done = posixpath.dirname(done)
                continue
            candidate = posixpath.join(done, part)
            try:
                st = os.lstat(self.physical(candidate))
            except OSError:
                return posixpath.join(candidate, *parts)
            if stat.S_ISLNK(st.st_mode):
                links += 1
                if links > MAX_LINKS:
                    raise NixliteError(f"too many levels of symbolic links resolving '{path}'")
                target = os.readlink(self.physical(candidate))
                parts = [p for p in target.split("/") if p] + parts
                if target.startswith("/"):
                    done = "/"
                continue
            done = candidate
        return done

    def is_dir(self, path: str) -> bool:
        """``os.path.isdir`` of a logical path (following symlinks through the store)."""
        return os.path.isdir(self.physical(self.resolve(path)))

    def find(self, path: str) -> Iterator[tuple[str, str]]:
        """``find PATH`` as (logical, physical) pairs: the path, then everything below it,
        not following symlinks."""
        real = self.physical(path)
        yield path, real
        if os.path.isdir(real) and not os.path.islink(real):
            for dirpath, dirnames, filenames in os.walk(real):
                logical_dir = path + dirpath[len(real):]
                for name in dirnames + filenames:
                    yield logical_dir + "/" + name, os.path.join(dirpath, name)


def store_layer_chunks_at(paths: Iterable[str], view: StoreView, *, mtime: int, uid: int = 0,
                          gid: int = 0, uname: str = "root", gname: str = "root",
                          nix_dir_mode: int = 0o555,
                          walk_symlinked_roots: bool = True) -> Iterator[bytes]:
    """``tarwriter.store_layer_chunks`` for store paths given by logical name: the same bytes
    (spec §1.2) as if the store were at ``view.store_dir``, read through ``view``."""
    paths = list(paths)
    for p in paths:
        if not view.in_store(p):
            raise NixliteError(f"'{p}' is not in the Nix store ({view.store_dir})")
    out = _Output()

    def emit(arcname: str, full: str, st: os.stat_result) -> Iterator[bytes]:
        mode = st.st_mode
        size = 0
        linkname = ""
        devmajor = devminor = 0
        if stat.S_ISREG(mode):
            typeflag, size = REGTYPE, st.st_size
        elif stat.S_ISDIR(mode):
            typeflag = DIRTYPE
            arcname += "/"
        elif stat.S_ISLNK(mode):
            typeflag, linkname = SYMTYPE, os.readlink(full)
        elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
            typeflag = CHRTYPE if stat.S_ISCHR(mode) else BLKTYPE
            devmajor, devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
        elif stat.S_ISFIFO(mode):
            typeflag = FIFOTYPE
        else:
            raise NixliteError(f"cannot put '{arcname}' in a layer: sockets cannot be archived")
        ready = out.add(pax_header(arcname, mode=mode, uid=uid, gid=gid, size=size, mtime=mtime,
                                   typeflag=typeflag, linkname=linkname, uname=uname, gname=gname,
                                   devmajor=devmajor, devminor=devminor))
        if ready is not None:
            yield ready
        if size:
            yield from _file_pieces(full, size, out)

    def walk(logical: str, real: str) -> Iterator[bytes]:
        try:
            names = sorted(os.listdir(real))
        except OSError as e:
            raise NixliteError(f"cannot read directory '{logical}': {e.strerror}") from None
        for name in names:
            full = real + "/" + name
            st = os.lstat(full)
            yield from emit(logical + "/" + name, full, st)
            if stat.S_ISDIR(st.st_mode):
                yield from walk(logical + "/" + name, full)

    for directory in ("/nix", "/nix/store"):
        ready = out.add(pax_header(directory + "/", mode=nix_dir_mode, uid=uid, gid=gid, size=0,
                                   mtime=mtime, typeflag=DIRTYPE, uname=uname, gname=gname))
        if ready is not None:
            yield ready
    for p in paths:
        real = view.physical(p)
        try:
            st = os.lstat(real)
        except OSError as e:
            raise NixliteError(f"cannot archive store path '{p}': {e.strerror}") from None
        yield from emit(p, real, st)
        if stat.S_ISDIR(st.st_mode):
            yield from walk(p, real)
        elif walk_symlinked_roots and stat.S_ISLNK(st.st_mode) and view.is_dir(p):
            yield from walk(p, view.physical(view.resolve(p)))
    yield out.end()
